"""``fer-kit evaluate``: accuracy, macro-F1, per-class recall and confusion matrices of a trained run."""

from __future__ import annotations

import argparse

ORDER = 45


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="test a trained run: accuracy, macro-F1, per-class recall, confusion matrix (PNG + JSON)",
        description=(
            "Predict the test clips of RUN (the subjects split.json set aside) and write RUN/evaluation/: "
            "metrics.json, confusion.json and confusion.png (row-normalised, percent, as the paper's "
            "Figures 7-9), curves.png (training curves, Figure 6) and predictions.csv."
        ),
    )
    parser.add_argument("run", help="run folder made by `fer-kit train`")
    parser.add_argument("--cache", help="cache folder holding the clips (default: the one recorded in the run)")
    parser.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                        help="which clips (default: test); all: every clip of --cache, e.g. another corpus "
                        "(clips of classes the run does not know are left out and counted)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="average each clip with its left-right mirror image (written to evaluation-mirror/)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(handler=run)


def format_report(metrics: dict) -> str:
    """Plain-text view of :func:`fer_kit.evaluate.classification_metrics` output."""
    classes = metrics["classes"]
    width = max(len(c) for c in classes) + 2
    lines = [
        f"{metrics.get('model', '')} ({metrics.get('preset', '')}), {metrics.get('split', 'test')} split: "
        f"{metrics['clips']} clips" + (", each averaged with its mirror image" if metrics.get("mirror") else ""),
        f"accuracy  {100 * (metrics['accuracy'] or 0):.1f}%   macro-F1  {metrics['macro_f1'] or 0:.3f}",
        "",
        f"{'class':<{width}}{'recall':>8}{'precision':>11}{'F1':>7}{'clips':>7}",
    ]
    for name in classes:
        row = metrics["per_class"][name]
        cells = [f"{100 * row[k]:.1f}%" if row[k] is not None else "-" for k in ("recall", "precision")]
        f1 = f"{row['f1']:.2f}" if row["f1"] is not None else "-"
        lines.append(f"{name:<{width}}{cells[0]:>8}{cells[1]:>11}{f1:>7}{row['support']:>7}")
    if metrics.get("left_out"):
        counts = ", ".join(f"{name} {n}" for name, n in metrics["left_out"].items())
        lines += ["", f"left out (classes the run does not know): {counts}"]
    lines += ["", "confusion matrix, % of each true class (rows: true, columns: predicted)"]
    short = [c[:6] for c in classes]
    lines.append(" " * width + "".join(f"{s:>8}" for s in short))
    for name, row in zip(classes, metrics["confusion_percent"], strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>8.1f}" for v in row))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from fer_kit.evaluate import evaluate_run

    from ._shared import print_json

    metrics = evaluate_run(args.run, cache=args.cache, split=args.split, plots=not args.no_plots, mirror=args.mirror)
    if args.json:
        print_json(metrics)
    else:
        print(format_report(metrics))
        print(f"\nwritten to {metrics['output_dir']}")
    return 0
