"""``fer-kit predict``: the expression in a video of any length, window by window."""

from __future__ import annotations

import argparse

ORDER = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict the expression of a video with a trained run or .keras model",
        description=(
            "Slide the model's 16-frame window over VIDEO (a video file or a folder of frames), run the "
            "face pipeline on each window, print each window's class probabilities and the overall label "
            "(the mean over the windows where a face was found)."
        ),
    )
    parser.add_argument("model", metavar="RUN_OR_MODEL", help="run folder or .keras model file")
    parser.add_argument("video", help="video file or folder of frames")
    parser.add_argument("--window-seconds", type=float, help="window length (default: as the training clips)")
    parser.add_argument("--stride-seconds", type=float, help="distance between window starts (default: half a window)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fer_kit.errors import InputFileError
    from fer_kit.training.runfolder import locate_model

    locate_model(args.model)  # refuse a bad model or video before TensorFlow loads (seconds)
    if not Path(args.video).exists():
        raise InputFileError("no such video file or frame folder", args.video)
    from fer_kit.predict import predict_video

    from ._shared import print_json

    result = predict_video(args.model, args.video, args.window_seconds, args.stride_seconds).to_dict()
    if args.json:
        print_json(result)
        return 0
    classes = result["classes"]
    short = [c[:7] for c in classes]
    print(f"{result['video']}: {result['n_frames']} frames at {result['fps']:.2f} fps, "
          f"{len(result['windows'])} window(s) of {result['window_seconds']:.2f} s")
    print(f"{'window (s)':<16}{'face':>6}  " + "".join(f"{s:>9}" for s in short))
    for window in result["windows"]:
        span = f"{window['start_s']:.2f}-{window['end_s']:.2f}"
        face = f"{100 * window['valid_fraction']:.0f}%"
        if window["probabilities"] is None:
            print(f"{span:<16}{face:>6}  (too few frames with a face: skipped)")
        else:
            print(f"{span:<16}{face:>6}  " + "".join(f"{window['probabilities'][c]:>9.3f}" for c in classes))
    overall = "".join(f"{result['probabilities'][c]:>9.3f}" for c in classes)
    print(f"{'overall':<16}{'':>6}  {overall}")
    print(f"label: {result['label']} ({100 * result['confidence']:.1f}%)")
    return 0
