"""Small helpers every command module uses: ``--json`` output and the argparse boilerplate of (sub-)commands.

Only the standard library is imported here, so command modules may import it at top level
without slowing ``fer-kit --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

Handler = Callable[[argparse.Namespace], int]
"""What a command runs: the parsed arguments in, the exit code out."""

JSON_HELP = "print one JSON object"


def print_json(obj: object) -> None:
    """One JSON object on stdout (logs go to stderr), as every ``--json`` flag promises."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_fields(fields: Mapping[str, object], as_json: bool, width: int) -> None:
    """``fields`` as one JSON object (``--json``), else one ``name: value`` line each, names right-aligned to ``width``."""
    if as_json:
        print_json(fields)
        return
    for key, value in fields.items():
        print(f"{key:>{width}}: {value}")


@contextmanager
def subcommand(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    *,
    help: str,
    description: str | None = None,
    json_help: str | None = JSON_HELP,
) -> Iterator[argparse.ArgumentParser]:
    """Add the (sub-)command ``name`` and yield its parser for the caller to add its own arguments.

    On leaving the ``with`` block the parser gets the ``--json`` flag (last, so it closes the
    options in ``--help`` as in every command; left out when ``json_help`` is None) and
    ``handler`` as what runs it.
    """
    parser = subparsers.add_parser(name, help=help, description=description)
    yield parser
    if json_help is not None:
        parser.add_argument("--json", action="store_true", help=json_help)
    parser.set_defaults(handler=handler)


def command_group(
    subparsers: argparse._SubParsersAction, name: str, *, help: str, title: str, dest: str, metavar: str
) -> argparse._SubParsersAction:
    """Add the command ``name`` that holds sub-commands; return the action to add them to (see :func:`subcommand`).

    Called without a sub-command, it prints its own help and exits with code 2.
    """
    parser = subparsers.add_parser(name, help=help)
    commands = parser.add_subparsers(title=title, dest=dest, metavar=metavar)

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=show_help)
    return commands
