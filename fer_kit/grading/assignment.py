"""An assignment: the course notebook it grades, the grading parameters and the checks.

Each module in :mod:`fer_kit.grading.assignments` defines ``ASSIGNMENT``. An instructor can
grade their own notebook by writing a module of the same shape anywhere and passing its
path as ``--assignment path/to/checks.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.errors import FerKitError, InputFileError

from .checks import Check

COURSE_ASSIGNMENTS: dict[str, str] = {
    "01_ert_landmarks": "a01_ert_landmarks",
    "02_wrinkle_regions": "a02_wrinkle_regions",
    "03_cnn_blocks": "a03_cnn_blocks",
    "04_dual_network_training": "a04_dual_network_training",
    "05_confusion_analysis": "a05_confusion_analysis",
}
"""Course notebook stem -> module in :mod:`fer_kit.grading.assignments`."""

DEFAULT_PARAMETERS: dict[str, Any] = {"preset": "tiny", "dataset": "synthetic", "seed": 0}
"""What every course notebook is graded with (the ``tiny`` preset runs in minutes on a CPU)."""


@dataclass(frozen=True)
class Assignment:
    """A gradable notebook.

    ``name`` is the notebook stem (``02_wrinkle_regions``), which the student release stamps
    into ``metadata["fer_kit"]["assignment"]``. ``parameters`` are passed to the notebook's
    ``parameters`` cell (the grader adds ``output_dir`` and ``work_dir``).

    With ``solution_run`` the grader first runs the instructor's notebook (``solution``, by
    default ``notebooks/<name>.ipynb``) once with the same parameters: what it leaves in its
    ``work_dir`` (generated data, caches, trained runs) is copied to every student's run, so
    students do not rebuild it, and what it records is handed to the checks as
    ``context.reference``. A solution that does not run cleanly stops the grading.
    """

    name: str
    checks: tuple[Check, ...]
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    title: str = ""
    solution_run: bool = False
    solution: str = ""
    source_file: str = ""

    @property
    def max_points(self) -> float:
        return float(sum(check.points for check in self.checks))

    @property
    def keys(self) -> set[str]:
        """Every results key the checks read."""
        return {key for check in self.checks for key in check.keys}

    def solution_path(self) -> Path:
        """The instructor's notebook: ``solution`` (relative to the checks module), else the course's."""
        if self.solution:
            path = Path(self.solution)
            if not path.is_absolute() and self.source_file:
                path = Path(self.source_file).parent / path
            return path
        from fer_kit.course import default_notebooks_dir

        return default_notebooks_dir() / f"{self.name}.ipynb"

    def fingerprint(self) -> str:
        """A hash of the checks, the parameters and (with ``solution_run``) the solution notebook.

        A changed grader re-grades everybody on the next run.
        """
        digest = hashlib.sha256(json.dumps(dict(self.parameters), sort_keys=True, default=str).encode())
        if self.source_file and Path(self.source_file).is_file():
            digest.update(Path(self.source_file).read_bytes())
        digest.update(repr([(check.name, check.points) for check in self.checks]).encode())
        if self.solution_run and self.solution_path().is_file():
            digest.update(self.solution_path().read_bytes())
        return digest.hexdigest()[:16]


def _from_module(module: Any, where: str) -> Assignment:
    assignment = getattr(module, "ASSIGNMENT", None)
    if not isinstance(assignment, Assignment):
        raise InputFileError("defines no ASSIGNMENT = Assignment(...)", where)
    if not assignment.source_file and getattr(module, "__file__", None):
        assignment = Assignment(**{**assignment.__dict__, "source_file": module.__file__})
    return assignment


def known_assignments() -> list[str]:
    """The course assignment names."""
    return list(COURSE_ASSIGNMENTS)


def get_assignment(name: str) -> Assignment:
    """The assignment called ``name``: a notebook stem, its number (``02``), or the path of a checks module."""
    candidate = Path(name)
    if name.endswith(".py"):
        if not candidate.is_file():
            raise InputFileError("no such checks module", candidate)
        spec = importlib.util.spec_from_file_location(f"fer_kit_checks_{candidate.stem}", candidate)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise InputFileError(f"the checks module fails to import ({type(error).__name__}: {error})",
                                 candidate) from None
        return _from_module(module, str(candidate))
    stem = Path(name).stem
    matches = [key for key in COURSE_ASSIGNMENTS if stem in (key, key[:2], key[3:], f"a{key[:2]}")]
    if len(matches) != 1:
        raise FerKitError(f"unknown assignment {name!r}; choose one of {', '.join(COURSE_ASSIGNMENTS)} "
                          "or give the path of a checks module (.py)")
    module = importlib.import_module(f"fer_kit.grading.assignments.{COURSE_ASSIGNMENTS[matches[0]]}")
    return _from_module(module, module.__name__)
