"""Gradient flow through deep stacks of 3D blocks, with and without shortcuts (paper 3.2.2, Figure 5).

Paper 3.2.2 motivates the CNN block by the clean shortcut path: with ``out = x + F(x)``
the gradient of the loss reaches ``x`` as ``dL/dx = dL/dout * (1 + dF/dx)``, so it
passes every block at least unchanged, whatever the residual path does. Without the
shortcut it is multiplied by ``dF/dx`` block after block and can shrink or blow up
geometrically with depth.

:func:`gradient_flow` measures this at initialisation. It stacks ``depth`` blocks of
one kind on a small random clip, puts global average pooling and a softmax classifier
on top, computes the cross-entropy against random labels, and returns the norm of the
gradient with respect to each block's input (``||dL/dx_k||``, block 1 = closest to
the input). Three kinds of block:

- ``plain``: Conv3D -> BN -> ReLU, twice, no shortcut (the convolution block of
  eqs. 5-6 as in C3D);
- ``preact``: BN -> ReLU -> Conv3D, twice, no shortcut (the CNN block's residual
  path alone);
- ``residual``: the CNN block of :class:`fer_kit.model.CNNBlock` (pre-activation +
  identity shortcut).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_KINDS: tuple[str, ...] = ("plain", "preact", "residual")


@dataclass
class GradientFlow:
    """Per-block gradient norms of one stack: ``norms[k]`` = ``||dL/dx||`` at the input of block ``k + 1``."""

    kind: str
    depth: int
    norms: np.ndarray

    @property
    def ratio(self) -> float:
        """First block's gradient norm over the last block's: about 1 = the gradient reaches the input intact."""
        return float(self.norms[0] / max(self.norms[-1], 1e-30))


def _block(kind: str, width: int, index: int):
    """One block of ``kind`` as a Keras layer (a small functional sub-model for the plain kinds)."""
    import keras
    from keras import layers

    from fer_kit.model import CNNBlock

    if kind == "residual":
        return CNNBlock(width, name=f"block{index}")
    if kind not in BLOCK_KINDS:
        raise ValueError(f"unknown block kind {kind!r}; choose one of {', '.join(BLOCK_KINDS)}")
    x_in = keras.Input((None, None, None, width))
    x = x_in
    for j in (1, 2):
        conv = layers.Conv3D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                             name=f"b{index}_conv{j}")
        bn = layers.BatchNormalization(name=f"b{index}_bn{j}")
        x = layers.ReLU()(bn(conv(x))) if kind == "plain" else conv(layers.ReLU()(bn(x)))
    return keras.Model(x_in, x, name=f"block{index}")


def gradient_flow(
    kind: str,
    depth: int = 20,
    width: int = 8,
    frames: int = 4,
    size: int = 16,
    batch: int = 4,
    num_classes: int = 7,
    seed: int = 0,
) -> GradientFlow:
    """Gradient norm at the input of each of ``depth`` stacked blocks of ``kind`` (see module doc).

    Batch normalisation runs in training mode (batch statistics), as during training.
    """
    import keras
    import tensorflow as tf
    from keras import layers

    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    keras.utils.set_random_seed(seed)
    blocks = [_block(kind, width, k + 1) for k in range(depth)]
    head = layers.Dense(num_classes)
    rng = np.random.default_rng(seed)
    clip = tf.constant(rng.standard_normal((batch, frames, size, size, width)).astype("float32"))
    labels = tf.constant(rng.integers(0, num_classes, batch))
    inputs: list[tf.Tensor] = []
    with tf.GradientTape() as tape:
        x = clip
        for block in blocks:
            tape.watch(x)
            inputs.append(x)
            x = block(x, training=True)
        logits = head(tf.reduce_mean(x, axis=(1, 2, 3)))
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    grads = tape.gradient(loss, inputs)
    norms = np.array([float(tf.norm(g)) for g in grads], dtype=np.float64)
    return GradientFlow(kind, depth, norms)
