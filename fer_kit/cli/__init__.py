"""The ``fer-kit`` command.

Each command group lives in its own module of this package and exposes
``ORDER`` (its place in ``--help``) and ``register(subparsers)``, which adds its parser
and sets ``handler`` to a function taking the parsed arguments and returning an exit
code. Command modules import only ``argparse`` at top level, so ``fer-kit --help``
stays fast; the work is imported inside the handlers.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from fer_kit import __version__
from fer_kit.errors import FerKitError


def _command_modules() -> list:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda module: getattr(module, "ORDER", 100))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-command group per module in ``fer_kit.cli``."""
    parser = argparse.ArgumentParser(
        prog="fer-kit",
        description="Video facial expression recognition with MC-DCN (Wu et al. 2021): "
        "landmarks, local feature maps, dual-stream 3D CNNs, the course and its grading.",
    )
    parser.add_argument("--version", action="version", version=f"fer-kit {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn a :class:`FerKitError` into one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(handler(args) or 0)
    except FerKitError as error:
        print(f"fer-kit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fer-kit: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        return 130

