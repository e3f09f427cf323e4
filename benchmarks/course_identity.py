"""Does a model trained on the course's built-in data recognise the expressions of a person it never saw?

The embedded synthetic data animates two people (astronaut, Grace Hopper). This trains each model on
the clips of the first and tests it on every clip of the second (``protocol="subject"``), the check
behind the course's claim that the method learns. Prints one JSON object::

    python benchmarks/course_identity.py --per-class 30 --epochs 30 --preset tiny --models landmarks,mcdcn

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
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--models", default="landmarks,mcdcn")
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
    report = {"per_class": args.per_class, "epochs": args.epochs, "recipe": args.recipe, "preset": args.preset,
              "train_subjects": subjects[:-1], "test_subject": subjects[-1],
              "data_seconds": round(time.perf_counter() - started, 1), "models": {}}
    for model in args.models.split(","):
        started = time.perf_counter()
        out = args.work / "runs" / f"{model}-{args.preset}-{args.per_class}-{args.epochs}-{args.recipe}"
        run = train(TrainConfig(cache=str(cache), out=str(out), model=model, preset=args.preset, epochs=args.epochs,
                                recipe=args.recipe, protocol="subject", test_subjects=(subjects[-1],),
                                tensorboard=False), verbose=0)
        metrics = evaluate_run(run, plots=False)
        report["models"][model] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                                   "test_clips": metrics["clips"], "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
