"""Finding, taking in, fingerprinting and vetting what students handed in.

A submissions folder holds one ``<student>.ipynb`` per student, or one folder per student
(``<student>/``) with their notebook inside (plus any files it reads). A hand-in that is a link
is not graded. :func:`intake` copies each hand-in into the grader's own folder (links and
special files are left out, nothing is followed), hashes it while copying and makes the copy
read-only: everything after that (the resume decision, vetting, the run) uses the copy, so a
hand-in that changes during grading cannot be graded under another's hash. Before anything
runs, :func:`vet_notebook` decides whether a notebook is gradable at all: an empty or
malformed file is ``invalid``; a notebook released for another assignment is ``wrong assignment``.

:func:`copy_tree` is the copier for untrusted trees (and for the solution's work folder, whose
digest it checks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.course.cells import cell_tags, clear_outputs

from .assignment import COURSE_ASSIGNMENTS, Assignment

IGNORED = re.compile(r"^(\.|_|~)|\.ipynb_checkpoints$|^__MACOSX$")


@dataclass
class Submission:
    """One student's hand-in: ``notebook`` is None when none (or several ambiguous ones) was found."""

    student: str
    path: Path
    notebook: Path | None
    problem: str = ""
    sha256: str = ""
    """The content hash taken at :func:`intake` ("" before)."""
    original: Path | None = None
    """Where the hand-in lies in the submissions folder, for an intake copy (``path`` is then the copy)."""

    @property
    def folder(self) -> Path | None:
        """The student's folder for a folder submission (its files are copied beside the notebook)."""
        return self.path if self.path.is_dir() and not self.path.is_symlink() else None

    @property
    def handed_in(self) -> Path:
        """The hand-in in the submissions folder."""
        return self.original or self.path


def _pick_notebook(folder: Path, assignment: Assignment) -> tuple[Path | None, str]:
    notebooks = sorted(
        path for path in folder.rglob("*.ipynb")
        if not path.is_symlink() and not any(IGNORED.search(part) for part in path.relative_to(folder).parts)
    )
    if not notebooks:
        return None, "no .ipynb notebook in the folder"
    if len(notebooks) == 1:
        return notebooks[0], ""
    named = [path for path in notebooks if path.stem == assignment.name]
    if len(named) == 1:
        return named[0], ""
    names = ", ".join(path.relative_to(folder).as_posix() for path in notebooks[:5])
    return None, f"several notebooks and none named {assignment.name}.ipynb: {names}"


def find_submissions(root: str | Path, assignment: Assignment) -> list[Submission]:
    """Every student in ``root`` (sorted by name); hidden files and other file types are skipped."""
    root = Path(root)
    found: dict[str, Submission] = {}
    for path in sorted(root.iterdir()):
        if IGNORED.search(path.name):
            continue
        if path.is_symlink():  # never followed: it could point anywhere the grader can read
            if not (path.suffix == ".ipynb" or path.is_dir()):
                continue
            student = path.stem if path.suffix == ".ipynb" else path.name
            submission = Submission(student, path, None, "the hand-in is a link, not a notebook or a folder: not graded")
        elif path.is_dir():
            notebook, problem = _pick_notebook(path, assignment)
            submission = Submission(path.name, path, notebook, problem)
        elif path.suffix == ".ipynb":
            submission = Submission(path.stem, path, path)
        else:
            continue
        if submission.student in found:
            other = found[submission.student].path.name
            found[submission.student] = Submission(submission.student, path, None,
                                                   f"two submissions for one student: {other} and {path.name}")
        else:
            found[submission.student] = submission
    return list(found.values())


INTAKE_MAX_BYTES = 2 * 1024**3
"""Largest hand-in taken in (a folder's files together)."""
INTAKE_MAX_FILES = 20_000


@dataclass
class TreeCopy:
    """What :func:`copy_tree` did: the digest, the files and bytes copied, the entries left out."""

    digest: str
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


class TooLarge(ValueError):
    """A tree has more files or bytes than allowed."""


def _entries(root: Path) -> list[tuple[Path, os.stat_result]]:
    """Every entry under ``root`` (relative path, lstat), sorted like :class:`~pathlib.Path`; links not followed."""
    found: list[tuple[Path, os.stat_result]] = []
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            with contextlib.suppress(OSError):
                found.append((path.relative_to(root), path.lstat()))
    return sorted(found, key=lambda item: item[0])


def copy_tree(source: Path, target: Path | None, *, links: str = "copy", writable: bool = False,
              read_only: bool = False, max_bytes: int | None = None, max_files: int | None = None) -> TreeCopy:
    """Copy the tree ``source`` to ``target`` (None: only hash it) without following any link; return its digest.

    A single file is copied (and hashed) as it is. In a folder, regular files and folders are
    copied with their modification times; links are recreated (``links="copy"``) or left out
    (``"skip"``); FIFOs, sockets and devices are always left out. The digest is SHA-256 over each
    regular file's relative name and bytes (and each kept link's name and target) in name order,
    the same as :func:`content_hash`. ``writable`` gives the copies ``rw-r--r--``/``rwxr-xr-x``,
    ``read_only`` ``r--r--r--``/``r-xr-xr-x``. :class:`TooLarge` past ``max_bytes`` or ``max_files``.
    """
    digest = hashlib.sha256()
    result = TreeCopy("")
    if not source.is_dir() or source.is_symlink():
        result.files, result.bytes = 1, _copy_file(source, target, digest, max_bytes)
        if target is not None:
            _set_mode(target, False, writable, read_only)
        result.digest = digest.hexdigest()
        return result
    entries = _entries(source)
    if target is not None:
        target.mkdir(parents=True)
    directories: list[tuple[Path, os.stat_result]] = []
    for relative, info in entries:
        name = relative.as_posix()
        if max_files is not None and result.files >= max_files:
            raise TooLarge(f"more than {max_files} files")
        if stat.S_ISDIR(info.st_mode):
            if target is not None:
                (target / relative).mkdir(exist_ok=True)
                directories.append((relative, info))
        elif stat.S_ISLNK(info.st_mode):
            if links != "copy":
                result.skipped.append(name)
                continue
            link = os.readlink(source / relative)
            digest.update(b"\1link\0" + name.encode() + b"\0" + link.encode())
            if target is not None:
                os.symlink(link, target / relative)
        elif stat.S_ISREG(info.st_mode):
            digest.update(name.encode() + b"\0")
            left = None if max_bytes is None else max_bytes - result.bytes
            result.bytes += _copy_file(source / relative, None if target is None else target / relative, digest, left)
            result.files += 1
            if target is not None:
                _set_mode(target / relative, False, writable, read_only)
                os.utime(target / relative, ns=(info.st_atime_ns, info.st_mtime_ns))
        else:
            result.skipped.append(name)
    for relative, info in reversed(directories):  # deepest first: the times survive the files written inside
        _set_mode(target / relative, True, writable, read_only)
        with contextlib.suppress(OSError):
            os.utime(target / relative, ns=(info.st_atime_ns, info.st_mtime_ns))
    if target is not None:
        _set_mode(target, True, writable, read_only)
    result.digest = digest.hexdigest()
    return result


def _copy_file(source: Path, target: Path | None, digest: Any, max_bytes: int | None) -> int:
    """Copy one regular file (opened without following a link) while hashing it; return its size."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    copied = 0
    with os.fdopen(os.open(source, flags), "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise OSError(f"{source} is not a regular file")
        writer = open(target, "xb") if target is not None else None  # noqa: SIM115
        try:
            while chunk := reader.read(1024 * 1024):
                copied += len(chunk)
                if max_bytes is not None and copied > max_bytes:
                    raise TooLarge("too many bytes")
                digest.update(chunk)
                if writer is not None:
                    writer.write(chunk)
        finally:
            if writer is not None:
                writer.close()
    return copied


def _set_mode(path: Path, directory: bool, writable: bool, read_only: bool) -> None:
    if read_only:
        os.chmod(path, 0o555 if directory else 0o444)
    elif writable:
        os.chmod(path, 0o755 if directory else 0o644)


def remove_tree(path: Path) -> None:
    """Remove a tree, read-only folders included (as any user); links are removed, not followed."""
    if not path.exists() and not path.is_symlink():
        return

    def unlock(function: Any, failed: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(failed)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
            function(failed)

    shutil.rmtree(path, onerror=unlock)


def content_hash(submission: Submission) -> str:
    """SHA-256 over the submission's bytes (every file of a folder submission, with relative names).

    The hash taken at intake when there is one; links are never followed (nor hashed).
    """
    if submission.sha256:
        return submission.sha256
    path = submission.path
    if path.is_symlink() or not path.exists():
        return hashlib.sha256().hexdigest()
    with contextlib.suppress(OSError, TooLarge):
        return copy_tree(path, None, links="skip").digest
    return hashlib.sha256().hexdigest()


def intake(submission: Submission, folder: Path, assignment: Assignment) -> Submission:
    """Copy the hand-in to ``folder`` (read-only, links left out), hashed while copied; the copy as a :class:`Submission`.

    The result has ``path`` (and ``notebook``) in the copy, ``original`` the hand-in and
    ``sha256`` the hash. A link, an unreadable or too large hand-in keeps ``notebook=None`` with
    the reason in ``problem`` (graded ``invalid``).
    """
    original = submission.path
    if submission.notebook is None and submission.problem:
        return Submission(submission.student, original, None, submission.problem, content_hash(submission), original)
    target = folder / original.name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        copied = copy_tree(original, target, links="skip", read_only=True, max_bytes=INTAKE_MAX_BYTES,
                           max_files=INTAKE_MAX_FILES)
    except TooLarge as error:
        remove_tree(target)
        return Submission(submission.student, original, None,
                          f"the hand-in is too large to grade ({error}; at most {INTAKE_MAX_FILES} files and "
                          f"{INTAKE_MAX_BYTES // 1024**3} GB)", content_hash(submission), original)
    except OSError as error:
        remove_tree(target)
        return Submission(submission.student, original, None, f"the hand-in cannot be read ({error})",
                          "", original)
    if target.is_dir():
        notebook, problem = _pick_notebook(target, assignment)
        if copied.skipped and notebook is None:
            problem += f" (links and special files are not taken in: {', '.join(copied.skipped[:3])})"
    else:
        notebook, problem = target, ""
    return Submission(submission.student, target, notebook, problem, copied.digest, original)


def vet_notebook(path: Path, assignment: Assignment) -> tuple[str, str, dict | None]:
    """``("ok", "", nb)`` for a gradable notebook, else ``(status, reason, None)``.

    The assignment is read from ``metadata["fer_kit"]["assignment"]`` (stamped by the
    release); a notebook without it must mention one of the results keys the checks read
    (its ``record(...)`` calls stay in the release), else it is a wrong assignment.
    """
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as error:
        return "invalid", f"cannot read the file ({error.strerror})", None
    if not raw.strip():
        return "invalid", "the file is empty", None
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except UnicodeDecodeError:
        return "invalid", "the file is not UTF-8 text (is it really a notebook?)", None
    except Exception as error:  # JSON errors, NotJSONError, missing nbformat version ...
        return "invalid", f"not a Jupyter notebook ({type(error).__name__}: {str(error)[:200]})", None
    try:
        nbformat.validate(nb)
    except Exception as error:
        return "invalid", f"malformed notebook ({str(error).splitlines()[0][:200]})", None
    if not any(cell.cell_type == "code" for cell in nb.cells):
        return "invalid", "the notebook has no code cells", None

    meta = nb.metadata.get("fer_kit", {})
    stamped = meta.get("assignment") if isinstance(meta, dict) else None
    if stamped:
        if stamped != assignment.name:
            return "wrong assignment", f"this notebook is {stamped}, not {assignment.name}", None
        return "ok", "", nb
    source = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if assignment.keys and not any(key in source for key in assignment.keys):
        others = [name for name in COURSE_ASSIGNMENTS if name != assignment.name and name in source]
        hint = f" (it looks like {others[0]})" if others else ""
        return "wrong assignment", f"none of the exercises of {assignment.name} is in this notebook{hint}", None
    return "ok", "", nb


def grading_copy(nb: dict) -> dict:
    """The notebook as the grader runs it: outputs dropped, the ``parameters`` tag restored if lost, the
    grader's own cell tag and marks (see :mod:`.probe`, :mod:`.execute`) removed from the student's cells.

    Without a tagged ``parameters`` cell papermill injects the grading parameters at the top,
    where the notebook's own defaults (``output_dir = None``) would override them; so the
    first code cell assigning ``output_dir`` gets the tag back.
    """
    from .probe import PROBE_TAG

    nb = json.loads(json.dumps(nb))
    cells = nb.get("cells", [])
    for cell in cells:
        clear_outputs(cell)
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        metadata.pop("fer_kit_grader", None)  # the grader's own marks, and its hidden-tests tag, are not the student's
        if isinstance(metadata.get("tags"), list) and PROBE_TAG in metadata["tags"]:
            metadata["tags"] = [tag for tag in metadata["tags"] if tag != PROBE_TAG]
    tagged = any("parameters" in cell_tags(cell) for cell in cells)
    if not tagged:
        for cell in cells:
            if cell.get("cell_type") == "code" and re.search(r"^output_dir\s*=", cell.get("source", ""), re.M):
                cell.setdefault("metadata", {}).setdefault("tags", []).append("parameters")
                break
    return nb
