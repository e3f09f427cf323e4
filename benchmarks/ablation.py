"""Table 3 on synthetic clips: frame-level CNN against C3D against MC-DCN, identity-disjoint.

1. Synthetic expression clips (``fer_kit.datasets.synthetic.generate``) are made from face photos:
   the training clips from the first ``--per-class`` usable faces of ``--train-faces``,
   the test clips from other faces, so no identity is shared. Without ``--test-faces``
   (or with the same folder) the test faces are the next usable faces of the training
   folder: the identity-disjoint split of one face set. ``--cross-faces DIR`` adds a
   second test set from another face collection (e.g. AFW for HELEN-trained models):
   the same models, tested across data sets as well.
2. Every set goes through the face pipeline into clip caches (``fer_kit.clips.cache``).
3. ``cnn``, ``c3d`` and ``mcdcn`` are trained on the training cache with the same settings
   (validation subjects carved from the training identities, early stopping) and tested
   on the test cache (and the cross-data-set cache). Each test is also reported with
   every clip averaged with its mirror image (``mirror_accuracy``). The default optimiser
   here is Adam (1e-3, cosine decay to 1e-5): on these small sets it fits in a few hundred steps what SGD (the ``fer-kit train``
   default, ``--optimizer sgd``) needs many more for; all three models get the same.
   (The exponential decay of ``fer-kit train`` spends most of a short run at a hundredth
   of the initial rate; the cosine keeps it high for the first half.)

Every stage resumes: existing clips, cached clips and finished runs are reused, and an
interrupted training run continues from its last epoch, so re-running the same command
after an interruption finishes the job. A model that fails is reported and the others
still run. Prints ``{"cnn": {"accuracy", "macro_f1"}, "c3d": {...}, "mcdcn": {...},
"seconds": ...}`` (plus details) with ``--json`` and writes it to ``OUT/ablation.json``.

    python benchmarks/ablation.py --train-faces ../shared/data/landmarks68/helen-train \\
        --cross-faces ../shared/data/landmarks68/afw --preset lite --json
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
    from fer_kit.datasets.synthetic.generate import generate_synthetic

    table = generate_synthetic(out, faces=faces, per_class=per_class, seed=seed, builtin=False, workers=workers)
    log(f"{out.name}: {len(table)} clips of {table['subject'].nunique()} identities "
        f"({table.attrs.get('made', 0)} made, {table.attrs.get('reused', 0)} reused)")
    return out


def held_out_faces(folder: Path, used_keys: set[str]):
    """The photos of ``folder`` whose keys the training clips did not use, lazily, in folder order."""
    from fer_kit.datasets.synthetic.faces import iter_face_folder

    for face, _reason, _path in iter_face_folder(folder):
        if face is not None and face.key not in used_keys:
            yield face


def training_face_keys(videos: Path) -> set[str]:
    """The photo keys a synthetic folder animated (from its ``synth.json``)."""
    from fer_kit.datasets.synthetic.generate import SETTINGS_FILE

    return {face["key"] for face in json.loads((videos / SETTINGS_FILE).read_text())["faces"]}


def score_on_cache(run: Path, cache: Path, mirror: bool) -> dict:
    """Accuracy, macro-F1 and per-class recall of a trained run on every clip of another cache."""
    from fer_kit.evaluate import classification_metrics, predict_clip_files
    from fer_kit.training.clipset import select_clips
    from fer_kit.training.runs import load_run

    loaded = load_run(run)
    clips = select_clips(cache, loaded.classes)
    predicted = predict_clip_files(loaded, clips.paths, mirror=mirror).argmax(axis=1)
    metrics = classification_metrics(clips.labels, predicted, loaded.classes)
    return {k: metrics[k] for k in ("accuracy", "macro_f1", "per_class_recall", "clips")}


def make_cache(videos: Path, out: Path, preset: str, workers: int) -> Path:
    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.datasets import index_dataset

    index = index_dataset(videos, "synthetic")
    report = build_cache(index, out, PreprocessSettings.from_preset(preset), workers=workers)
    log(f"{out.name}: {report.summary()}")
    return out


def train_and_test(
    kind: str, args: argparse.Namespace, train_cache: Path, test_cache: Path, work: Path, cross_cache: Path | None
) -> dict:
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train

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
        members=1,  # one network per row, as in the paper's Table 3
    )
    started = time.perf_counter()
    log(f"training {kind} -> {config.out}")
    run = train(config, verbose=2)
    metrics = evaluate_run(run)
    mirrored = evaluate_run(run, mirror=True, plots=False)
    summary = json.loads((run / "summary.json").read_text())
    log(
        f"{kind}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}; "
        f"with mirror averaging {mirrored['accuracy']:.3f}, {mirrored['macro_f1']:.3f}"
    )
    cross = {}
    if cross_cache is not None:
        plain, mirror = score_on_cache(run, cross_cache, False), score_on_cache(run, cross_cache, True)
        cross = {
            "cross": {
                **plain,
                "mirror_accuracy": mirror["accuracy"],
                "mirror_macro_f1": mirror["macro_f1"],
            }
        }
        log(f"{kind} on the cross-data-set faces: accuracy {plain['accuracy']:.3f}, with mirror {mirror['accuracy']:.3f}")
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class_recall": metrics["per_class_recall"],
        "mirror_accuracy": mirrored["accuracy"],
        "mirror_macro_f1": mirrored["macro_f1"],
        "test_clips": metrics["clips"],
        "parameters": summary["parameters"],
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "seconds": round(time.perf_counter() - started, 1),
        "run": str(run),
        **cross,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-faces", required=True, type=Path, help="folder of face photos for training clips")
    parser.add_argument("--test-faces", type=Path,
                        help="folder of other faces for test clips (default: faces of --train-faces not used "
                             "for training)")
    parser.add_argument("--cross-faces", type=Path,
                        help="folder of faces from another collection: a second, cross-data-set test")
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
    for folder in (args.train_faces, args.test_faces, args.cross_faces):
        if folder is not None and not folder.is_dir():
            parser.error(f"{folder}: no such folder of faces")
    held_out = args.test_faces is None or args.test_faces.resolve() == args.train_faces.resolve()
    test_per_class = args.test_per_class or max(4, args.per_class // 3)
    args.lr = args.lr or (0.001 if args.optimizer == "adam" else 0.01)
    args.final_lr = args.final_lr or args.lr / 100

    started = time.perf_counter()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    from fer_kit.datasets.synthetic.generate import SynthSettings

    generator = json.dumps(SynthSettings().to_dict(), sort_keys=True)  # a changed generator makes new clips
    train_tag = _tag(args.train_faces.resolve(), args.per_class, args.seed, generator)
    if held_out:
        test_tag = _tag("held-out", train_tag, test_per_class, args.seed + 1)
    else:
        test_tag = _tag(args.test_faces.resolve(), test_per_class, args.seed + 1, generator)
    with _stdout_to_stderr():
        train_videos = make_synthetic(args.train_faces, work / f"synth-train-{train_tag}", args.per_class, args.seed,
                                      args.workers)
        test_faces = held_out_faces(args.train_faces, training_face_keys(train_videos)) if held_out else args.test_faces
        test_videos = make_synthetic(test_faces, work / f"synth-test-{test_tag}", test_per_class, args.seed + 1,
                                     args.workers)
        train_cache = make_cache(train_videos, work / f"cache-train-{train_tag}-{args.preset}", args.preset,
                                 args.workers)
        test_cache = make_cache(test_videos, work / f"cache-test-{test_tag}-{args.preset}", args.preset, args.workers)
        cross_cache = None
        if args.cross_faces is not None:
            cross_tag = _tag(args.cross_faces.resolve(), test_per_class, args.seed + 1, generator)
            cross_videos = make_synthetic(args.cross_faces, work / f"synth-test-{cross_tag}", test_per_class,
                                          args.seed + 1, args.workers)
            cross_cache = make_cache(cross_videos, work / f"cache-test-{cross_tag}-{args.preset}", args.preset,
                                     args.workers)
        results: dict[str, dict] = {}
        for kind in kinds:
            try:
                results[kind] = train_and_test(kind, args, train_cache, test_cache, work, cross_cache)
            except Exception as error:  # report it and go on with the other models
                traceback.print_exc(file=sys.stderr)
                results[kind] = {"accuracy": None, "macro_f1": None, "error": f"{type(error).__name__}: {error}"}

    from fer_kit.training.clipset import select_clips

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
        "test_faces": f"{args.train_faces} (faces not used for training)" if held_out else str(args.test_faces),
        "cross_faces": None if args.cross_faces is None else str(args.cross_faces),
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
                cross = row.get("cross")
                extra = f"   cross-data-set {100 * cross['accuracy']:.1f}%, {cross['macro_f1']:.3f}" if cross else ""
                print(f"{kind:<10}{100 * row['accuracy']:>9.1f}%{row['macro_f1']:>10.3f}{extra}")
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
