"""Synthetic clip generator: speed (clips/s) and how often dlib finds the face; prints one JSON object.

    python benchmarks/synth.py                                   # built-in faces, 8 clips per class
    python benchmarks/synth.py --faces ../shared/data/landmarks68/helen-train --max-faces 40 --per-class 20
    python benchmarks/synth.py --workers 2 --sheet /tmp/sheet.png

Generation is timed from scratch into a temporary folder (photo preparation and video
writing included). The face check then decodes every frame of every clip and runs
dlib's HOG detector at upsample 0, as preprocessing does on its detection frames.
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

    from fer_kit.datasets.sheet import contact_sheet_from_folder
    from fer_kit.datasets.synth import generate_synthetic
    from fer_kit.landmarks import detect_faces
    from fer_kit.video import read_video

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
        for source, label in zip(table["source"], table["label"], strict=True):
            video = read_video(out / source)
            t0 = time.perf_counter()
            hits = sum(bool(detect_faces(frame, upsample=0)) for frame in video.frames)
            detect_seconds += time.perf_counter() - t0
            found += hits
            frames += len(video.frames)
            got, total = per_label.get(label, (0, 0))
            per_label[label] = (got + hits, total + len(video.frames))
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
            "mean_intensity": round(float(pd.to_numeric(table["intensity"]).mean()), 3),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
