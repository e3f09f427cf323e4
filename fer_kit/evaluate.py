"""Evaluating a trained run: accuracy, macro-F1, per-class recall, confusion matrices (paper 4.2, Figures 6-9).

The confusion matrix ``C[i, j]`` counts clips of true class ``i`` predicted as class ``j``;
the paper shows it row-normalised in percent (each row sums to 100: row ``i`` is how
the clips of class ``i`` were labelled, its diagonal is the class's recall).

* accuracy = trace(C) / sum(C)
* recall_i = C[i, i] / sum_j C[i, j]; precision_i = C[i, i] / sum_j C[j, i]
* F1_i = 2 P_i R_i / (P_i + R_i); macro-F1 = mean of F1_i over the classes that occur
  in the truth or the predictions (a class absent from both says nothing).

The counts and per-class figures come from scikit-learn (``sklearn.metrics``); notebook 05
derives the same formulas by hand as an exercise.

:func:`evaluate_run` predicts the test clips of a run (the subjects in ``split.json``)
and writes ``RUN/evaluation/``: ``metrics.json``, ``confusion.json``,
``confusion.png`` (Figures 7-9), ``curves.png`` (Figure 6) and ``predictions.csv``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_kit.atomic import atomic_path
from fer_kit.errors import ModelFileError


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts ``int64[K, K]``: rows are true classes, columns predicted classes (scikit-learn's)."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length ({len(y_true)} vs {len(y_pred)})")
    if not len(y_true):
        return np.zeros((num_classes, num_classes), np.int64)
    return sklearn_confusion_matrix(y_true, y_pred, labels=np.arange(num_classes)).astype(np.int64)


def row_percent(counts: np.ndarray) -> np.ndarray:
    """Row-normalised confusion matrix in percent (rows without clips stay 0)."""
    counts = np.asarray(counts, np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(100.0 * counts, totals, out=np.zeros_like(counts), where=totals > 0)


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class recall / precision / F1 / support, and both confusion matrices.

    The per-class figures are scikit-learn's ``precision_recall_fscore_support``; a recall
    (precision) is ``None`` for a class with no true (predicted) clips, and an F1 ``None``
    for a class absent from both, which macro-F1 then leaves out (module doc).
    """
    from sklearn.metrics import precision_recall_fscore_support

    classes = list(classes)
    counts = confusion_matrix(y_true, y_pred, len(classes))
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    present = (support > 0) | (predicted > 0)
    if counts.sum():
        precision, recall, f1, _ = precision_recall_fscore_support(
            np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64), labels=np.arange(len(classes)),
            zero_division=0.0,
        )
    else:
        precision = recall = f1 = np.zeros(len(classes))
    per_class = {
        name: {
            "recall": _round(recall[i] if support[i] else None),
            "precision": _round(precision[i] if predicted[i] else None),
            "f1": _round(f1[i] if present[i] else None),
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    total = int(counts.sum())
    return {
        "clips": total,
        "accuracy": _round(np.trace(counts) / total if total else None),
        "macro_f1": _round(float(np.mean(f1[present])) if present.any() else None),
        "per_class_recall": {name: per_class[name]["recall"] for name in classes},
        "per_class": per_class,
        "classes": classes,
        "confusion": counts.tolist(),
        "confusion_percent": np.round(row_percent(counts), 2).tolist(),
    }


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def predict_clip_files(run, paths: Sequence[str], batch_size: int = 8, mirror: bool = False) -> np.ndarray:
    """Fused probabilities ``float32[N, K]`` of a loaded run (:func:`fer_kit.training.runs.load_run`) for cached clip files.

    Clips are read 64 at a time, so memory stays bounded on large test sets. ``mirror``: see
    :func:`fer_kit.training.runs.predict_probabilities`.
    """
    from fer_kit.training.clipset import load_clip_arrays
    from fer_kit.training.runs import predict_probabilities

    chunks = [np.zeros((0, len(run.classes)), np.float32)]
    for start in range(0, len(paths), 64):
        faces, local, landmarks = load_clip_arrays(paths[start : start + 64], landmarks=True)
        chunks.append(
            predict_probabilities(run, faces, local, batch_size=batch_size, mirror=mirror, landmarks=landmarks)
        )
    return np.concatenate(chunks)


def clips_of_known_classes(cache: str | Path, classes: Sequence[str]):
    """Every labelled clip of ``cache`` whose label is one of ``classes`` (a run's), for cross-corpus tests.

    Returns ``(clips, left_out)``: a :class:`~fer_kit.training.data.ClipSet` with the run's class
    list, and ``{label: count}`` of the clips left out because the run does not know their label.
    """
    from fer_kit.clips.cache import load_cache_index
    from fer_kit.errors import DatasetLayoutError
    from fer_kit.training.clipset import select_clips

    index = load_cache_index(cache)
    labels = index["label"].astype(str)
    unknown = labels[(labels != "") & ~labels.isin(classes)]
    left_out = {str(k): int(v) for k, v in unknown.value_counts().items()}
    known = index[labels.isin(classes)].reset_index(drop=True)
    if len(known) == 0:
        raise DatasetLayoutError(
            f"no clip of this cache has a label the run knows ({', '.join(classes)}); labels here: "
            f"{', '.join(sorted(left_out)) or 'none'}",
            cache,
        )
    return select_clips(cache, classes=tuple(classes), min_valid_fraction=0.0, index=known), left_out


def _read_split_record(run_dir: Path) -> dict:
    """The run's ``split.json`` (which subjects went where, and the cache); ``ModelFileError`` if absent."""
    split_path = run_dir / "split.json"
    if not split_path.is_file():
        raise ModelFileError("no split.json: not a run folder made by `fer-kit train`", run_dir)
    return json.loads(split_path.read_text())


def _clips_to_score(run_dir: Path, record: dict, loaded, split: str, cache: str | Path | None):
    """``(clips, left_out)``: the run's ``split`` clips, or with ``"all"`` the known-label clips of ``cache``."""
    from fer_kit.training.runfolder import clips_from_record

    left_out: dict[str, int] = {}
    if split == "all":
        if cache is None:
            raise ModelFileError("--split all needs the cache to score (--cache OTHER)", run_dir)
        clips, left_out = clips_of_known_classes(cache, loaded.classes)
    else:
        clips = clips_from_record(record, split, cache, run_dir)
    if list(clips.classes) != list(loaded.classes):
        raise ModelFileError("split.json and config.json disagree about the classes", run_dir)
    return clips, left_out


def _evaluation_dir(run_dir: Path, split: str, cache: str | Path | None, mirror: bool) -> Path:
    """``RUN/evaluation[-<split>][-<cache name> for all][-mirror]``: one folder per way of scoring."""
    name = "evaluation" if split == "test" else f"evaluation-{split}"
    if split == "all":  # one folder per scored cache
        name += "-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(cache).resolve().name)
    return run_dir / (name + ("-mirror" if mirror else ""))


def _write_evaluation(out: Path, metrics: dict, clips, classes: Sequence[str], probabilities: np.ndarray) -> None:
    """``metrics.json``, ``confusion.json`` and ``predictions.csv`` (one row a clip, with its probabilities)."""
    from fer_kit.training.runfolder import write_json

    predicted = probabilities.argmax(axis=1)
    write_json(out / "metrics.json", metrics)
    write_json(
        out / "confusion.json",
        {k: metrics[k] for k in ("classes", "confusion", "confusion_percent")},
    )
    table = pd.DataFrame(
        {
            "path": clips.rows["path"],
            "subject": clips.rows["subject"],
            "label": clips.rows["label"],
            "predicted": [classes[i] for i in predicted],
            **{f"p_{name}": probabilities[:, i] for i, name in enumerate(classes)},
        }
    )
    with atomic_path(out / "predictions.csv") as tmp:
        table.to_csv(tmp, index=False)


def evaluate_run(
    run_dir: str | Path,
    cache: str | Path | None = None,
    split: str = "test",
    batch_size: int = 8,
    write: bool = True,
    plots: bool = True,
    mirror: bool = False,
) -> dict:
    """Predict the ``split`` clips (``test``, ``val``, ``train``; ``all``: every clip of ``cache``) of a run and measure them.

    ``split="all"`` scores the run on any cache (another corpus): clips whose label the run
    does not know are left out and counted in ``left_out``; classes the cache lacks have no support.

    ``cache`` overrides the cache folder recorded in ``split.json`` (e.g. after moving the cache alone; a
    run moved together with its caches finds them by their place relative to the run folder).
    ``mirror`` averages each clip with its mirror image (see :func:`fer_kit.training.runs.predict_probabilities`).
    Writes ``RUN/evaluation/`` (``evaluation-<split>/`` for other splits; a ``-mirror`` suffix with
    ``mirror``) unless ``write`` is False.
    """
    from fer_kit.training.runfolder import read_history
    from fer_kit.training.runs import load_run

    run_dir = Path(run_dir)
    record = _read_split_record(run_dir)
    loaded = load_run(run_dir)
    clips, left_out = _clips_to_score(run_dir, record, loaded, split, cache)
    probabilities = predict_clip_files(loaded, clips.paths, batch_size=batch_size, mirror=mirror)
    metrics = classification_metrics(clips.labels, probabilities.argmax(axis=1), loaded.classes)
    metrics.update(
        {
            "split": split,
            "model": loaded.kind,
            "preset": loaded.preset,
            "subjects": clips.subjects,
            "validation_from": record.get("validation_from"),
            "mirror": mirror,
            "cache": str(clips.cache_dir),
            "left_out": left_out,
        }
    )
    if write:
        out = _evaluation_dir(run_dir, split, cache, mirror)
        _write_evaluation(out, metrics, clips, loaded.classes, probabilities)
        if plots:
            _write_figures(out, metrics, read_history(run_dir), loaded.kind)
        metrics["output_dir"] = str(out)
    return metrics


def _write_figures(out: Path, metrics: dict, history: pd.DataFrame, kind: str) -> None:
    import matplotlib.pyplot as plt

    from fer_kit.viz.plots import plot_confusion_matrix, plot_training_curves, save_figure

    accuracy = metrics["accuracy"] or 0.0
    fig = plot_confusion_matrix(
        np.asarray(metrics["confusion_percent"]),
        metrics["classes"],
        title=f"{kind}: {metrics['split']} confusion matrix (%), accuracy {100 * accuracy:.1f}%",
    )
    save_figure(fig, out / "confusion.png")
    plt.close(fig)
    if len(history):
        fig = plot_training_curves(history, title=f"{kind}: training curves")
        save_figure(fig, out / "curves.png")
        plt.close(fig)
