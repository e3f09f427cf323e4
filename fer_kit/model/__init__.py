"""The networks of the kit: MC-DCN (paper 3.2) and the Table 3 baselines, by name and preset.

>>> from fer_kit.model import build_model
>>> model = build_model("mcdcn", "tiny", num_classes=7)   # inputs: faces, local_maps; outputs: fused, global, local

Every model takes raw 0..255 clips (scaling to [0, 1] is the model's first layer, and
face frames are then standardized per colour channel) and
returns a dict of softmax outputs; ``fused`` is always the prediction.
"""

from __future__ import annotations

import gc

import keras

from fer_kit.errors import UsageError
from fer_kit.model.baselines import build_c3d, build_cnn
from fer_kit.model.blocks import CNNBlock
from fer_kit.model.mcdcn import DEFAULT_HEAD, FACES, LOCAL_MAPS, OUTPUT_NAMES, build_mcdcn
from fer_kit.model.trajectory import LANDMARKS, build_trajectory_model
from fer_kit.presets import MODEL_KINDS, PRESETS, Preset, get_preset

_BUILDERS = {"mcdcn": build_mcdcn, "c3d": build_c3d, "cnn": build_cnn, "landmarks": build_trajectory_model}

__all__ = [
    "CNNBlock",
    "DEFAULT_HEAD",
    "FACES",
    "LANDMARKS",
    "LOCAL_MAPS",
    "MODEL_KINDS",
    "OUTPUT_NAMES",
    "build_c3d",
    "build_cnn",
    "build_mcdcn",
    "build_model",
    "build_trajectory_model",
    "count_parameters",
    "model_inputs",
    "model_outputs",
    "parameter_table",
]


def _check_kind(kind: str) -> str:
    if kind not in _BUILDERS:
        raise UsageError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    return kind


def build_model(
    kind: str, preset: str | Preset, num_classes: int, head: str | None = None,
    local_standardization: str | None = None, face_standardization: str = "frame",
) -> keras.Model:
    """Build model ``kind`` (``mcdcn``, ``c3d``, ``cnn`` or ``landmarks``) for ``preset`` with ``num_classes`` outputs.

    ``local_standardization`` (``None``, ``"clip"`` or ``"onset"``): how MC-DCN's local-map
    stream standardizes its clip (:func:`fer_kit.model.mcdcn.build_mcdcn`); the other models
    have no local-map stream and ignore it. ``face_standardization`` (``"frame"``, the default,
    ``"clip"`` or ``"onset"``): how the face stream of MC-DCN and C3D standardizes its clip (see
    :func:`fer_kit.model.mcdcn.conv_stream`); the frame CNN always standardizes each frame and the
    landmark network has no face stream.
    """
    preset = get_preset(preset)
    if num_classes < 2:
        raise UsageError(f"num_classes must be at least 2, got {num_classes}")
    options: dict[str, object] = {}
    if kind == "mcdcn":
        options["local_standardization"] = local_standardization
    if kind in ("mcdcn", "c3d"):
        options["standardize_faces"] = face_standardization
    return _BUILDERS[_check_kind(kind)](preset, num_classes, head=head, **options)


def model_inputs(kind: str) -> tuple[str, ...]:
    """Names of the inputs model ``kind`` reads: both clips for MC-DCN, the landmarks for ``landmarks``,
    the face clip otherwise."""
    kind = _check_kind(kind)
    return {"mcdcn": (FACES, LOCAL_MAPS), "landmarks": (LANDMARKS,)}.get(kind, (FACES,))


def model_outputs(kind: str) -> tuple[str, ...]:
    """Names of the outputs of model ``kind`` (``fused`` first)."""
    return OUTPUT_NAMES if _check_kind(kind) == "mcdcn" else ("fused",)


def count_parameters(kind: str, preset: str | Preset, num_classes: int = 7) -> dict[str, int]:
    """``{"total", "trainable"}`` parameter counts of a freshly built model."""
    model = build_model(kind, preset, num_classes)
    trainable = int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))
    total = int(model.count_params())
    del model
    gc.collect()  # the paper preset's weights are half a gigabyte
    return {"total": total, "trainable": trainable}


def parameter_table(
    presets: tuple[str, ...] = tuple(PRESETS), kinds: tuple[str, ...] = MODEL_KINDS, num_classes: int = 7
) -> list[dict]:
    """One row per (preset, kind): parameter counts plus the preset's sizes and head."""
    rows = []
    for name in presets:
        preset = get_preset(name)
        for kind in kinds:
            counts = count_parameters(kind, preset, num_classes)
            rows.append(
                {
                    "preset": name,
                    "model": kind,
                    **_sizes(kind, preset),
                    **counts,
                }
            )
    return rows


def _sizes(kind: str, preset: Preset) -> dict:
    """The input and layer sizes of model ``kind`` for the parameter table."""
    if kind == "landmarks":
        return {"input": f"{preset.frames}x68x2 landmarks", "widths": "-", "fc_units": None, "head": "max over time"}
    return {
        "input": f"{preset.frames}x{preset.size}x{preset.size}",
        "widths": "-".join(str(w) for w in preset.widths),
        "fc_units": preset.fc_units,
        "head": DEFAULT_HEAD,
    }
