"""Opening a trained model: a run folder written by :func:`fer_kit.training.train.train`, or a bare ``.keras`` file.

A run folder carries everything inference needs besides the weights: the class names,
the model kind and preset, and the preprocessing settings of the training clips
(``config.json``). A bare ``model.keras`` looks for ``config.json`` beside it; without
one, a seven-output model is taken to use :data:`fer_kit.labels.EMOTIONS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import keras

import fer_kit.model  # noqa: F401  (registers CNNBlock for loading)
from fer_kit.errors import ModelFileError
from fer_kit.labels import EMOTIONS
from fer_kit.training.runfolder import locate_model


@dataclass
class LoadedRun:
    """A model ready for inference and what is known about how it was trained."""

    model: keras.Model
    classes: tuple[str, ...]
    path: Path
    run_dir: Path | None = None
    config: dict = field(default_factory=dict)
    clip_settings: dict = field(default_factory=dict)
    clip_seconds: float | None = None

    @property
    def kind(self) -> str:
        return self.config.get("model") or self.model.name

    @property
    def preset(self) -> str | None:
        return self.config.get("preset")

    @property
    def input_names(self) -> tuple[str, ...]:
        structure = self.model.input
        return tuple(structure) if isinstance(structure, dict) else ("faces",)

    @property
    def clip_shape(self) -> tuple[int, int | None]:
        """``(frames, size)`` the model expects (size ``None`` for a model that reads only landmarks)."""
        structure = self.model.input
        if isinstance(structure, dict) and "faces" not in structure:
            return int(next(iter(structure.values())).shape[1]), None
        shape = structure["faces"].shape if isinstance(structure, dict) else structure.shape
        return int(shape[1]), int(shape[2])


def load_run(path: str | Path) -> LoadedRun:
    """Load a run folder (``RUN/model.keras`` + ``RUN/config.json``) or a ``.keras`` file."""
    model_path, run_dir = locate_model(path)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises many kinds of errors for a bad file
        raise ModelFileError(f"cannot load the model ({type(error).__name__}: {error})", model_path) from error
    config: dict = {}
    settings: dict = {}
    classes: tuple[str, ...] | None = None
    seconds = None
    if run_dir is not None:
        try:
            saved = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError) as error:
            raise ModelFileError(f"cannot read config.json ({error})", run_dir / "config.json") from error
        config = saved.get("train", {})
        settings = saved.get("clip_settings", {}) or {}
        classes = tuple(saved.get("classes") or ()) or None
        seconds = saved.get("clip_seconds")
    outputs = model.output["fused"].shape[-1] if isinstance(model.output, dict) else model.output.shape[-1]
    if classes is None:
        if outputs != len(EMOTIONS):
            raise ModelFileError(
                f"the model has {outputs} classes but no config.json beside it names them", model_path
            )
        classes = EMOTIONS
    if len(classes) != outputs:
        raise ModelFileError(f"config.json names {len(classes)} classes but the model has {outputs}", model_path)
    return LoadedRun(model, classes, model_path, run_dir, config, settings, seconds)


def predict_probabilities(
    run: LoadedRun, faces, local=None, batch_size: int = 8, mirror: bool = False, landmarks=None
):
    """Fused class probabilities ``float32[N, K]`` for clips ``faces uint8[N,T,S,S,3]`` (+ ``local``, ``landmarks``).

    ``mirror=True`` averages each clip's probabilities with those of its left-right mirror
    image (both streams mirrored together, as the training flip of paper 4.1 does; landmarks
    mirrored and their left/right indices swapped): a test-time use of the same symmetry,
    our choice, off by default.
    """
    import numpy as np

    from fer_kit.face.groups import flip_landmarks

    inputs = {"faces": faces, "local_maps": local, "landmarks": landmarks}
    width = np.shape(faces)[3]
    missing = [name for name in run.input_names if inputs.get(name) is None]
    if missing:
        raise ValueError(f"the model needs input(s) {', '.join(missing)}")

    def fused(batch):
        out = run.model.predict_on_batch(batch)
        return np.asarray(out["fused"] if isinstance(out, dict) else out, np.float32)

    chunks = []
    for start in range(0, len(faces), batch_size):
        batch = {name: np.asarray(inputs[name][start : start + batch_size], np.float32) for name in run.input_names}
        probabilities = fused(batch)
        if mirror:  # clips are (N, T, H, W, C): the width axis is 3
            flipped = {k: flip_landmarks(v, width) if k == "landmarks" else v[:, :, :, ::-1] for k, v in batch.items()}
            probabilities = 0.5 * (probabilities + fused(flipped))
        chunks.append(probabilities)
    k = len(run.classes)
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, k), np.float32)


def export_model(
    model: keras.Model,
    folder: str | Path,
    classes: tuple[str, ...] | list[str],
    clip_settings: dict | None = None,
    **train_info,
) -> Path:
    """Write ``folder/model.keras`` + ``folder/config.json`` so :func:`load_run` and ``fer-kit predict`` can use it.

    ``train_info`` (e.g. ``model="mcdcn", preset="tiny"``) is stored as the ``train`` section.
    """
    from fer_kit.atomic import atomic_path, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = model.output["fused"].shape[-1] if isinstance(model.output, dict) else model.output.shape[-1]
    if len(classes) != outputs:
        raise ValueError(f"{len(classes)} class names for a model with {outputs} outputs")
    with atomic_path(folder / "model.keras") as tmp:  # keras wants the .keras suffix
        model.save(tmp)
    config = {"train": {"model": model.name, **train_info}, "classes": list(classes), "clip_settings": clip_settings or {}}
    write_json_atomic(folder / "config.json", config)
    return folder
