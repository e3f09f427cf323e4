"""``fer-kit course``: run the notebook chain headless, or make the student release."""

from __future__ import annotations

import argparse
import sys

from ._shared import command_group, subcommand

ORDER = 70


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(subparsers, "course", help="run the course notebooks headless; make the student release",
                        title="course commands", dest="course_command", metavar="SUBCOMMAND")

    with subcommand(
        sub, "run", run_course,
        help="execute notebooks 00-05 in order with papermill and write an index.html summary",
        description="Execute the course notebooks in order (papermill, kernel python3), passing the "
        "parameters through; write the executed notebooks, summary.json and index.html to --out. "
        "Stops at the first failing notebook, naming the cell and the error.",
        json_help="print the chain report as one JSON object",
    ) as run:
        run.add_argument("--preset", default="tiny", help="model/preprocessing preset: tiny, lite, paper (default tiny)")
        run.add_argument("--dataset", default="synthetic",
                         help="dataset adapter name (default synthetic: the embedded generated clips)")
        run.add_argument("--data-dir", default=None,
                         help="root of the unpacked corpus (for synthetic: an existing generated folder, optional)")
        run.add_argument("--out", default="course-output", help="output folder (default course-output)")
        run.add_argument("--notebooks", default=None, help="folder of the notebooks (default: the ones shipped inside the kit)")
        run.add_argument("--only", nargs="+", default=None, metavar="NAME",
                         help="run only these notebooks (stems such as 03_cnn_blocks)")
        run.add_argument("--epochs", type=int, default=None,
                         help="training epochs for 04/05 (default: each notebook's)")
        run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="any other notebook parameter (VALUE parsed as JSON when it can be); repeatable")
        run.add_argument("--cell-timeout", type=float, default=None, help="seconds allowed per cell (default none)")

    with subcommand(
        sub, "release", release_course,
        help="write the student notebooks: solutions replaced by stubs, outputs cleared",
        json_help="print what was written as one JSON object",
    ) as release:
        release.add_argument("--out", required=True, help="folder for the student notebooks")
        release.add_argument("--notebooks", default=None,
                             help="folder of the instructor notebooks (default: the ones shipped inside the kit)")


def _parse_params(items: list[str]) -> dict:
    import json

    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            from fer_kit.errors import UsageError

            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[name.strip()] = value
    return params


def run_course(args: argparse.Namespace) -> int:
    from fer_kit.course import ChainError, run_chain
    from fer_kit.datasets import adapter_name
    from fer_kit.presets import get_preset

    from ._shared import print_json

    get_preset(args.preset)  # refuse a bad preset or dataset before a kernel starts
    adapter_name(args.dataset)
    params = _parse_params(args.param)
    params.update(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset, seed=args.seed)
    if args.epochs is not None:
        params["epochs"] = args.epochs

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        report = run_chain(args.out, notebooks_dir=args.notebooks, notebooks=args.only, parameters=params,
                           cell_timeout=args.cell_timeout, progress=not args.json, log=log)
    except ChainError as error:
        if error.report is not None:
            for run in error.report.runs:
                log(f"{run.notebook:<28} {run.status:<7} {run.seconds:7.1f} s")
            log(f"summary: {error.report.index_html}")
        raise
    if args.json:
        print_json(report.to_dict())
    else:
        for run in report.runs:
            print(f"{run.notebook:<28} {run.status:<7} {run.seconds:7.1f} s")
        print(f"{'total':<28} {'':<7} {report.seconds:7.1f} s")
        print(f"summary: {report.index_html}")
    return 0


def release_course(args: argparse.Namespace) -> int:
    from fer_kit.course import default_notebooks_dir
    from fer_kit.course.release import release_notebooks

    from ._shared import print_json

    source = args.notebooks or default_notebooks_dir()
    written = [str(path) for path in release_notebooks(source, args.out)]
    if args.json:
        print_json({"out": args.out, "notebooks": written})
    else:
        print("\n".join(written))
    return 0
