"""The optimiser and the loss of eq. 8 (paper 3.2.3, 4.1): learning-rate schedules, loss weights, compiling a model."""

from __future__ import annotations

import keras

from fer_kit.model import model_outputs
from fer_kit.training.config import TrainConfig


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
    """Eq. 8 weights of the model's outputs; a single-output baseline has one loss, of weight 1."""
    outputs = model_outputs(config.model)
    if len(outputs) == 1:
        return {outputs[0]: 1.0}
    weights = {"fused": config.fused_weight, "global": config.lambda_global, "local": config.lambda_local}
    return {name: float(weights[name]) for name in outputs}


@keras.saving.register_keras_serializable(package="fer_kit")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Eq. 7's cross-entropy against smoothed targets: ``(1 - e) * onehot(y) + e / K`` (our option).

    ``e = label_smoothing`` moves that much of each label's probability mass evenly onto the
    ``K`` classes (Szegedy et al. 2016's label smoothing), so a model that already fits every
    training clip is no longer pushed to ever larger logits. Labels are integer classes, as for
    :class:`keras.losses.SparseCategoricalCrossentropy`; predictions are probabilities.
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_categorical_crossentropy",
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        ops = keras.ops
        classes = y_pred.shape[-1]
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        targets = ops.one_hot(labels, classes) * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        log_p = ops.log(ops.clip(ops.cast(y_pred, "float32"), keras.config.epsilon(), 1.0))
        return -ops.sum(targets * ops.reshape(log_p, (-1, classes)), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def output_loss(config: TrainConfig) -> keras.losses.Loss:
    """The cross-entropy of one output (eq. 7): plain, or against smoothed labels (``label_smoothing``).

    With ``mixup`` the targets are rows of class probabilities, so the loss is the categorical one.
    """
    if config.mixup:
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    if config.label_smoothing:
        return SmoothedSparseCategoricalCrossentropy(config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def compile_model(model: keras.Model, config: TrainConfig, total_steps: int) -> keras.Model:
    """Compile with the eq. 8 loss (cross-entropy per output, :func:`output_loss`) and fused accuracy."""
    outputs = model_outputs(config.model)
    accuracy = keras.metrics.CategoricalAccuracy if config.mixup else keras.metrics.SparseCategoricalAccuracy
    model.compile(
        optimizer=make_optimizer(config, total_steps),
        loss={name: output_loss(config) for name in outputs},
        loss_weights=loss_weights(config),
        metrics={"fused": [accuracy(name="accuracy")]},
    )
    return model
