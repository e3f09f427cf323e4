"""Speed of the face pipeline: detection on every frame vs. detect-every-K + tracking, and parallel workers.

On the real CREMA-D clips (480x360; ``--videos DIR`` for others) every frame of every
clip goes through the full chain (decode, face box, 68 landmarks, alignment, local
feature map) twice:

* ``every_frame``: the face detector on every frame (``detect_every=1``);
* ``tracking``: the detector every ``--detect-every`` frames (default 5), in between
  the box from the previous landmarks (``fer_kit.face.landmarks.track_landmarks``).

``speedup`` = fps_tracking / fps_every_frame (target >= 3); ``landmark_diff_iod`` = mean
distance between the two runs' landmarks over the inter-ocular distance (target <= 0.03).
The two modes alternate clip by clip and each clip keeps its fastest of ``--rounds``
runs, so load from other processes hits both alike.

``fps_workers_N``: source frames per second of ``fer_kit.clips.cache.build_cache`` (16-frame
clips, the ``paper`` preset) with ``workers=N`` (this process + N - 1 spawned helpers),
end to end, helper start-up included, over ``--copies`` links to each clip (target:
2 workers >= 1.7x one worker); ``startup_seconds_workers_N`` is the separately timed cost
of starting the N - 1 helpers. Also per-stage times: ms per face for the 68-point
predictor, ms per frame for detection, decoding, alignment and the local feature map.

    python benchmarks/preprocess.py --json
    python benchmarks/preprocess.py --videos ../shared/data/videos/crema-d --detect-every 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".flv", ".mp4", ".avi", ".mov", ".mkv", ".webm")


def _videos(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        sys.exit(f"benchmarks/preprocess.py: error: {folder}: no videos ({', '.join(VIDEO_SUFFIXES)})")
    return files


def _chain(path: Path, detect_every: int, settings) -> tuple[float, int, np.ndarray]:
    """Seconds for decode + process_frames of every frame; frame count; frame-coordinate landmarks."""
    from fer_kit.clips.preprocess import process_frames
    from fer_kit.clips.video import read_video

    start = time.perf_counter()
    video = read_video(path)
    features = process_frames(video.frames, _with(settings, detect_every=detect_every))
    return time.perf_counter() - start, len(video), features.frame_landmarks


def _with(settings, **changes):
    from dataclasses import replace

    return replace(settings, **changes)


def _stage_times(paths: list[Path], settings) -> dict:
    """Median per-stage times on a few frames of each clip."""
    from fer_kit.clips.video import read_video
    from fer_kit.face.align import align_face
    from fer_kit.face.landmarks import detect_faces, load_predictor, predict_landmarks
    from fer_kit.face.wrinkles import local_feature_map

    predictor = load_predictor()
    decode, detect, predict, align, local = [], [], [], [], []
    for path in paths:
        start = time.perf_counter()
        video = read_video(path)
        decode.append((time.perf_counter() - start) / len(video))
        for frame in video.frames[:: max(1, len(video) // 8)]:
            t = time.perf_counter()
            boxes = detect_faces(frame)
            detect.append(time.perf_counter() - t)
            if not boxes:
                continue
            for _ in range(5):
                t = time.perf_counter()
                points = predict_landmarks(frame, boxes[0], predictor)
                predict.append(time.perf_counter() - t)
            t = time.perf_counter()
            aligned = align_face(frame, points, settings.size)
            align.append(time.perf_counter() - t)
            for _ in range(3):
                t = time.perf_counter()
                local_feature_map(aligned.image, aligned.landmarks, method=settings.wrinkle_method)
                local.append(time.perf_counter() - t)

    def ms(values):
        return round(1000 * float(np.median(values)), 3) if values else None

    return {
        "ms_per_face_landmarks": ms(predict),
        "ms_per_frame_local_map": ms(local),
        "ms_per_frame_detection": ms(detect),
        "ms_per_frame_decode": ms(decode),
        "ms_per_frame_align": ms(align),
    }


def _workers_run(paths: list[Path], copies: int, workers: int, settings) -> dict:
    import pandas as pd

    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.video import video_info

    with tempfile.TemporaryDirectory(prefix="fer-kit-bench-") as tmp:
        links, frames = [], 0
        for copy in range(copies):
            for path in paths:
                link = Path(tmp) / "videos" / f"{path.stem}-{copy}{path.suffix}"
                link.parent.mkdir(exist_ok=True)
                os.symlink(path.resolve(), link)
                links.append(str(link))
                frames += video_info(path)[0]
        index = pd.DataFrame({"source": links, "label": "", "subject": "", "dataset": "bench"})
        startup = _pool_startup(workers - 1) if workers > 1 else 0.0
        start = time.perf_counter()
        report = build_cache(index, Path(tmp) / "cache", settings, workers=workers, progress=False)
        seconds = time.perf_counter() - start
        if report.failed:
            raise RuntimeError(f"benchmark clips failed: {report.failed[:3]}")
    return {"fps": frames / seconds, "seconds": seconds, "startup": startup, "clips": len(links)}


def _pool_startup(workers: int) -> float:
    """Seconds to start a spawn pool of ``workers`` helper processes with the model loaded (as build_cache does)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from fer_kit.clips.cache import _init_worker

    start = time.perf_counter()
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    ) as pool:
        list(pool.map(time.sleep, [0.05] * workers))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    from fer_kit.config import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=shared_data_dir() / "videos" / "crema-d")
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--preset", default="paper", help="crop size of the chain (default: paper = 112)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per clip and mode; the fastest counts")
    parser.add_argument("--copies", type=int, default=15, help="copies of each clip for the workers comparison")
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.face.landmarks import inter_ocular, load_predictor

    if not args.videos.is_dir():
        sys.exit(f"benchmarks/preprocess.py: error: {args.videos}: no such folder (use --videos DIR)")
    paths = _videos(args.videos)
    settings = PreprocessSettings.from_preset(args.preset)
    load_predictor()
    _chain(paths[0], 1, settings)  # warm caches (model, codecs)

    best = {1: [np.inf] * len(paths), args.detect_every: [np.inf] * len(paths)}
    landmarks: dict[int, list] = {1: [None] * len(paths), args.detect_every: [None] * len(paths)}
    frames = [0] * len(paths)
    for _ in range(args.rounds):
        for i, path in enumerate(paths):
            for k in (1, args.detect_every):
                seconds, n, points = _chain(path, k, settings)
                best[k][i] = min(best[k][i], seconds)
                landmarks[k][i], frames[i] = points, n
    total = sum(frames)
    fps_every = total / sum(best[1])
    fps_track = total / sum(best[args.detect_every])
    reference = np.concatenate(landmarks[1])
    tracked = np.concatenate(landmarks[args.detect_every])
    diff = np.linalg.norm(tracked - reference, axis=2).mean(axis=1) / inter_ocular(reference)

    result = {
        "videos": str(args.videos),
        "clips": len(paths),
        "frames": total,
        "frame_size": None,
        "detect_every": args.detect_every,
        "crop_size": settings.size,
        "fps_every_frame": round(fps_every, 1),
        "fps_tracking": round(fps_track, 1),
        "speedup": round(fps_track / fps_every, 2),
        "landmark_diff_iod": round(float(diff.mean()), 4),
        "landmark_diff_iod_p95": round(float(np.percentile(diff, 95)), 4),
    }
    from fer_kit.clips.video import read_video

    first = read_video(paths[0], [0]).frames[0]
    result["frame_size"] = f"{first.shape[1]}x{first.shape[0]}"
    result.update(_stage_times(paths, settings))
    for workers in range(1, args.max_workers + 1):
        run = _workers_run(paths, args.copies, workers, settings)
        result[f"fps_workers_{workers}"] = round(run["fps"], 1)
        result[f"seconds_workers_{workers}"] = round(run["seconds"], 2)
        if workers > 1:
            result[f"startup_seconds_workers_{workers}"] = round(run["startup"], 2)
    if args.max_workers >= 2:
        result["workers_speedup"] = round(result["fps_workers_2"] / result["fps_workers_1"], 2)
    result["cpus"] = os.cpu_count()
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    result["python"] = platform.python_version()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
