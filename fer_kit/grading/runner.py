"""Grade one submission, or a whole class: run each notebook in its own sandbox, then check it.

For every submission :func:`grade_submission`

1. vets the file (:func:`~fer_kit.grading.submissions.vet_notebook`): an empty or malformed
   notebook is ``invalid``, one released for another assignment is ``wrong assignment``;
2. runs it headless with the grading parameters in a fresh temporary folder of its own, with
   a wall-clock limit (:func:`~fer_kit.grading.sandbox.run_sandboxed`), giving it a private
   copy, inside that folder, of the work folder the instructor's solution run left (data,
   caches, trained runs: the kit keys none of them on where the work folder is, so the copy is
   reused as it is);
3. runs the checks on what it recorded (whatever was recorded before an error or the time
   limit still counts) and names the status: ``ok``, ``error``, ``not implemented``,
   ``timeout``, ``invalid`` or ``wrong assignment``.

:func:`grade_class` does that for every student of a submissions folder with a pool of
workers (threads, each waiting on its own notebook process), after running the solution once
(:func:`solution_reference`) when the assignment asks for it. It writes each student's record,
feedback and the gradebook as soon as the student is graded, and on a re-run skips the students
whose submission (by content hash) and grader are unchanged.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic
from fer_kit.errors import FerKitError, InputFileError

from .assignment import Assignment
from .checks import CheckContext, CheckResult, run_checks
from .gradebook import write_feedback, write_gradebook
from .record import ERROR, INVALID, NOT_IMPLEMENTED, OK, TIMEOUT, GradeRecord
from .sandbox import RunOutcome, kill_running, run_sandboxed
from .submissions import Submission, content_hash, find_submissions, vet_notebook

DEFAULT_TIMEOUT = 600.0


@dataclass
class ClassReport:
    """The outcome of grading a class: the records (in student order) and where things were written."""

    gradebook: Path
    feedback_dir: Path
    state_dir: Path
    records: list[GradeRecord]
    graded: int = 0
    reused: int = 0
    seconds: float = 0.0
    solution_seconds: float = 0.0

    def to_dict(self) -> dict:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        return {
            "gradebook": str(self.gradebook), "feedback": str(self.feedback_dir), "students": len(self.records),
            "graded": self.graded, "reused": self.reused, "seconds": round(self.seconds, 1),
            "solution_seconds": round(self.solution_seconds, 1), "statuses": counts,
            "scores": {record.student: [record.score, record.max_points, record.status] for record in self.records},
        }


# --------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------


@dataclass
class Reference:
    """What the instructor's solution left for the class: its recorded results and its work folder.

    Nobody writes into ``work_dir`` after the solution run: every student gets a full copy of it
    in their own sandbox (:meth:`copy_to`; a notebook may append to or rewrite any file there,
    so no links), which the kit reuses wherever it lies (dataset, cache keys and training runs
    are location-free). Students graded at the same time therefore never share a folder.
    """

    results: dict = field(default_factory=dict)
    work_dir: Path | None = None

    def copy_to(self, target: Path) -> Path:
        """A private copy of the solution's work folder at ``target`` (modification times kept); return it."""
        if self.work_dir is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            shutil.copytree(self.work_dir, target, symlinks=True)
        return target


def _status(outcome: RunOutcome, timeout: float) -> tuple[str, str]:
    """(status, note) of a finished, failed or stopped run."""
    if outcome.timed_out:
        running = outcome.running
        where = f" while running cell {running['cell']} (`{running['line']}`)" if running else ""
        status, note = TIMEOUT, f"stopped at the time limit of {timeout:g} s{where}"
    elif outcome.errors:
        first = outcome.errors[0]
        status = NOT_IMPLEMENTED if first["ename"] == "NotImplementedError" else ERROR
        note = f"cell {first['cell']} raised {first['ename']}"
        note = f"{note}: {first['evalue']}"[:300] if first["evalue"].strip() else note
        if len(outcome.errors) > 1:
            more = len(outcome.errors) - 1
            note += f" (and {more} more failing cell{'s' if more > 1 else ''})"
    elif not outcome.finished:
        status, note = ERROR, f"the notebook could not run to its end: {outcome.error}"[:300]
    else:
        status, note = OK, ""
    if outcome.results_problem:
        note = f"{note}; {outcome.results_problem}" if note else outcome.results_problem
    return status, note


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60] or "student"


def _unrun(submission: Submission, assignment: Assignment, status: str, note: str, sha: str) -> GradeRecord:
    checks = [CheckResult(check.name, 0.0, check.points, False, "not run", check.description)
              for check in assignment.checks]
    return GradeRecord(submission.student, assignment.name, status, 0.0, assignment.max_points, checks, note,
                       sha256=sha, grader=assignment.fingerprint(), submission=str(submission.path))


def _run(nb: Any, assignment: Assignment, label: str, timeout: float, reference: Reference | None,
         folder: Path | None, keep: Path, work_dir: Path | None = None,
         solution: bool = False) -> tuple[RunOutcome, list[CheckResult], str, str]:
    """Run ``nb`` in a new sandbox, check it, keep its executed copy, results and log under ``keep``.

    ``work_dir`` is the work folder to hand the notebook (the solution's own); None gives a
    private one inside the sandbox, ``sandbox/course-work``: a copy of the solution's work
    folder with a ``reference``, else empty.
    """
    sandbox = Path(tempfile.mkdtemp(prefix=f"fer-kit-grade-{_safe_name(label)}-"))
    try:
        if work_dir is None:
            work_dir = (reference or Reference()).copy_to(sandbox / "course-work")
        parameters = dict(assignment.parameters)
        parameters["work_dir"] = str(work_dir)
        outcome = run_sandboxed(nb, assignment.name, sandbox, parameters, timeout, folder)
        # the checks may read the solution's work folder (when this is the solution run: its own)
        shared = reference.work_dir if reference is not None else (work_dir if solution else None)
        context = CheckContext(outcome.results, outcome.output_dir, dict(assignment.parameters),
                               reference.results if reference else {}, shared)
        checks = run_checks(assignment.checks, context)
        status, note = _status(outcome, timeout)
        for sub in ("executed", "results", "logs"):
            keep.joinpath(sub).mkdir(parents=True, exist_ok=True)
        if outcome.executed is not None:
            shutil.copyfile(outcome.executed, keep / "executed" / f"{label}.ipynb")
        if outcome.log is not None and outcome.log.is_file():
            shutil.copyfile(outcome.log, keep / "logs" / f"{label}.log")
        (keep / "results" / f"{label}.json").write_text(json.dumps(outcome.results, indent=1), encoding="utf-8")
        return outcome, checks, status, note
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def grade_submission(
    submission: Submission,
    assignment: Assignment,
    state_dir: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    reference: Reference | None = None,
) -> GradeRecord:
    """Vet, run (sandboxed, time-limited) and check one submission; never raises for a bad submission.

    ``state_dir`` receives the executed notebook, the recorded results and the run log as
    ``executed/<student>.ipynb``, ``results/<student>.json`` and ``logs/<student>.log``.
    ``reference`` is the solution run: the notebook works in its own copy of the solution's work
    folder (in its sandbox), and the checks see the solution's results.
    """
    state_dir = Path(state_dir)
    sha = content_hash(submission)
    if submission.notebook is None:
        return _unrun(submission, assignment, INVALID, submission.problem or "no notebook found", sha)
    status, reason, nb = vet_notebook(submission.notebook, assignment)
    if status != OK:
        return _unrun(submission, assignment, status, reason, sha)
    started = time.monotonic()
    outcome, checks, status, note = _run(nb, assignment, submission.student, timeout, reference,
                                         submission.folder, state_dir)
    score = round(sum(check.points for check in checks), 4)
    executed = state_dir / "executed" / f"{submission.student}.ipynb"
    return GradeRecord(submission.student, assignment.name, status, score, assignment.max_points, checks, note,
                       outcome.errors, round(time.monotonic() - started, 2), sha, assignment.fingerprint(),
                       str(submission.path), str(executed) if outcome.executed else "")


def solution_reference(assignment: Assignment, state_dir: str | Path, timeout: float,
                       log: Callable[[str], None] | None = None) -> Reference | None:
    """Run the instructor's solution once; None without a solution run.

    Its work folder and results are kept in ``state_dir/solution/`` while the grader is
    unchanged. :class:`~fer_kit.errors.FerKitError` when the solution does not run cleanly:
    grading against a broken reference would be unfair. A solution that the checks do not give
    full marks is reported through ``log`` (the checks or the notebook need a look) but does not
    stop the grading.
    """
    if not assignment.solution_run:
        return None
    log = log or (lambda message: None)
    path = assignment.solution_path()
    if not path.is_file():
        raise InputFileError("the solution notebook of this assignment is missing", path)
    folder = Path(state_dir) / "solution"
    stamp, work = folder / "solution.json", folder / "work"
    data: dict = {}
    if stamp.is_file():
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(stamp.read_text(encoding="utf-8"))
    if data.get("grader") == assignment.fingerprint() and data.get("complete") is True and work.is_dir():
        return Reference(data.get("results", {}), work)
    status, reason, nb = vet_notebook(path, assignment)
    if status != OK:
        raise FerKitError(f"the solution notebook cannot be graded: {reason}", path)
    log(f"running the solution {path.name} (its data, caches and runs are then copied for every student) ...")
    shutil.rmtree(folder, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    outcome, checks, status, note = _run(nb, assignment, "solution", 3 * timeout, None, None, folder,
                                         work_dir=work, solution=True)
    if status != OK:
        raise FerKitError(f"the solution notebook does not run cleanly with the grading parameters: "
                          f"{note}; see {folder / 'executed' / 'solution.ipynb'}", path)
    score = sum(check.points for check in checks)
    failed = [f"{check.name} ({check.message})" for check in checks if not check.passed]
    log(f"solution: {score:g}/{assignment.max_points:g} in {time.monotonic() - started:.0f} s"
        + (f"; the solution fails {', '.join(failed)}" if failed else ""))
    data = {"grader": assignment.fingerprint(), "complete": True, "results": outcome.results, "score": score,
            "failed": failed}
    _write_json_atomic(stamp, data)
    return Reference(data["results"], work)


# --------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------


def output_paths(gradebook: str | Path) -> tuple[Path, Path, Path]:
    """(gradebook, feedback folder, state folder): ``marks.csv`` -> ``marks_feedback/``, ``marks_runs/``."""
    gradebook = Path(gradebook).expanduser().resolve()
    return gradebook, gradebook.with_name(f"{gradebook.stem}_feedback"), gradebook.with_name(f"{gradebook.stem}_runs")


def _write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def grade_class(
    submissions_dir: str | Path,
    assignment: Assignment,
    gradebook: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int = 1,
    rerun: bool = False,
    log: Callable[[str], None] | None = None,
) -> ClassReport:
    """Grade every submission in ``submissions_dir``; write the gradebook CSV and one feedback file each.

    Records go to ``<gradebook stem>_runs/records/<student>.json`` as each student finishes, and
    the gradebook is rewritten (atomically) each time, so an interrupted run keeps its work; a
    re-run skips students whose submission and grader did not change, unless ``rerun``.
    """

    log = log or (lambda message: None)
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise InputFileError("no such submissions folder", submissions_dir)
    gradebook, feedback_dir, state_dir = output_paths(gradebook)
    for folder in (feedback_dir, state_dir / "records"):
        folder.mkdir(parents=True, exist_ok=True)
    # the gradebook may live inside the submissions folder: its own folders are not students
    submissions = [s for s in find_submissions(submissions_dir, assignment)
                   if s.path.resolve() not in (state_dir, feedback_dir)]
    if not submissions:
        raise InputFileError("no submissions (expected <student>.ipynb files or one folder per student)",
                             submissions_dir)

    started = time.monotonic()
    grader = assignment.fingerprint()
    records: dict[str, GradeRecord] = {}
    todo: list[Submission] = []
    for submission in submissions:
        record_file = state_dir / "records" / f"{submission.student}.json"
        if not rerun and record_file.is_file():
            try:
                old = GradeRecord.from_dict(json.loads(record_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                old = None
            if old is not None and old.grader == grader and old.sha256 == content_hash(submission):
                records[submission.student] = old
                continue
        todo.append(submission)
    reused = len(records)
    if reused:
        log(f"{reused} submission(s) already graded and unchanged: kept (use --rerun to grade them again)")

    def finish(record: GradeRecord) -> None:
        records[record.student] = record
        _write_json_atomic(state_dir / "records" / f"{record.student}.json", record.to_dict())
        write_feedback(record, feedback_dir / f"{record.student}.md")
        ordered = [records[s.student] for s in submissions if s.student in records]
        write_gradebook(ordered, assignment, gradebook)
        log(f"{record.student}: {record.score:g}/{record.max_points:g} {record.status}"
            + (f" ({record.note})" if record.note else ""))

    for record in records.values():  # feedback for kept records too, in case the folder was cleaned
        if not (feedback_dir / f"{record.student}.md").is_file():
            write_feedback(record, feedback_dir / f"{record.student}.md")
    write_gradebook([records[s.student] for s in submissions if s.student in records], assignment, gradebook)

    workers = max(1, min(int(workers), len(todo) or 1))

    def grade(submission: Submission) -> GradeRecord:
        return grade_submission(submission, assignment, state_dir, timeout, reference)

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        solution_started = time.monotonic()
        reference = solution_reference(assignment, state_dir, timeout, log) if todo else None
        solution_seconds = time.monotonic() - solution_started
        futures = {pool.submit(grade, submission): submission for submission in todo}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                record = future.result()
            except Exception as error:  # the grader's own failure (disk full, ...): report, keep going
                record = _unrun(submission, assignment, ERROR, f"the grader failed: {type(error).__name__}: {error}",
                                content_hash(submission))
                record.grader = ""  # not a finished grading: a re-run tries again
            finish(record)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        kill_running()
        raise
    pool.shutdown(wait=True)
    ordered = [records[s.student] for s in submissions]
    return ClassReport(gradebook, feedback_dir, state_dir, ordered, graded=len(todo), reused=reused,
                       seconds=time.monotonic() - started, solution_seconds=solution_seconds)
