"""``fer-kit train``: train MC-DCN or a Table 3 baseline on a clip cache.

:func:`add_training_arguments` and :func:`training_config` are shared with ``fer-kit cv``.
"""

from __future__ import annotations

import argparse

from fer_kit.presets import MODEL_KINDS
from fer_kit.training.recipes import DEFAULT_RECIPE, RECIPES

ORDER = 40


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, recipe and loss options of ``train`` and ``cv``."""
    parser.add_argument("--cache", required=True, help="clip cache folder (made by `fer-kit preprocess`)")
    parser.add_argument("--model", choices=MODEL_KINDS, default="mcdcn",
                        help="network (default: mcdcn; landmarks: our landmark-trajectory baseline)")
    parser.add_argument("--preset", default=None,
                        help="paper, lite or tiny (default: the one the cache was made with, see `fer-kit preprocess`)")
    parser.add_argument("--recipe", choices=tuple(RECIPES), default=DEFAULT_RECIPE,
                        help="optimiser settings: kit (default: Adam 1e-3 -> 1e-5, cosine, 30 epochs) or paper "
                        "(paper 4.1: SGD momentum 0.9, 0.01 -> 0.0001, weight decay 5e-4); the flags below override it")
    parser.add_argument("--epochs", type=int, help="maximum epochs (recipe: 30)")
    parser.add_argument("--batch-size", type=int, help="clips per step (recipe: 8)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), help="sgd (with momentum 0.9) or adam")
    parser.add_argument("--lr", type=float, help="initial learning rate (kit: 1e-3, paper: 0.01)")
    parser.add_argument("--final-lr", type=float, help="final learning rate (kit: 1e-5, paper: 0.0001)")
    parser.add_argument("--lr-schedule", choices=("exponential", "cosine", "constant"),
                        help="shape of the decay from --lr to --final-lr (kit: cosine, paper: exponential)")
    parser.add_argument("--weight-decay", type=float, help="decoupled weight decay (kit: 0, paper: 5e-4)")
    parser.add_argument("--fused-weight", type=float, default=1.0,
                        help="weight of CE(fused) (default: 1; 0 is eq. 8 as the paper writes it)")
    parser.add_argument("--lambda-global", type=float, default=0.5, help="lambda1 of eq. 8 (default: 0.5)")
    parser.add_argument("--lambda-local", type=float, default=0.5, help="lambda2 of eq. 8 (default: 0.5)")
    parser.add_argument("--no-augment", action="store_true", help="no flips or rotations")
    parser.add_argument("--local-standardization", choices=("none", "clip", "onset"), default="none",
                        help="how MC-DCN's local-map stream standardizes its clip: none (the paper, default), "
                             "clip (as a whole) or onset (the change since its first frame); our option")
    parser.add_argument("--face-standardization", choices=("frame", "clip", "onset"), default="frame",
                        help="how the face stream of MC-DCN and C3D standardizes its clip: frame (each frame, "
                             "default), clip (as a whole) or onset (the change since its first frame); our option")
    parser.add_argument("--label-smoothing", type=float, default=0.0, metavar="E",
                        help="spread this share of each label evenly over the classes in every cross-entropy "
                             "(default: 0, eq. 7 as written); our option")
    parser.add_argument("--zoom", type=float, default=0.0, metavar="Z",
                        help="also scale each training clip by a factor in [1-Z, 1+Z] (default: 0, off); our option")
    parser.add_argument("--shift", type=float, default=0.0, metavar="S",
                        help="also move each training clip by up to S of its width in x and y (default: 0, off); "
                             "our option")
    parser.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                        help="blend training clips in pairs, labels too, with shares drawn from Beta(ALPHA, ALPHA) "
                             "(default: 0, off); our option")
    parser.add_argument("--members", type=int, default=None, metavar="N",
                        help="train N runs with seeds SEED..SEED+N-1 on the same split and average their outputs "
                             "(kit recipe: 2 with the lite preset, else 1; paper: 1); our option, N times the "
                             "training time")
    parser.add_argument("--no-class-weights", action="store_true", help="do not weight rare classes up")
    parser.add_argument("--classes", help="comma-separated classes to use (default: every label present)")
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs (0: off)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--mixed-precision", action="store_true", help="float16 on GPU / bfloat16 on CPU compute")
    parser.add_argument("--distribute", choices=("auto", "none", "mirrored", "multiworker"), default="auto",
                        help="auto: MirroredStrategy when more than one GPU is visible; multiworker: across "
                        "machines (TensorFlow), the cluster in $TF_CONFIG")
    parser.add_argument("--pipeline", choices=("auto", "memory", "stream"), default="auto",
                        help="load clips into memory or stream them from disk (auto: memory when they fit)")
    parser.add_argument("--memory-limit-mb", type=float, default=2048, help="largest in-memory clip set (MiB)")
    parser.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    parser.add_argument("--init", metavar="RUN", default=None,
                        help="start from these weights where layers match: a run folder or .keras file (e.g. a "
                             "model pretrained on expression photos), 'synthetic' (the kit's networks pretrained on "
                             "synthetic clips of hundreds of faces), 'auto' (those where the kit ships them for the model "
                             "and preset, else none: the kit recipe) or 'none' (from scratch: the paper recipe)")


def cache_preset(cache: str) -> str:
    """The preset a clip cache was made with (its ``settings.json``), checked before TensorFlow loads.

    ``DatasetLayoutError`` when ``cache`` is not a clip cache; ``UsageError`` when its crop size
    and clip length match no preset (then ``--preset`` must say).
    """
    from fer_kit.clips.cache import load_cache_index, load_cache_settings
    from fer_kit.errors import UsageError
    from fer_kit.presets import preset_for

    load_cache_index(cache)
    settings = load_cache_settings(cache)
    name = preset_for(settings.size, settings.frames) if settings else None
    if name is None:
        made = f"clips of {settings.frames} frames of {settings.size} px" if settings else "no settings.json"
        raise UsageError(f"{cache}: cannot tell which preset this cache was made for ({made}); give --preset")
    return name


def training_config(args: argparse.Namespace, **fields):
    """A :class:`fer_kit.training.config.TrainConfig` from the options of :func:`add_training_arguments` plus ``fields``.

    Without ``--preset`` the preset is the cache's (:func:`cache_preset`). Raises
    :class:`~fer_kit.errors.UsageError` for a bad combination (the CLI prints it as one line).
    """
    from fer_kit.training.config import TrainConfig

    return TrainConfig(
        cache=args.cache, model=args.model, preset=args.preset or cache_preset(args.cache), recipe=args.recipe, epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.lr,
        final_learning_rate=args.final_lr, lr_schedule=args.lr_schedule, weight_decay=args.weight_decay,
        fused_weight=args.fused_weight, lambda_global=args.lambda_global, lambda_local=args.lambda_local,
        augment=not args.no_augment, local_standardization=None if args.local_standardization == "none" else args.local_standardization,
        face_standardization=args.face_standardization, label_smoothing=args.label_smoothing,
        zoom=args.zoom, shift=args.shift, mixup=args.mixup, members=args.members,
        class_weights=not args.no_class_weights,
        classes=tuple(c.strip() for c in args.classes.split(",")) if args.classes else None,
        patience=args.patience, seed=args.seed, mixed_precision=args.mixed_precision,
        distribute=args.distribute, pipeline=args.pipeline, memory_limit_mb=args.memory_limit_mb,
        tensorboard=not args.no_tensorboard, init=args.init, **fields,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train MC-DCN (or the c3d / cnn / landmarks baselines) on a clip cache",
        description=(
            "Split the cache by subject, train with the loss of eq. 8 (CE(fused) + lambda1 CE(global) + "
            "lambda2 CE(local)) and the chosen recipe (kit: Adam with a cosine decay; paper: SGD with momentum "
            "and a learning rate decaying from 0.01 to 0.0001), early stopping on the validation loss. The run "
            "folder OUT gets config.json, split.json, model.keras, history.csv/json, summary.json and "
            "TensorBoard logs. Re-running an interrupted run resumes after its last finished epoch; a finished "
            "run is left as it is."
        ),
    )
    add_training_arguments(parser)
    parser.add_argument("--out", required=True, help="run folder to create (or resume)")
    parser.add_argument("--protocol", choices=("subject", "random"), default="subject",
                        help="subject: no person in both train and test (default); random: the paper's 80/20")
    parser.add_argument("--test-size", type=float, default=0.2, help="test fraction (default: 0.2)")
    parser.add_argument("--val-size", type=float,
                        help="validation fraction of the training subjects for early stopping (kit recipe: 0, none: "
                        "the last epoch is kept; paper recipe: 0.2)")
    parser.add_argument("--test-cache", help="a separate cache to test on (then the whole --cache trains)")
    parser.add_argument("--json", action="store_true", help="print the run summary as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import json
    import sys

    from ._shared import print_json

    config = training_config(
        args, out=args.out, protocol=args.protocol, test_size=args.test_size, val_size=args.val_size,
        test_cache=args.test_cache,
    )
    print(f"training {config.model} ({config.preset}, {config.recipe} recipe) on {config.cache} -> {config.out}",
          file=sys.stderr)
    from fer_kit.training.train import train  # TensorFlow: only once the arguments are known to be good

    with contextlib.redirect_stdout(sys.stderr):  # Keras progress goes to stderr; stdout keeps the result
        run_dir = train(config, verbose=2)
    summary = json.loads((run_dir / "summary.json").read_text())
    if args.json:
        print_json({"run": str(run_dir), **summary})
    else:
        print(f"run folder: {run_dir}")
        for key in ("model", "preset", "parameters", "epochs_run", "best_epoch", "train_clips", "val_clips"):
            print(f"{key:>14}: {summary.get(key)}")
        print(f"evaluate with: fer-kit evaluate {run_dir}")
    return 0
