"""Unpack and index a corpus the user downloaded: the engine behind the scripts in ``data_scripts/``.

:func:`prepare_corpus` takes the downloaded archives (zip / tar.*) or an already unpacked
folder, checks the archives against the checksums the user gives (``--md5 NAME=HASH`` or a
``md5sum``/``sha256sum``-style file, for sources that publish them) and prints the
others' SHA-256 so they can be compared by eye, unpacks into one folder (resuming an
interrupted unpack), indexes it with the corpus adapter and writes the index CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer_kit.atomic import atomic_path
from fer_kit.datasets.archives import TAR_SUFFIXES, ZIP_SUFFIXES, file_hash, unpack_archive
from fer_kit.errors import FerKitError, InputFileError, UsageError


def read_checksums(entries: list[str], files: list[str]) -> dict[str, tuple[str, str]]:
    """``{file name: (algorithm, hex digest)}`` from ``NAME=HASH`` entries and checksum files.

    The algorithm follows from the digest's length (32 hex digits: MD5, 40: SHA-1, 64: SHA-256).
    """
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        name, sep, digest = entry.partition("=")
        if not sep:
            raise UsageError(f"expected NAME=HASH, got {entry!r}")
        pairs.append((name.strip(), digest.strip()))
    for path in files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pairs.append((parts[-1].lstrip("*"), parts[0]))
    algorithms = {32: "md5", 40: "sha1", 64: "sha256"}
    table = {}
    for name, digest in pairs:
        if len(digest) not in algorithms:
            raise UsageError(f"{name}: {digest!r} is not an MD5, SHA-1 or SHA-256 digest")
        table[Path(name).name] = (algorithms[len(digest)], digest.lower())
    return table


def prepare_corpus(
    name: str,
    inputs: list[str | Path],
    dest: str | Path,
    checksums: dict[str, tuple[str, str]] | None = None,
    index_csv: str | Path | None = None,
    options: dict | None = None,
    log=print,
):
    """Verify, unpack and index; returns the index DataFrame (also written to ``index_csv``)."""
    from fer_kit.datasets import index_dataset

    dest = Path(dest)
    checksums = checksums or {}
    root = dest
    for item in map(Path, inputs):
        if item.is_dir():
            if len(inputs) == 1:
                root = item
                log(f"{item}: already unpacked, indexing it in place")
                continue
            raise InputFileError("give either one unpacked folder or archives, not both", item)
        if not item.is_file():
            raise InputFileError("no such archive", item)
        if not item.name.lower().endswith(ZIP_SUFFIXES + TAR_SUFFIXES):
            raise InputFileError(f"not an archive ({', '.join(ZIP_SUFFIXES + TAR_SUFFIXES)})", item)
        expected = checksums.get(item.name)
        if expected:
            algorithm, digest = expected
            actual = file_hash(item, algorithm)
            if actual != digest:
                raise InputFileError(f"{algorithm} mismatch: expected {digest}, got {actual}; download it again", item)
            log(f"{item.name}: {algorithm} verified")
        else:
            log(f"{item.name}: sha256 {file_hash(item)} (no published checksum given to compare)")
        written = unpack_archive(item, dest)
        log(f"{item.name}: {len(written)} files under {dest}")
    index = index_dataset(root, name, **(options or {}))
    counts = ", ".join(f"{k} {v}" for k, v in index["label"].value_counts().sort_index().items())
    log(f"{len(index)} clips of {index['subject'].nunique()} subjects: {counts}")
    for reason, n in index.attrs.get("skipped", {}).items():
        log(f"skipped {n}: {reason}")
    if index_csv:
        out = Path(index_csv)
        with atomic_path(out) as temporary:
            index.to_csv(temporary, index=False, lineterminator="\n")
        log(f"index written to {out}")
    return index


def script_main(name: str, doc: str, argv: list[str] | None = None, options: dict | None = None) -> int:
    """Command line of a ``data_scripts/<corpus>.py`` script (its docstring is the help text)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="the downloaded archives, or the folder already unpacked")
    parser.add_argument("--dest", default=f"data/{name}", help=f"where to unpack (default data/{name})")
    parser.add_argument("--index", help=f"index CSV to write (default data/{name}_index.csv)")
    parser.add_argument("--md5", "--sha256", dest="hashes", action="append", default=[], metavar="NAME=HASH",
                        help="published checksum of an archive (repeatable)")
    parser.add_argument("--checksums", action="append", default=[], metavar="FILE",
                        help="a file of published checksums (md5sum / sha256sum format)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="adapter option, e.g. calm=drop (RAVDESS), mapping=FILE (GEMEP)")
    args = parser.parse_args(argv)
    try:
        options = dict(options or {})
        for entry in args.option:
            key, sep, value = entry.partition("=")
            if not sep:
                raise UsageError(f"--option expects KEY=VALUE, got {entry!r}")
            options[key.strip()] = {"true": True, "false": False}.get(value.strip().lower(), value.strip())
        prepare_corpus(
            name, args.inputs, args.dest, read_checksums(args.hashes, args.checksums),
            args.index or f"data/{name}_index.csv", options,
        )
    except (FerKitError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
