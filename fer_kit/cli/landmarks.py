"""``fer-kit landmarks show|train|eval``: look at, train and measure the 68-point ERT landmark model."""

from __future__ import annotations

import argparse

from ._shared import subcommand

ORDER = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("landmarks", help="show, train or evaluate 68-point ERT face landmarks")
    sub = parser.add_subparsers(dest="landmarks_command", metavar="{show,train,eval}", required=True)

    with subcommand(
        sub, "show", run_show,
        help="draw landmarks, regions, wrinkles, attention and the local map of an image or video frame",
        description="Draw the face pipeline for an image, or for the middle frame of a video, side by side.",
        json_help="print the landmarks and box as JSON",
    ) as show:
        show.add_argument("path", help="image, video file or folder of frames")
        show.add_argument("--out", help="PNG to write (default: <name>_landmarks.png in the current folder)")
        show.add_argument("--frame", type=int, help="frame index of a video (default: the middle frame)")
        show.add_argument("--model", help="shape predictor .dat (default: the pretrained 68-point model)")
        show.add_argument("--size", type=int, default=112, help="aligned crop size (default: 112)")

    with subcommand(
        sub, "train", run_train,
        help="train an ERT shape predictor on images with 300-W .pts files",
        description=(
            "Train dlib's ensemble of regression trees on every image under DIR with a .pts file beside it. "
            "A reproducible fraction of the photos is held out; their NME is printed and recorded in MODEL.dat.json. "
            "Options left out take the tuned defaults of fer_kit.face.ert.ERTOptions."
        ),
        json_help="print the summary as one JSON object",
    ) as train:
        train.add_argument("directory", help="folder searched recursively for image + .pts pairs")
        train.add_argument("--out", required=True, help="model file to write (.dat)")
        train.add_argument("--holdout", type=float, default=0.1, help="fraction of photos held out (default: 0.1)")
        train.add_argument("--cascade-depth", type=int, help="cascade stages (eq. 2's t)")
        train.add_argument("--trees", type=int, help="trees per cascade stage")
        train.add_argument("--tree-depth", type=int, help="depth of each tree")
        train.add_argument("--nu", type=float, help="learning rate (shrinkage) of Algorithm 1")
        train.add_argument("--oversampling", type=int, help="initial shapes per face")
        train.add_argument("--feature-pool-size", type=int, help="pixels per stage")
        train.add_argument("--num-test-splits", type=int, help="splits tried per node")
        train.add_argument("--jitter", type=float, help="random box shift (fraction of its size) while oversampling")
        train.add_argument("--no-flip", action="store_true", help="do not add mirrored copies of the training faces")
        train.add_argument("--rotation", type=float, help="add copies turned by up to this many degrees (0: none)")
        train.add_argument("--threads", type=int, default=0, help="training threads (default: all cores)")
        train.add_argument("--workers", type=int, default=2, help="processes for face detection (default: 2)")
        train.add_argument("--limit", type=int, help="use only the first N training faces")
        train.add_argument("--seed", type=int, default=0, help="random seed (split and training)")

    with subcommand(
        sub, "eval", run_eval,
        help="normalised mean error of a landmark model on annotated faces",
        description=(
            "Detect each face under DIR, predict 68 points and print n, missed, nme_mean, nme_median, "
            "failure_rate (NME > 0.08) and ms_per_face. NME = mean point error / distance of points 36 and 45."
        ),
    ) as evaluate:
        evaluate.add_argument("directory", help="folder searched recursively for image + .pts pairs")
        evaluate.add_argument("--model", help="shape predictor .dat (default: the pretrained 68-point model)")
        evaluate.add_argument("--holdout-of", help="only the images held out when this model was trained")
        evaluate.add_argument("--limit", type=int, help="only the first N faces")
        evaluate.add_argument("--workers", type=int, default=2, help="processes for face detection (default: 2)")


def run_show(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from fer_kit.clips.video import read_video, video_info
    from fer_kit.errors import InputFileError, NoFaceError
    from fer_kit.face.landmarks import detect_faces, load_predictor, predict_landmarks
    from fer_kit.images import is_image_file, read_image
    from fer_kit.viz.drawing import pipeline_figure, save_image

    from ._shared import print_json

    path = Path(args.path)
    if not path.exists():
        raise InputFileError("no such image, video or frame folder", path)
    if path.is_file() and is_image_file(path):
        image, where = read_image(path), "image"
    else:
        n, _ = video_info(path)
        index = (max(n, 1) - 1) // 2 if args.frame is None else args.frame
        video = read_video(path, [index])
        image, where = video.frames[0], f"frame {int(video.indices[0])}"
    predictor = load_predictor(args.model)
    boxes = detect_faces(image, 0) or detect_faces(image, 1)
    if not boxes:
        hint = "" if where == "image" else " (try another frame with --frame N)"
        raise NoFaceError(f"no face found in the {where}{hint}", path)
    landmarks = predict_landmarks(image, boxes[0], predictor)
    figure = pipeline_figure(image, landmarks, args.size, box=boxes[0])
    out = Path(args.out) if args.out else Path(f"{path.stem}_landmarks.png")
    save_image(out, figure)
    print(f"wrote {out} ({where}, {len(boxes)} face(s) found)", file=sys.stderr)
    if args.json:
        print_json({"out": str(out), "box": list(boxes[0]), "landmarks": landmarks.round(2).tolist()})
    return 0


def run_train(args: argparse.Namespace) -> int:
    import sys

    from fer_kit.face.ert import train_ert

    from ._shared import print_json

    options = {
        "cascade_depth": args.cascade_depth,
        "trees": args.trees,
        "tree_depth": args.tree_depth,
        "nu": args.nu,
        "oversampling": args.oversampling,
        "feature_pool_size": args.feature_pool_size,
        "num_test_splits": args.num_test_splits,
        "translation_jitter": args.jitter,
        "rotation": args.rotation,
    }
    options = {key: value for key, value in options.items() if value is not None}
    summary = train_ert(
        args.directory,
        args.out,
        holdout=args.holdout,
        workers=args.workers,
        progress=True,
        limit=args.limit,
        flip=not args.no_flip,
        threads=args.threads,
        seed=args.seed,
        **options,
    )
    held = summary["holdout"]
    if args.json:
        print_json({k: v for k, v in summary.items() if k != "holdout_images"})
    else:
        print(
            f"trained on {summary['n_train']} faces in {summary['train_seconds']:.0f} s "
            f"(+{summary['detect_seconds']:.0f} s detecting); model: {summary['model']}"
        )
        if held:
            print(
                f"held-out NME on {held['n'] - held['missed']} faces: mean {held['nme_mean']:.4f}, "
                f"median {held['nme_median']:.4f}, failure rate {held['failure_rate']:.3f}"
            )
        else:
            print("no faces held out (--holdout 0)", file=sys.stderr)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from fer_kit.face.ert import evaluate_ert, holdout_images

    from ._shared import print_fields

    images = holdout_images(args.holdout_of) if args.holdout_of else None
    result = evaluate_ert(
        args.directory, args.model, workers=args.workers, limit=args.limit, images=images, progress=not args.json
    )
    print_fields(result, args.json, width=13)
    return 0
