"""The run folder on disk: its JSON files, the saved model, the history, and the caches a split was drawn from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fer_kit.atomic import atomic_path, write_json_atomic
from fer_kit.errors import DatasetLayoutError, ModelFileError
from fer_kit.training.config import TrainConfig

if TYPE_CHECKING:  # the run folder is read without TensorFlow (plots, reports)
    import keras

    from fer_kit.training.clipset import ClipSet

RUN_FILES = ("config.json", "split.json", "model.keras", "history.csv", "history.json", "summary.json")


def write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON atomically (:func:`fer_kit.atomic.write_json_atomic`; numpy values and paths allowed)."""
    write_json_atomic(path, obj, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"cannot read ({error})", path) from error


def save_model_atomic(model: keras.Model, path: Path) -> Path:
    """``model.save(path)`` through a temporary file in the same folder, then rename (:func:`fer_kit.atomic.atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:  # same suffix as path: keras checks it (.keras)
        model.save(tmp)
    return path


ACCURACY_ALIASES = {"fused_accuracy": "accuracy", "val_fused_accuracy": "val_accuracy"}
"""Keras names the accuracy of a multi-output model after its output; histories use one name for every model."""


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """``history.csv`` of a run, one row per epoch (re-run epochs after a resume keep their last row).

    The fused output's accuracy is ``accuracy`` / ``val_accuracy`` for every model.
    """
    path = Path(run_dir) / "history.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path).rename(columns=ACCURACY_ALIASES)
    if "epoch" in history.columns:
        history = history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    return history


def _relative_to(path: str | Path, folder: str | Path) -> str | None:
    """``path`` relative to ``folder`` (both made absolute against the working directory); None if impossible."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()
    except ValueError:  # another drive (Windows)
        return None


def cache_record(run: str | Path, train_cache: str | Path, test_cache: str | Path) -> dict:
    """The cache entries of ``split.json``: each cache as given and relative to the run folder."""
    return {
        "train_cache": str(train_cache),
        "test_cache": str(test_cache),
        "train_cache_relative": _relative_to(train_cache, run),
        "test_cache_relative": _relative_to(test_cache, run),
    }


def recorded_cache(record: dict, key: str, run_dir: str | Path | None = None) -> Path:
    """The cache ``key`` (``train_cache`` / ``test_cache``) of a saved split.

    With ``run_dir``, the cache at the recorded place relative to the run folder wins when it
    holds a cache index (the run was moved or copied together with its caches); otherwise the
    path as recorded (older records hold only that).
    """
    relative = record.get(f"{key}_relative")
    if run_dir is not None and relative:
        candidate = Path(os.path.normpath(Path(run_dir) / relative))
        if (candidate / "index.csv").is_file():
            return candidate
    return Path(record[key])


def clips_from_record(
    record: dict, part: str, cache: str | Path | None = None, run_dir: str | Path | None = None
) -> ClipSet:
    """The ``part`` (``train``, ``val``, ``test``) clips of a saved split, from ``cache`` or the recorded one.

    ``run_dir`` (the folder of ``split.json``) lets a moved run find its caches (:func:`recorded_cache`).
    """
    key = "train_cache" if part == "train" or (part == "val" and record["validation_from"] == "train") else "test_cache"
    cache_dir = Path(cache) if cache else recorded_cache(record, key, run_dir)
    from fer_kit.training.clipset import select_clips

    clips = select_clips(cache_dir, classes=record["classes"], min_valid_fraction=0.0)
    wanted = record[f"{part}_paths"]
    rows = clips.rows.set_index("path", drop=False)
    missing = [p for p in wanted if p not in rows.index]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} clip(s) of the {part} split are not in this cache, e.g. {missing[0]}; to score the run "
            "on every clip of another cache, use --split all",
            cache_dir,
        )
    return clips.subset(rows.loc[wanted].reset_index(drop=True))


def _placed(config: TrainConfig) -> dict:
    """``config`` with the caches as seen from the run folder (so a run moved with its caches compares equal)."""
    data = config.to_dict()
    data["cache"] = _relative_to(config.cache, config.out)
    if config.test_cache is not None:
        data["test_cache"] = _relative_to(config.test_cache, config.out)
    return data | {"out": None}


def same_run(saved: TrainConfig, config: TrainConfig) -> bool:
    """Whether ``config`` asks for the run ``saved`` describes.

    Every setting must match; the caches must be the same paths, or lie at the same place
    relative to the run folder (the run folder and its caches were moved or copied together).
    """
    if saved.to_dict() | {"out": config.out} == config.to_dict():
        return True
    return _placed(saved) == _placed(config)


def _check_existing(run: Path, config: TrainConfig) -> bool:
    """True when ``run`` already holds this finished run; error when it holds a different one."""
    config_path = run / "config.json"
    if not config_path.is_file():
        return False
    saved = read_json(config_path).get("train", {})
    if not same_run(TrainConfig.from_dict(saved), config):
        raise ModelFileError(
            "this run folder holds a run with a different configuration; choose another output folder or delete it",
            run,
        )
    return (run / "model.keras").is_file() and (run / "summary.json").is_file()


def locate_model(path: str | Path) -> tuple[Path, Path | None]:
    """``(model file, run folder or None)`` for a run folder or a ``.keras`` file, checked without loading Keras.

    ``ModelFileError`` for a missing path, a run folder without ``model.keras`` (training
    not finished) or a file that is not a ``.keras`` archive (a ``.keras`` file is a zip).
    """
    import zipfile

    path = Path(path)
    if path.is_dir():
        run_dir, model_path = path, path / "model.keras"
        if not model_path.is_file():
            raise ModelFileError("no model.keras in this run folder (is training finished?)", path)
    elif path.is_file():
        model_path = path
        run_dir = path.parent if (path.parent / "config.json").is_file() else None
    else:
        raise ModelFileError("no such run folder or model file", path)
    if model_path.suffix != ".keras":
        raise ModelFileError("expected a Keras model file ending in .keras", model_path)
    if not zipfile.is_zipfile(model_path):
        raise ModelFileError("not a Keras model: a .keras file is a zip archive, this one is not", model_path)
    return model_path, run_dir
