"""The CNN block of MC-DCN (paper 3.2.2, Figure 5): a pre-activation residual 3D block.

The block keeps the shortcut clean and puts batch normalisation and ReLU *before*
each convolution (He et al. 2016, "Identity mappings in deep residual networks",
reference [30] of the paper)::

    y = Conv3D(ReLU(BN(Conv3D(ReLU(BN(x))))))        residual path, kernel 3 x 3 x 3, stride 1
    out = x + y                                      identity shortcut
    out = P(ReLU(BN(x))) + y                         when the width changes: P is a 1 x 1 x 1 projection

Batch normalisation is eq. 6 of the paper; the convolution is eq. 5. With the second
convolution's weights at zero the block is the identity, which is what makes deep
stacks easy to optimise.

A kernel of ``(1, 3, 3)`` turns the block into a per-frame 2D block with weights shared
over time; the frame-level ``cnn`` baseline of Table 3 is built that way.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    values = tuple(int(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"kernel_size needs 3 values (time, height, width), got {values}")
    return values  # type: ignore[return-value]


@keras.saving.register_keras_serializable(package="fer_kit")
class CNNBlock(layers.Layer):
    """Pre-activation residual block: BN -> ReLU -> Conv3D, twice, plus a shortcut (paper 3.2.2).

    Args:
        filters: output channels (the stage width).
        kernel_size: convolution kernel, ``3`` (= 3 x 3 x 3, the paper) or ``(1, 3, 3)`` (per frame).
        kernel_initializer: initialiser of the convolutions.
        momentum: batch-normalisation momentum of the moving statistics (0.9: they settle within the
            few hundred steps of a small corpus; Keras' default 0.99 needs thousands).

    Input and output are ``(batch, time, height, width, channels)``; only the channel
    count changes (to ``filters``). Serialisable: ``get_config`` lets a saved ``.keras``
    model reload.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int] = 3,
        kernel_initializer: str = "he_normal",
        momentum: float = 0.9,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size)
        self.kernel_initializer = kernel_initializer
        self.momentum = float(momentum)
        policy = self.dtype_policy  # sub-layers follow the block (mixed precision survives a reload)
        self.bn1 = layers.BatchNormalization(momentum=self.momentum, dtype=policy, name="bn1")
        self.conv1 = layers.Conv3D(
            self.filters, self.kernel_size, padding="same", use_bias=False,
            kernel_initializer=kernel_initializer, dtype=policy, name="conv1",
        )
        self.bn2 = layers.BatchNormalization(momentum=self.momentum, dtype=policy, name="bn2")
        self.conv2 = layers.Conv3D(
            self.filters, self.kernel_size, padding="same", kernel_initializer=kernel_initializer, dtype=policy,
            name="conv2",
        )
        self.projection: layers.Conv3D | None = None

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        if input_shape[-1] != self.filters:
            self.projection = layers.Conv3D(
                self.filters, 1, use_bias=False, kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy, name="projection",
            )
            self.projection.build(input_shape)
        inner = (*input_shape[:-1], self.filters)
        self.bn1.build(input_shape)
        self.conv1.build(input_shape)
        self.bn2.build(inner)
        self.conv2.build(inner)
        self.built = True

    def call(self, inputs, training=None):
        activated = keras.ops.relu(self.bn1(inputs, training=training))
        shortcut = inputs if self.projection is None else self.projection(activated)
        residual = self.conv1(activated)
        residual = self.conv2(keras.ops.relu(self.bn2(residual, training=training)))
        return shortcut + residual

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            kernel_initializer=self.kernel_initializer,
            momentum=self.momentum,
        )
        return config


@keras.saving.register_keras_serializable(package="fer_kit")
class FrameStandardization(layers.Layer):
    """Standardize every frame of a clip per channel over its pixels: ``(x - mean) / sqrt(var + epsilon)``.

    Input ``[batch, frames, height, width, channels]``; mean and variance are taken over
    height and width (axes 2, 3), in float32, with no learned scale or offset (the kit's
    choice for the face stream, :mod:`fer_kit.model.mcdcn`). Written with ``keras.ops``
    so it runs alike on TensorFlow, JAX and PyTorch (PyTorch's layer norm only normalises
    trailing axes).
    """

    def __init__(self, epsilon: float = 1e-4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=(2, 3), keepdims=True)
        variance = ops.var(x, axis=(2, 3), keepdims=True)
        return ops.cast((x - mean) * ops.rsqrt(variance + self.epsilon), self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="fer_kit")
class ClipStandardization(FrameStandardization):
    """Standardize a whole clip per channel: ``(x - r) / sqrt(var + epsilon)``, variance over frames, height, width.

    ``r`` is the clip's mean (``from_first_frame=False``) or its first frame
    (``from_first_frame=True``). Unlike :class:`FrameStandardization` it keeps how the frames
    differ from one another (the motion of a clip) and takes away the clip's overall level and
    contrast: for the local-map stream, how strong one person's folds and edges are in every
    frame, which is the face's, not the expression's. From the first frame, what stays the
    same from the first frame on (the person's own contours) is taken away too, and the stream
    sees the change since the clip began, the "trend of key parts" of the paper's abstract.
    The kit's option, ``local_standardization`` of :func:`fer_kit.model.mcdcn.build_mcdcn`.
    """

    def __init__(self, epsilon: float = 1e-4, from_first_frame: bool = False, **kwargs) -> None:
        super().__init__(epsilon=epsilon, **kwargs)
        self.from_first_frame = from_first_frame

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        variance = ops.var(x, axis=(1, 2, 3), keepdims=True)
        reference = x[:, :1] if self.from_first_frame else mean
        return ops.cast((x - reference) * ops.rsqrt(variance + self.epsilon), self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_first_frame": self.from_first_frame}
