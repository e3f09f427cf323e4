"""Run one submission with papermill: ``python -m fer_kit.grading.execute JOB.json``.

The grader starts this module as a child process per submission, in the submission's own
sandbox folder, and kills the whole process tree when the wall-clock limit passes; that is
what stops an infinite loop even inside a single cell. The job file names the notebook, the
executed copy to write, the working folder, the parameters and the per-cell limit.

Execution goes on after a failing cell (``allow_errors``), like a student pressing "run all"
and reading every error: exercises that do not depend on the broken one still earn their
points. The kernel is always ``python3``. The outcome (finished, or why the run broke
down, e.g. a dead kernel) is written to ``status.json`` beside the job file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from fer_kit.atomic import write_text_atomic

KERNEL_NAME = "python3"


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
                      error=f"{type(error).__name__}: {str(error).strip()[:500]}")
        return 3
    _write_status(status_file, finished=True, seconds=time.monotonic() - start, error="")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fer_kit.grading.execute JOB.json", file=sys.stderr)
        return 2
    return run_job(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
