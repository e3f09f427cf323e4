"""Grade one submission, or a whole class: run each notebook headless in its own sandbox, then check it.

For every submission :func:`grade_submission`

1. vets the file (:func:`~fer_kit.grading.submissions.vet_notebook`): an empty or malformed
   notebook is ``invalid``, one released for another assignment is ``wrong assignment``;
2. copies it (with the rest of a folder submission, and a private copy of any inputs the
   assignment prepared) into a fresh temporary folder of its own, which is the working
   directory of the run, and gives it its own ``output_dir`` and ``TMPDIR`` there, so a
   notebook that deletes files or changes directory only harms its own copy;
3. executes it with papermill in a child process (:mod:`fer_kit.grading.execute`, a fresh
   ``python3`` kernel, the assignment's grading parameters), and kills that process and
   every process under it (the kernel included) when the wall-clock limit passes;
4. reads ``output_dir/results.json`` (whatever was recorded before an error or the time
   limit still counts) and the error outputs of the executed notebook, runs the checks, and
   names the status: ``ok``, ``error``, ``not implemented``, ``timeout``, ``invalid`` or
   ``wrong assignment``.

:func:`grade_class` does that for every student of a submissions folder with a pool of
workers, writes each student's record as soon as it is graded, and skips on a re-run the
students whose submission (by content hash) and grader are unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.errors import InputFileError

from .assignment import Assignment
from .checks import CheckContext, CheckResult, run_checks
from .submissions import Submission, content_hash, find_submissions, grading_copy, vet_notebook

OK, ERROR, NOT_IMPLEMENTED, TIMEOUT, INVALID, WRONG_ASSIGNMENT = (
    "ok", "error", "not implemented", "timeout", "invalid", "wrong assignment",
)
STATUSES = (OK, ERROR, NOT_IMPLEMENTED, TIMEOUT, INVALID, WRONG_ASSIGNMENT)
DEFAULT_TIMEOUT = 600.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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

    def to_dict(self) -> dict:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        return {
            "gradebook": str(self.gradebook), "feedback": str(self.feedback_dir), "students": len(self.records),
            "graded": self.graded, "reused": self.reused, "seconds": round(self.seconds, 1), "statuses": counts,
            "scores": {record.student: [record.score, record.max_points, record.status] for record in self.records},
        }


# --------------------------------------------------------------------------------------------
# Running one notebook
# --------------------------------------------------------------------------------------------

_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill ``process`` and every descendant (the kernel runs in a process group of its own)."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        victims = []
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    psutil.wait_procs(victims, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def kill_running() -> None:
    """Kill every notebook run in progress (used when grading is interrupted)."""
    with _RUNNING_LOCK:
        processes = list(_RUNNING)
    for process in processes:
        _kill_tree(process)


def _execute(job: dict, sandbox: Path, timeout: float) -> tuple[bool, dict]:
    """Run the job in a child process; return (timed_out, status written by the child)."""
    job_file = sandbox / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = dict(os.environ, FER_KIT_GRADING="1", PYTHONUNBUFFERED="1")
    with open(sandbox / "run.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fer_kit.grading.execute", str(job_file)],
            cwd=job["cwd"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_tree(process)  # after a normal end this only reaps a kernel left behind
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
    status_file = sandbox / "status.json"
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (sandbox / "run.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        status = {"finished": False, "error": " / ".join(tail) or f"the run stopped (exit code {process.returncode})"}
    return timed_out, status


def _cells_as_submitted(nb: Any) -> list[tuple[int, Any]]:
    """(1-based number in the submitted notebook, cell) pairs, skipping the cells papermill adds."""
    added = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [cell for cell in nb.cells if not added & set(cell.get("metadata", {}).get("tags", []))]
    return list(enumerate(cells, start=1))


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:80]
    return source.strip().splitlines()[0][:80] if source.strip() else ""


def read_executed(path: Path) -> tuple[list[dict], dict | None]:
    """Error outputs of an executed notebook and the cell still running when it was stopped (if any)."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:
        return [], None
    errors, running = [], None
    for number, cell in _cells_as_submitted(nb):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                traceback = [_ANSI.sub("", line) for line in output.get("traceback", [])]
                errors.append({"cell": number, "ename": output.get("ename", ""), "evalue": output.get("evalue", ""),
                               "line": _first_line(cell.source), "traceback": "\n".join(traceback)[-3000:]})
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running" and running is None:
            running = {"cell": number, "line": _first_line(cell.source)}
    return errors, running


def _load_results(output_dir: Path) -> tuple[dict, str]:
    path = output_dir / "results.json"
    if not path.is_file():
        return {}, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {}, f"results.json is unreadable ({error})"
    if not isinstance(data, dict):
        return {}, "results.json does not hold a JSON object"
    return data, ""


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60] or "student"


def _unrun(submission: Submission, assignment: Assignment, status: str, note: str, sha: str) -> GradeRecord:
    checks = [CheckResult(check.name, 0.0, check.points, False, "not run", check.description)
              for check in assignment.checks]
    return GradeRecord(submission.student, assignment.name, status, 0.0, assignment.max_points, checks, note,
                       sha256=sha, grader=assignment.fingerprint(), submission=str(submission.path))


def grade_submission(
    submission: Submission,
    assignment: Assignment,
    state_dir: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    prepared: tuple[Path, Mapping[str, Any]] | None = None,
) -> GradeRecord:
    """Vet, run (sandboxed, time-limited) and check one submission; never raises for a bad submission.

    ``state_dir`` receives the executed notebook, the recorded results and the run log under
    ``executed/<student>.ipynb``, ``results/<student>.json`` and ``logs/<student>.log``. ``prepared`` is the folder the
    assignment's ``prepare`` built and the parameters it returned; each run gets a copy.
    """
    state_dir = Path(state_dir)
    sha = content_hash(submission)
    if submission.notebook is None:
        return _unrun(submission, assignment, INVALID, submission.problem or "no notebook found", sha)
    status, reason, nb = vet_notebook(submission.notebook, assignment)
    if status != OK:
        return _unrun(submission, assignment, status, reason, sha)

    started = time.monotonic()
    sandbox = Path(tempfile.mkdtemp(prefix=f"fer-kit-grade-{_safe_name(submission.student)}-"))
    try:
        work, output_dir, tmp_dir = sandbox / "work", sandbox / "output", sandbox / "tmp"
        if submission.folder is not None:
            shutil.copytree(submission.folder, work, symlinks=True)
        else:
            work.mkdir()
        output_dir.mkdir()
        tmp_dir.mkdir()
        parameters = dict(assignment.parameters)
        if prepared is not None:
            shared = sandbox / "shared"
            shutil.copytree(prepared[0], shared, symlinks=True)
            parameters.update({key: (str(shared / Path(value).relative_to(prepared[0]))
                                     if isinstance(value, str) and Path(value).is_relative_to(prepared[0])
                                     else value) for key, value in prepared[1].items()})
        parameters.setdefault("work_dir", str(sandbox / "course-work"))
        parameters["output_dir"] = str(output_dir)
        notebook_copy = work / f"{assignment.name}.graded.ipynb"
        notebook_copy.write_text(json.dumps(grading_copy(nb)), encoding="utf-8")
        executed = sandbox / "executed.ipynb"
        job = {"input": str(notebook_copy), "output": str(executed), "cwd": str(work), "tmp_dir": str(tmp_dir),
               "parameters": parameters, "cell_timeout": timeout}
        timed_out, run_status = _execute(job, sandbox, timeout)

        results, results_problem = _load_results(output_dir)
        errors, running = read_executed(executed)
        context_parameters = dict(parameters)
        if prepared is not None:
            context_parameters.update(prepared[1])
        checks = run_checks(assignment.checks, CheckContext(results, output_dir, context_parameters))

        if timed_out:
            status = TIMEOUT
            where = f" while running cell {running['cell']} (`{running['line']}`)" if running else ""
            note = f"stopped at the time limit of {timeout:g} s{where}"
        elif errors:
            first = errors[0]
            status = NOT_IMPLEMENTED if first["ename"] == "NotImplementedError" else ERROR
            note = f"cell {first['cell']} raised {first['ename']}"
            note = f"{note}: {first['evalue']}"[:300] if first["evalue"].strip() else note
            if len(errors) > 1:
                note += f" (and {len(errors) - 1} more failing cell{'s' if len(errors) > 2 else ''})"
        elif not run_status.get("finished"):
            status = ERROR
            note = f"the notebook could not run to its end: {run_status.get('error', '')}"[:300]
        else:
            status, note = OK, ""
        if results_problem:
            note = f"{note}; {results_problem}" if note else results_problem

        for folder in ("executed", "results", "logs"):
            state_dir.joinpath(folder).mkdir(parents=True, exist_ok=True)
        executed_copy = state_dir / "executed" / f"{submission.student}.ipynb"
        if executed.is_file():
            shutil.copyfile(executed, executed_copy)
        if (sandbox / "run.log").is_file():
            shutil.copyfile(sandbox / "run.log", state_dir / "logs" / f"{submission.student}.log")
        (state_dir / "results" / f"{submission.student}.json").write_text(json.dumps(results, indent=1),
                                                                           encoding="utf-8")
        score = round(sum(check.points for check in checks), 4)
        return GradeRecord(submission.student, assignment.name, status, score, assignment.max_points, checks, note,
                           errors, round(time.monotonic() - started, 2), sha, assignment.fingerprint(),
                           str(submission.path), str(executed_copy) if executed.is_file() else "")
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------


def output_paths(gradebook: str | Path) -> tuple[Path, Path, Path]:
    """(gradebook, feedback folder, state folder): ``marks.csv`` -> ``marks_feedback/``, ``marks_runs/``."""
    gradebook = Path(gradebook).expanduser().resolve()
    return gradebook, gradebook.with_name(f"{gradebook.stem}_feedback"), gradebook.with_name(f"{gradebook.stem}_runs")


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def _prepare(assignment: Assignment, state_dir: Path, log: Callable[[str], None]) -> tuple[Path, dict] | None:
    """Build the assignment's shared inputs once (reused while the grader is unchanged)."""
    if assignment.prepare is None:
        return None
    folder = state_dir / "prepared"
    stamp = folder / ".prepared.json"
    if stamp.is_file():
        data = json.loads(stamp.read_text(encoding="utf-8"))
        if data.get("grader") == assignment.fingerprint():
            return folder, data["parameters"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"preparing the inputs of {assignment.name} in {folder} ...")
    parameters = {key: str(value) if isinstance(value, Path) else value
                  for key, value in dict(assignment.prepare(folder)).items()}
    _write_json_atomic(stamp, {"grader": assignment.fingerprint(), "parameters": parameters})
    return folder, parameters


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
    from .gradebook import write_feedback, write_gradebook

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

    prepared = _prepare(assignment, state_dir, log) if todo else None
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)))
    try:
        futures = {pool.submit(grade_submission, submission, assignment, state_dir, timeout, prepared): submission
                   for submission in todo}
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
                       seconds=time.monotonic() - started)
