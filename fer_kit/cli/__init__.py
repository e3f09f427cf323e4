"""The ``fer-kit`` command.

Each command group lives in its own module of this package and exposes ``ORDER`` (its
place in ``--help``) and ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning an exit code.
Command modules import only ``argparse`` and the kit's light modules at top level, so
``fer-kit --help`` stays fast and bad arguments are refused before any heavy import; the
work is imported inside the handlers.

One error path for every command (:func:`main`):

- an expected problem (a :class:`~fer_kit.errors.FerKitError`: a missing or broken file,
  a bad option value; a bad command line; an ``OSError`` such as a full disk) is one line,
  ``fer-kit: error: <what>: <problem>``, and exit status 2;
- Ctrl-C or SIGTERM stops the command and its worker processes, says that finished work is
  kept, and exits with 128 + the signal number (130, 143);
- anything else is a bug in the kit: one line saying so and how to report it, exit status
  70; ``--debug`` adds the traceback.

Native logs (TensorFlow, absl, oneDNN, OpenCV, FFmpeg) are off unless ``--verbose``
(:mod:`fer_kit.logs`). ``--debug`` and ``--verbose`` may stand anywhere on the line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from fer_kit import __version__
from fer_kit.errors import FerKitError

GLOBAL_FLAGS = ("--debug", "--verbose")
BUG_STATUS = 70
"""``EX_SOFTWARE``: an internal error."""
REPORT_HINT = (
    "this is a bug in fer-kit, not in your data; please report it to the kit's maintainers with the command "
    "you ran and the output of the same command with --debug"
)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``fer-kit: error: <command>: <problem>``, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("fer-kit").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"fer-kit: error: {where}{message} (see `{self.prog} --help`)\n")


def _command_modules() -> list:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda module: getattr(module, "ORDER", 100))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-command group per module of this package."""
    parser = OneLineParser(
        prog="fer-kit",
        description="Video facial expression recognition with MC-DCN (Wu et al. 2021): "
        "landmarks, local feature maps, dual-stream 3D CNNs, the course and its grading.",
    )
    parser.add_argument("--version", action="version", version=f"fer-kit {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's, OpenCV's and FFmpeg's own logs")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _pop_flags(argv: list[str]) -> tuple[list[str], set[str]]:
    """``argv`` without :data:`GLOBAL_FLAGS` (wherever they stand, before a ``--``), and the ones found."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = {arg for arg in argv[:end] if arg in GLOBAL_FLAGS}
    return [arg for i, arg in enumerate(argv) if i >= end or arg not in GLOBAL_FLAGS], found


def _say(message: str) -> None:
    print(f"fer-kit: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn every failure into one line and an exit status (module doc)."""
    from fer_kit.logs import quiet_native_logs
    from fer_kit.workers import Interrupted, raise_on_termination

    argv, flags = _pop_flags(list(sys.argv[1:] if argv is None else argv))
    quiet_native_logs(verbose="--verbose" in flags)
    raise_on_termination()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(handler(args) or 0)
    except FerKitError as error:
        _say(f"error: {error}")
        return 2
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        _say(f"error: {where}{error.strerror or error}")
        return 2
    except KeyboardInterrupt as error:
        signum = error.signum if isinstance(error, Interrupted) else 2
        _say("interrupted; finished work is kept and a re-run resumes")
        return 128 + int(signum)
    except Exception as error:
        if "--debug" in flags:
            import traceback

            traceback.print_exc()
        _say(f"internal error: {type(error).__name__}: {error}")
        _say(REPORT_HINT)
        return BUG_STATUS
