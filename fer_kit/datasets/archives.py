"""Checksums and safe unpacking of downloaded archives (zip, wheel, tar, tar.gz / tgz / tar.bz2 / tar.xz)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from fer_kit.atomic import atomic_path
from fer_kit.errors import InputFileError

ZIP_SUFFIXES = (".zip", ".whl")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def file_hash(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``sha256`` by default; ``md5`` for sources that publish MD5 sums)."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_hash(path: str | Path, expected: str, algorithm: str = "sha256") -> None:
    """``InputFileError`` naming the file unless its digest is ``expected``."""
    actual = file_hash(path, algorithm)
    if actual.lower() != expected.strip().lower():
        raise InputFileError(f"{algorithm} mismatch: expected {expected}, got {actual} (corrupt or other file)", path)


def _kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    raise InputFileError(f"not a supported archive ({', '.join(ZIP_SUFFIXES + TAR_SUFFIXES)})", archive)


def _safe_member(name: str) -> PurePosixPath | None:
    """The member's relative path, or ``None`` if it is absolute or climbs out (``..``)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def archive_members(archive: str | Path) -> list[str]:
    """Names of the regular files in ``archive``."""
    archive = Path(archive)
    try:
        if _kind(archive) == "zip":
            with zipfile.ZipFile(archive) as z:
                return [i.filename for i in z.infolist() if not i.is_dir()]
        with tarfile.open(archive) as t:
            return [m.name for m in t.getmembers() if m.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise InputFileError(f"cannot read archive ({error})", archive) from error


def _copy_atomic(source, target: Path) -> None:
    with atomic_path(target) as temporary, temporary.open("wb") as handle:
        shutil.copyfileobj(source, handle)


def extract_files(archive: str | Path, members: dict[str, str | Path], dest: str | Path) -> list[Path]:
    """Extract the archive members named in ``members`` to ``dest / members[name]`` (atomic writes).

    ``InputFileError`` when a member is missing from the archive or the archive is unreadable.
    """
    archive, dest = Path(archive), Path(dest)
    written = []
    try:
        if _kind(archive) == "zip":
            with zipfile.ZipFile(archive) as z:
                names = set(z.namelist())
                for name, target in members.items():
                    if name not in names:
                        raise InputFileError(f"archive has no member {name}", archive)
                    with z.open(name) as source:
                        _copy_atomic(source, dest / target)
                    written.append(dest / target)
        else:
            with tarfile.open(archive) as t:
                for name, target in members.items():
                    try:
                        member = t.getmember(name)
                    except KeyError:
                        raise InputFileError(f"archive has no member {name}", archive) from None
                    source = t.extractfile(member)
                    if source is None:
                        raise InputFileError(f"archive member {name} is not a regular file", archive)
                    with source:
                        _copy_atomic(source, dest / target)
                    written.append(dest / target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise InputFileError(f"cannot read archive ({error})", archive) from error
    return written


def unpack_archive(archive: str | Path, dest: str | Path, skip_existing: bool = True) -> list[Path]:
    """Unpack every regular file of ``archive`` under ``dest``, refusing paths that would escape it.

    Files already present with the same size are kept (``skip_existing``), so an
    interrupted unpack resumes. Returns the files written or kept.
    """
    archive, dest = Path(archive), Path(dest)
    members = {}
    for name in archive_members(archive):
        relative = _safe_member(name)
        if relative is None:
            raise InputFileError(f"archive member {name!r} would be written outside the destination", archive)
        members[name] = Path(*relative.parts)
    sizes = _member_sizes(archive)
    todo = {
        name: target
        for name, target in members.items()
        if not (skip_existing and (dest / target).is_file() and (dest / target).stat().st_size == sizes.get(name))
    }
    extract_files(archive, todo, dest)
    return [dest / target for target in members.values()]


def _member_sizes(archive: Path) -> dict[str, int]:
    if _kind(archive) == "zip":
        with zipfile.ZipFile(archive) as z:
            return {i.filename: i.file_size for i in z.infolist()}
    with tarfile.open(archive) as t:
        return {m.name: m.size for m in t.getmembers() if m.isfile()}
