"""``fer-kit preprocess``: turn every video of a dataset into a cached Clip (faces + local feature maps)."""

from __future__ import annotations

import argparse

ORDER = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help="detect, align and build local feature maps for every video of a dataset (the clip cache)",
        description=(
            "Index the dataset at ROOT, then turn each video into a 16-frame Clip (.npz) under CACHE/clips "
            "and write CACHE/index.csv. Re-runs skip finished clips; changed settings rebuild. Bad videos are "
            "listed (and written to CACHE/failures.csv); the rest completes. Exit status 0 when at least one "
            "clip is in the cache, 1 when none could be made."
        ),
    )
    parser.add_argument("root", help="dataset folder (or a manifest CSV, as the dataset adapter expects)")
    parser.add_argument("--dataset", required=True, help="dataset layout name (see `fer-kit data index --help`)")
    parser.add_argument("--out", required=True, help="cache folder to create or update")
    parser.add_argument("--preset", default="paper", help="crop size and clip length from a preset (default: paper)")
    parser.add_argument("--size", type=int, help="crop size S (overrides the preset)")
    parser.add_argument("--frames", type=int, help="frames per clip (overrides the preset; paper: 16)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default: 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the tasks on this Dask scheduler (tcp://HOST:8786; default: $FER_KIT_SCHEDULER, "
                        "else this machine); inputs and outputs must be on storage the workers share")
    parser.add_argument("--detect-every", type=int, default=5, help="run the face detector every K frames (default: 5)")
    parser.add_argument(
        "--window-seconds", type=float, help="take the frames from a window of this many seconds (default: whole clip)"
    )
    parser.add_argument("--center-seconds", type=float, help="centre of that window (default: middle of the video)")
    parser.add_argument("--no-wrinkles", action="store_true", help="local map without wrinkle energy")
    parser.add_argument("--no-attention", action="store_true", help="local map without the attention weighting")
    parser.add_argument("--no-contour", action="store_true", help="local map without the landmark contour")
    parser.add_argument("--age-regions", action="store_true",
                        help="attend to the forehead and crow's feet too (the ablation of paper 3.1's region choice)")
    parser.add_argument("--wrinkle-method", choices=("ridge", "gabor"), default="ridge", help="wrinkle filter bank")
    parser.add_argument("--limit", type=int, help="only the first N videos of the index (for a quick try)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.datasets import index_dataset
    from fer_kit.errors import InputFileError
    from fer_kit.executors import scheduler_address

    from ._shared import print_json

    overrides = {
        "detect_every": args.detect_every,
        "window_seconds": args.window_seconds,
        "center_seconds": args.center_seconds,
        "wrinkles": not args.no_wrinkles,
        "attention": not args.no_attention,
        "contour": not args.no_contour,
        "age_regions": args.age_regions,
        "wrinkle_method": args.wrinkle_method,
    }
    if args.size:
        overrides["size"] = args.size
    if args.frames:
        overrides["frames"] = args.frames
    settings = PreprocessSettings.from_preset(args.preset, **overrides)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputFileError("--out names a file; the cache is a folder", out)
    index = index_dataset(args.root, args.dataset)
    if args.limit:
        index = index.head(args.limit)
    scheduler = scheduler_address(args.scheduler)
    where = f"the Dask cluster at {scheduler}" if scheduler else f"{args.workers} worker(s)"
    print(f"preprocessing {len(index)} videos into {args.out} ({where})", file=sys.stderr)
    report = build_cache(index, args.out, settings, workers=args.workers, progress=not args.no_progress,
                         scheduler=scheduler)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.summary())
    return 0 if report.ok > 0 or report.total == 0 else 1
