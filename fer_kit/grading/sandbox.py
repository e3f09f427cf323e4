"""Run one notebook headless in a folder of its own, with a wall-clock limit, and read what it left.

:func:`run_sandboxed` writes the notebook into ``sandbox/work/`` (beside the files of a folder
submission), which is the working directory of the run; the notebook's ``output_dir`` is
``sandbox/output/`` and its ``TMPDIR`` ``sandbox/tmp/``. A notebook that deletes files or changes
directory therefore only harms its own copy. Papermill runs in a child process
(:mod:`fer_kit.grading.execute`, a fresh ``python3`` kernel); when the limit passes, that
process and every process under it (the kernel runs in a process group of its own, so it is
found by parentage) are killed, after the kernel was made to print its Python stack into the run
log (so the log shows where it was stuck). What the notebook recorded in
``output_dir/results.json`` up to then, the error outputs of the executed copy and the cell
still running are returned in a :class:`RunOutcome`.

This confines well-meaning and clumsy notebooks; it is not a security boundary (the notebook
runs as the grader's user and could reach any absolute path that user can).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.course.cells import cell_tags

from .submissions import grading_copy

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass
class RunOutcome:
    """What one sandboxed run left behind."""

    timed_out: bool
    finished: bool
    error: str = ""
    results: dict = field(default_factory=dict)
    results_problem: str = ""
    errors: list[dict] = field(default_factory=list)
    running: dict | None = None
    executed: Path | None = None
    log: Path | None = None
    output_dir: Path | None = None


def kill_tree(process: subprocess.Popen) -> None:
    """Kill ``process`` and every descendant, then reap it."""
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


def dump_stacks(process: subprocess.Popen, wait: float = 3.0) -> None:
    """Make the kernels under ``process`` print their Python stacks to the run log (``SIGABRT`` +
    ``PYTHONFAULTHANDLER``), so the log shows where a stopped notebook was stuck."""
    import psutil

    try:
        kernels = [child for child in psutil.Process(process.pid).children(recursive=True)
                   if "ipykernel" in " ".join(child.cmdline())]
    except psutil.Error:
        return
    for kernel in kernels:
        with contextlib.suppress(psutil.Error):
            kernel.send_signal(signal.SIGABRT)
    psutil.wait_procs(kernels, timeout=wait)


def kill_running() -> None:
    """Kill every notebook run in progress (when grading is interrupted)."""
    with _RUNNING_LOCK:
        processes = list(_RUNNING)
    for process in processes:
        kill_tree(process)


def _execute(job: dict, sandbox: Path, timeout: float) -> tuple[bool, dict]:
    """Run the job in a child process; return (timed out, the status the child wrote)."""
    job_file = sandbox / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = dict(os.environ, FER_KIT_GRADING="1", PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
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
            executed = Path(job["output"])
            if executed.is_file():  # as papermill last saved it: the cell running at the limit is marked
                shutil.copyfile(executed, sandbox / "at-time-limit.ipynb")
            dump_stacks(process)
        finally:
            kill_tree(process)  # after a normal end this only reaps a kernel left behind
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
    try:
        status = json.loads((sandbox / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (sandbox / "run.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        status = {"finished": False, "error": " / ".join(tail) or f"the run stopped (exit code {process.returncode})"}
    return timed_out, status


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:80]
    return source.strip().splitlines()[0][:80] if source.strip() else ""


def read_executed(path: Path) -> tuple[list[dict], dict | None]:
    """Error outputs of an executed notebook and the cell still running when it was stopped (if any).

    Cells are numbered from 1 as in the submitted notebook (the cells papermill adds are skipped).
    """
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # absent, or cut short when the run was killed while papermill saved it
        return [], None
    added = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [cell for cell in nb.cells if not added & cell_tags(cell)]
    errors, running = [], None
    for number, cell in enumerate(cells, start=1):
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


def load_results(output_dir: Path) -> tuple[dict, str]:
    """The recorded ``results.json`` (``{}`` if none) and a problem description if it is unreadable."""
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


def run_sandboxed(
    nb: Mapping[str, Any],
    name: str,
    sandbox: Path,
    parameters: Mapping[str, Any],
    timeout: float,
    folder: Path | None = None,
) -> RunOutcome:
    """Run notebook ``nb`` (a dict) as ``sandbox/work/<name>.graded.ipynb``; see the module docstring.

    ``folder`` (a folder submission) is copied into ``sandbox/work`` first. ``parameters`` go to
    the notebook's ``parameters`` cell with ``output_dir`` set to ``sandbox/output``.
    """
    work, output_dir, tmp_dir = sandbox / "work", sandbox / "output", sandbox / "tmp"
    if folder is not None:
        shutil.copytree(folder, work, symlinks=True)
    else:
        work.mkdir(parents=True)
    output_dir.mkdir()
    tmp_dir.mkdir()
    notebook = work / f"{name}.graded.ipynb"
    notebook.write_text(json.dumps(grading_copy(nb)), encoding="utf-8")
    executed = sandbox / "executed.ipynb"
    job = {"input": str(notebook), "output": str(executed), "cwd": str(work), "tmp_dir": str(tmp_dir),
           "parameters": {**parameters, "output_dir": str(output_dir)}, "cell_timeout": timeout}
    timed_out, status = _execute(job, sandbox, timeout)
    results, problem = load_results(output_dir)
    if timed_out and (sandbox / "at-time-limit.ipynb").is_file():
        executed = sandbox / "at-time-limit.ipynb"
    errors, running = read_executed(executed)
    return RunOutcome(timed_out, bool(status.get("finished")), str(status.get("error", "")), results, problem,
                      errors, running, executed if executed.is_file() else None, sandbox / "run.log", output_dir)
