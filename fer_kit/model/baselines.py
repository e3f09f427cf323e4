"""The baselines of paper Table 3, built from the same stream code as MC-DCN.

* ``c3d``: one 3D stream (paper 3.2.1 without the local-map stream) on the face clip;
  the C3D row of Table 3.
* ``cnn``: a frame-level 2D CNN. Every convolution has a ``1 x 3 x 3`` kernel and every
  pool is ``1 x 2 x 2`` (time is never pooled), so each frame is processed on its own with weights shared over
  time (the same as a ``TimeDistributed`` 2D CNN); each frame gets its own softmax and
  the clip prediction is the average of the frames' probabilities. The CNN row of Table 3.

Both have a single output named ``fused`` so that training, evaluation and prediction
treat every model the same way.
"""

from __future__ import annotations

import keras
from keras import layers

from fer_kit.model.mcdcn import FACES, clip_input, conv_stream
from fer_kit.presets import Preset, get_preset


def build_c3d(
    preset: str | Preset, num_classes: int, head: str | None = None, standardize_faces: bool | str = True
) -> keras.Model:
    """Single-stream 3D CNN on the face clip (Table 3 "C3D"); face frames standardized as in MC-DCN.

    ``standardize_faces``: as :func:`fer_kit.model.mcdcn.build_mcdcn`'s.
    """
    preset = get_preset(preset)
    faces = clip_input(preset, FACES, 3)
    logits = conv_stream(faces, preset, num_classes, "global", head=head, standardize=standardize_faces)
    fused = layers.Activation("softmax", dtype="float32", name="fused")(logits)
    return keras.Model({FACES: faces}, {"fused": fused}, name="c3d")


def build_cnn(
    preset: str | Preset, num_classes: int, head: str | None = None, standardize_faces: bool = True
) -> keras.Model:
    """Frame-level 2D CNN; clip probabilities = mean of per-frame softmax (Table 3 "CNN")."""
    preset = get_preset(preset)
    faces = clip_input(preset, FACES, 3)
    frame_logits = conv_stream(
        faces, preset, num_classes, "frame", head=head, kernel_size=(1, 3, 3), temporal_pooling=False,
        per_frame=True,
        standardize=standardize_faces,
    )
    frame_probabilities = layers.Activation("softmax", dtype="float32", name="frame_softmax")(frame_logits)
    fused = layers.GlobalAveragePooling1D(dtype="float32", name="fused")(frame_probabilities)
    return keras.Model({FACES: faces}, {"fused": fused}, name="cnn")
