"""Reuse or build what the course chapters share in ``work_dir``: the dataset, the clip cache, training runs.

Every helper first looks for what an earlier chapter (or an interrupted run) already made in
``work_dir`` and builds only what is missing, so each notebook also runs on its own:

- :func:`ensure_dataset`: the dataset index (the embedded synthetic clips, generated once into
  :func:`synthetic_dir`, or a corpus read by its :mod:`fer_kit.datasets` adapter);
- :func:`ensure_cache`: the preprocessed clip cache, one folder per dataset and preprocessing
  settings (:func:`cache_dir_for`);
- :func:`ensure_run`: a training run, one folder per model and settings hash.

Nothing is keyed on where ``work_dir`` is: folder names hash settings (and caches by their
place inside ``work_dir``), clip keys hash the videos' content, and runs find their caches
relative to themselves, so a work folder copied or moved elsewhere is reused as it is.

The heavy libraries (pandas, the preprocessing, TensorFlow) are imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_PER_CLASS = 150
"""Synthetic clips per emotion the chapters make by default (1,050 clips, spread over the 4 built-in
identities). Our choice, measured with ``benchmarks/course_identity.py`` on a person held out: MC-DCN
(``tiny``, ``kit`` recipe, local maps standardized from their first frame, 12 epochs) reached 0.86, 0.95
and 0.94 accuracy at training seeds 0-2 with Obama held out and 0.70 with Grace Hopper held out; with the
maps as drawn (16 epochs) 0.82, 0.48 and 0.32, and 0.23-0.41 with 20-60 clips per emotion."""


def synthetic_dir(work_dir: str | Path, seed: int = 0) -> Path:
    """Where the chapters keep the generated synthetic dataset: ``work_dir/data/synthetic-s<seed>``."""
    return Path(work_dir) / "data" / f"synthetic-s{seed}"


def _synthetic_complete(folder: Path, per_class: int) -> bool:
    import pandas as pd

    labels = folder / "labels.csv"
    if not labels.is_file():
        return False
    try:
        table = pd.read_csv(labels)
    except (OSError, ValueError, pd.errors.ParserError):
        return False
    counts = table.groupby("label").size()
    return (len(counts) > 0 and bool((counts == per_class).all())
            and all((folder / str(source)).is_file() for source in table["source"]))


def ensure_dataset(
    work_dir: str | Path,
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """The dataset index (pandas: source, label, subject, dataset) the chapters work on.

    ``synthetic`` without ``data_dir``: the embedded clips, generated once into
    :func:`synthetic_dir` (``per_class`` clips per emotion; reused when already there,
    resumed when interrupted). ``synthetic`` with ``data_dir``: a folder made by
    ``fer-kit data synth``. Any other name: the corpus unpacked at ``data_dir``, read by
    that adapter of :mod:`fer_kit.datasets` (``options`` go to the adapter).
    """
    from fer_kit.datasets import adapter_name, index_dataset
    from fer_kit.errors import DatasetLayoutError

    name = adapter_name(dataset)
    if name == "synthetic" and not data_dir:
        folder = synthetic_dir(work_dir, seed)
        if not _synthetic_complete(folder, per_class):
            from fer_kit.datasets.synthetic.generate import generate_synthetic

            generate_synthetic(folder, per_class=per_class, seed=seed, workers=workers, progress=progress)
        return index_dataset(folder, name)
    if not data_dir:
        raise DatasetLayoutError(f"the {name} corpus cannot ship with the kit: give data_dir, the folder you "
                                 f"unpacked it into", Path(work_dir))
    return index_dataset(data_dir, name, **options)


def cache_dir_for(work_dir: str | Path, index: pd.DataFrame, preset: str, **overrides: Any) -> Path:
    """``work_dir/cache/<dataset>-<preset>-<settings key>``: one cache per dataset and preprocessing."""
    from fer_kit.clips.preprocess import PreprocessSettings

    settings = PreprocessSettings.from_preset(preset, **overrides)
    names = sorted({str(name) for name in index["dataset"]}) if len(index) else ["data"]
    return Path(work_dir) / "cache" / f"{'+'.join(names)}-{preset}-{settings.key()}"


def ensure_cache(work_dir: str | Path, index: pd.DataFrame, preset: str = "tiny", workers: int = 2, progress: bool = True,
                 **overrides: Any) -> Path:
    """Preprocess ``index`` into the clip cache of ``preset`` (reusing every clip already there); return its folder.

    ``overrides`` change :class:`fer_kit.clips.preprocess.PreprocessSettings` (e.g. ``wrinkles=False``
    for an ablation), which gives a separate cache. Clips that fail are reported and skipped.
    """
    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings

    settings = PreprocessSettings.from_preset(preset, **overrides)
    folder = cache_dir_for(work_dir, index, preset, **overrides)
    report = build_cache(index, folder, settings, workers=workers, progress=progress)
    if progress or report.failed:
        print(report.summary())
    return folder


def ensure_run(
    work_dir: str | Path,
    cache_dir: str | Path,
    model: str = "mcdcn",
    preset: str = "tiny",
    epochs: int = 10,
    seed: int = 0,
    name: str | None = None,
    verbose: int | str = 2,
    **config: Any,
) -> Path:
    """Train ``model`` on the cache (or reuse the finished run with the same settings); return the run folder.

    The run folder is ``work_dir/runs/<name>`` where ``name`` defaults to
    ``<model>-<preset>-<hash of the settings>``, so a chapter asking for the run another
    chapter trained gets it back at once, and a changed setting trains a new one.
    ``config`` goes to :class:`fer_kit.training.train.TrainConfig` (``lambda_global``, ``batch_size``...).
    """
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train

    config.setdefault("tensorboard", False)
    config.setdefault("recipe", "paper")  # the chapters teach paper 4.1's recipe (SGD, validation, early stopping)
    settings = TrainConfig(cache=str(cache_dir), out="", model=model, preset=preset, epochs=epochs, seed=seed,
                           **config).to_dict()
    settings.pop("out")
    placed = dict(settings, cache=_in_work(settings["cache"], work_dir))
    if settings.get("test_cache") is not None:
        placed["test_cache"] = _in_work(settings["test_cache"], work_dir)
    runs = Path(work_dir) / "runs"
    out = runs / (name or f"{model}-{preset}-{_digest(placed)}")
    return train(TrainConfig(**{**settings, "out": str(out)}), verbose=verbose)


def _digest(settings: dict) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _in_work(path: str | Path, work_dir: str | Path) -> str:
    """``path`` relative to ``work_dir`` when inside it (``cache/...``), else absolute: a run's name key."""
    import os

    absolute, work = Path(os.path.abspath(path)), Path(os.path.abspath(work_dir))
    try:
        return absolute.relative_to(work).as_posix()
    except ValueError:
        return str(absolute)
