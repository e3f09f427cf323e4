"""Where and how a run computes, on any Keras 3 backend: devices, data parallelism, mixed precision, seeds.

TensorFlow (the default backend) distributes with ``tf.distribute.MirroredStrategy``; JAX and
PyTorch with ``keras.distribution.DataParallel``; across machines (TensorFlow only) with
``tf.distribute.MultiWorkerMirroredStrategy`` (:mod:`fer_kit.training.multiworker`).
:func:`choose_strategy` hands back an object with ``scope()`` and ``num_replicas_in_sync``
either way, so the fit loop does not care which. Mixed precision is ``mixed_bfloat16`` on
a CPU and on recent GPUs under JAX and PyTorch, ``mixed_float16`` on TensorFlow GPUs (loss
scaling comes with it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import keras

from fer_kit.errors import UsageError


def backend() -> str:
    """The Keras backend in use: ``tensorflow``, ``jax`` or ``torch``."""
    return keras.config.backend()


def accelerators() -> list[str]:
    """Names of the GPUs (or TPUs) the backend sees; empty on a CPU-only machine."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if name == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return []


@dataclass
class DataParallelScope:
    """The JAX / PyTorch counterpart of a ``tf.distribute`` strategy: ``scope()`` and ``num_replicas_in_sync``."""

    num_replicas_in_sync: int = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def choose_strategy(distribute: str) -> Any:
    """Data parallelism over several GPUs (``auto``: when more than one is visible; ``mirrored``: always).

    TensorFlow: ``MirroredStrategy`` (over the logical CPUs when there is no GPU). JAX and
    PyTorch: ``keras.distribution.DataParallel`` over the accelerators, set globally
    (the batch is split across them); otherwise one device. ``multiworker``: TensorFlow's
    ``MultiWorkerMirroredStrategy`` over the machines in ``TF_CONFIG``
    (:mod:`fer_kit.training.multiworker`); call it before any other TensorFlow op.
    """
    if distribute == "multiworker":
        if backend() != "tensorflow":
            raise UsageError(
                f"--distribute multiworker is TensorFlow-only (tf.distribute.MultiWorkerMirroredStrategy); the "
                f"{backend()} backend distributes over the GPUs of one machine with --distribute mirrored"
            )
        from fer_kit.training.multiworker import multiworker_strategy

        return multiworker_strategy()
    gpus = accelerators()
    wanted = distribute == "mirrored" or (distribute == "auto" and len(gpus) > 1)
    if backend() == "tensorflow":
        import tensorflow as tf

        if wanted:
            if gpus:
                return tf.distribute.MirroredStrategy(gpus)
            cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
            return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
        return tf.distribute.get_strategy()
    if wanted and len(gpus) > 1:
        devices = keras.distribution.list_devices("gpu")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return DataParallelScope(len(devices))
    return DataParallelScope(1)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Python, NumPy and backend seeds; on TensorFlow also deterministic ops (repeatable runs on the CPU)."""
    keras.utils.set_random_seed(seed)
    if deterministic and backend() == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(AttributeError, RuntimeError):
            tf.config.experimental.enable_op_determinism()


def mixed_policy() -> str:
    """``mixed_float16`` for a TensorFlow GPU, else ``mixed_bfloat16`` (CPUs, and GPUs under JAX or PyTorch)."""
    return "mixed_float16" if backend() == "tensorflow" and accelerators() else "mixed_bfloat16"


@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Build layers under :func:`mixed_policy` when ``mixed``; restore the policy after.

    Outputs stay ``float32`` (the models' softmax layers force it), as do the variables.
    """
    previous = keras.mixed_precision.global_policy().name
    if mixed:
        keras.mixed_precision.set_global_policy(mixed_policy())
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
