"""One student's grade: the statuses a submission can end in and the record the gradebook is written from."""

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

    def to_dict(self) -> dict:
        data = asdict(self)
        data["checks"] = [check.to_dict() for check in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeRecord:
        values = dict(data)
        values["checks"] = [CheckResult(**check) for check in values.get("checks", [])]
        return cls(**values)
