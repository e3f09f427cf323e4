"""One student's grade: the statuses a submission can end in, the record the gradebook is written from, and
when a record may be kept on a re-run (:func:`reusable`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .checks import CheckResult

OK, ERROR, NOT_IMPLEMENTED, TIMEOUT, INVALID, WRONG_ASSIGNMENT = (
    "ok", "error", "not implemented", "timeout", "invalid", "wrong assignment",
)
STATUSES = (OK, ERROR, NOT_IMPLEMENTED, TIMEOUT, INVALID, WRONG_ASSIGNMENT)


@dataclass
class GradeRecord:
    """Everything the gradebook and the feedback need about one student's submission."""

    student: str
    assignment: str
    status: str
    score: float
    max_points: float
    checks: list[CheckResult] = field(default_factory=list)
    note: str = ""
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    sha256: str = ""
    grader: str = ""
    submission: str = ""
    executed: str = ""
    limits: dict = field(default_factory=dict)
    """The settings it was graded under: ``timeout`` (s), ``memory`` (bytes), ``sandbox`` (bool)."""
    depends_on_limits: bool = False
    """The outcome came from the settings, not the notebook alone: it hit the time limit, its kernel died
    or it was stopped, it ran out of memory (or the grader itself failed)."""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["checks"] = [check.to_dict() for check in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeRecord:
        values = dict(data)
        values["checks"] = [CheckResult(**check) for check in values.get("checks", [])]
        return cls(**values)


def reusable(record: GradeRecord, sha256: str, grader: str, limits: Mapping[str, Any]) -> bool:
    """Whether a re-run may keep ``record`` instead of grading the submission again.

    Only for the same submission (``sha256``) under the same grader fingerprint (checks,
    grading code, kit version, solution work). Under other settings (``limits``): never an
    outcome that came from the settings (:attr:`GradeRecord.depends_on_limits`: a time-out with
    ``--timeout 10`` is graded again with ``--timeout 60``), nor a switch between sandboxed and
    not; a run that ended on its own is kept when the new time and memory limits are at least
    as generous.
    """
    if not grader or record.grader != grader or record.sha256 != sha256:
        return False
    old = record.limits or {}
    if dict(old) == dict(limits):
        return True
    if record.depends_on_limits or old.get("sandbox") != limits.get("sandbox"):
        return False
    try:
        return all(float(limits[key]) >= float(old[key]) for key in ("timeout", "memory"))
    except (KeyError, TypeError, ValueError):
        return False
