"""Table 3 on a real corpus: k-fold cross-validation by subject, the baselines and the ablations in one run.

Every row is a :func:`fer_kit.crossval.cross_validate` over the same folds (the same
subjects in each test fold) of a cache of the corpus, trained with the ``--recipe`` (the
kit's default unless told):

* ``cnn``, ``c3d``, ``mcdcn``, ``landmarks``: Table 3's three networks and our
  landmark-trajectory model;
* ``logistic``: a logistic regression on the last frame's landmark shape and motion
  (:func:`fer_kit.crossval.cross_validate_logistic`), the first thing a user would try;
* the paper's central claims, each MC-DCN with one thing changed: ``contour-only`` (the
  local map without wrinkle energy), ``wrinkles-only`` (without the landmark contour),
  ``no-attention`` (wrinkle energy everywhere), ``age-regions`` (attention on the forehead
  and crow's feet too), ``eq8-paper`` (eq. 8 as written: no CE(fused) term), ``local-onset`` (our option: the local-map stream
  sees each clip standardized and less its first frame, ``TrainConfig.local_standardization``),
  ``both-onset`` (the face stream too, ``TrainConfig.face_standardization``), ``onset-smoothed``
  (``local-onset`` with the labels smoothed by 0.1, ``TrainConfig.label_smoothing``),
  ``mcdcn-scratch`` (MC-DCN from random weights, as the paper: the other network rows start
  from the weights the kit ships, pretrained on synthetic clips, ``TrainConfig.init="auto"``).

With ``--pretrain DIR`` every network row first trains its model on other data (``--pretrain-epochs``,
20 % of its people held out for a test figure) and each fold starts from those weights
(``TrainConfig.init``); the data hold none of the corpus' people, so no fold sees its test subjects.
``DIR`` is read with ``--pretrain-dataset``: ``photos`` (default; e.g. ``../shared/data/expression-photos``,
a folder per class of photos, :mod:`fer_kit.datasets.photos`, each a static clip) or ``synthetic``
(clips of ``fer-kit data synth --faces FACES``: many faces animated through the action units of each
emotion, e.g. the HELEN photos of ``../shared/data/landmarks68/helen-train``). ``--pretrain-rows``
limits it to some rows (a still photo has no motion, so it teaches the landmark network little).

``--set FIELD=VALUE`` (repeatable) changes a :class:`~fer_kit.training.config.TrainConfig` field of
every network row, e.g. ``--set members=1`` (one network: the ``kit`` recipe trains an ensemble of two
seeds with the ``lite`` preset) or ``--set mixup=0.2``; the settings become part of the rows' folder
names (an ensemble's ``members`` always), so each variant keeps its own runs.

``--fuse mcdcn+landmarks`` adds a row that averages the two rows' class probabilities clip by
clip (late fusion, the kit's analysis: does MC-DCN know anything the geometry does not?).

Each row's caches and fold runs stay under ``--work``: a re-run reuses finished folds and
resumes an interrupted one, so the same command finishes an interrupted benchmark. Prints
one JSON object with ``--json`` (and writes it to ``WORK/real.json``)::

    python benchmarks/real.py --data-dir ../shared/data/ckplus --folds 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from fer_kit.atomic import atomic_path
from fer_kit.errors import FerKitError
from fer_kit.logs import quiet_native_logs

quiet_native_logs()

NETWORKS = ("cnn", "c3d", "mcdcn", "landmarks")
ABLATIONS: dict[str, tuple[dict, dict]] = {
    # row: (preprocessing settings changed, training settings changed)
    "contour-only": ({"wrinkles": False}, {}),
    "wrinkles-only": ({"contour": False}, {}),
    "no-attention": ({"attention": False}, {}),
    "age-regions": ({"age_regions": True}, {}),
    "eq8-paper": ({}, {"fused_weight": 0.0}),
    "local-onset": ({}, {"local_standardization": "onset"}),  # our option: the local maps' change since frame 1
    "both-onset": ({}, {"local_standardization": "onset", "face_standardization": "onset"}),  # and the faces' too
    "onset-smoothed": ({}, {"local_standardization": "onset", "label_smoothing": 0.1}),  # local-onset, labels smoothed
    "mcdcn-scratch": ({}, {"init": "none"}),  # no pretrained start: the paper trains from scratch
}
ROWS = (*NETWORKS, "logistic", *ABLATIONS)


def log(message: str) -> None:
    print(f"[real] {message}", file=sys.stderr, flush=True)


def row_settings(row: str) -> tuple[str, dict, dict]:
    """``(model, preprocessing overrides, training overrides)`` of a row."""
    if row in ABLATIONS:
        prep, training = ABLATIONS[row]
        return "mcdcn", prep, training
    return row, {}, {}


KEPT = ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "pooled_accuracy", "pooled_macro_f1",
        "per_class_recall", "confusion")
"""What the report keeps of a cross-validation's result, for every row."""


def settings_suffix(settings: dict) -> str:
    """``-key=value`` for each setting, sorted: the part of a cache or run folder's name that tells rows apart."""
    return "".join(f"-{k}={v}" for k, v in sorted(settings.items())).replace("/", "_")


def pretrain_name(args: argparse.Namespace) -> str:
    """``DATASET-FOLDER`` of the pretraining data: the part of cache and run names that tells pretraining sets apart."""
    return f"{args.pretrain_dataset}-{args.pretrain.name}"


def make_cache(args: argparse.Namespace, prep: dict, pretraining: bool = False) -> Path:
    """The cache of the corpus (or, with ``pretraining``, of the pretraining data) with the row's preprocessing."""
    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.datasets import index_dataset

    settings = PreprocessSettings.from_preset(args.preset, **prep)
    kind = f"{pretrain_name(args)}-" if pretraining else ""
    name = f"cache-{kind}{args.preset}" + settings_suffix(prep)
    out = args.work / name
    root, dataset = (args.pretrain, args.pretrain_dataset) if pretraining else (args.data_dir, args.dataset)
    report = build_cache(index_dataset(root, dataset), out, settings, workers=args.workers, progress=False)
    log(f"{name}: {report.summary().splitlines()[0]}")
    return out


def pretrain(args: argparse.Namespace, model: str, prep: dict, training: dict) -> tuple[Path, dict]:
    """Train ``model`` on the pretraining data; ``(run folder, its test figures on its held-out people)``."""
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train

    cache = make_cache(args, prep, pretraining=True)
    name = f"pretrain-{pretrain_name(args)}-{model}-{args.preset}" + settings_suffix({**prep, **training})
    config = TrainConfig(cache=cache, out=args.work / name, model=model, preset=args.preset, recipe=args.recipe,
                         epochs=args.pretrain_epochs, val_size=0.0, seed=args.seed, tensorboard=False, init="none",
                         **{"members": 1, **training})
    started = time.perf_counter()
    run = train(config, verbose=0)
    metrics = evaluate_run(run, plots=False)
    figures = {"run": str(run), "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
               "test_clips": metrics["clips"], "seconds": round(time.perf_counter() - started, 1)}
    log(f"pretrained {model} on {pretrain_name(args)}: held-out accuracy {figures['accuracy']:.3f} ({figures['seconds']:.0f} s)")
    return run, figures


def run_row(row: str, args: argparse.Namespace) -> dict:
    from fer_kit.crossval import cross_validate, cross_validate_logistic
    from fer_kit.training.config import TrainConfig

    model, prep, training = row_settings(row)
    cache = make_cache(args, prep)
    started = time.perf_counter()
    extra: dict = {}
    if row == "logistic":
        result = cross_validate_logistic(cache, folds=args.folds, fold_seed=args.fold_seed)
    else:
        init = None
        chosen_start = "init" in {**training, **args.settings}  # a row or --set naming its start is not pretrained
        if args.pretrain and not chosen_start and (args.pretrain_rows is None or row in args.pretrain_rows.split(",")):
            init, extra["pretrain"] = pretrain(args, model, prep, training)
        training = {**training, **args.settings} | ({"init": str(init)} if init is not None else {})
        config = TrainConfig(
            cache=cache, out="", model=model, preset=args.preset, recipe=args.recipe, epochs=args.epochs,
            val_size=0.0, seed=args.seed, tensorboard=False, **training,
        )
        # the folder names the ensemble the recipe chose too, so it never meets a one-member run
        named = {key: value for key, value in {**args.settings, "members": config.members}.items()
                 if (key, value) != ("members", 1)}
        tag = (f"-pretrained-{pretrain_name(args)}" if init else "") + settings_suffix(named)
        tag += (f"-epochs={args.epochs}" if args.epochs else "") + (f"-seed={args.seed}" if args.seed else "")
        config.out = str(args.work / f"cv-{row}{tag}-{args.recipe}-{args.preset}-k{args.folds}")

        def report(number: int, fold: dict) -> None:
            log(f"{row} fold {number + 1}/{args.folds}: accuracy {fold['accuracy']:.3f}, macro-F1 "
                f"{fold['macro_f1']:.3f} ({fold['seconds']:.0f} s)")

        result = cross_validate(config, folds=args.folds, fold_seed=args.fold_seed, mirror=args.mirror,
                                plots=False, on_fold=report)
    if row != "logistic":
        extra["cv"] = str(config.out)
    return {**{k: result[k] for k in KEPT}, "seconds": round(time.perf_counter() - started, 1), **extra}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the corpus (e.g. ../shared/data/ckplus)")
    parser.add_argument("--dataset", default="ckplus", help="its layout (default: ckplus)")
    parser.add_argument("--folds", type=int, default=10, help="folds by subject (default: 10, CK+'s protocol)")
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default: all: {','.join(ROWS)})")
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--recipe", default="kit", help="training recipe (default: kit; paper: paper 4.1's SGD)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirror", action="store_true", help="score each clip averaged with its mirror image")
    parser.add_argument("--pretrain", type=Path, default=None,
                        help="pretrain every network on this data first (e.g. ../shared/data/expression-photos, or "
                             "synthetic clips of many faces from `fer-kit data synth`)")
    parser.add_argument("--pretrain-dataset", default="photos", help="its layout (default: photos; or synthetic)")
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="pretraining epochs (default: 10)")
    parser.add_argument("--pretrain-rows", default=None,
                        help="comma-separated rows to pretrain (default: every network row); the others start from scratch")
    parser.add_argument("--fuse", default=None,
                        help="late fusion rows, e.g. mcdcn+landmarks: the rows' probabilities averaged per clip")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="FIELD=VALUE",
                        help="a TrainConfig field for every network row, e.g. --set mixup=0.2 --set zoom=0.1 "
                             "(repeatable; the value is read as JSON, else as text)")
    parser.add_argument("--workers", type=int, default=2, help="preprocessing processes (default: 2)")
    parser.add_argument("--work", type=Path, default=Path("benchmark-output/real"),
                        help="caches and runs (default: benchmark-output/real)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows.split(",")) - set(ROWS))
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    args.settings = parse_settings(args.settings, parser)
    return args


def parse_settings(items: list[str], parser: argparse.ArgumentParser) -> dict:
    """``--set FIELD=VALUE`` items as a dict of :class:`~fer_kit.training.config.TrainConfig` fields."""
    from dataclasses import fields

    from fer_kit.training.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)} - {"cache", "out", "model", "preset", "recipe", "epochs",
                                                    "val_size", "seed", "tensorboard"}
    settings: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in known:
            parser.error(f"--set {item!r}: give FIELD=VALUE with FIELD one of {', '.join(sorted(known))}")
        try:
            settings[name] = json.loads(text)
        except ValueError:
            settings[name] = text
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: dict[str, dict] = {}
    saved, sys.stdout = sys.stdout, sys.stderr  # stdout keeps the one JSON object
    try:
        for row in args.rows.split(","):
            log(f"row {row}")
            try:
                rows[row] = run_row(row, args)
            except FerKitError as error:  # a bad input or setting: one line, and go on with the other rows
                log(f"row {row} failed: {error}")
                rows[row] = {"error": str(error)}
            except Exception as error:  # a bug: its traceback, and go on with the other rows
                traceback.print_exc(file=sys.stderr)
                rows[row] = {"error": f"{type(error).__name__}: {error}"}
        for spec in args.fuse.split(",") if args.fuse else []:
            parts = spec.split("+")
            if all("cv" in rows.get(part, {}) for part in parts):
                log(f"late fusion {spec}")
                from fer_kit.crossval import late_fusion

                fused = late_fusion([Path(rows[part]["cv"]) for part in parts])
                rows[spec] = {**{k: fused[k] for k in KEPT}, "of": fused["of"]}
    finally:
        sys.stdout = saved
    report = {
        "rows": rows,
        "data_dir": str(args.data_dir),
        "dataset": args.dataset,
        "protocol": f"{args.folds}-fold cross-validation by subject (seed {args.fold_seed})",
        "preset": args.preset,
        "recipe": args.recipe,
        "epochs": args.epochs,
        "mirror": args.mirror,
        "settings": args.settings,
        "pretrain": None if args.pretrain is None else {"data": str(args.pretrain), "dataset": args.pretrain_dataset, "epochs": args.pretrain_epochs,
                                                       "rows": args.pretrain_rows or "every network row"},
        "seconds": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    with atomic_path(args.work / "real.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'row':<15}{'accuracy':>16}{'macro-F1':>16}{'seconds':>9}")
        for name, row in rows.items():
            if "error" in row:
                print(f"{name:<15}failed: {row['error']}")
                continue
            seconds = f"{row['seconds']:>9.0f}" if "seconds" in row else f"{'-':>9}"  # a fusion trains nothing
            print(f"{name:<15}{row['accuracy_mean']:>9.3f} +-{row['accuracy_std']:.3f}"
                  f"{row['macro_f1_mean']:>9.3f} +-{row['macro_f1_std']:.3f}{seconds}")
    return 1 if any("error" in r for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
