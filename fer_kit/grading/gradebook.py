"""The gradebook CSV and the per-student feedback Markdown.

The gradebook has one row per student: ``student, assignment, score, max, status``, then
one column per check with the points it earned, then ``seconds`` (run time) and ``note``
(why a submission did not run cleanly). Both files are written atomically (temporary file
+ rename), so a reader never sees half a gradebook, even while grading goes on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from fer_kit.atomic import write_text_atomic

from .assignment import Assignment
from .record import ERROR, INVALID, NOT_IMPLEMENTED, OK, TIMEOUT, WRONG_ASSIGNMENT, GradeRecord

FIXED_COLUMNS = ("student", "assignment", "score", "max", "status")
TRAILING_COLUMNS = ("seconds", "note")

_STATUS_TEXT = {
    OK: "Your notebook ran from top to bottom without errors.",
    ERROR: "Your notebook raised an error; the checks used what it recorded anyway.",
    NOT_IMPLEMENTED: "Some exercises still hold the `raise NotImplementedError()` stub.",
    TIMEOUT: "Your notebook did not finish within the time limit and was stopped; "
    "the checks used what it had recorded until then.",
    INVALID: "Your file could not be read as a Jupyter notebook, so nothing was run.",
    WRONG_ASSIGNMENT: "This notebook belongs to another assignment, so nothing was run.",
}


def _number(value: float) -> str:
    return f"{value:g}"


def gradebook_columns(assignment: Assignment) -> list[str]:
    """The CSV header: fixed columns, one per check, then seconds and note."""
    return [*FIXED_COLUMNS, *(check.name for check in assignment.checks), *TRAILING_COLUMNS]


def write_gradebook(records: Sequence[GradeRecord], assignment: Assignment, path: str | Path) -> Path:
    """Write the gradebook CSV for ``records`` (one row each, in the given order) atomically."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(gradebook_columns(assignment))
    for record in records:
        earned = {check.name: check.points for check in record.checks}
        writer.writerow([
            record.student, record.assignment, _number(record.score), _number(record.max_points), record.status,
            *(_number(earned.get(check.name, 0.0)) for check in assignment.checks),
            f"{record.seconds:.1f}", record.note,
        ])
    write_text_atomic(path, buffer.getvalue())
    return path


def feedback_markdown(record: GradeRecord) -> str:
    """The feedback a student reads: score, status, each check with its points and message, the errors."""
    lines = [
        f"# {record.assignment}: feedback for {record.student}",
        "",
        f"**Score: {_number(record.score)} / {_number(record.max_points)}**  ",
        f"Status: **{record.status}**. {_STATUS_TEXT.get(record.status, '')}",
    ]
    if record.note:
        lines += ["", f"> {record.note}"]
    lines += ["", "| | check | points | comment |", "|---|---|---|---|"]
    for check in record.checks:
        mark = "passed" if check.passed else ("partly" if check.points > 0 else "failed")
        comment = (check.message or check.description).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {mark} | {check.name} | {_number(check.points)} / {_number(check.max_points)} | {comment} |")
    if record.errors:
        lines += ["", "## Errors", ""]
        for error in record.errors[:5]:
            lines += [f"Cell {error['cell']} (`{error['line']}`) raised **{error['ename']}**: {error['evalue']}", "",
                      "```", error["traceback"].strip()[-1500:], "```", ""]
        if len(record.errors) > 5:
            lines.append(f"... and {len(record.errors) - 5} more failing cells.")
    lines += ["", f"_Graded in {record.seconds:.0f} s; submission fingerprint {record.sha256[:12]}._", ""]
    return "\n".join(lines)


def write_feedback(record: GradeRecord, path: str | Path) -> Path:
    """Write :func:`feedback_markdown` for ``record`` to ``path`` atomically."""
    path = Path(path)
    write_text_atomic(path, feedback_markdown(record))
    return path
