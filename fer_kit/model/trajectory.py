"""A landmark-trajectory model: what geometry alone tells (the fourth row of our Table 3).

MC-DCN's local-map stream sees the landmarks drawn as a contour (paper 3.1.2). This
model sees the same 68 ERT landmarks of every frame as numbers, so comparing it with
the 3D CNNs on the same clips shows what the pixels add to the geometry. It is our own
baseline (the paper has none like it); published geometry-only models on CK+ (e.g. the
DTGN branch of DTAGN, Jung et al. 2015) are of this kind.

Features (:func:`trajectory_features`, computed inside the model, so a saved model takes
the landmarks as they are cached, in crop pixels)::

    centre_t = mean of the 68 points of frame t
    iod_t    = distance between the two eye centres (points 36-41 and 42-47) of frame t
    shape_t  = (p_t - centre_t) / iod_t                   where the face parts are, in eye distances
    motion_t = shape_t - shape_0                          how far each point moved since the first frame
    x_t      = [shape_t, motion_t]                        272 numbers per frame (136 of shape, then 136 of motion)

Network: a dense layer shared by the frames (128 units, ReLU), a temporal convolution
(kernel 3, 128 units, ReLU), global max pooling over time (the apex wherever it is),
dropout and a softmax: 85 k parameters for seven classes. It reads ``landmarks`` ``(T, 68, 2)`` and
returns the single output ``fused`` like the other baselines.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fer_kit.presets import Preset, get_preset

LANDMARKS = "landmarks"
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
UNITS = 128


def trajectory_features(landmarks):
    """``[..., T, 68, 2]`` landmarks (any scale) -> ``[..., T, 272]`` normalised shape and motion (module doc).

    Written with ``keras.ops``: it runs on NumPy arrays (for scikit-learn baselines) and
    inside a model alike.
    """
    points = ops.convert_to_tensor(landmarks, dtype="float32")
    centre = ops.mean(points, axis=-2, keepdims=True)
    left = ops.mean(points[..., LEFT_EYE, :], axis=-2)
    right = ops.mean(points[..., RIGHT_EYE, :], axis=-2)
    iod = ops.sqrt(ops.sum(ops.square(right - left), axis=-1))
    iod = ops.maximum(iod, 1e-3)[..., None, None]
    shape = (points - centre) / iod
    motion = shape - shape[..., :1, :, :]
    flat = (*ops.shape(shape)[:-2], 68 * 2)
    return ops.concatenate([ops.reshape(shape, flat), ops.reshape(motion, flat)], axis=-1)


@keras.saving.register_keras_serializable(package="fer_kit")
class TrajectoryFeatures(layers.Layer):
    """:func:`trajectory_features` as a layer (no weights)."""

    def call(self, inputs):
        return trajectory_features(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-2], 68 * 4)


def build_trajectory_model(
    preset: str | Preset, num_classes: int, head: str | None = None, standardize_faces: bool = True
) -> keras.Model:
    """The landmark-trajectory classifier for clips of ``preset.frames`` frames (module doc).

    ``head`` and ``standardize_faces`` are accepted for a uniform builder signature and unused.
    """
    preset = get_preset(preset)
    del head, standardize_faces
    landmarks = keras.Input((preset.frames, 68, 2), name=LANDMARKS)
    x = TrajectoryFeatures(name="trajectory_features")(landmarks)
    x = layers.Dense(UNITS, activation="relu", kernel_initializer="he_normal", name="frame_dense")(x)
    x = layers.Conv1D(UNITS, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                      name="temporal_conv")(x)
    x = layers.GlobalMaxPooling1D(name="apex_pool")(x)
    x = layers.Dropout(max(preset.dropout, 0.3), name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    fused = layers.Activation("softmax", dtype="float32", name="fused")(logits)
    return keras.Model({LANDMARKS: landmarks}, {"fused": fused}, name="landmarks")
