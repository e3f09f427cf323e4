"""Finding, fingerprinting and vetting what students handed in.

A submissions folder holds one ``<student>.ipynb`` per student, or one folder per student
(``<student>/``) with their notebook inside (plus any files it reads). Before anything runs,
:func:`vet_notebook` decides whether a notebook is gradable at all: an empty or malformed
file is ``invalid``; a notebook released for another assignment is ``wrong assignment``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def folder(self) -> Path | None:
        """The student's folder for a folder submission (its files are copied beside the notebook)."""
        return self.path if self.path.is_dir() else None


def _pick_notebook(folder: Path, assignment: Assignment) -> tuple[Path | None, str]:
    notebooks = sorted(
        path for path in folder.rglob("*.ipynb")
        if not any(IGNORED.search(part) for part in path.relative_to(folder).parts)
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
        if path.is_dir():
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


def content_hash(submission: Submission) -> str:
    """SHA-256 over the submission's bytes (every file of a folder submission, with relative names)."""
    digest = hashlib.sha256()
    if submission.path.is_dir():
        for file in sorted(p for p in submission.path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(submission.path).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    elif submission.path.is_file():
        digest.update(submission.path.read_bytes())
    return digest.hexdigest()


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
    """The notebook as the grader runs it: outputs dropped, the ``parameters`` tag restored if lost.

    Without a tagged ``parameters`` cell papermill injects the grading parameters at the top,
    where the notebook's own defaults (``output_dir = None``) would override them; so the
    first code cell assigning ``output_dir`` gets the tag back.
    """
    nb = json.loads(json.dumps(nb))
    cells = nb.get("cells", [])
    for cell in cells:
        clear_outputs(cell)
    tagged = any("parameters" in cell_tags(cell) for cell in cells)
    if not tagged:
        for cell in cells:
            if cell.get("cell_type") == "code" and re.search(r"^output_dir\s*=", cell.get("source", ""), re.M):
                cell.setdefault("metadata", {}).setdefault("tags", []).append("parameters")
                break
    return nb
