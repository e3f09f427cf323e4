"""Run one submission with papermill: ``python -m fer_kit.grading.execute JOB.json``.

The grader starts this module as a child process per submission, inside the submission's
sandbox (:mod:`fer_kit.grading.sandbox`), and kills the whole process tree when the wall-clock
limit passes; that is what stops an infinite loop even inside a single cell. The job file
names the notebook, the executed copy to write, the working folder, the parameters and the
per-cell limit.

Execution goes on after a failing cell (``allow_errors``), like a student pressing "run all"
and reading every error: exercises that do not depend on the broken one still earn their
points. The kernel is always ``python3``. The outcome (finished, or why the run broke
down, e.g. a dead kernel, and how much output was dropped) is written to ``status.json``
beside the job file.

The notebook's own cells share one deadline (``deadline`` in the job, wall-clock seconds since the
epoch: the grader's ``--timeout`` from the run's start; :func:`limit_cells`): each cell may run only
until then; at the deadline the running cell is interrupted (``KeyboardInterrupt`` in the kernel, its
traceback copied to the run log), the cells after it are skipped, and the run is reported as stopped at
the time limit. The grader's last cell, tagged ``fer-kit-hidden-tests`` (:mod:`fer_kit.grading.probe`),
runs after that whatever happened, with its own ``probe_seconds``: the hidden tests call the student's
functions as they stand when the notebook stopped. (The grader's own wall-clock limit, a little later,
still kills everything if a kernel ignores the interrupt.)

Cell outputs are capped as they arrive (:func:`cap_outputs`): a cell keeps at most 256 KB of
printed text and 4 MB of rich output (figures), the notebook 12 MB in all, errors are cut to a
few KB; what is dropped is counted and a line in the cell says so. This runs inside the
sandbox, next to the student's kernel, so the grader trusts none of it: it checks the sizes
of everything it reads back itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic

KERNEL_NAME = "python3"

STREAM_PER_CELL = 256 * 1024
RICH_PER_CELL = 4 * 1024 * 1024
TOTAL_OUTPUT = 12 * 1024 * 1024
_SIZED = {"stream", "display_data", "execute_result", "update_display_data", "comm_open", "comm_msg"}


def _message_size(msg_type: str, content: dict) -> int:
    if msg_type == "stream":
        return len(str(content.get("text", "")))
    if msg_type.startswith("comm"):
        return len(json.dumps(content.get("data", {}), default=str))
    return sum(len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
               for value in (content.get("data") or {}).values())


def cap_outputs() -> dict[str, int]:
    """Cap the outputs nbclient keeps (see the module docstring); return the live counters (``dropped`` bytes)."""
    import nbformat
    from nbclient import NotebookClient

    original = NotebookClient.process_message
    counters = {"dropped": 0, "kept": 0}
    used: dict[int, dict[str, int]] = {}
    dropped_here: dict[int, int] = {}

    def note(cell: Any, cell_index: int, size: int) -> None:
        counters["dropped"] += size
        dropped_here[cell_index] = dropped_here.get(cell_index, 0) + size
        text = f"[fer-kit grader: {dropped_here[cell_index]} bytes of output dropped from this cell]\n"
        for output in cell.outputs:
            if output.get("output_type") == "stream" and "[fer-kit grader:" in output.get("text", ""):
                output["text"] = text
                return
        cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text))

    def process_message(self: Any, msg: dict, cell: Any, cell_index: int) -> Any:
        msg_type = msg.get("msg_type", "")
        content = msg.get("content") or {}
        if msg_type == "error":
            content["ename"] = str(content.get("ename", ""))[:200]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            content["traceback"] = [str(line)[:4000] for line in list(content.get("traceback") or [])[-60:]]
        elif msg_type == "clear_output":
            freed = used.pop(cell_index, {})
            counters["kept"] -= sum(freed.values())
        elif msg_type in _SIZED:
            kind = "stream" if msg_type == "stream" else "rich"
            size = _message_size(msg_type, content)
            cell_used = used.setdefault(cell_index, {"stream": 0, "rich": 0})
            room = min((STREAM_PER_CELL if kind == "stream" else RICH_PER_CELL) - cell_used[kind],
                       TOTAL_OUTPUT - counters["kept"])
            if size > room:
                if kind != "stream" or room <= 0:
                    note(cell, cell_index, size)
                    return None
                content["text"] = str(content.get("text", ""))[:room]
                note(cell, cell_index, size - room)
                size = room
            cell_used[kind] += size
            counters["kept"] += size
        return original(self, msg, cell, cell_index)

    NotebookClient.process_message = process_message
    return counters


def _is_probe(cell: Any) -> bool:
    from .probe import PROBE_TAG

    return PROBE_TAG in (cell.get("metadata", {}).get("tags") or [])


def _interrupted(cell: Any) -> bool:
    return any(output.get("output_type") == "error" and output.get("ename") == "KeyboardInterrupt"
               for output in cell.get("outputs", []))


def _log_traceback(cell: Any, cell_index: int) -> None:
    """Copy the interrupted cell's traceback to the run log (stderr): where the notebook was stuck."""
    import re

    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "\n".join(map(str, output.get("traceback", []))))
            print(f"[fer-kit grader] cell {cell_index} was interrupted at the time limit:\n{text[-4000:]}",
                  file=sys.stderr, flush=True)


def limit_cells(deadline: float | None, probe_seconds: float, cell_timeout: float | None) -> tuple[dict, Any]:
    """Enforce the notebook's ``deadline`` cell by cell (module docstring); return (the live state, timeout_func).

    ``timeout_func`` (for nbclient, with ``interrupt_on_timeout``) gives each cell the time left until
    the deadline (at least 1 s), the hidden-tests cell ``probe_seconds``; the patched
    ``execute_cell`` skips every cell but that one once the deadline has passed and marks the cell it
    interrupted (``metadata.fer_kit_grader.stopped``). ``state``: ``stopped`` (that cell's index) and
    ``skipped`` (cells not run).
    """
    import math

    import nbformat
    from nbclient import NotebookClient

    original = NotebookClient.execute_cell
    state: dict[str, Any] = {"stopped": None, "skipped": 0}

    def timeout_for(cell: Any) -> int | None:
        if _is_probe(cell):
            return int(math.ceil(probe_seconds))
        if deadline is None:
            return int(math.ceil(cell_timeout)) if cell_timeout else None
        return max(1, int(math.ceil(deadline - time.time())))

    def execute_cell(self: Any, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        if _is_probe(cell) or deadline is None:
            return original(self, cell, cell_index, *args, **kwargs)
        if time.time() >= deadline:
            if cell.get("cell_type") == "code" and str(cell.get("source", "")).strip():
                state["skipped"] += 1
                cell.setdefault("metadata", {})["fer_kit_grader"] = {"skipped": "time limit"}
                cell["outputs"] = [nbformat.v4.new_output(
                    "stream", name="stderr", text="[fer-kit grader: not run: the time limit had passed]\n")]
            return cell
        result = original(self, cell, cell_index, *args, **kwargs)
        if time.time() >= deadline - 0.5 and state["stopped"] is None and _interrupted(cell):
            state["stopped"] = cell_index
            cell.setdefault("metadata", {})["fer_kit_grader"] = {"stopped": "time limit"}
            _log_traceback(cell, cell_index)
        return result

    NotebookClient.execute_cell = execute_cell
    return state, timeout_for


def _write_status(path: Path, **status: object) -> None:
    write_text_atomic(path, json.dumps(status))


def run_job(job_file: Path) -> int:
    """Execute the job in ``job_file``; return 0 when the notebook ran to its end (cell errors included)."""
    job = json.loads(job_file.read_text(encoding="utf-8"))
    status_file = job_file.with_name("status.json")
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend keeps the figures in the executed copy
    os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "TMPDIR": job["tmp_dir"]})

    import papermill
    from papermill.exceptions import PapermillExecutionError

    counters = cap_outputs()
    state, timeout_for = limit_cells(job.get("deadline"), float(job.get("probe_seconds") or 0),
                                     job.get("cell_timeout"))
    start = time.monotonic()
    try:
        papermill.execute_notebook(
            job["input"],
            job["output"],
            parameters=job["parameters"],
            kernel_name=KERNEL_NAME,
            cwd=job["cwd"],
            progress_bar=False,
            start_timeout=job.get("start_timeout", 120),
            allow_errors=True,
            timeout_func=timeout_for,
            interrupt_on_timeout=True,
        )
    except PapermillExecutionError:
        pass  # the executed notebook holds the error outputs; the grader reads them there
    except Exception as error:  # dead kernel, kernel that never started
        _write_status(status_file, finished=False, seconds=time.monotonic() - start,
                      error=f"{type(error).__name__}: {str(error).strip()[:500]}", dropped_output=counters["dropped"],
                      stopped_at_limit=state["stopped"] is not None or state["skipped"] > 0)
        return 3
    _write_status(status_file, finished=True, seconds=time.monotonic() - start, error="",
                  dropped_output=counters["dropped"],
                  stopped_at_limit=state["stopped"] is not None or state["skipped"] > 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fer_kit.grading.execute JOB.json", file=sys.stderr)
        return 2
    return run_job(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
