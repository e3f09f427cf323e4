"""``fer-kit models``: the networks and their parameter counts per preset."""

from __future__ import annotations

import argparse

from fer_kit.presets import MODEL_KINDS

ORDER = 55


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="parameter counts of mcdcn / c3d / cnn for each preset",
        description="Build every network for every preset (on the CPU, no training) and count its parameters.",
    )
    parser.add_argument("--preset", action="append", help="only this preset (repeatable; default: all)")
    parser.add_argument("--model", action="append", choices=MODEL_KINDS,
                        help="only this network (repeatable; default: all)")
    parser.add_argument("--classes", type=int, default=7, help="number of classes (default: 7)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    from fer_kit.presets import PRESETS

    from ._shared import print_json

    presets = tuple(args.preset or PRESETS)
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        from fer_kit.errors import UsageError

        raise UsageError(f"unknown preset {unknown[0]!r}; choose one of {', '.join(PRESETS)}")
    from fer_kit.model import MODEL_KINDS, parameter_table

    rows = parameter_table(presets, tuple(args.model or MODEL_KINDS), args.classes)
    if args.json:
        print_json({"classes": args.classes, "models": rows})
        return 0
    print(f"{'preset':<8}{'model':<10}{'input':<18}{'widths':<20}{'fc':>6}  {'head':<14}{'parameters':>14}")
    for row in rows:
        print(f"{row['preset']:<8}{row['model']:<10}{row['input']:<18}{row['widths']:<20}{row['fc_units'] or '-':>6}  "
              f"{row['head']:<14}{row['total']:>14,}")
    return 0
