"""Time to grade a class: N submissions of one course notebook with 1 and 2 workers, with and without the
bubblewrap sandbox; prints one JSON object.

    python benchmarks/grading.py                                # 10 x 02_wrinkle_regions, workers 1 and 2
    python benchmarks/grading.py --assignment 03_cnn_blocks --students 4 --workers 2
    python benchmarks/grading.py --assignment toy               # the grader's own overhead (tiny test notebook)
    python benchmarks/grading.py --assignment toy --sandbox on  # only sandboxed runs

Every student hands in the instructor's solution notebook (the worst case: every cell runs), so
the numbers are the cost of running the notebook headless with the ``tiny`` preset, plus the
grader's own overhead (a fresh kernel per student, sandbox set-up and copies, the checks' references).
Each configuration grades from scratch into its own folder, including the solution run the
assignment starts with (``solution_seconds``). ``--sandbox both`` (the default where bwrap works)
grades each worker count with and without the sandbox and reports ``sandbox_overhead``: the extra
seconds per student and the ratio of the class times.
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
from typing import Any

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
    parser.add_argument("--sandbox", choices=("on", "off", "both"), default=None,
                        help="grade in the bubblewrap sandbox, without it, or both (default: both where bwrap works)")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fer_kit.grading import get_assignment
    from fer_kit.grading.runner import grade_class
    from fer_kit.grading.sandbox import bubblewrap_problem

    problem = bubblewrap_problem()
    choice = args.sandbox or ("off" if problem else "both")
    if choice != "off" and problem:
        print(f"no sandbox here: {problem}", file=sys.stderr)
        return 2
    modes = {"on": [True], "off": [False], "both": [False, True]}[choice]

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
        for sandbox in modes:
            out = work / f"workers{workers}-{'sandbox' if sandbox else 'nosandbox'}" / "gradebook.csv"
            shutil.rmtree(out.parent, ignore_errors=True)
            start = time.perf_counter()
            report = grade_class(subs, assignment, out, timeout=args.timeout, workers=workers, rerun=True,
                                 log=lambda message: print(message[:300], file=sys.stderr, flush=True),
                                 sandbox=sandbox)
            seconds = time.perf_counter() - start
            runs.append(_run_summary(report, workers, sandbox, seconds, args.students, assignment.max_points))
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
    same = [run for run in runs if run["sandbox"] is modes[-1]]  # workers 1 vs 2, sandboxed where it ran
    if len(same) >= 2 and same[1]["seconds"]:
        result["speedup"] = round(same[0]["seconds"] / same[1]["seconds"], 2)
    if len(modes) == 2:
        overhead = []
        for workers in args.workers:
            off, on = (next(r for r in runs if r["workers"] == workers and r["sandbox"] is mode) for mode in modes)
            overhead.append({
                "workers": workers,
                "seconds_without": off["seconds"], "seconds_with": on["seconds"],
                "ratio": round(on["seconds"] / off["seconds"], 3) if off["seconds"] else None,
                "extra_seconds_per_student": round((on["students_seconds"] - off["students_seconds"])
                                                   / args.students, 2),
                "notebook_seconds_mean_without": off["notebook_seconds_mean"],
                "notebook_seconds_mean_with": on["notebook_seconds_mean"],
            })
        result["sandbox_overhead"] = overhead
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


def _run_summary(report: Any, workers: int, sandbox: bool, seconds: float, students: int,
                 max_points: float) -> dict:
    """One configuration's numbers (``report``: the :class:`~fer_kit.grading.runner.ClassReport`)."""
    statuses: dict[str, int] = {}
    for record in report.records:
        statuses[record.status] = statuses.get(record.status, 0) + 1
    return {
        "workers": workers,
        "sandbox": sandbox,
        "seconds": round(seconds, 1),
        "solution_seconds": round(report.solution_seconds, 1),
        "students_seconds": round(seconds - report.solution_seconds, 1),
        "seconds_per_student": round((seconds - report.solution_seconds) / students, 1),
        "notebook_seconds_mean": round(sum(r.seconds for r in report.records) / len(report.records), 2),
        "statuses": statuses,
        "mean_score": round(sum(r.score for r in report.records) / len(report.records), 2),
        "max_points": max_points,
    }


if __name__ == "__main__":
    sys.exit(main())
