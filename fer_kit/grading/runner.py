"""Grade one submission, or a whole class: run each notebook in a sandbox of its own, then check it.

For every submission :func:`grade_submission`

1. vets the file (:func:`~fer_kit.grading.submissions.vet_notebook`): an empty or malformed
   notebook is ``invalid``, one released for another assignment is ``wrong assignment``;
2. runs it headless with the grading parameters in a bubblewrap sandbox of its own, with a
   wall-clock limit and resource limits (:func:`~fer_kit.grading.sandbox.run_sandboxed`),
   giving it a private copy, inside that sandbox, of the work folder the instructor's solution
   run left (data, caches, trained runs: the kit keys none of them on where the work folder is,
   so the copy is reused as it is);
3. after the notebook's own cells, in the same kernel and sandbox, calls the student's functions on
   hidden inputs drawn for that student from the instructor's secret (:mod:`~fer_kit.grading.hidden`,
   :mod:`~fer_kit.grading.probe`);
4. runs the checks (in the grader, outside the sandbox) on what it recorded and what its functions
   answered, read back with size limits (whatever was recorded before an error or the time limit still
   counts; a hidden check compares the answers with references the grader computes itself) and names
   the status: ``ok``, ``error``, ``not implemented``, ``timeout``, ``invalid`` or ``wrong assignment``.

:func:`grade_class` does that for every student of a submissions folder with a pool of
workers (threads, each waiting on its own sandbox), after running the solution once
(:func:`solution_reference`) when the assignment asks for it. Each hand-in is first taken in
(:func:`~fer_kit.grading.submissions.intake`: a read-only copy, hashed while copied) and graded
from that copy. Only the grader writes the records, the feedback and the gradebook, as soon as
each student is graded; none of them (nor the submissions, the solution and its results, the
checks) is visible inside any sandbox. A re-run keeps the students whose record is still valid
(:func:`~fer_kit.grading.record.reusable`): same submission hash and same grader fingerprint
(:func:`grader_fingerprint`: the checks, the grading code, the kit version, the solution work, the
secret's digest and ``--show-expected``), and an outcome that does not depend on changed limits.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic
from fer_kit.errors import FerKitError, InputFileError

from .assignment import Assignment
from .checks import CheckContext, CheckResult, run_checks
from .gradebook import write_feedback, write_gradebook
from .hidden import SOLUTION_STUDENT, HiddenOptions, hidden_run, plan_hidden, stored_secret
from .record import ERROR, INVALID, NOT_IMPLEMENTED, OK, TIMEOUT, GradeRecord, reusable
from .sandbox import (
    NO_SANDBOX_WARNING,
    Isolation,
    Limits,
    RunOutcome,
    kill_running,
    require_bubblewrap,
    run_sandboxed,
)
from .submissions import Submission, content_hash, copy_tree, find_submissions, intake, remove_tree, vet_notebook

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
# Fingerprints and isolation
# --------------------------------------------------------------------------------------------


def kit_fingerprint() -> str:
    """SHA-256 over the kit's version and the source of every ``fer_kit/**/*.py`` (the grading code and
    everything the checks can import from the kit)."""
    import fer_kit

    root = Path(fer_kit.__file__).resolve().parent
    digest = hashlib.sha256(f"fer-kit {fer_kit.__version__}\0".encode())
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def solution_fingerprint(assignment: Assignment, secret_digest: str = "") -> str:
    """What the solution run depends on: the assignment (checks, parameters, solution notebook), the kit and
    the secret's digest (its hidden tests are drawn from it)."""
    text = f"{assignment.fingerprint()}\0{kit_fingerprint()}\0{secret_digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grader_fingerprint(assignment: Assignment, reference: Reference | None = None,
                       hidden: HiddenOptions | None = None) -> str:
    """The resume fingerprint of every record: the solution fingerprint, the solution work's hash, the
    secret's digest and whether feedback shows expected values."""
    work = reference.work_hash if reference is not None else ""
    digest, shown = (hidden.digest, int(hidden.show_expected)) if hidden is not None else ("", 0)
    text = f"{solution_fingerprint(assignment, digest)}\0{work}\0{shown}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def instructor_paths(assignment: Assignment) -> list[Path]:
    """Instructor material no notebook may read: the kit's instructor notebooks and checks, this
    assignment's solution notebook and checks module."""
    import fer_kit
    from fer_kit.config import NOTEBOOKS_DIR

    kit = Path(fer_kit.__file__).resolve().parent
    paths = [Path(NOTEBOOKS_DIR), kit / "grading" / "assignments"]
    with contextlib.suppress(Exception):
        paths.append(assignment.solution_path())
    if assignment.source_file and Path(assignment.source_file).is_file():
        paths.append(Path(assignment.source_file))
    return paths


def default_isolation(assignment: Assignment, hide: Iterable[Path] = (), sandbox: bool = True,
                      read_only: Iterable[Path] = ()) -> Isolation:
    """The :class:`Isolation` of a run: ``hide`` plus :func:`instructor_paths` hidden."""
    return Isolation(sandbox, tuple([*hide, *instructor_paths(assignment)]), tuple(Path(p) for p in read_only))


# --------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------


@dataclass
class Reference:
    """What the instructor's solution left for the class: its recorded results and its work folder.

    ``work_dir`` is a read-only snapshot taken after the solution run, never mounted into a
    sandbox; ``work_hash`` is its digest then. Every student gets a full copy of it in their own
    sandbox (:meth:`copy_to`; a notebook may append to or rewrite any file there, so no links),
    which the kit reuses wherever it lies (dataset, cache keys and training runs are
    location-free), and the copy is checked against ``work_hash`` as it is made.
    """

    results: dict = field(default_factory=dict)
    work_dir: Path | None = None
    work_hash: str = ""

    def copy_to(self, target: Path) -> Path:
        """A private, writable copy of the solution's work folder at ``target`` (modification times kept).

        :class:`~fer_kit.errors.FerKitError` if the snapshot no longer has the hash it had after the
        solution run (someone changed it: the solution is run again on the next ``fer-kit grade``).
        """
        if self.work_dir is None:
            target.mkdir(parents=True, exist_ok=True)
            return target
        copied = copy_tree(self.work_dir, target, links="copy", writable=True)
        if self.work_hash and copied.digest != self.work_hash:
            remove_tree(target)
            raise FerKitError("the solution's work folder changed since the solution run (its hash differs); "
                              "grade again: the solution is run anew", self.work_dir)
        return target


def _status(outcome: RunOutcome, timeout: float) -> tuple[str, str]:
    """(status, note) of a finished, failed or stopped run."""
    if outcome.timed_out:
        running = outcome.running
        where = f" while running cell {running['cell']} (`{running['line']}`)" if running else ""
        status, note = TIMEOUT, f"stopped at the time limit of {timeout:g} s{where}"
    elif outcome.stopped:
        status, note = ERROR, outcome.stopped
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
    for problem in [outcome.results_problem, *outcome.problems]:
        if problem:
            note = f"{note}; {problem}" if note else problem
    return status, note


def _depends_on_limits(outcome: RunOutcome) -> bool:
    """Whether the outcome may change under other limits (see :attr:`GradeRecord.depends_on_limits`)."""
    return (outcome.timed_out or bool(outcome.stopped) or not outcome.finished
            or any(error["ename"] == "MemoryError" for error in outcome.errors))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60] or "student"


def run_limits(timeout: float, limits: Limits, isolation: Isolation) -> dict:
    """The settings a record is graded under (:attr:`GradeRecord.limits`)."""
    return {"timeout": float(timeout), "memory": int(limits.memory), "sandbox": bool(isolation.sandbox)}


def _unrun(submission: Submission, assignment: Assignment, status: str, note: str, sha: str, grader: str = "",
           limits: dict | None = None) -> GradeRecord:
    checks = [CheckResult(check.name, 0.0, check.points, False, "not run", check.description)
              for check in assignment.checks]
    return GradeRecord(submission.student, assignment.name, status, 0.0, assignment.max_points, checks, note,
                       sha256=sha, grader=grader or grader_fingerprint(assignment),
                       submission=str(submission.handed_in), limits=dict(limits or {}))


def _run(nb: Any, assignment: Assignment, label: str, timeout: float, reference: Reference | None,
         folder: Path | None, keep: Path, isolation: Isolation, limits: Limits, runs_root: Path | None = None,
         solution_work: Path | None = None, hidden: HiddenOptions | None = None,
         student: str = "") -> tuple[RunOutcome, list[CheckResult], str, str]:
    """Run ``nb`` in a new sandbox, check it, keep its executed copy, results and log under ``keep``.

    The notebook's work folder is a private copy of the solution's (with a ``reference``), else
    empty. ``solution_work`` (the solution run): where to keep what the run left in its work
    folder, as the read-only snapshot every student's copy is made from. The hidden tests are drawn
    for ``student`` (default ``label``) under ``hidden``'s secret (a random one without it).
    """
    hidden = hidden or HiddenOptions.ephemeral()
    plan = plan_hidden(assignment, hidden.secret, student or label)
    sandbox = Path(tempfile.mkdtemp(prefix=f"fer-kit-grade-{_safe_name(label)}-", dir=runs_root))
    try:
        fill = reference.copy_to if reference is not None and reference.work_dir is not None else None
        outcome = run_sandboxed(nb, assignment.name, sandbox / "run", dict(assignment.parameters), timeout, folder,
                                fill_work=fill, isolation=isolation, limits=limits,
                                hidden=plan.payload() if plan else None, hidden_seconds=plan.seconds if plan else 0)
        shared = reference.work_dir if reference is not None else None
        if solution_work is not None:
            remove_tree(solution_work)
            copy_tree(sandbox / "run" / "box" / "course-work", solution_work, links="copy", read_only=True)
            shared = solution_work
        context = CheckContext(outcome.results, outcome.output_dir, dict(assignment.parameters),
                               reference.results if reference else {}, shared,
                               hidden_run(plan, outcome.hidden_answers, outcome.hidden_problem), hidden.show_expected)
        checks = run_checks(assignment.checks, context)
        status, note = _status(outcome, timeout)
        for sub in ("executed", "results", "logs"):
            keep.joinpath(sub).mkdir(parents=True, exist_ok=True)
        if outcome.executed is not None:
            write_text_atomic(keep / "executed" / f"{label}.ipynb", outcome.executed.read_text(encoding="utf-8",
                                                                                                errors="replace"))
        if outcome.log is not None and outcome.log.is_file():
            write_text_atomic(keep / "logs" / f"{label}.log", outcome.log.read_text(encoding="utf-8",
                                                                                      errors="replace"))
        _write_json_atomic(keep / "results" / f"{label}.json", outcome.results)
        return outcome, checks, status, note
    finally:
        remove_tree(sandbox)


def grade_submission(
    submission: Submission,
    assignment: Assignment,
    state_dir: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    reference: Reference | None = None,
    *,
    isolation: Isolation | None = None,
    limits: Limits | None = None,
    grader: str = "",
    runs_root: Path | None = None,
    hidden: HiddenOptions | None = None,
) -> GradeRecord:
    """Vet, run (sandboxed, time-limited) and check one submission; never raises for a bad submission.

    ``state_dir`` receives the executed notebook, the recorded results and the run log as
    ``executed/<student>.ipynb``, ``results/<student>.json`` and ``logs/<student>.log``.
    ``reference`` is the solution run: the notebook works in its own copy of the solution's work
    folder (in its sandbox), and the checks see the solution's results. ``isolation`` defaults
    to a bubblewrap sandbox hiding the instructor material (:func:`default_isolation`),
    ``grader`` to :func:`grader_fingerprint`. ``hidden`` holds the secret the hidden inputs are drawn
    from (a random one without it) and ``show_expected``. :class:`~fer_kit.grading.sandbox.SandboxError`
    (the grader's problem) when the sandbox cannot be set up.
    """
    state_dir = Path(state_dir)
    isolation = isolation or default_isolation(assignment, [state_dir])
    if isolation.sandbox:
        require_bubblewrap()
    limits = limits or Limits()
    hidden = hidden or HiddenOptions.ephemeral()
    grader = grader or grader_fingerprint(assignment, reference, hidden)
    settings = run_limits(timeout, limits, isolation)
    sha = content_hash(submission)
    if submission.notebook is None:
        return _unrun(submission, assignment, INVALID, submission.problem or "no notebook found", sha, grader,
                      settings)
    status, reason, nb = vet_notebook(submission.notebook, assignment)
    if status != OK:
        return _unrun(submission, assignment, status, reason, sha, grader, settings)
    started = time.monotonic()
    outcome, checks, status, note = _run(nb, assignment, submission.student, timeout, reference,
                                         submission.folder, state_dir, isolation, limits, runs_root, hidden=hidden)
    score = round(sum(check.points for check in checks), 4)
    executed = state_dir / "executed" / f"{submission.student}.ipynb"
    return GradeRecord(submission.student, assignment.name, status, score, assignment.max_points, checks, note,
                       outcome.errors, round(time.monotonic() - started, 2), sha, grader,
                       str(submission.handed_in), str(executed) if outcome.executed else "", settings,
                       _depends_on_limits(outcome))


def _kept_solution(folder: Path, fingerprint: str, log: Callable[[str], None]) -> Reference | None:
    """The solution run kept in ``folder`` (``solution.json``, ``work/``) when it is complete, has the
    solution ``fingerprint`` and its snapshot still the hash it had; else None (said through ``log`` when
    only the snapshot changed)."""
    stamp, work = folder / "solution.json", folder / "work"
    data: dict = {}
    if stamp.is_file():
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(stamp.read_text(encoding="utf-8"))
    if data.get("grader") == fingerprint and data.get("complete") is True and work.is_dir() and data.get("work_hash"):
        with contextlib.suppress(OSError):
            if copy_tree(work, None, links="copy").digest == data["work_hash"]:
                return Reference(data.get("results", {}), work, data["work_hash"])
        log("the solution's work folder changed since its run: running the solution again")
    return None


def _solution_notebook(path: Path, assignment: Assignment) -> Any:
    """The solution notebook at ``path``, vetted like a hand-in; :class:`~fer_kit.errors.FerKitError` if it fails."""
    status, reason, nb = vet_notebook(path, assignment)
    if status != OK:
        raise FerKitError(f"the solution notebook cannot be graded: {reason}", path)
    return nb


def _log_solution_score(assignment: Assignment, checks: list[CheckResult], started: float,
                        log: Callable[[str], None]) -> tuple[float, list[str]]:
    """Say through ``log`` what the solution scored, in how long and which checks it fails; returns
    (score, failed checks)."""
    score = sum(check.points for check in checks)
    failed = [f"{check.name} ({check.message})" for check in checks if not check.passed]
    log(f"solution: {score:g}/{assignment.max_points:g} in {time.monotonic() - started:.0f} s"
        + (f"; the solution fails {', '.join(failed)}" if failed else ""))
    return score, failed


def solution_reference(assignment: Assignment, state_dir: str | Path, timeout: float,
                       log: Callable[[str], None] | None = None, *, isolation: Isolation | None = None,
                       limits: Limits | None = None, runs_root: Path | None = None,
                       hidden: HiddenOptions | None = None) -> Reference | None:
    """Run the instructor's solution once (in a sandbox, like a student); None without a solution run.

    Its results and the read-only snapshot of its work folder are kept in ``state_dir/solution/``
    (``solution.json``, ``work/``) and reused while the solution fingerprint is unchanged and the
    snapshot still has the hash it had. :class:`~fer_kit.errors.FerKitError` when the solution
    does not run cleanly: grading against a broken reference would be unfair. A solution that
    the checks do not give full marks is reported through ``log`` (the checks or the notebook need
    a look) but does not stop the grading; its functions face hidden tests drawn under ``hidden``'s
    secret like a student's.
    """
    if not assignment.solution_run:
        return None
    log = log or (lambda message: None)
    path = assignment.solution_path()
    if not path.is_file():
        raise InputFileError("the solution notebook of this assignment is missing", path)
    folder = Path(state_dir) / "solution"
    hidden = hidden or HiddenOptions.ephemeral()
    fingerprint = solution_fingerprint(assignment, hidden.digest)
    kept = _kept_solution(folder, fingerprint, log)
    if kept is not None:
        return kept
    nb = _solution_notebook(path, assignment)
    log(f"running the solution {path.name} (its data, caches and runs are then copied for every student) ...")
    remove_tree(folder)
    folder.mkdir(parents=True)
    isolation = isolation or default_isolation(assignment, [Path(state_dir)])
    if isolation.sandbox:
        require_bubblewrap()
    started, work = time.monotonic(), folder / "work"
    outcome, checks, status, note = _run(nb, assignment, "solution", 3 * timeout, None, None, folder, isolation,
                                         limits or Limits(), runs_root, solution_work=work, hidden=hidden,
                                         student=SOLUTION_STUDENT)
    if status != OK:
        raise FerKitError(f"the solution notebook does not run cleanly with the grading parameters: "
                          f"{note}; see {folder / 'executed' / 'solution.ipynb'}", path)
    score, failed = _log_solution_score(assignment, checks, started, log)
    work_hash = copy_tree(work, None, links="copy").digest
    _write_json_atomic(folder / "solution.json", {"grader": fingerprint, "complete": True, "results": outcome.results,
                                                  "score": score, "failed": failed, "work_hash": work_hash})
    return Reference(outcome.results, work, work_hash)


# --------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------


def output_paths(gradebook: str | Path) -> tuple[Path, Path, Path]:
    """(gradebook, feedback folder, state folder): ``marks.csv`` -> ``marks_feedback/``, ``marks_runs/``."""
    gradebook = Path(gradebook).expanduser().resolve()
    return gradebook, gradebook.with_name(f"{gradebook.stem}_feedback"), gradebook.with_name(f"{gradebook.stem}_runs")


def _write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def _stored_secret(state_dir: Path, log: Callable[[str], None]) -> bytes:
    """The secret kept in the state folder (made now if absent, and said so): grading without ``--secret-file``."""
    secret, made = stored_secret(state_dir)
    if made:
        log(f"hidden tests: no --secret-file given; made a secret and kept it in {state_dir / 'hidden-tests.secret'} "
            "(mode 0600): keep it to grade again with the same hidden inputs")
    return secret


def _check_sandbox(sandbox: bool, log: Callable[[str], None]) -> None:
    """With ``sandbox``, :func:`~fer_kit.grading.sandbox.require_bubblewrap`; without, say through ``log``
    what running the notebooks unsandboxed gives up."""
    if sandbox:
        require_bubblewrap()
    else:
        log(NO_SANDBOX_WARNING.format(user=getpass.getuser()))


def _class_submissions(submissions_dir: Path, assignment: Assignment, state_dir: Path,
                       feedback_dir: Path) -> list[Submission]:
    """The hand-ins in ``submissions_dir``, less the gradebook's own folders (the gradebook may live in there);
    :class:`~fer_kit.errors.InputFileError` when there are none."""
    found = [s for s in find_submissions(submissions_dir, assignment)
             if s.path.resolve() not in (state_dir, feedback_dir)]
    if not found:
        raise InputFileError("no submissions (expected <student>.ipynb files or one folder per student)",
                             submissions_dir)
    return found


def _read_record(path: Path) -> GradeRecord | None:
    """The record kept at ``path``; None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        return GradeRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class _ClassOutputs:
    """What only the grader writes for a class, and the records so far (by student).

    Each student's record (``state_dir/records/<student>.json``) and feedback (``feedback_dir/<student>.md``),
    and the gradebook, which lists the records so far in the order of ``submissions``.
    """

    assignment: Assignment
    submissions: list[Submission]
    gradebook: Path
    feedback_dir: Path
    state_dir: Path
    log: Callable[[str], None]
    records: dict[str, GradeRecord] = field(default_factory=dict)

    def record_file(self, student: str) -> Path:
        """Where ``student``'s record is kept."""
        return self.state_dir / "records" / f"{student}.json"

    def feedback_file(self, student: str) -> Path:
        """Where ``student``'s feedback is written."""
        return self.feedback_dir / f"{student}.md"

    def write_gradebook(self) -> None:
        """Rewrite the gradebook with the records so far, in student order."""
        ordered = [self.records[s.student] for s in self.submissions if s.student in self.records]
        write_gradebook(ordered, self.assignment, self.gradebook)

    def keep_valid(self, grader: str, settings: dict, rerun: bool) -> list[Submission]:
        """Keep the records of an earlier run that are still valid (:func:`~fer_kit.grading.record.reusable`;
        none with ``rerun``) and say how many; returns the submissions left to grade, in order."""
        todo: list[Submission] = []
        for submission in self.submissions:
            old = None if rerun else _read_record(self.record_file(submission.student))
            if old is not None and reusable(old, content_hash(submission), grader, settings):
                self.records[submission.student] = old
            else:
                todo.append(submission)
        if self.records:
            self.log(f"{len(self.records)} submission(s) already graded and unchanged: kept "
                     "(use --rerun to grade them again)")
        return todo

    def restore(self) -> None:
        """Write the feedback of each kept record whose file is gone (the folder was cleaned), and the gradebook."""
        for record in self.records.values():
            if not self.feedback_file(record.student).is_file():
                write_feedback(record, self.feedback_file(record.student))
        self.write_gradebook()

    def finish(self, record: GradeRecord) -> None:
        """Take a newly graded ``record``: write its record and feedback, rewrite the gradebook, log the mark."""
        self.records[record.student] = record
        _write_json_atomic(self.record_file(record.student), record.to_dict())
        write_feedback(record, self.feedback_file(record.student))
        self.write_gradebook()
        self.log(f"{record.student}: {record.score:g}/{record.max_points:g} {record.status}"
                 + (f" ({record.note})" if record.note else ""))


def _grader_failure(submission: Submission, assignment: Assignment, error: Exception, grader: str,
                    settings: dict) -> GradeRecord:
    """The ``error`` record of a submission whose grading itself failed (disk full, a lost worker, ...).

    It has no grader fingerprint and depends on the limits: not a finished grading, so a re-run tries again.
    """
    record = _unrun(submission, assignment, ERROR, f"the grader failed: {type(error).__name__}: {error}",
                    content_hash(submission), grader, settings)
    record.grader = ""
    record.depends_on_limits = True
    return record


def _grade_all(todo: list[Submission], grade: Callable[[Submission], GradeRecord],
               failed: Callable[[Submission, Exception], GradeRecord], finish: Callable[[GradeRecord], None],
               workers: int, scheduler: str | None) -> None:
    """Call ``grade`` on every submission of ``todo`` in a pool and ``finish`` each record as it comes.

    The pool is up to ``workers`` threads of this process or, with ``scheduler``, a Dask cluster, one
    task per submission (:func:`fer_kit.executors.task_executor`). A grading that raises (the grader's
    own failure) gets the record ``failed`` makes, and the others go on; on an interrupt or any other
    error the running sandboxes are killed (and, with threads, the waiting gradings dropped).
    """
    workers = max(1, min(int(workers), len(todo) or 1))
    with contextlib.ExitStack() as cluster:  # with a scheduler: a Dask client, closed at the end
        if scheduler:
            from fer_kit.executors import task_executor

            pool = cluster.enter_context(task_executor(0, scheduler))
        else:
            pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(grade, submission): submission for submission in todo}
            for future in as_completed(futures):
                try:
                    record = future.result()
                except Exception as error:  # the grader's own failure (disk full, ...): report, keep going
                    record = failed(futures[future], error)
                finish(record)
        except BaseException:
            if not scheduler:
                pool.shutdown(wait=False, cancel_futures=True)
            kill_running()
            raise
        pool.shutdown(wait=True)


def grade_class(
    submissions_dir: str | Path,
    assignment: Assignment,
    gradebook: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int = 1,
    rerun: bool = False,
    log: Callable[[str], None] | None = None,
    *,
    sandbox: bool = True,
    limits: Limits | None = None,
    read_only: Iterable[str | Path] = (),
    secret: bytes | None = None,
    show_expected: bool = False,
    scheduler: str | None = None,
) -> ClassReport:
    """Grade every submission in ``submissions_dir``; write the gradebook CSV and one feedback file each.

    Records go to ``<gradebook stem>_runs/records/<student>.json`` as each student finishes, and
    the gradebook is rewritten (atomically) each time, so an interrupted run keeps its work; a
    re-run keeps the records that are still valid (:func:`~fer_kit.grading.record.reusable`),
    unless ``rerun``. ``sandbox=False`` runs the notebooks without bubblewrap (and says what that
    gives up through ``log``); with it, :class:`~fer_kit.grading.sandbox.SandboxError` when
    bubblewrap is missing or cannot work here. ``limits`` are the resource limits of each run,
    ``read_only`` extra host folders each sandbox may read (e.g. a real dataset). ``secret`` draws the
    hidden inputs (without it, the one kept in the state folder, made there on first use: see
    :func:`~fer_kit.grading.hidden.stored_secret`); ``show_expected`` lets feedback show expected values.
    ``scheduler`` (a Dask scheduler's address): one submission per task on that cluster
    (:func:`fer_kit.executors.task_executor`), each run by :func:`grade_submission` in its own sandbox on
    a worker; the submissions, the gradebook's folders and the kit must be at the same paths there
    (shared storage), and the intake copies and runs are made beside the gradebook instead of in ``/tmp``.
    """
    log = log or (lambda message: None)
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise InputFileError("no such submissions folder", submissions_dir)
    _check_sandbox(sandbox, log)
    limits = limits or Limits()
    gradebook, feedback_dir, state_dir = output_paths(gradebook)
    for folder in (feedback_dir, state_dir / "records"):
        folder.mkdir(parents=True, exist_ok=True)
    hidden = HiddenOptions(secret if secret is not None else _stored_secret(state_dir, log), show_expected)
    found = _class_submissions(submissions_dir, assignment, state_dir, feedback_dir)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="fer-kit-grading-", dir=state_dir if scheduler else None))
    try:
        return _grade_class(found, scratch, submissions_dir, assignment, gradebook, feedback_dir, state_dir,
                            timeout, workers, rerun, log, sandbox, limits, read_only, started, hidden, scheduler)
    finally:
        remove_tree(scratch)


def _grade_class(found: list[Submission], scratch: Path, submissions_dir: Path, assignment: Assignment,
                 gradebook: Path, feedback_dir: Path, state_dir: Path, timeout: float, workers: int, rerun: bool,
                 log: Callable[[str], None], sandbox: bool, limits: Limits, read_only: Iterable[str | Path],
                 started: float, hidden: HiddenOptions | None = None, scheduler: str | None = None) -> ClassReport:
    """:func:`grade_class` once the hand-ins are found; ``scratch`` holds the intake copies and the runs.

    The hand-ins are taken in, the solution run (:func:`solution_reference`), the still-valid records kept
    (:class:`_ClassOutputs`) and the others graded (:func:`_grade_all`). Each submission is one call of
    ``grade`` (:func:`grade_submission`): in a thread of this process, or with ``scheduler`` the same call
    as a task on a Dask worker (:mod:`fer_kit.executors`).
    """
    isolation = default_isolation(assignment, [submissions_dir, gradebook, feedback_dir, state_dir, scratch],
                                  sandbox, [Path(p) for p in read_only])
    submissions = [intake(s, scratch / "intake" / f"{i:05d}-{_safe_name(s.student)}", assignment)
                   for i, s in enumerate(found)]
    runs_root = scratch / "runs"
    runs_root.mkdir()
    solution_started = time.monotonic()
    reference = solution_reference(assignment, state_dir, timeout, log, isolation=isolation, limits=limits,
                                   runs_root=runs_root, hidden=hidden)
    solution_seconds = time.monotonic() - solution_started
    grader = grader_fingerprint(assignment, reference, hidden)
    settings = run_limits(timeout, limits, isolation)
    outputs = _ClassOutputs(assignment, submissions, gradebook, feedback_dir, state_dir, log)
    todo = outputs.keep_valid(grader, settings, rerun)
    reused = len(outputs.records)
    outputs.restore()  # feedback for kept records too, in case the folder was cleaned

    def grade(submission: Submission) -> GradeRecord:
        return grade_submission(submission, assignment, state_dir, timeout, reference, isolation=isolation,
                                limits=limits, grader=grader, runs_root=runs_root, hidden=hidden)

    def failed(submission: Submission, error: Exception) -> GradeRecord:
        return _grader_failure(submission, assignment, error, grader, settings)

    _grade_all(todo, grade, failed, outputs.finish, workers, scheduler)
    return ClassReport(gradebook, feedback_dir, state_dir, [outputs.records[s.student] for s in submissions],
                       graded=len(todo), reused=reused, seconds=time.monotonic() - started,
                       solution_seconds=solution_seconds)
