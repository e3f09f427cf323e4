"""Where and how a run computes: the distribution strategy, mixed precision, seeds (GPU-ready, repeatable on the CPU)."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf


def choose_strategy(distribute: str) -> tf.distribute.Strategy:
    """MirroredStrategy over several GPUs (or forced over logical CPUs); otherwise the default strategy."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if distribute == "mirrored" or (distribute == "auto" and len(gpus) > 1):
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


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
