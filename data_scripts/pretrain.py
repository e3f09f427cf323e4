"""Make the pretrained weights the kit ships (``fer_kit/model/pretrained/*.npz``) from face photos.

The kit's networks start from weights learned on synthetic expression clips of many
faces (:mod:`fer_kit.model.pretrained`). This script makes them again, each stage
resumable (re-run the same command after an interruption):

1. animate the first ``--faces-per-class`` usable photos of ``FACES`` through the
   ``--emotions`` of the synthetic generator (``fer-kit data synth``; by default anger, disgust,
   fear, happiness, sadness, surprise; neutral first, then the apex). ``FACES`` is one folder or
   several; several (or ``--landmarks detect``) are gathered as links in ``WORK/faces/NAME/``,
   ``NAME`` the folder's name or the one given as ``NAME=FOLDER``. A photo's landmarks come
   from the ``.pts`` file beside it (human annotation) or, with ``--landmarks detect``, from the
   kit's detector;
2. cache them with the ``--preset`` (``fer-kit preprocess``);
3. train every network on them with the ``kit`` recipe from scratch, ``--epochs`` epochs,
   20 % of the faces held out for a test figure, and store its weights as float16
   arrays with a record of how they were made.

The shipped C3D, CNN and landmark-network files were made from the HELEN training photos of
the iBUG 300-W set (870 photos; the first 480 in which the detector still finds the animated
face are used), ``../shared/data/landmarks68/helen-train`` in the project's development data::

    python data_scripts/pretrain.py ../shared/data/landmarks68/helen-train --work pretrain-work \
        --models c3d,cnn,landmarks

The shipped MC-DCN file was made from those photos and the 337 of AFW, with detected
landmarks, through CK+'s seven emotions (672 faces stay usable, 9,100 clips; six epochs keep
about the number of training steps of 15 epochs on 2,880 clips). With two members on CK+ (10
folds by subject, the README's twelfth and thirteenth runs) it scored 0.926 / 0.866 and
0.906 / 0.845 (accuracy / macro-F1) with the seeds of the eighth and ninth runs, whose file, the
same faces without contempt (``--emotions`` left out), scored 0.921 / 0.874 and 0.891 / 0.815::

    python data_scripts/pretrain.py helen=../shared/data/landmarks68/helen-train \
        afw=../shared/data/landmarks68/afw --landmarks detect --faces-per-class 1300 \
        --emotions anger,disgust,fear,happiness,sadness,surprise,contempt \
        --epochs 6 --models mcdcn --work pretrain-work-mcdcn

``--out`` writes the weights elsewhere than the package (to compare before replacing them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The six emotions animated by default; ``--emotions`` adds contempt (CK+'s seventh class)."""
MODELS = ("mcdcn", "c3d", "cnn", "landmarks")


def log(message: str) -> None:
    print(f"[pretrain] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("faces", nargs="+", metavar="[NAME=]FACES",
                        help="folders of face photos (e.g. the HELEN photos of 300-W)")
    parser.add_argument("--landmarks", choices=("pts", "detect"), default="pts",
                        help="a photo's landmarks: its .pts file where there is one (default) or the detector's")
    parser.add_argument("--work", type=Path, default=Path("pretrain-work"), help="clips, cache and runs")
    parser.add_argument("--out", type=Path, default=None, help="where the .npz files go (default: the package)")
    parser.add_argument("--faces-per-class", type=int, default=480, help="photos animated per emotion (default 480)")
    parser.add_argument("--emotions", default=",".join(EMOTIONS),
                        help=f"emotions animated (default: {','.join(EMOTIONS)}; add contempt for CK+)")
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--models", default=",".join(MODELS), help=f"networks (default: {','.join(MODELS)})")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args(argv)


def face_folders(specs: list[str]) -> dict[str, Path]:
    """``{name: folder}`` of the ``[NAME=]FOLDER`` arguments; ``SystemExit`` naming a bad one."""
    folders: dict[str, Path] = {}
    for spec in specs:
        name, given, path = spec.partition("=")
        if not given or "/" in name:
            name, path = "", spec
        folder = Path(path)
        name = name or folder.resolve().name
        if not folder.is_dir():
            raise SystemExit(f"pretrain: {folder}: no such folder of face photos")
        if name in folders or not name:
            raise SystemExit(f"pretrain: {spec}: give each folder its own NAME (NAME=FOLDER)")
        folders[name] = folder
    return folders


def gather_faces(folders: dict[str, Path], into: Path, landmarks: str) -> Path:
    """Link the photos of ``folders`` (and, with ``landmarks="pts"``, their ``.pts`` files) into ``into/NAME/``.

    The generator names a face after its path under the folder it walks (``NAME-PHOTO``), and a
    clip's randomness depends on that name, so the same names give the same clips.
    """
    from fer_kit.images import IMAGE_SUFFIXES

    for name, folder in folders.items():
        for photo in sorted(folder.rglob("*")):
            keep = photo.suffix.lower() in IMAGE_SUFFIXES or (landmarks == "pts" and photo.suffix == ".pts")
            if not keep or not photo.is_file():
                continue
            link = into / name / photo.relative_to(folder)
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(photo.resolve(), link)
    return into


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fer_kit.logs import quiet_native_logs

    quiet_native_logs()
    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.datasets import index_dataset
    from fer_kit.datasets.synthetic.generate import generate_synthetic
    from fer_kit.evaluate import evaluate_run
    from fer_kit.model.pretrained import normalized_build, pretrained_path, save_pretrained
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.runs import load_run
    from fer_kit.training.train import train

    started = time.perf_counter()
    folders = face_folders(args.faces)
    if len(folders) == 1 and args.landmarks == "pts":
        faces = next(iter(folders.values()))
    else:
        faces = gather_faces(folders, args.work / "faces", args.landmarks)
    faces_name = "+".join(folders)
    clips = args.work / "synthetic"
    table = generate_synthetic(clips, faces=faces, per_class=args.faces_per_class, emotions=args.emotions.split(","),
                               seed=args.seed, builtin=False, workers=args.workers, progress=False)
    log(f"{len(table)} clips of {table['subject'].nunique()} faces in {clips}")
    cache = args.work / f"cache-{args.preset}"
    report = build_cache(index_dataset(clips, "synthetic"), cache, PreprocessSettings.from_preset(args.preset),
                         workers=args.workers, progress=False)
    log(report.summary().splitlines()[0])
    for kind in args.models.split(","):
        config = TrainConfig(cache=cache, out=args.work / f"run-{kind}-{args.preset}", model=kind, preset=args.preset,
                             recipe="kit", init="none", members=1, epochs=args.epochs, val_size=0.0,
                             seed=args.seed, tensorboard=False)
        run_started = time.perf_counter()
        run = train(config, verbose=0)
        metrics = evaluate_run(run, plots=False)
        loaded = load_run(run)
        meta = {
            "model": kind, "preset": args.preset, "classes": list(loaded.classes),
            "data": f"synthetic clips of {table['subject'].nunique()} faces of {faces_name} "
                    f"({len(table)} clips, {args.faces_per_class} per emotion, seed {args.seed}, "
                    f"landmarks: {args.landmarks})",
            "build": normalized_build({"head": config.head, "face_standardization": config.face_standardization,
                                       "local_standardization": config.local_standardization}),
            "recipe": "kit", "epochs": args.epochs, "train_clips": json.loads((run / "summary.json").read_text())[
                "train_clips"],
            "held_out_faces_accuracy": metrics["accuracy"], "held_out_clips": metrics["clips"],
        }
        out = (args.out / pretrained_path(kind, args.preset).name) if args.out else pretrained_path(kind, args.preset)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_pretrained(loaded.model, out, meta)
        log(f"{kind}: held-out faces {metrics['accuracy']:.3f} ({time.perf_counter() - run_started:.0f} s) -> {out}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
