"""Table 3 on synthetic clips: frame-level CNN against C3D against MC-DCN, identity-disjoint.

1. Synthetic expression clips (``fer_kit.datasets.synth``) are made from two different
   folders of face photos: one for training, one for testing, so no identity is shared.
2. Both sets go through the face pipeline into clip caches (``fer_kit.cache``).
3. ``cnn``, ``c3d`` and ``mcdcn`` are trained on the training cache with the same settings
   (validation subjects carved from the training identities, early stopping) and tested
   on the test cache. The default optimiser here is Adam (1e-3, cosine decay to 1e-5):
   on these small sets it fits in a few hundred steps what SGD (the ``fer-kit train``
   default, ``--optimizer sgd``) needs many more for; all three models get the same.
   (The exponential decay of ``fer-kit train`` spends most of a short run at a hundredth
   of the initial rate; the cosine keeps it high for the first half.)

Every stage resumes: existing clips, cached clips and finished runs are reused, and an
interrupted training run continues from its last epoch, so re-running the same command
after an interruption finishes the job. A model that fails is reported and the others
still run. Prints ``{"cnn": {"accuracy", "macro_f1"}, "c3d": {...}, "mcdcn": {...},
"seconds": ...}`` (plus details) with ``--json`` and writes it to ``OUT/ablation.json``.

    python benchmarks/ablation.py --train-faces ../shared/data/landmarks68/helen-train \\
        --test-faces ../shared/data/landmarks68/afw --preset lite --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("cnn", "c3d", "mcdcn")


def log(message: str) -> None:
    print(f"[ablation] {message}", file=sys.stderr, flush=True)


def _tag(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:8]


def make_synthetic(faces: Path, out: Path, per_class: int, seed: int, workers: int) -> Path:
    from fer_kit.datasets.synth import generate_synthetic

    table = generate_synthetic(out, faces=faces, per_class=per_class, seed=seed, builtin=False, workers=workers)
    log(f"{out.name}: {len(table)} clips of {table['subject'].nunique()} identities "
        f"({table.attrs.get('made', 0)} made, {table.attrs.get('reused', 0)} reused)")
    return out


def make_cache(videos: Path, out: Path, preset: str, workers: int) -> Path:
    from fer_kit.cache import build_cache
    from fer_kit.datasets import index_dataset
    from fer_kit.preprocess import PreprocessSettings

    index = index_dataset(videos, "synthetic")
    report = build_cache(index, out, PreprocessSettings.from_preset(preset), workers=workers)
    log(f"{out.name}: {report.summary()}")
    return out


def train_and_test(kind: str, args: argparse.Namespace, train_cache: Path, test_cache: Path, work: Path) -> dict:
    from fer_kit.evaluate import evaluate_run
    from fer_kit.train import TrainConfig, train

    config = TrainConfig(
        cache=train_cache,
        test_cache=test_cache,
        out=work / f"run-{kind}-{args.preset}-e{args.epochs}-b{args.batch_size}-{args.optimizer}-{args.lr_schedule}"
        f"-s{args.seed}",
        model=kind,
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        seed=args.seed,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        final_learning_rate=args.final_lr,
        lr_schedule=args.lr_schedule,
        weight_decay=0.0 if args.optimizer == "adam" else 0.0005,
    )
    started = time.perf_counter()
    log(f"training {kind} -> {config.out}")
    run = train(config, verbose=2)
    metrics = evaluate_run(run)
    summary = json.loads((run / "summary.json").read_text())
    log(f"{kind}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class_recall": metrics["per_class_recall"],
        "test_clips": metrics["clips"],
        "parameters": summary["parameters"],
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "seconds": round(time.perf_counter() - started, 1),
        "run": str(run),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-faces", required=True, type=Path, help="folder of face photos for training clips")
    parser.add_argument("--test-faces", required=True, type=Path, help="folder of other faces for test clips")
    parser.add_argument("--preset", default="lite", help="model and crop preset (default: lite)")
    parser.add_argument("--per-class", type=int, default=120,
                        help="training clips per emotion = training identities (default: 120)")
    parser.add_argument("--test-per-class", type=int, help="test clips per emotion = test identities (default: a third of --per-class)")
    parser.add_argument("--epochs", type=int, default=15, help="maximum epochs per model (default: 15)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per step (default: 8)")
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience (default: 8)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam (default; learns faster in a short run) or sgd (momentum 0.9, as fer-kit train)")
    parser.add_argument("--lr", type=float, help="initial learning rate (default: 0.001 adam, 0.01 sgd)")
    parser.add_argument("--final-lr", type=float, help="final learning rate (default: initial / 100)")
    parser.add_argument("--lr-schedule", choices=("cosine", "exponential", "constant"), default="cosine",
                        help="learning-rate decay from --lr to --final-lr (default: cosine)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clips, the split and training")
    parser.add_argument("--models", default="mcdcn,c3d,cnn", help="comma-separated subset of cnn,c3d,mcdcn")
    parser.add_argument("--workers", type=int, default=2, help="processes for making and preprocessing clips")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "fer-kit-ablation",
                        help="work folder, reused to resume (default: $TMPDIR/fer-kit-ablation)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(KINDS)}")
    for folder in (args.train_faces, args.test_faces):
        if not folder.is_dir():
            parser.error(f"{folder}: no such folder of faces")
    if args.train_faces.resolve() == args.test_faces.resolve():
        parser.error("--train-faces and --test-faces must be different folders (identity-disjoint test)")
    test_per_class = args.test_per_class or max(4, args.per_class // 3)
    args.lr = args.lr or (0.001 if args.optimizer == "adam" else 0.01)
    args.final_lr = args.final_lr or args.lr / 100

    started = time.perf_counter()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    from fer_kit.datasets.synth import SynthSettings

    generator = json.dumps(SynthSettings().to_dict(), sort_keys=True)  # a changed generator makes new clips
    train_tag = _tag(args.train_faces.resolve(), args.per_class, args.seed, generator)
    test_tag = _tag(args.test_faces.resolve(), test_per_class, args.seed + 1, generator)
    with _stdout_to_stderr():
        train_videos = make_synthetic(args.train_faces, work / f"synth-train-{train_tag}", args.per_class, args.seed,
                                      args.workers)
        test_videos = make_synthetic(args.test_faces, work / f"synth-test-{test_tag}", test_per_class, args.seed + 1,
                                     args.workers)
        train_cache = make_cache(train_videos, work / f"cache-train-{train_tag}-{args.preset}", args.preset,
                                 args.workers)
        test_cache = make_cache(test_videos, work / f"cache-test-{test_tag}-{args.preset}", args.preset, args.workers)
        results: dict[str, dict] = {}
        for kind in kinds:
            try:
                results[kind] = train_and_test(kind, args, train_cache, test_cache, work)
            except Exception as error:  # report it and go on with the other models
                traceback.print_exc(file=sys.stderr)
                results[kind] = {"accuracy": None, "macro_f1": None, "error": f"{type(error).__name__}: {error}"}

    from fer_kit.pipeline import select_clips

    train_clips, test_clips = select_clips(train_cache), select_clips(test_cache)
    report = {
        **{kind: results[kind] for kind in kinds},
        "seconds": round(time.perf_counter() - started, 1),
        "preset": args.preset,
        "epochs": args.epochs,
        "optimizer": f"{args.optimizer}, learning rate {args.lr:g} -> {args.final_lr:g} ({args.lr_schedule}), "
        f"batch {args.batch_size}",
        "per_class": args.per_class,
        "train_clips": len(train_clips),
        "test_clips": len(test_clips),
        "train_identities": len(train_clips.subjects),
        "test_identities": len(test_clips.subjects),
        "shared_identities": sorted(set(train_clips.subjects) & set(test_clips.subjects)),
        "classes": list(train_clips.classes),
        "train_faces": str(args.train_faces),
        "test_faces": str(args.test_faces),
        "work": str(work),
    }
    tmp = work / ".ablation.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(work / "ablation.json")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'method':<10}{'accuracy':>10}{'macro-F1':>10}   ({args.preset} preset, identity-disjoint test, "
              f"{report['test_clips']} clips of {report['test_identities']} unseen faces)")
        for kind in kinds:
            row = results[kind]
            if row.get("error"):
                print(f"{kind:<10}{'failed':>10}   {row['error']}")
            else:
                print(f"{kind:<10}{100 * row['accuracy']:>9.1f}%{row['macro_f1']:>10.3f}")
        print(f"seconds: {report['seconds']}")
    return 1 if any(r.get("error") for r in results.values()) else 0


class _stdout_to_stderr:
    """Keep stdout for the one JSON object: progress from the stages goes to stderr."""

    def __enter__(self):
        self._saved = sys.stdout
        sys.stdout = sys.stderr

    def __exit__(self, *exc):
        sys.stdout = self._saved
        return False


if __name__ == "__main__":
    sys.exit(main())
