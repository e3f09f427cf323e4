"""Training MC-DCN and its baselines from a clip cache (paper 3.2.3 and 4.1).

:func:`train` reads a :class:`TrainConfig`, splits the cache by subject (no person in
both train and test; the paper's random 80/20 split with ``protocol="random"``), builds
the model and fits it with the loss of eq. 8::

    L = w_f * CE(fused) + lambda1 * CE(global) + lambda2 * CE(local)

(eq. 7 is the cross-entropy; the paper's eq. 8 is ``w_f = 0``; by default we also train
the fused output, ``w_f = 1``, because that is the prediction). The optimiser comes
from a recipe (:mod:`fer_kit.training.recipes`): ``recipe="paper"`` is paper 4.1, SGD with
momentum 0.9 and a learning rate decaying exponentially from 0.01 to 0.0001 over all
the steps of the run, ``lr(step) = 0.01 * 0.01 ** (step / total_steps)`` (the paper gives
only the end points); the default ``kit`` recipe is our choice for small real corpora
(Adam, 1e-3 to 1e-5 along a cosine). Early stopping watches the validation loss (the
best epoch's weights are kept), every epoch is backed up so an interrupted run resumes
where it stopped, and a fixed seed repeats a run on the CPU.

Validation clips come from the training subjects when there are at least three of
them (``val_size`` of the subjects); with fewer subjects the test set doubles as the
validation set (early stopping then sees the test subjects; ``split.json`` says so).
``val_size=0`` trains on every training subject without a validation set: no early
stopping on held-out clips, the model of the last epoch is kept (``validation_from:
none``). Cross-validation uses that, so the test fold is never looked at before the end.

The run folder::

    RUN/config.json      the TrainConfig + classes + clip settings
    RUN/split.json       train / validation / test subjects and clip paths; the caches both as
                         given and relative to RUN (``train_cache_relative``), so a run moved
                         or copied together with its caches still finds them
    RUN/model.keras      the trained model (best validation epoch)
    RUN/history.csv      one row per epoch (losses, accuracy, learning rate); history.json the same
    RUN/summary.json     best epoch, time, clips/s, parameter count
    RUN/logs/            TensorBoard logs
    RUN/checkpoints/     best weights so far + early-stopping state
    RUN/backup/          the last epoch's state while training (removed when done)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fer_kit import __version__
from fer_kit.atomic import atomic_path, write_json_atomic
from fer_kit.errors import DatasetLayoutError, ModelFileError
from fer_kit.model import build_model, model_inputs, model_outputs
from fer_kit.presets import get_preset
from fer_kit.training.data import ROTATION_DEGREES, ClipSet, class_weights, make_dataset, select_clips
from fer_kit.training.recipes import DEFAULT_RECIPE, recipe_values

RUN_FILES = ("config.json", "split.json", "model.keras", "history.csv", "history.json", "summary.json")


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``RUN/config.json``.

    ``recipe`` (:mod:`fer_kit.training.recipes`: ``kit``, the default, or ``paper``) fills the
    optimiser, schedule, epochs and batch size not given explicitly.

    Loss weights: ``fused_weight`` (CE of the fused output), ``lambda_global`` and
    ``lambda_local`` (eq. 8's lambda1 and lambda2; ignored by single-output baselines).
    ``distribute``: ``auto`` mirrors over GPUs when more than one is visible, ``mirrored``
    forces :class:`tf.distribute.MirroredStrategy` (on all GPUs, else all logical CPUs),
    ``none`` never distributes. ``precise_bn``: batches of training clips used to
    re-estimate the batch-norm statistics before each validation (0: off; see
    :func:`recalibrate_batchnorm`; skipped under a distribution strategy).
    """

    cache: str
    out: str
    model: str = "mcdcn"
    preset: str = "tiny"
    recipe: str = DEFAULT_RECIPE
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    final_learning_rate: float | None = None
    lr_schedule: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    fused_weight: float = 1.0
    lambda_global: float = 0.5
    lambda_local: float = 0.5
    augment: bool = True
    flip: bool = True
    rotations: tuple[float, ...] = ROTATION_DEGREES
    class_weights: bool = True
    protocol: str = "subject"
    test_size: float = 0.2
    val_size: float | None = None
    test_cache: str | None = None
    test_subjects: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    min_valid_fraction: float = 0.5
    patience: int = 10
    seed: int = 0
    deterministic: bool = True
    mixed_precision: bool = False
    distribute: str = "auto"
    memory_limit_mb: float = 2048.0
    pipeline: str = "auto"
    workers: int | None = None
    tensorboard: bool = True
    head: str | None = None
    precise_bn: int = 8

    def __post_init__(self) -> None:
        for name, value in recipe_values(self.recipe).items():  # the recipe fills what is not given
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.cache = str(self.cache)
        self.out = str(self.out)
        self.test_cache = None if self.test_cache is None else str(self.test_cache)
        self.rotations = tuple(float(r) for r in self.rotations)
        self.classes = None if self.classes is None else tuple(self.classes)
        self.test_subjects = None if self.test_subjects is None else tuple(sorted(map(str, self.test_subjects)))
        get_preset(self.preset)
        model_inputs(self.model)
        choices = {
            "optimizer": ("sgd", "adam"),
            "lr_schedule": ("exponential", "cosine", "constant"),
            "protocol": ("subject", "random"),
            "distribute": ("auto", "none", "mirrored"),
            "pipeline": ("auto", "memory", "stream"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not 0 < self.test_size < 1 or not 0 <= self.val_size < 1:
            raise ValueError("test_size must be in (0, 1) and val_size in [0, 1)")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rotations"] = list(self.rotations)
        data["classes"] = None if self.classes is None else list(self.classes)
        data["test_subjects"] = None if self.test_subjects is None else list(self.test_subjects)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------- files


def write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON atomically (:func:`fer_kit.atomic.write_json_atomic`; numpy values and paths allowed)."""
    write_json_atomic(path, obj, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"cannot read ({error})", path) from error


def save_model_atomic(model: keras.Model, path: Path) -> Path:
    """``model.save(path)`` through a temporary file in the same folder, then rename (:func:`fer_kit.atomic.atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:  # same suffix as path: keras checks it (.keras)
        model.save(tmp)
    return path


ACCURACY_ALIASES = {"fused_accuracy": "accuracy", "val_fused_accuracy": "val_accuracy"}
"""Keras names the accuracy of a multi-output model after its output; histories use one name for every model."""


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """``history.csv`` of a run, one row per epoch (re-run epochs after a resume keep their last row).

    The fused output's accuracy is ``accuracy`` / ``val_accuracy`` for every model.
    """
    path = Path(run_dir) / "history.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path).rename(columns=ACCURACY_ALIASES)
    if "epoch" in history.columns:
        history = history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    return history


# ---------------------------------------------------------------- split


def _subject_split(rows: pd.DataFrame, protocol: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from fer_kit.datasets.splits import split

    return split(rows, protocol=protocol, test_size=test_size, seed=seed)


def make_split(
    clips: ClipSet, config: TrainConfig, test_clips: ClipSet | None = None
) -> tuple[ClipSet, ClipSet, ClipSet, dict]:
    """``(train, validation, test, record)``: the split of paper 4.2 (8:2), by subject by default."""
    if test_clips is not None:
        train_rows, test_rows = clips.rows, test_clips.rows
    elif config.test_subjects is not None:
        held_out = clips.rows["subject"].astype(str).isin(config.test_subjects)
        train_rows, test_rows = clips.rows[~held_out], clips.rows[held_out]
        if len(test_rows) == 0:
            raise DatasetLayoutError("none of the given test subjects has clips in this cache", clips.cache_dir)
    else:
        train_rows, test_rows = _subject_split(clips.rows, config.protocol, config.test_size, config.seed)
    n_subjects = train_rows["subject"].nunique()
    carve = config.val_size > 0 and (n_subjects >= 3 if config.protocol == "subject" else len(train_rows) >= 10)
    if config.val_size == 0:
        val_rows = train_rows.iloc[:0]
        validation_from = "none"
    elif carve:
        train_rows, val_rows = _subject_split(train_rows, config.protocol, config.val_size, config.seed + 1)
        validation_from = "train"
    else:
        val_rows = test_rows
        validation_from = "test"
    train = clips.subset(train_rows)
    test = (test_clips or clips).subset(test_rows)
    val = (test_clips or clips).subset(val_rows) if validation_from == "test" else clips.subset(val_rows)
    if len(train) == 0:
        raise DatasetLayoutError("the split left no training clips", clips.cache_dir)
    record = {
        "protocol": config.protocol,
        "seed": config.seed,
        "classes": list(clips.classes),
        "validation_from": validation_from,
        "train_cache": str(clips.cache_dir),
        "test_cache": str(test.cache_dir),
        "train_subjects": train.subjects,
        "val_subjects": val.subjects,
        "test_subjects": test.subjects,
        "counts": {
            name: {"clips": len(part), "per_class": _per_class(part)}
            for name, part in (("train", train), ("val", val), ("test", test))
        },
        "train_paths": list(train.rows["path"]),
        "val_paths": list(val.rows["path"]),
        "test_paths": list(test.rows["path"]),
        "dropped": clips.dropped,
    }
    return train, val, test, record


def _per_class(part: ClipSet) -> dict[str, int]:
    counts = part.rows["label"].value_counts()
    return {name: int(counts.get(name, 0)) for name in part.classes}


def _relative_to(path: str | Path, folder: str | Path) -> str | None:
    """``path`` relative to ``folder`` (both made absolute against the working directory); None if impossible."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()
    except ValueError:  # another drive (Windows)
        return None


def cache_record(run: str | Path, train_cache: str | Path, test_cache: str | Path) -> dict:
    """The cache entries of ``split.json``: each cache as given and relative to the run folder."""
    return {
        "train_cache": str(train_cache),
        "test_cache": str(test_cache),
        "train_cache_relative": _relative_to(train_cache, run),
        "test_cache_relative": _relative_to(test_cache, run),
    }


def recorded_cache(record: dict, key: str, run_dir: str | Path | None = None) -> Path:
    """The cache ``key`` (``train_cache`` / ``test_cache``) of a saved split.

    With ``run_dir``, the cache at the recorded place relative to the run folder wins when it
    holds a cache index (the run was moved or copied together with its caches); otherwise the
    path as recorded (older records hold only that).
    """
    relative = record.get(f"{key}_relative")
    if run_dir is not None and relative:
        candidate = Path(os.path.normpath(Path(run_dir) / relative))
        if (candidate / "index.csv").is_file():
            return candidate
    return Path(record[key])


def clips_from_record(
    record: dict, part: str, cache: str | Path | None = None, run_dir: str | Path | None = None
) -> ClipSet:
    """The ``part`` (``train``, ``val``, ``test``) clips of a saved split, from ``cache`` or the recorded one.

    ``run_dir`` (the folder of ``split.json``) lets a moved run find its caches (:func:`recorded_cache`).
    """
    key = "train_cache" if part == "train" or (part == "val" and record["validation_from"] == "train") else "test_cache"
    cache_dir = Path(cache) if cache else recorded_cache(record, key, run_dir)
    clips = select_clips(cache_dir, classes=record["classes"], min_valid_fraction=0.0)
    wanted = record[f"{part}_paths"]
    rows = clips.rows.set_index("path", drop=False)
    missing = [p for p in wanted if p not in rows.index]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} clip(s) of the {part} split are not in this cache, e.g. {missing[0]}; to score the run "
            "on every clip of another cache, use --split all",
            cache_dir,
        )
    return clips.subset(rows.loc[wanted].reset_index(drop=True))


# ---------------------------------------------------------------- model, optimiser, devices


def choose_strategy(distribute: str) -> tf.distribute.Strategy:
    """MirroredStrategy over several GPUs (or forced over logical CPUs); otherwise the default strategy."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if distribute == "mirrored" or (distribute == "auto" and len(gpus) > 1):
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


def learning_rate(config: TrainConfig, total_steps: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Paper 4.1: from ``learning_rate`` (0.01) to ``final_learning_rate`` (0.0001) over ``total_steps``."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, total_steps, alpha=config.final_learning_rate / config.learning_rate
        )
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, total_steps, config.final_learning_rate / config.learning_rate
    )


def make_optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    rate = learning_rate(config, total_steps)
    decay = config.weight_decay or None
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay) if decay else keras.optimizers.Adam(rate)
    return keras.optimizers.SGD(rate, momentum=config.momentum, weight_decay=decay)


def loss_weights(config: TrainConfig) -> dict[str, float]:
    """Eq. 8 weights of the model's outputs."""
    weights = {"fused": config.fused_weight, "global": config.lambda_global, "local": config.lambda_local}
    return {name: float(weights[name]) for name in model_outputs(config.model)}


def compile_model(model: keras.Model, config: TrainConfig, total_steps: int) -> keras.Model:
    """Compile with the eq. 8 loss (sparse categorical cross-entropy per output) and fused accuracy."""
    outputs = model_outputs(config.model)
    model.compile(
        optimizer=make_optimizer(config, total_steps),
        loss={name: keras.losses.SparseCategoricalCrossentropy() for name in outputs},
        loss_weights=loss_weights(config),
        metrics={"fused": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
    )
    return model


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Python, NumPy and TensorFlow seeds; deterministic TF ops (repeatable runs on the CPU)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        with contextlib.suppress(AttributeError, RuntimeError):
            tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Build layers under ``mixed_float16`` (GPU) / ``mixed_bfloat16`` (CPU) when ``mixed``; restore the policy after.

    Outputs stay ``float32`` (the models' softmax layers force it), as do the variables.
    """
    previous = keras.mixed_precision.global_policy().name
    if mixed:
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


# ---------------------------------------------------------------- callbacks


class BestCheckpoint(keras.callbacks.Callback):
    """Keep the best epoch's weights and stop early; the state survives an interruption.

    After every epoch, if ``monitor`` improved, the weights go to
    ``folder/best.weights.h5`` and ``folder/best.json`` records the epoch and value;
    training stops once ``patience`` epochs pass without improvement. Unlike Keras'
    ``EarlyStopping`` the counters are read back from disk, so a resumed run keeps them.
    """

    def __init__(self, folder: Path, monitor: str = "val_loss", patience: int = 10) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.patience = patience
        self.best = math.inf
        self.best_epoch = -1
        self.last_epoch = -1

    @property
    def weights_path(self) -> Path:
        return self.folder / "best.weights.h5"

    def on_train_begin(self, logs=None) -> None:
        state_path = self.folder / "best.json"
        if state_path.is_file() and self.weights_path.is_file():
            state = json.loads(state_path.read_text())
            self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.last_epoch = epoch
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) < self.best:
            self.best, self.best_epoch = float(value), epoch
            with atomic_path(self.weights_path, suffix=".weights.h5") as tmp:  # keras wants *.weights.h5
                self.model.save_weights(tmp)
            write_json(self.folder / "best.json", {"best": self.best, "best_epoch": epoch, "monitor": self.monitor})
        if self.patience and self.best_epoch >= 0 and epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every batch-normalisation layer of ``model``, including those inside CNN blocks."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def recalibrate_batchnorm(model: keras.Model, dataset: tf.data.Dataset, max_batches: int = 8) -> int:
    """Re-estimate the BN moving statistics as the plain average over ``max_batches`` batches ("precise BN").

    With momentum ``m`` the moving statistics forget slowly; on a small corpus (a few
    steps per epoch) they lag far behind the weights, and the network evaluates
    (``training=False``) on stale statistics. Setting the momentum of batch ``i`` to
    ``i / (i + 1)`` makes the moving values the exact mean of the batches seen, so
    validation, early stopping and the saved model use statistics of the current weights.
    Returns the number of batches used.
    """
    layers_ = batchnorm_layers(model)
    saved = [layer.momentum for layer in layers_]
    used = 0
    try:
        for used, batch in enumerate(dataset.take(max_batches)):
            for layer in layers_:
                layer.momentum = used / (used + 1)
            model(batch[0], training=True)
        used += 1
    finally:
        for layer, momentum in zip(layers_, saved, strict=True):
            layer.momentum = momentum
    return used


class PreciseBatchNorm(keras.callbacks.Callback):
    """Before each validation (and at the end of training), recalibrate BN statistics on training clips."""

    def __init__(self, dataset: tf.data.Dataset, max_batches: int = 8) -> None:
        super().__init__()
        self.dataset = dataset
        self.max_batches = max_batches

    def on_test_begin(self, logs=None) -> None:
        recalibrate_batchnorm(self.model, self.dataset, self.max_batches)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimiser's current learning rate to each epoch's logs (history ``learning_rate``)."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


# ---------------------------------------------------------------- train


def _placed(config: TrainConfig) -> dict:
    """``config`` with the caches as seen from the run folder (so a run moved with its caches compares equal)."""
    data = config.to_dict()
    data["cache"] = _relative_to(config.cache, config.out)
    if config.test_cache is not None:
        data["test_cache"] = _relative_to(config.test_cache, config.out)
    return data | {"out": None}


def same_run(saved: TrainConfig, config: TrainConfig) -> bool:
    """Whether ``config`` asks for the run ``saved`` describes.

    Every setting must match; the caches must be the same paths, or lie at the same place
    relative to the run folder (the run folder and its caches were moved or copied together).
    """
    if saved.to_dict() | {"out": config.out} == config.to_dict():
        return True
    return _placed(saved) == _placed(config)


def _check_existing(run: Path, config: TrainConfig) -> bool:
    """True when ``run`` already holds this finished run; error when it holds a different one."""
    config_path = run / "config.json"
    if not config_path.is_file():
        return False
    saved = read_json(config_path).get("train", {})
    if not same_run(TrainConfig.from_dict(saved), config):
        raise ModelFileError(
            "this run folder holds a run with a different configuration; choose another output folder or delete it",
            run,
        )
    return (run / "model.keras").is_file() and (run / "summary.json").is_file()


def train(
    config: TrainConfig,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> Path:
    """Train ``config.model`` on ``config.cache``; return the run folder (see the module docstring).

    Re-running an interrupted run resumes after its last finished epoch; re-running a
    finished run returns at once. Extra ``callbacks`` run after the kit's own.
    """
    run = Path(config.out)
    if _check_existing(run, config):
        return run
    run.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed, config.deterministic)

    clips = select_clips(config.cache, config.classes, config.min_valid_fraction)
    test_clips = (
        select_clips(config.test_cache, clips.classes, config.min_valid_fraction) if config.test_cache else None
    )
    split_path = run / "split.json"
    if split_path.is_file():
        record = read_json(split_path)
        test_cache = config.test_cache or config.cache
        val_cache = config.cache if record["validation_from"] == "train" else test_cache
        train_set, val_set = clips_from_record(record, "train", config.cache), clips_from_record(record, "val", val_cache)
    else:
        train_set, val_set, _, record = make_split(clips, config, test_clips)
    record.update(cache_record(run, config.cache, config.test_cache or config.cache))
    preset = get_preset(config.preset)
    _check_clip_size(train_set, preset, any_size=model_inputs(config.model) == ("landmarks",))
    write_json(
        run / "config.json",
        {
            "train": config.to_dict(),
            "classes": list(clips.classes),
            "clip_settings": _clip_settings(train_set),
            "clip_seconds": clip_seconds(train_set.paths),
            "fer_kit": __version__,
        },
    )
    write_json(split_path, record)

    inputs, outputs = model_inputs(config.model), model_outputs(config.model)
    weights = class_weights(train_set.labels, len(clips.classes)) if config.class_weights else None
    common = {"inputs": inputs, "outputs": outputs, "batch_size": config.batch_size, "seed": config.seed,
              "memory_limit_mb": config.memory_limit_mb, "workers": config.workers, "mode": config.pipeline}
    train_ds, info = make_dataset(
        train_set, training=True, augment=config.augment, flip=config.flip, rotations=config.rotations,
        weights=weights, **common,
    )
    val_ds = make_dataset(val_set, training=False, **common)[0] if len(val_set) else None
    total_steps = max(1, info.batches * config.epochs)

    strategy = choose_strategy(config.distribute)
    with strategy.scope(), precision_policy(config.mixed_precision):
        model = build_model(config.model, preset, len(clips.classes), head=config.head)
        compile_model(model, config, total_steps)

    keep_last = record["validation_from"] == "none"  # no held-out clips to choose an epoch by
    best = BestCheckpoint(
        run / "checkpoints", "val_loss" if val_ds is not None else "loss", 0 if keep_last else config.patience
    )
    calibration = train_ds if config.precise_bn else None  # precise BN sees training batches, as training did
    distributed = strategy.num_replicas_in_sync > 1
    kit_callbacks: list[keras.callbacks.Callback] = [
        LearningRateLogger(),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        best,
        keras.callbacks.BackupAndRestore(str(run / "backup")),
    ]
    if calibration is not None and val_ds is not None and not distributed:
        kit_callbacks.insert(0, PreciseBatchNorm(calibration, config.precise_bn))
    if config.tensorboard and _tensorboard_available():
        kit_callbacks.append(keras.callbacks.TensorBoard(str(run / "logs"), write_graph=False, profile_batch=0))
    started = time.perf_counter()
    fitted = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=[*kit_callbacks, *callbacks],
        shuffle=False,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    if best.weights_path.is_file() and not keep_last:
        model.load_weights(best.weights_path)
    if calibration is not None and val_ds is None and not distributed:
        recalibrate_batchnorm(model, calibration, config.precise_bn)
    save_model_atomic(model, run / "model.keras")
    history = read_history(run)
    write_json(run / "history.json", {column: history[column].tolist() for column in history.columns})
    epochs_now = len(fitted.history.get("loss", []))
    write_json(
        run / "summary.json",
        {
            "model": config.model,
            "preset": config.preset,
            "classes": list(clips.classes),
            "parameters": int(model.count_params()),
            "epochs_run": int(len(history)),
            "best_epoch": int(best.best_epoch),
            "best_" + best.monitor: None if not math.isfinite(best.best) else best.best,
            "stopped_early": bool(len(history) < config.epochs),
            "train_clips": len(train_set),
            "val_clips": len(val_set),
            "pipeline": info.mode,
            "devices": int(strategy.num_replicas_in_sync),
            "seconds_this_session": round(seconds, 2),
            "train_clips_per_s_this_session": round(epochs_now * len(train_set) / seconds, 2) if seconds else None,
        },
    )
    return run


def _tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _check_clip_size(clips: ClipSet, preset, any_size: bool = False) -> None:
    """The cache's clips have the preset's length and crop size (``any_size``: only the length counts)."""
    from fer_kit.training.data import clip_shape

    frames, size = clip_shape(clips.paths[0])
    if frames != preset.frames or (size != preset.size and not any_size):
        raise DatasetLayoutError(
            f"clips are {frames} frames of {size}x{size} but preset {preset.name!r} needs "
            f"{preset.frames} frames of {preset.size}x{preset.size}; preprocess with --preset {preset.name}",
            clips.cache_dir,
        )


def _clip_settings(clips: ClipSet) -> dict:
    """The preprocessing settings stored in the first clip (used by prediction to process videos alike)."""
    from fer_kit.clips.clip import Clip

    meta = Clip.load(clips.paths[0]).meta
    return meta.get("settings", meta) if isinstance(meta, dict) else {}


def clip_seconds(paths: Sequence[str], limit: int = 50) -> float | None:
    """Median time span of (up to ``limit``) clips, from the frame indices their preprocessing recorded."""
    spans = []
    for path in list(paths)[:limit]:
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
        except (OSError, ValueError, KeyError):
            continue
        indices, fps = header.get("meta", {}).get("frame_indices"), header.get("fps") or 0
        if indices and fps > 0:
            spans.append((max(indices) - min(indices) + 1) / fps)
    return round(float(np.median(spans)), 3) if spans else None
