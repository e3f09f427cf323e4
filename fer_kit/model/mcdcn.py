"""MC-DCN, the multi-features cooperative deep convolutional network (paper 3.2.1, Figures 3-4).

Two identical 3D convolutional streams see the two inputs of eq. 3, ``I = (X, X^)``:
the aligned face clip ``X`` (RGB) and the local-feature-map clip ``X^`` (one channel).
Each stream (``f`` and ``g`` of eq. 4) is::

    x / 255                                   inputs are raw 0..255 values; scaling lives in the model
    standardize each frame (face stream only) per colour channel: zero mean, unit variance
    stem Conv3D 3x3x3 (width[0])              the one convolution at full resolution (C3D's conv1)
    5 stages: MaxPool -> CNNBlock(width[i])   first pool 1x2x2, then 2x2x2 (paper 3.2.1)
    BN -> ReLU                                closes the last pre-activation block
    flatten                                   as the paper (global average pooling on request)
    FC (fc_units, ReLU) -> dropout -> FC (num_classes) = the stream's logits

The fusion ``h`` of eq. 4 is the element-wise average of the two streams' logits,
followed by the softmax of eq. 1. The model has three named outputs, ``fused``,
``global`` (face stream) and ``local`` (local-map stream), each a softmax, so the loss
of eq. 8 can weight them: ``CE(fused) + lambda1 * CE(global) + lambda2 * CE(local)``.

Our choices where the paper is silent:

* the face stream standardizes every frame per colour channel over its pixels (a
  :class:`~fer_kit.model.blocks.FrameStandardization` over height and width, without learned scale or
  offset). A change
  of exposure or colour cast within a clip then leaves the input unchanged, so the
  stream's early layers see the face's shape and its movement, not the lighting. On the
  synthetic Table-3 clips (``benchmarks/ablation.py``, ``lite``) the face stream's training
  loss reached 1.40 after 6 epochs instead of 13. The local-map stream is not standardized:
  its maps are drawn on a black canvas, and their brightness is the fold energy of paper 3.1.2;

* each stage pools *before* its CNN block, so the only full-resolution work is the
  stem convolution, as C3D's conv1/pool1. A block's two convolutions at full
  resolution would cost about five times as much (the ``paper`` preset: about 20
  instead of 105 G multiply-adds per stream and clip) for the same parameters;
* pooling uses ``same`` padding, so any clip size works (112 -> 56 -> 28 -> 14 -> 7 -> 4
  pixels and 16 -> 16 -> 8 -> 4 -> 2 -> 1 frames; the last block sees 1 x 4 x 4 x 512);
* every preset flattens the last map into the FC layer, as the paper: the aligned face
  puts the mouth, the brows and the eyes at fixed places, and flattening keeps *where* a
  feature fired (a raised mouth corner is not a raised brow). The paper preset's 4 x 4 x 512
  map into 4096 units is 33.6 M weights per stream; ``lite`` flattens 1 x 2 x 2 x 128 (131 k
  weights into 256 units), ``tiny`` 1 x 1 x 1 x 32. ``head="gap"`` (global average
  pooling) is there for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from fer_kit.model.blocks import ClipStandardization, CNNBlock, FrameStandardization
from fer_kit.presets import Preset, get_preset

FACES = "faces"
LOCAL_MAPS = "local_maps"
OUTPUT_NAMES = ("fused", "global", "local")
HEADS = ("flatten", "gap")


DEFAULT_HEAD = "flatten"
"""Every preset flattens before the FC layer, as the paper; ``gap`` (global average pooling) is the alternative."""


def clip_input(preset: Preset, name: str, channels: int) -> keras.KerasTensor:
    """A ``(frames, size, size, channels)`` input of raw 0..255 values."""
    return keras.Input((preset.frames, preset.size, preset.size, channels), name=name)


def conv_stream(
    inputs: keras.KerasTensor,
    preset: Preset,
    num_classes: int,
    name: str,
    head: str | None = None,
    kernel_size: int | Sequence[int] = 3,
    temporal_pooling: bool = True,
    per_frame: bool = False,
    standardize: bool | str = False,
) -> keras.KerasTensor:
    """One stream of paper Figure 4; returns its logits.

    ``temporal_pooling=False`` pools 1x2x2 at every stage (time is kept). ``per_frame=True``
    (with ``kernel_size=(1, 3, 3)`` and no temporal pooling) applies the head to every
    frame and returns ``(batch, frames, num_classes)`` logits: a frame-level 2D CNN.
    ``standardize``: ``True`` or ``"frame"`` standardizes every frame
    (:class:`~fer_kit.model.blocks.FrameStandardization`), ``"clip"`` the whole clip and
    ``"onset"`` the whole clip less its first frame
    (:class:`~fer_kit.model.blocks.ClipStandardization`), ``False`` none.
    """
    head = head or DEFAULT_HEAD
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    x = layers.Rescaling(1.0 / 255.0, name=f"{name}_scale")(inputs)
    if standardize not in (False, True, "frame", "clip", "onset"):
        raise ValueError(f"standardize must be False, True, 'frame', 'clip' or 'onset', got {standardize!r}")
    if standardize in ("clip", "onset"):
        x = ClipStandardization(epsilon=1e-4, from_first_frame=standardize == "onset", name=f"{name}_standardize")(x)
    elif standardize:
        x = FrameStandardization(epsilon=1e-4, name=f"{name}_standardize")(x)
    x = layers.Conv3D(
        preset.widths[0], kernel_size, padding="same", kernel_initializer="he_normal", name=f"{name}_stem"
    )(x)
    for stage, width in enumerate(preset.widths, start=1):
        pool = (2, 2, 2) if temporal_pooling and stage > 1 else (1, 2, 2)
        x = layers.MaxPooling3D(pool, padding="same", name=f"{name}_pool{stage}")(x)
        x = CNNBlock(width, kernel_size=kernel_size, name=f"{name}_block{stage}")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    frames, height, width, channels = x.shape[1:]
    if per_frame:
        if head == "gap":
            x = layers.AveragePooling3D((1, height, width), name=f"{name}_gap")(x)
            x = layers.Reshape((frames, channels), name=f"{name}_frames")(x)
        else:
            x = layers.Reshape((frames, height * width * channels), name=f"{name}_flatten")(x)
    else:
        x = layers.GlobalAveragePooling3D(name=f"{name}_gap")(x) if head == "gap" else layers.Flatten(
            name=f"{name}_flatten"
        )(x)
    x = layers.Dense(preset.fc_units, activation="relu", kernel_initializer="he_normal", name=f"{name}_fc")(x)
    if preset.dropout > 0:
        x = layers.Dropout(preset.dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, name=f"{name}_logits")(x)


def build_mcdcn(
    preset: str | Preset, num_classes: int, head: str | None = None, standardize_faces: bool | str = True,
    local_standardization: str | None = None,
) -> keras.Model:
    """The dual-stream MC-DCN (paper 3.2.1, eqs. 1, 3-4).

    Inputs ``faces`` ``(T, S, S, 3)`` and ``local_maps`` ``(T, S, S, 1)``, raw 0..255.
    Outputs (softmax probabilities): ``fused`` (eq. 1 on the averaged logits), ``global``
    (the face stream alone) and ``local`` (the local-map stream alone). ``standardize_faces=False``
    leaves out the per-frame standardization of the face clip (for comparison); ``"clip"`` and
    ``"onset"`` standardize the face clip as :func:`conv_stream` says (our option: ``"onset"``
    feeds the face stream the change since the first frame, so what stays the same, the person's
    own face, is gone before the first convolution);
    ``local_standardization`` (our option; ``None``, the default, feeds the maps as they are):
    ``"clip"`` standardizes each local-map clip as a whole, ``"onset"`` also subtracts its
    first frame, so the stream sees how the maps changed since the clip began
    (:class:`~fer_kit.model.blocks.ClipStandardization`).
    """
    preset = get_preset(preset)
    faces = clip_input(preset, FACES, 3)
    local_maps = clip_input(preset, LOCAL_MAPS, 1)
    global_logits = conv_stream(faces, preset, num_classes, "global", head=head, standardize=standardize_faces)
    local_logits = conv_stream(local_maps, preset, num_classes, "local", head=head,
                               standardize=local_standardization or False)
    fused_logits = layers.Average(name="fusion")([global_logits, local_logits])
    outputs = {
        "fused": layers.Activation("softmax", dtype="float32", name="fused")(fused_logits),
        "global": layers.Activation("softmax", dtype="float32", name="global")(global_logits),
        "local": layers.Activation("softmax", dtype="float32", name="local")(local_logits),
    }
    return keras.Model({FACES: faces, LOCAL_MAPS: local_maps}, outputs, name="mcdcn")
