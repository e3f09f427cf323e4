"""``fer-kit info``: versions, devices and where the kit finds its model and data."""

from __future__ import annotations

import argparse

ORDER = 90


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="versions, CPU/GPU, the landmark model and shared data")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-tensorflow", action="store_true", help="skip importing TensorFlow (faster)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fer_kit.environment import environment_report

    from ._shared import print_fields

    print_fields(environment_report(with_tensorflow=not args.no_tensorflow), args.json, width=22)
    return 0
