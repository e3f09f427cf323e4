"""fer-kit: video facial expression recognition with MC-DCN (Wu et al. 2021), as a course.

The verbs a student calls, in the order of the paper's pipeline::

    import fer_kit as fk
    points = fk.face_landmarks(image)             # 68 ERT landmarks (paper 3.1, eq. 2)
    parts = fk.named_landmarks(points)            # {"left_eye": ..., "outer_lips": ..., ...}
    face = fk.align_face(image, points, 112)      # eyes levelled (3.2.1)
    local = fk.local_feature_map(face.image, face.landmarks)   # the second stream's input (Table 2)
    clip = fk.preprocess_video("video.mp4")       # 16 aligned faces + local maps (4.2)
    model = fk.build_model("mcdcn", "tiny", 7)    # the dual-stream network (3.2)
    fk.show_images([face.image, local], ["face", "local map"])

and ``train`` / ``TrainConfig``, ``evaluate_run``, ``predict_video``, ``explore`` (the
landmark widget), ``read_video``, ``sample_frame_indices``, ``detect_faces``,
``attention_map``, ``load_run``. They are imported on first use, so ``import fer_kit``
stays light (no TensorFlow, no dlib). The packages below hold the rest; see the README's
"How the kit is built".
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

CPU_ENVIRONMENT: dict[str, str] = {"TF_ENABLE_ONEDNN_OPTS": "1"}
"""Environment the kit's processes (CLI, notebook kernels, graded notebooks) start TensorFlow with.

TensorFlow turns its oneDNN CPU kernels on by itself only on some Intel CPUs; elsewhere (AMD EPYC,
for one) the 3D convolutions of MC-DCN fall back to its generic kernels. Measured on a 2-core AMD
EPYC with ``benchmarks/gpu.py --preset lite --backend tensorflow`` (batch 8): 4.75 training and
18.4 inference clips/s without oneDNN, 19.2 and 75.5 with it. Set here with ``setdefault`` before
any TensorFlow import of the kit, so a value the user exported (``TF_ENABLE_ONEDNN_OPTS=0``) wins;
a script that imports TensorFlow before ``fer_kit`` keeps TensorFlow's own choice.
"""

for _name, _value in CPU_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)


def cpu_environment() -> dict[str, str]:
    """:data:`CPU_ENVIRONMENT` with the values this process runs with (the user's, where exported)."""
    return {name: os.environ.get(name, value) for name, value in CPU_ENVIRONMENT.items()}

STUDENT_API: dict[str, str] = {
    "detect_faces": "fer_kit.face.landmarks",
    "face_landmarks": "fer_kit.face.landmarks",
    "named_landmarks": "fer_kit.face.groups",
    "align_face": "fer_kit.face.align",
    "attention_map": "fer_kit.face.regions",
    "local_feature_map": "fer_kit.face.wrinkles",
    "read_video": "fer_kit.clips.video",
    "sample_frame_indices": "fer_kit.clips.video",
    "preprocess_video": "fer_kit.clips.preprocess",
    "build_model": "fer_kit.model",
    "TrainConfig": "fer_kit.training.config",
    "train": "fer_kit.training.train",
    "load_run": "fer_kit.training.runs",
    "evaluate_run": "fer_kit.evaluate",
    "predict_video": "fer_kit.predict",
    "explore": "fer_kit.viz.widgets",
    "show_images": "fer_kit.viz.grid",
}
"""Verb -> the module that defines it (imported lazily by :func:`__getattr__`)."""

__all__ = ["__version__", *STUDENT_API]


def __getattr__(name: str) -> Any:
    """Import a student verb on first use (PEP 562)."""
    module = STUDENT_API.get(name)
    if module is None:
        raise AttributeError(f"module 'fer_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(STUDENT_API))
