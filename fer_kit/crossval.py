"""Subject-independent k-fold cross-validation (CK+'s standard protocol: 10 folds by subject).

The paper reports one random 80/20 split (paper 4.2). With a corpus of a few dozen people,
one split of unseen people is a noisy figure: a fold of seven subjects can hold two of
the eleven contempt sequences or none. The standard protocol on CK+ (Lucey et al. 2010,
and the methods our README compares with) is k-fold cross-validation *by subject*:

1. deal the subjects to ``k`` folds, largest first, each to the fold with the fewest
   clips so far (:func:`fer_kit.datasets.splits.subject_kfold`): no subject in two folds,
   every clip tested exactly once;
2. for each fold, train on the other ``k - 1`` folds (with ``val_size=0`` by default, so
   no early stopping: the model of the last epoch is tested and the test fold is never
   looked at before the end) and predict the fold's clips;
3. report the mean +- standard deviation of the folds' accuracy and macro-F1, and the
   *pooled* confusion matrix of all clips (each tested once, by the model that never saw
   its subject).

Layout of ``OUT``::

    OUT/folds.json          k, seed, the subjects of each fold (fixed at the first run)
    OUT/fold-00/ ...        one ordinary run folder per fold (``fer-kit evaluate`` works on it)
    OUT/cv.json             per-fold and pooled metrics, mean and std
    OUT/confusion.json      the pooled confusion matrix (counts and row percent)
    OUT/confusion.png
    OUT/predictions.csv     every clip once: fold, subject, label, prediction, probabilities

An interrupted run resumes: finished folds are kept, the interrupted one resumes after its
last finished epoch (:func:`fer_kit.training.train.train`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from fer_kit.atomic import write_text_atomic
from fer_kit.errors import DatasetLayoutError, ModelFileError

FOLDS_FILE = "folds.json"
RESULT_FILE = "cv.json"


def fold_subjects(rows: pd.DataFrame, k: int, seed: int = 0, cache: str | Path | None = None) -> list[list[str]]:
    """The test subjects of each of ``k`` subject-disjoint folds of the index ``rows`` (of ``cache``).

    ``DatasetLayoutError`` naming the cache when it has fewer than ``k`` subjects.
    """
    from fer_kit.datasets.splits import subject_kfold

    try:
        folds = subject_kfold(rows, k, seed)
    except ValueError as error:
        raise DatasetLayoutError(str(error), cache) from None
    return [sorted(map(str, test["subject"].unique())) for _, test in folds]


def _plan(out: Path, rows: pd.DataFrame, k: int, seed: int, cache: str) -> list[list[str]]:
    """The fold plan of ``OUT``: made at the first run, read back (and checked) after."""
    path = out / FOLDS_FILE
    folds = fold_subjects(rows, k, seed, cache)
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("k") != k or saved.get("seed") != seed or saved.get("folds") != folds:
            raise ModelFileError(
                "this folder holds a cross-validation with other folds (another k, seed or cache); "
                "choose another output folder or delete it",
                out,
            )
        return folds
    write_text_atomic(path, json.dumps({"k": k, "seed": seed, "cache": cache, "folds": folds}, indent=2) + "\n")
    return folds


def summarize(folds: list[dict], pooled: dict) -> dict:
    """Mean and standard deviation (over folds, ``ddof=0``) of accuracy and macro-F1, plus the pooled figures."""
    accuracy = np.array([f["accuracy"] for f in folds], np.float64)
    macro_f1 = np.array([f["macro_f1"] for f in folds], np.float64)
    return {
        "folds": len(folds),
        "accuracy_mean": round(float(accuracy.mean()), 4),
        "accuracy_std": round(float(accuracy.std()), 4),
        "macro_f1_mean": round(float(macro_f1.mean()), 4),
        "macro_f1_std": round(float(macro_f1.std()), 4),
        "pooled_accuracy": pooled["accuracy"],
        "pooled_macro_f1": pooled["macro_f1"],
        "per_class_recall": pooled["per_class_recall"],
        "classes": pooled["classes"],
        "confusion": pooled["confusion"],
        "confusion_percent": pooled["confusion_percent"],
    }


def run_fold(config, number: int, subjects: list[str], plots: bool = True, mirror: bool = False,
             verbose: int | str = 0) -> tuple[dict, pd.DataFrame]:
    """Train and score one fold (its run folder is ``config.out``): ``(record, predictions table)``.

    A task of its own, so a cluster can run the folds in parallel; a fold already trained is
    reused (:func:`fer_kit.training.train.train` resumes or keeps a finished run).
    """
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.train import train

    fold_started = time.perf_counter()
    run = train(config, verbose=verbose)
    metrics = evaluate_run(run, plots=plots, mirror=mirror)
    summary = json.loads((run / "summary.json").read_text())
    record = {
        "fold": number,
        "test_subjects": subjects,
        "clips": metrics["clips"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "epochs_run": summary.get("epochs_run"),
        "seconds": round(time.perf_counter() - fold_started, 1),
    }
    table = pd.read_csv(Path(metrics["output_dir"]) / "predictions.csv")
    return record, table.assign(fold=number)


def _run_folds(
    jobs: list[tuple], plots: bool, mirror: bool, verbose: int | str,
    on_fold: Callable[[int, dict], None] | None, scheduler: str | None,
) -> list[tuple[dict, pd.DataFrame]]:
    """Run every ``(config, number, subjects)`` fold (:func:`run_fold`); their ``(record, predictions)`` in fold order.

    The folds run here one after the other, or with ``scheduler`` as parallel tasks on a Dask cluster.
    """
    done: dict[int, tuple[dict, pd.DataFrame]] = {}
    if scheduler:  # one fold per task on a Dask cluster; the fold folders are on storage the workers share
        from concurrent.futures import as_completed

        from fer_kit.executors import task_executor

        with task_executor(0, scheduler) as executor:
            futures = {executor.submit(run_fold, job, number, subjects, plots, mirror, verbose): number
                       for job, number, subjects in jobs}
            for future in as_completed(futures):
                record, table = future.result()
                done[futures[future]] = (record, table)
                if on_fold is not None:
                    on_fold(futures[future], record)
    else:
        for job, number, subjects in jobs:
            done[number] = run_fold(job, number, subjects, plots, mirror, verbose)
            if on_fold is not None:
                on_fold(number, done[number][0])
    return [done[number] for number in sorted(done)]


def _pooled_metrics(predictions: pd.DataFrame, classes) -> dict:
    """The metrics of all folds' predictions together (each clip tested once)."""
    from fer_kit.evaluate import classification_metrics

    lookup = {name: i for i, name in enumerate(classes)}
    return classification_metrics(
        predictions["label"].map(lookup).to_numpy(), predictions["predicted"].map(lookup).to_numpy(), classes
    )


def _write_result(out: Path, result: dict, pooled: dict, predictions: pd.DataFrame, plots: bool) -> None:
    """``cv.json``, ``confusion.json``, ``predictions.csv`` and (with ``plots``) ``confusion.png`` of ``OUT``."""
    from fer_kit.training.runfolder import write_json

    write_json(out / RESULT_FILE, result)
    write_json(out / "confusion.json", {k: pooled[k] for k in ("classes", "confusion", "confusion_percent")})
    write_text_atomic(out / "predictions.csv", predictions.to_csv(index=False))
    if plots:
        _plot(out, result)


def cross_validate(
    config,
    folds: int = 10,
    fold_seed: int = 0,
    mirror: bool = False,
    plots: bool = True,
    verbose: int | str = 0,
    on_fold: Callable[[int, dict], None] | None = None,
    scheduler: str | None = None,
) -> dict:
    """Run the ``folds``-fold cross-validation of ``config`` (a :class:`fer_kit.training.train.TrainConfig`) (module doc).

    ``config.out`` is the cross-validation folder; ``config.test_subjects`` is replaced fold
    by fold. ``mirror`` scores each clip averaged with its mirror image. ``on_fold(number,
    metrics)`` is called after each fold. With ``scheduler`` (a Dask scheduler's address) the
    folds run as tasks on that cluster, in parallel (:mod:`fer_kit.executors`; ``OUT`` and the
    cache must be on storage the workers share). Returns the content of ``OUT/cv.json``.
    """
    from fer_kit.training.clipset import select_clips

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = select_clips(config.cache, config.classes, config.min_valid_fraction)
    plan = _plan(out, clips.rows, folds, fold_seed, str(config.cache))
    started = time.perf_counter()
    jobs = [(replace(config, out=str(out / f"fold-{number:02d}"), test_subjects=tuple(subjects),
                     classes=tuple(clips.classes)), number, list(subjects)) for number, subjects in enumerate(plan)]
    finished = _run_folds(jobs, plots, mirror, verbose, on_fold, scheduler)
    fold_metrics = [record for record, _ in finished]
    predictions = pd.concat([table for _, table in finished], ignore_index=True)
    pooled = _pooled_metrics(predictions, clips.classes)
    result = {
        "model": config.model,
        "preset": config.preset,
        "cache": str(config.cache),
        "k": folds,
        "fold_seed": fold_seed,
        "mirror": mirror,
        "clips": int(len(predictions)),
        "subjects": int(clips.rows["subject"].nunique()),
        **summarize(fold_metrics, pooled),
        "per_fold": fold_metrics,
        "seconds_this_session": round(time.perf_counter() - started, 1),
        "train": config.to_dict() | {"out": None, "test_subjects": None},
    }
    _write_result(out, result, pooled, predictions, plots)
    return result


def _plot(out: Path, result: dict) -> None:
    import matplotlib.pyplot as plt

    from fer_kit.viz.plots import plot_confusion_matrix, save_figure

    fig = plot_confusion_matrix(
        np.asarray(result["confusion_percent"]),
        result["classes"],
        title=(
            f"{result['model']}: {result['k']}-fold by subject, pooled (%); accuracy "
            f"{100 * result['accuracy_mean']:.1f} +- {100 * result['accuracy_std']:.1f}%"
        ),
    )
    save_figure(fig, out / "confusion.png")
    plt.close(fig)


def cross_validate_logistic(
    cache: str | Path, folds: int = 10, fold_seed: int = 0, classes=None, inverse_regularization: float = 1.0
) -> dict:
    """The first baseline a user would try, on the same folds: a logistic regression on the landmarks.

    Each clip becomes the last frame's :func:`fer_kit.model.trajectory.trajectory_features`
    (its shape and its motion since the first frame, in eye distances), standardized and fed to
    scikit-learn's ``LogisticRegression`` (``C = inverse_regularization``, balanced class
    weights, as the networks' training). Returns the summary fields of ``cv.json``.
    """
    from keras import ops
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fer_kit.evaluate import classification_metrics
    from fer_kit.model.trajectory import trajectory_features
    from fer_kit.training.clipset import load_clip_arrays, select_clips

    clips = select_clips(cache, classes)
    _, _, landmarks = load_clip_arrays(clips.paths, landmarks=True)
    features = ops.convert_to_numpy(trajectory_features(landmarks))[:, -1]
    labels = clips.labels
    subjects = clips.rows["subject"].astype(str).to_numpy()
    predicted = np.zeros_like(labels)
    fold_metrics = []
    started = time.perf_counter()
    plan = fold_subjects(clips.rows, folds, fold_seed, cache)
    for number, members in enumerate(plan):
        test = np.isin(subjects, members)
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=inverse_regularization, max_iter=5000, class_weight="balanced"),
        )
        model.fit(features[~test], labels[~test])
        predicted[test] = model.predict(features[test])
        metrics = classification_metrics(labels[test], predicted[test], clips.classes)
        fold_metrics.append({"fold": number, "clips": int(test.sum()), "accuracy": metrics["accuracy"],
                             "macro_f1": metrics["macro_f1"]})
    pooled = classification_metrics(labels, predicted, clips.classes)
    return {
        "model": "logistic-landmarks",
        "k": folds,
        "fold_seed": fold_seed,
        "clips": int(len(labels)),
        **summarize(fold_metrics, pooled),
        "per_fold": fold_metrics,
        "seconds_this_session": round(time.perf_counter() - started, 1),
    }


def late_fusion(cv_folders: list[str | Path]) -> dict:
    """Score the mean of several cross-validations' class probabilities, clip by clip (late fusion).

    Not in the paper: the kit's way to ask whether one model (MC-DCN) knows anything another (the
    landmark network) does not. Each folder is a finished :func:`cross_validate` ``OUT`` on the same
    clips and folds; its ``predictions.csv`` holds every clip once with its fold and ``p_<class>``
    columns. Algorithm: align the tables by clip, average the probabilities, take the argmax, then
    compute accuracy and macro-F1 per fold and pooled exactly as for one model (:func:`summarize`).
    """
    from fer_kit.evaluate import classification_metrics

    if not cv_folders:
        raise ValueError("late fusion needs at least one cross-validation folder")
    tables = []
    for folder in map(Path, cv_folders):
        path = folder / "predictions.csv"
        if not path.is_file():
            raise ModelFileError("no predictions.csv: not a finished cross-validation (run fer-kit cv)", folder)
        tables.append(pd.read_csv(path).set_index("path").sort_index())
    first = tables[0]
    columns = [c for c in first.columns if c.startswith("p_")]
    for folder, table in zip(map(Path, cv_folders), tables, strict=True):
        if not table.index.equals(first.index) or not (table["fold"] == first["fold"]).all() or \
                [c for c in table.columns if c.startswith("p_")] != columns:
            raise ModelFileError("its clips, folds or classes differ from the first cross-validation's", folder)
    classes = [c[2:] for c in columns]
    mean = np.mean([t[columns].to_numpy(np.float64) for t in tables], axis=0)
    truth = first["label"].map({name: i for i, name in enumerate(classes)}).to_numpy()
    fused, fold = mean.argmax(axis=1), first["fold"].to_numpy()
    per_fold = []
    for number in sorted(set(fold.tolist())):
        metrics = classification_metrics(truth[fold == number], fused[fold == number], classes)
        per_fold.append({"fold": int(number), "clips": int((fold == number).sum()), "accuracy": metrics["accuracy"],
                         "macro_f1": metrics["macro_f1"]})
    result = summarize(per_fold, classification_metrics(truth, fused, classes))
    return {**result, "per_fold": per_fold, "of": [str(f) for f in cv_folders]}
