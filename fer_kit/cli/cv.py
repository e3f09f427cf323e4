"""``fer-kit cv``: subject-independent k-fold cross-validation of one model on one cache."""

from __future__ import annotations

import argparse

from fer_kit.errors import UsageError

from .train import add_training_arguments, training_config

ORDER = 42


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cv",
        help="k-fold cross-validation by subject: mean +- std accuracy and macro-F1, pooled confusion matrix",
        description=(
            "Deal the cache's subjects to K folds (no subject in two folds, every clip tested once), train one "
            "run per fold on the other folds (no validation set by default: the last epoch is tested) and "
            "report the folds' mean and standard deviation of accuracy and macro-F1 and the pooled confusion "
            "matrix. OUT gets folds.json, fold-00 ... (ordinary run folders), cv.json, confusion.json, "
            "confusion.png and predictions.csv. An interrupted run resumes. CK+'s standard protocol is 10 folds."
        ),
    )
    add_training_arguments(parser)
    parser.add_argument("--out", required=True, help="cross-validation folder to create (or resume)")
    parser.add_argument("--folds", type=int, default=10, help="number of folds K (default: 10)")
    parser.add_argument("--fold-seed", type=int, default=0, help="seed of the dealing of subjects (default: 0)")
    parser.add_argument("--val-size", type=float, default=0.0,
                        help="validation fraction of each fold's training subjects (default: 0, none)")
    parser.add_argument("--mirror", action="store_true", help="score each clip averaged with its mirror image")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run one fold per task on this Dask scheduler (tcp://HOST:8786; default: "
                        "$FER_KIT_SCHEDULER, else here, one fold after another); --out and the cache on shared storage")
    parser.add_argument("--json", action="store_true", help="print cv.json as one JSON object")
    parser.set_defaults(handler=run)


def figure_lines(result: dict) -> list[str]:
    """Two lines of a cross-validation's figures (:func:`fer_kit.crossval.summarize`): mean +- std and pooled, recall."""
    return [
        f"accuracy {100 * result['accuracy_mean']:.1f} +- {100 * result['accuracy_std']:.1f}%   macro-F1 "
        f"{result['macro_f1_mean']:.3f} +- {result['macro_f1_std']:.3f}   (pooled: {100 * result['pooled_accuracy']:.1f}%, "
        f"{result['pooled_macro_f1']:.3f})",
        "recall: " + ", ".join(
            f"{name} {100 * value:.0f}%" for name, value in result["per_class_recall"].items() if value is not None
        ),
    ]


def format_result(result: dict) -> str:
    """A few lines: mean +- std, pooled figures, per-class recall."""
    return "\n".join([
        f"{result['model']} ({result['preset']}), {result['k']} folds by subject, {result['clips']} clips of "
        f"{result['subjects']} subjects",
        *figure_lines(result),
    ])


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    from ._shared import print_json

    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    config = training_config(args, out=args.out, val_size=args.val_size)
    from fer_kit.crossval import cross_validate  # TensorFlow: only once the arguments are known to be good
    from fer_kit.executors import scheduler_address

    def report(number: int, fold: dict) -> None:
        print(f"fold {number + 1}/{args.folds}: accuracy {100 * fold['accuracy']:.1f}%, macro-F1 "
              f"{fold['macro_f1']:.3f} on {fold['clips']} clips ({fold['seconds']:.0f} s)", file=sys.stderr)

    with contextlib.redirect_stdout(sys.stderr):
        result = cross_validate(config, folds=args.folds, fold_seed=args.fold_seed, mirror=args.mirror,
                                plots=not args.no_plots, on_fold=report, scheduler=scheduler_address(args.scheduler))
    if args.json:
        print_json(result)
    else:
        print(format_result(result))
        print(f"written to {args.out}")
    return 0
