"""Training callbacks: best-epoch checkpoint with resumable early stopping, precise BatchNorm statistics, the learning rate in the history."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras

from fer_kit.atomic import atomic_path
from fer_kit.training.runfolder import write_json


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


def recalibrate_batchnorm(model: keras.Model, dataset: Any, max_batches: int = 8) -> int:
    """Re-estimate the BN moving statistics as the plain average over ``max_batches`` batches ("precise BN").

    With momentum ``m`` the moving statistics forget slowly; on a small corpus (a few
    steps per epoch) they lag far behind the weights, and the network evaluates
    (``training=False``) on stale statistics. Setting the momentum of batch ``i`` to
    ``i / (i + 1)`` makes the moving values the exact mean of the batches seen, so
    validation, early stopping and the saved model use statistics of the current weights.
    ``dataset``: a ``tf.data.Dataset`` or a :class:`~fer_kit.training.feed.ClipFeed` (both ``take``).
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

    def __init__(self, dataset: Any, max_batches: int = 8) -> None:
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
