"""Does a model trained on the course's built-in data recognise the expressions of a person it never saw?

The embedded synthetic data animates four people (astronaut, Biden, Grace Hopper, Obama). This trains
each model on the clips of the first three (sorted by name) and tests it on every clip of the last,
Obama (``protocol="subject"``), a check of the course's claim that the method learns; ``--test-subject``
holds out another. Prints one JSON object::

    python benchmarks/course_identity.py --per-class 150 --epochs 16 --preset tiny --models landmarks,mcdcn

Caches and runs go under ``--work`` and are reused by a re-run with the same settings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fer_kit.logs import quiet_native_logs

quiet_native_logs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=10, help="synthetic clips per emotion (default: 10)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--recipe", default="kit")
    parser.add_argument("--fused-weight", type=float, default=1.0, help="w_f of eq. 8 (0: the paper's eq. 8)")
    parser.add_argument("--train-seed", type=int, default=0, help="seed of the training run (the data keep seed 0)")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per step (default: the recipe's)")
    parser.add_argument("--local-standardization", choices=("clip", "onset"), default=None,
                        help="TrainConfig.local_standardization (default: none)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--models", default="landmarks,mcdcn")
    parser.add_argument("--test-subject", default=None, help="the identity held out (default: the last by name)")
    parser.add_argument("--work", type=Path, default=Path("benchmark-output/course-identity"))
    args = parser.parse_args()

    from fer_kit.course.work import ensure_cache, ensure_dataset
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train

    started = time.perf_counter()
    index = ensure_dataset(args.work, "synthetic", None, per_class=args.per_class, seed=0, progress=False)
    cache = ensure_cache(args.work, index, preset=args.preset, progress=False)
    subjects = sorted(index["subject"].unique())
    if args.test_subject is not None:
        subjects = [s for s in subjects if s != args.test_subject] + [args.test_subject]
    report = {"per_class": args.per_class, "epochs": args.epochs, "recipe": args.recipe, "preset": args.preset,
              "batch_size": args.batch_size, "fused_weight": args.fused_weight,
              "local_standardization": args.local_standardization,
              "train_seed": args.train_seed,
              "train_subjects": subjects[:-1], "test_subject": subjects[-1],
              "data_seconds": round(time.perf_counter() - started, 1), "models": {}}
    for model in args.models.split(","):
        started = time.perf_counter()
        settings = (model, args.preset, args.per_class, args.epochs, args.recipe, args.batch_size,
                    f"{args.fused_weight:g}", f"s{args.train_seed}", subjects[-1]) + (
                        (f"sl{args.local_standardization}",) if args.local_standardization else ())
        out = args.work / "runs" / "-".join(map(str, settings))
        run = train(TrainConfig(cache=str(cache), out=str(out), model=model, preset=args.preset, epochs=args.epochs,
                                recipe=args.recipe, batch_size=args.batch_size, fused_weight=args.fused_weight,
                                seed=args.train_seed, local_standardization=args.local_standardization, protocol="subject", test_subjects=(subjects[-1],),
                                tensorboard=False), verbose=0)
        metrics = evaluate_run(run, plots=False)
        report["models"][model] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                                   "test_clips": metrics["clips"], "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
