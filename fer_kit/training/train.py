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
(Adam, 1e-3 to 1e-5 along a cosine, starting from the weights the kit ships,
:mod:`fer_kit.model.pretrained`). Early stopping watches the validation loss (the
best epoch's weights are kept), every epoch is backed up so an interrupted run resumes
where it stopped, and a fixed seed repeats a run on the CPU. ``init`` starts the weights
from the shipped ones or another run where layers match (:mod:`fer_kit.training.transfer`:
pretraining, then fine-tuning).

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
    RUN/summary.json     best epoch, time, clips/s, parameter count, the layers ``init`` filled
    RUN/logs/            TensorBoard logs
    RUN/checkpoints/     best weights so far + early-stopping state
    RUN/backup/          the last epoch's state while training (removed when done)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from fer_kit import __version__
from fer_kit.clips.clip import read_npz
from fer_kit.errors import DatasetLayoutError
from fer_kit.model import build_model, model_inputs, model_outputs
from fer_kit.presets import get_preset
from fer_kit.training.callbacks import BestCheckpoint, LearningRateLogger, PreciseBatchNorm, recalibrate_batchnorm
from fer_kit.training.clipset import ClipSet, PipelineInfo, class_weights, select_clips
from fer_kit.training.config import TrainConfig
from fer_kit.training.devices import choose_strategy, precision_policy, seed_everything
from fer_kit.training.multiworker import finish, worker_folder
from fer_kit.training.optim import compile_model
from fer_kit.training.runfolder import (
    _check_existing,
    cache_record,
    clips_from_record,
    read_history,
    read_json,
    save_model_atomic,
    write_json,
)
from fer_kit.training.split import make_split
from fer_kit.training.transfer import init_source, transfer_weights

if TYPE_CHECKING:
    import pandas as pd


def train(
    config: TrainConfig,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> Path:
    """Train ``config.model`` on ``config.cache``; return the run folder (see the module docstring).

    Re-running an interrupted run resumes after its last finished epoch; re-running a
    finished run returns at once. Extra ``callbacks`` run after the kit's own. Across machines
    (``distribute="multiworker"``) only the chief writes the run folder
    (:mod:`fer_kit.training.multiworker`); every worker returns it once it is complete.
    """
    if config.members > 1:
        from fer_kit.training.ensemble import train_members

        return train_members(config, callbacks, verbose)
    strategy = choose_strategy(config.distribute)  # first: a multi-worker strategy precedes every TF op
    chief_run = Path(config.out)
    if _check_existing(chief_run, config):
        return chief_run
    run = worker_folder(chief_run, strategy)  # chief_run, except on a worker that is not the chief
    run.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed, config.deterministic)

    clips, train_set, val_set, record = _split_clips(run, config)
    preset = get_preset(config.preset)
    _check_clip_size(train_set, preset, any_size=model_inputs(config.model) == ("landmarks",))
    _write_run_record(run, config, clips.classes, train_set, record)
    train_ds, val_ds, calibration, info = _datasets(config, len(clips.classes), train_set, val_set)

    with strategy.scope(), precision_policy(config.mixed_precision):
        model = build_model(config.model, preset, len(clips.classes), head=config.head,
                            local_standardization=config.local_standardization,
                            face_standardization=config.face_standardization)
        transferred = _initial_weights(model, config, clips.classes)
        compile_model(model, config, max(1, info.batches * config.epochs))

    keep_last = record["validation_from"] == "none"  # no held-out clips to choose an epoch by
    best = BestCheckpoint(
        run / "checkpoints", "val_loss" if val_ds is not None else "loss", 0 if keep_last else config.patience
    )
    # precise BN sees training batches, as training did (not under a distribution strategy)
    precise_bn = bool(config.precise_bn) and strategy.num_replicas_in_sync == 1
    kit_callbacks = _kit_callbacks(run, config, best, calibration if precise_bn and val_ds is not None else None)
    session = _fit(model, train_ds, val_ds, config, [*kit_callbacks, *callbacks], verbose, len(train_set))
    _final_weights(model, best, keep_last, calibration if precise_bn and val_ds is None else None, config.precise_bn)
    save_model_atomic(model, run / "model.keras")
    history = _write_history(run)
    facts = {"train_clips": len(train_set), "val_clips": len(val_set), "pipeline": info.mode,
             "devices": int(strategy.num_replicas_in_sync), **session, "init": transferred}
    write_json(run / "summary.json", _summary(config, clips.classes, model, best, history, facts))
    return finish(chief_run, run, strategy)


def _initial_weights(model: keras.Model, config: TrainConfig, classes: Sequence[str]) -> dict | None:
    """Start ``model`` from ``config.init`` (:func:`~fer_kit.training.transfer.init_source`); the report, or ``None``."""
    build = {"head": config.head, "face_standardization": config.face_standardization,
             "local_standardization": config.local_standardization}
    source, source_classes, described = init_source(config.init, config.model, config.preset, build)
    if source is None:
        return None
    report = transfer_weights(model, source, classes=classes, source_classes=source_classes)
    report.source = described
    return report.to_dict()


def _split_clips(run: Path, config: TrainConfig) -> tuple[ClipSet, ClipSet, ClipSet, dict]:
    """The selected clips, the training and validation sets and the split record (``split.json``'s content).

    A resumed run reads its split back from ``RUN/split.json``; a new run draws it (:func:`make_split`).
    The record also gets the caches' locations (:func:`cache_record`).
    """
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
    return clips, train_set, val_set, record


def _write_run_record(run: Path, config: TrainConfig, classes: Sequence[str], train_set: ClipSet, record: dict) -> None:
    """``RUN/config.json`` (the config, classes and clip settings) and ``RUN/split.json`` (``record``)."""
    write_json(
        run / "config.json",
        {
            "train": config.to_dict(),
            "classes": list(classes),
            "clip_settings": _clip_settings(train_set),
            "clip_seconds": clip_seconds(train_set.paths),
            "fer_kit": __version__,
        },
    )
    write_json(run / "split.json", record)


def _datasets(
    config: TrainConfig, num_classes: int, train_set: ClipSet, val_set: ClipSet
) -> tuple[Any, Any | None, Any, PipelineInfo]:
    """``(train, validation, calibration, info)``: the model's input batches (:func:`_input_pipeline`).

    The training input is shuffled, augmented and class-weighted as ``config`` says; the validation
    input is ``None`` when there are no validation clips; ``info`` describes the training input.
    ``calibration`` is what re-estimates the batch-norm statistics (``config.precise_bn``): the
    training input, except that mixup's blended clips are not clips a test meets, so with
    ``config.mixup`` it is the same input unblended.
    """
    inputs, outputs = model_inputs(config.model), model_outputs(config.model)
    weights = class_weights(train_set.labels, num_classes) if config.class_weights else None
    common = {"inputs": inputs, "outputs": outputs, "batch_size": config.batch_size, "seed": config.seed,
              "memory_limit_mb": config.memory_limit_mb, "workers": config.workers, "mode": config.pipeline}
    if config.mixup:
        common["num_classes"] = num_classes  # mixed targets are one-hot rows, in validation too
    make_input = _input_pipeline()
    train_ds, info = make_input(
        train_set, training=True, augment=config.augment, flip=config.flip, rotations=config.rotations,
        zoom=config.zoom, shift=config.shift, mixup=config.mixup, weights=weights, **common,
    )
    val_ds = make_input(val_set, training=False, **common)[0] if len(val_set) else None
    calibration = train_ds
    if config.mixup and config.precise_bn:
        calibration = make_input(
            train_set, training=True, augment=config.augment, flip=config.flip, rotations=config.rotations,
            zoom=config.zoom, shift=config.shift, weights=weights, **common,
        )[0]
    return train_ds, val_ds, calibration, info


def _kit_callbacks(
    run: Path, config: TrainConfig, best: BestCheckpoint, calibration: Any | None
) -> list[keras.callbacks.Callback]:
    """The kit's callbacks: learning-rate log, ``history.csv``, ``best``, backup, TensorBoard (``config.tensorboard``).

    With ``calibration`` (training batches) :class:`PreciseBatchNorm` comes first: it recalibrates BN before validating.
    """
    kit_callbacks: list[keras.callbacks.Callback] = [
        LearningRateLogger(),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        best,
        keras.callbacks.BackupAndRestore(str(run / "backup")),
    ]
    if calibration is not None:
        kit_callbacks.insert(0, PreciseBatchNorm(calibration, config.precise_bn))
    if config.tensorboard and _tensorboard_available():
        kit_callbacks.append(keras.callbacks.TensorBoard(str(run / "logs"), write_graph=False, profile_batch=0))
    return kit_callbacks


def _fit(
    model: keras.Model,
    train_ds: Any,
    val_ds: Any | None,
    config: TrainConfig,
    callbacks: list[keras.callbacks.Callback],
    verbose: int | str,
    train_clips: int,
) -> dict:
    """Fit ``model`` for ``config.epochs``; returns this session's time and speed (for ``summary.json``)."""
    started = time.perf_counter()
    fitted = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    epochs_now = len(fitted.history.get("loss", []))
    return {
        "seconds_this_session": round(seconds, 2),
        "train_clips_per_s_this_session": round(epochs_now * train_clips / seconds, 2) if seconds else None,
    }


def _final_weights(
    model: keras.Model, best: BestCheckpoint, keep_last: bool, calibration: Any | None, batches: int
) -> None:
    """Give ``model`` the best epoch's weights (the last epoch's with ``keep_last``).

    With ``calibration`` (training batches) the BN statistics are then recomputed from ``batches`` of them.
    """
    if best.weights_path.is_file() and not keep_last:
        model.load_weights(best.weights_path)
    if calibration is not None:
        recalibrate_batchnorm(model, calibration, batches)


def _write_history(run: Path) -> pd.DataFrame:
    """``RUN/history.json``: ``history.csv`` as one list per column; returns the history."""
    history = read_history(run)
    write_json(run / "history.json", {column: history[column].tolist() for column in history.columns})
    return history


def model_facts(config: TrainConfig, classes: Sequence[str], model: keras.Model, history: pd.DataFrame) -> dict:
    """The head of every ``summary.json`` (one run's or an ensemble's): model, preset, classes, size, epochs run."""
    return {
        "model": config.model,
        "preset": config.preset,
        "classes": list(classes),
        "parameters": int(model.count_params()),
        "epochs_run": int(len(history)),
    }


def _summary(
    config: TrainConfig,
    classes: Sequence[str],
    model: keras.Model,
    best: BestCheckpoint,
    history: pd.DataFrame,
    facts: dict,
) -> dict:
    """``summary.json``: the model, its size and how training ended, then ``facts`` (clips, devices, time, ``init``)."""
    return {
        **model_facts(config, classes, model, history),
        "best_epoch": int(best.best_epoch),
        "best_" + best.monitor: None if not math.isfinite(best.best) else best.best,
        "stopped_early": bool(len(history) < config.epochs),
        **facts,
    }


def _input_pipeline():
    """``tf.data`` on TensorFlow (:func:`~fer_kit.training.data.make_dataset`), a ``PyDataset`` on JAX and PyTorch."""
    if keras.config.backend() == "tensorflow":
        from fer_kit.training.data import make_dataset

        return make_dataset
    from fer_kit.training.feed import make_feed

    return make_feed


def _tensorboard_available() -> bool:
    """TensorBoard logs need the ``tensorboard`` package and TensorFlow's summary writer."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorflow"))


def _check_clip_size(clips: ClipSet, preset, any_size: bool = False) -> None:
    """The cache's clips have the preset's length and crop size (``any_size``: only the length counts)."""
    from fer_kit.training.clipset import clip_shape

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
            header = json.loads(str(read_npz(path, ("header",))["header"]))
        except (OSError, ValueError, KeyError):
            continue
        indices, fps = header.get("meta", {}).get("frame_indices"), header.get("fps") or 0
        if indices and fps > 0:
            spans.append((max(indices) - min(indices) + 1) / fps)
    return round(float(np.median(spans)), 3) if spans else None
