"""``fer-kit fuse``: late fusion of finished cross-validations (our analysis, not the paper's)."""

from __future__ import annotations

import argparse

from .cv import figure_lines

ORDER = 43


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse",
        help="score the clip-by-clip mean of several cross-validations' class probabilities (late fusion)",
        description=(
            "Average the class probabilities that several finished `fer-kit cv` folders (same cache, same folds, "
            "e.g. MC-DCN and the landmark network) gave each clip, take the most probable class, and report "
            "accuracy and macro-F1 per fold (mean +- std), pooled, and the recall of each class, as `fer-kit cv` "
            "does for one model. Nothing is trained."
        ),
    )
    parser.add_argument("cv", nargs="+", help="finished cross-validation folders (fer-kit cv --out ...)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(handler=run)


def format_fusion(result: dict) -> str:
    """A few lines: what was fused, mean +- std, pooled figures, per-class recall."""
    return "\n".join(["late fusion of " + " + ".join(result["of"]), *figure_lines(result)])


def run(args: argparse.Namespace) -> int:
    from fer_kit.crossval import late_fusion

    from ._shared import print_json

    result = late_fusion(args.cv)
    if args.json:
        print_json(result)
    else:
        print(format_fusion(result))
    return 0
