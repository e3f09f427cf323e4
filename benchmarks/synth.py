"""Synthetic clip generator: speed (clips/s) and how often dlib finds the face; prints one JSON object.

    python benchmarks/synth.py                                   # built-in faces, 8 clips per class
    python benchmarks/synth.py --faces ../shared/data/landmarks68/helen-train --max-faces 40 --per-class 20
    python benchmarks/synth.py --workers 2 --sheet /tmp/sheet.png

Generation is timed from scratch into a temporary folder (photo preparation and video
writing included). The face check then decodes every frame of every clip and runs
dlib's HOG detector at upsample 0, as preprocessing does on its detection frames.
``separability`` is a learnability check: the landmark motion dlib's predictor finds
between the first and the last frame (face units), classified by nearest class centroid
with a subject-disjoint split (a fifth of the identities held out); chance is 1/7.
It is only reported with at least 5 subjects.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", help="folder of face photos besides the built-in ones")
    parser.add_argument("--no-builtin", action="store_true")
    parser.add_argument("--max-faces", type=int)
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", help="write a contact sheet PNG of the generated clips")
    parser.add_argument("--keep", help="generate into this folder instead of a temporary one")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd

    from fer_kit.clips.video import read_video
    from fer_kit.datasets.synthetic.action_units import to_face_units
    from fer_kit.datasets.synthetic.generate import generate_synthetic
    from fer_kit.face.landmarks import detect_faces, predict_landmarks
    from fer_kit.labels import EMOTIONS
    from fer_kit.viz.sheet import contact_sheet_from_folder

    with tempfile.TemporaryDirectory(prefix="fer-kit-synth-") as scratch:
        out = Path(args.keep or scratch)
        started = time.perf_counter()
        table = generate_synthetic(
            out, faces=args.faces, per_class=args.per_class, seed=args.seed, builtin=not args.no_builtin,
            max_faces=args.max_faces, workers=args.workers, progress=False,
        )
        seconds = time.perf_counter() - started
        found, frames, per_label = 0, 0, {}
        detect_seconds = 0.0
        motion = []  # (features, label, subject) for the separability check
        for source, label, subject in zip(table["source"], table["label"], table["subject"], strict=True):
            video = read_video(out / source)
            t0 = time.perf_counter()
            boxes = [detect_faces(frame, upsample=0) for frame in video.frames]
            detect_seconds += time.perf_counter() - t0
            hits = sum(bool(b) for b in boxes)
            found += hits
            frames += len(video.frames)
            got, total = per_label.get(label, (0, 0))
            per_label[label] = (got + hits, total + len(video.frames))
            if boxes[0] and boxes[-1]:
                first = predict_landmarks(video.frames[0], boxes[0][0])
                last = predict_landmarks(video.frames[-1], boxes[-1][0])
                motion.append(((to_face_units(last) - to_face_units(first)).ravel(), label, subject))
        separability = None
        people = sorted({m[2] for m in motion})
        if len(people) >= 5:
            held_out = set(np.random.default_rng(0).choice(people, max(1, len(people) // 5), replace=False))
            train = [m for m in motion if m[2] not in held_out]
            test = [m for m in motion if m[2] in held_out]
            centroids = {e: np.mean([f for f, lab, _ in train if lab == e], axis=0)
                         for e in EMOTIONS if any(lab == e for _, lab, _ in train)}
            hits = [min(centroids, key=lambda e: np.linalg.norm(f - centroids[e])) == lab for f, lab, _ in test]
            separability = round(float(np.mean(hits)), 3)
        size = sum((out / s).stat().st_size for s in table["source"])
        if args.sheet:
            contact_sheet_from_folder(out, args.sheet)
        report = {
            "clips": len(table),
            "made": table.attrs["made"],
            "subjects": int(table["subject"].nunique()),
            "faces": table.attrs["face_report"],
            "workers": args.workers,
            "seconds": round(seconds, 2),
            "clips_per_second": round(table.attrs["made"] / seconds, 2),
            "frames_per_second": round(table.attrs["made"] * int(table["frames"].iloc[0]) / seconds, 1),
            "megabytes": round(size / 1e6, 1),
            "face_found_fraction": round(found / max(frames, 1), 4),
            "face_found_by_label": {k: round(a / b, 4) for k, (a, b) in sorted(per_label.items())},
            "detector_ms_per_frame": round(1000 * detect_seconds / max(frames, 1), 1),
            "separability": separability,
            "mean_intensity": round(float(pd.to_numeric(table["intensity"]).mean()), 3),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
