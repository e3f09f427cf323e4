"""Time to grade a class: N submissions of one course notebook with 1 and 2 workers; prints one JSON object.

    python benchmarks/grading.py                                # 10 x 02_wrinkle_regions, workers 1 and 2
    python benchmarks/grading.py --assignment 03_cnn_blocks --students 4 --workers 2
    python benchmarks/grading.py --assignment toy               # the grader's own overhead (tiny test notebook)

Every student hands in the instructor's solution notebook (the worst case: every cell runs), so
the numbers are the cost of running the notebook headless with the ``tiny`` preset, plus the
grader's own overhead (a fresh kernel per student, sandbox copies, the checks' references).
Each configuration grades from scratch into its own folder, including the solution runs the
assignment starts with (``solution_seconds``, one per worker, run side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "grading"


def _source(assignment: str) -> tuple[Path, str]:
    """(solution notebook, --assignment value) for a course assignment name or ``toy``."""
    if assignment == "toy":
        return TOY / "toy.ipynb", str(TOY / "toy_checks.py")
    from fer_kit.course import default_notebooks_dir
    from fer_kit.grading import get_assignment

    name = get_assignment(assignment).name
    return default_notebooks_dir() / f"{name}.ipynb", name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="02_wrinkle_regions", help="course notebook name, or toy")
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=900.0, help="per-notebook limit in seconds")
    parser.add_argument("--keep", default=None, help="keep the gradebooks in this folder (default: a temp folder)")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fer_kit.grading import get_assignment
    from fer_kit.grading.runner import grade_class

    notebook, name = _source(args.assignment)
    assignment = get_assignment(name)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fer-kit-bench-grading-"))
    subs = work / "submissions"
    shutil.rmtree(subs, ignore_errors=True)
    subs.mkdir(parents=True)
    for i in range(1, args.students + 1):
        shutil.copyfile(notebook, subs / f"student{i:02d}.ipynb")

    runs = []
    for workers in args.workers:
        out = work / f"workers{workers}" / "gradebook.csv"
        shutil.rmtree(out.parent, ignore_errors=True)
        start = time.perf_counter()
        report = grade_class(subs, assignment, out, timeout=args.timeout, workers=workers, rerun=True,
                             log=lambda message: print(message, file=sys.stderr, flush=True))
        seconds = time.perf_counter() - start
        statuses: dict[str, int] = {}
        for record in report.records:
            statuses[record.status] = statuses.get(record.status, 0) + 1
        runs.append({
            "workers": workers,
            "seconds": round(seconds, 1),
            "solution_seconds": round(report.solution_seconds, 1),
            "students_seconds": round(seconds - report.solution_seconds, 1),
            "seconds_per_student": round((seconds - report.solution_seconds) / args.students, 1),
            "notebook_seconds_mean": round(sum(r.seconds for r in report.records) / len(report.records), 1),
            "statuses": statuses,
            "mean_score": round(sum(r.score for r in report.records) / len(report.records), 2),
            "max_points": assignment.max_points,
        })
    result = {
        "benchmark": "grading",
        "assignment": assignment.name,
        "students": args.students,
        "submission": "the solution notebook",
        "timeout": args.timeout,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "runs": runs,
    }
    if len(runs) >= 2 and runs[1]["seconds"]:
        result["speedup"] = round(runs[0]["seconds"] / runs[1]["seconds"], 2)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
