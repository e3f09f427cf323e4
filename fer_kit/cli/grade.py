"""``fer-kit grade``: run a class's notebooks headless, check them, write the gradebook and feedback."""

from __future__ import annotations

import argparse
import sys

ORDER = 75


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade",
        help="grade submitted notebooks: run each with papermill in its own sandbox, check, write a gradebook",
        description="Run every submitted notebook (SUBMISSIONS/<student>.ipynb, or one folder per student) "
        "with papermill, the grading parameters (preset tiny) and a fresh python3 kernel, each in a "
        "bubblewrap sandbox of its own (no network, no access to other students, the gradebook or the "
        "instructor's solution, read-only system and kit) with time, memory and size limits; apply the "
        "assignment's checks, which call the student's functions in their own kernel on hidden inputs drawn "
        "from an instructor secret and the student's name; write GRADEBOOK.csv, one feedback Markdown per student in GRADEBOOK_feedback/ "
        "and the executed notebooks in GRADEBOOK_runs/. A re-run keeps the students whose submission, "
        "grader and relevant limits did not change.",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submitted notebooks")
    parser.add_argument("--assignment", required=True, metavar="NAME",
                        help="notebook to grade: 01_ert_landmarks ... 05_confusion_analysis (or 01..05), "
                        "or the path of a checks module (.py) defining ASSIGNMENT")
    parser.add_argument("--out", required=True, metavar="GRADEBOOK.csv", help="the gradebook to write")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="wall-clock seconds allowed per notebook (default 600)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="notebooks run at the same time (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run one submission per task on this Dask scheduler (tcp://HOST:8786; default: "
                        "$FER_KIT_SCHEDULER, else this machine), each in its sandbox on a worker; the submissions "
                        "and the gradebook's folder must be on storage the workers share, at the same paths")
    parser.add_argument("--memory-limit", type=float, default=8.0, metavar="GB",
                        help="memory per notebook process (RLIMIT_DATA; default 8)")
    parser.add_argument("--allow-read", action="append", default=[], metavar="DIR",
                        help="a folder the notebooks may read inside the sandbox (e.g. a real dataset); repeatable")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the notebooks without bubblewrap, as your user (only for notebooks you trust)")
    parser.add_argument("--secret-file", metavar="PATH",
                        help="the instructor's secret the hidden inputs are drawn from (at least 16 bytes; default: "
                        "one made on first use and kept, mode 0600, in GRADEBOOK_runs/hidden-tests.secret)")
    parser.add_argument("--show-expected", action="store_true",
                        help="let the feedback show the expected value of a failed check (off: only what is wrong)")
    parser.add_argument("--rerun", action="store_true", help="grade every submission again, even unchanged ones")
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # checks may build Keras models for their references

    from fer_kit.errors import FerKitError
    from fer_kit.executors import scheduler_address
    from fer_kit.grading import get_assignment
    from fer_kit.grading.hidden import read_secret
    from fer_kit.grading.runner import grade_class
    from fer_kit.grading.sandbox import GiB, Limits

    from ._shared import print_json

    if args.timeout <= 0 or args.workers < 1 or args.memory_limit <= 0:
        raise FerKitError("--timeout and --memory-limit must be positive and --workers at least 1")
    assignment = get_assignment(args.assignment)
    secret = read_secret(args.secret_file) if args.secret_file else None

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = grade_class(args.submissions, assignment, args.out, timeout=args.timeout, workers=args.workers,
                         rerun=args.rerun, log=log, sandbox=not args.no_sandbox,
                         limits=Limits(memory=int(args.memory_limit * GiB)), read_only=args.allow_read,
                         secret=secret, show_expected=args.show_expected,
                         scheduler=scheduler_address(args.scheduler))
    if args.json:
        print_json(report.to_dict())
    else:
        width = max(len(record.student) for record in report.records)
        for record in report.records:
            print(f"{record.student:<{width}}  {record.score:>6g} / {record.max_points:<4g} {record.status}")
        print(f"gradebook: {report.gradebook}")
        print(f"feedback:  {report.feedback_dir}")
    return 0
