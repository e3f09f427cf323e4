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
    start = time.monotonic()
    try:
        papermill.execute_notebook(
            job["input"],
            job["output"],
            parameters=job["parameters"],
            kernel_name=KERNEL_NAME,
            cwd=job["cwd"],
            progress_bar=False,
            execution_timeout=job.get("cell_timeout"),
            start_timeout=job.get("start_timeout", 120),
            allow_errors=True,
        )
    except PapermillExecutionError:
        pass  # the executed notebook holds the error outputs; the grader reads them there
    except Exception as error:  # dead kernel, cell timeout, kernel that never started
        _write_status(status_file, finished=False, seconds=time.monotonic() - start,
                      error=f"{type(error).__name__}: {str(error).strip()[:500]}", dropped_output=counters["dropped"])
        return 3
    _write_status(status_file, finished=True, seconds=time.monotonic() - start, error="",
                  dropped_output=counters["dropped"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fer_kit.grading.execute JOB.json", file=sys.stderr)
        return 2
    return run_job(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
