"""Checks of notebook 05 (confusion analysis and the Table-3 comparison; paper 4.2, Figures 7-9).

Every exercise is a function the hidden tests call in the student's kernel (:mod:`fer_kit.grading.hidden`):

1. ``metrics_from_counts(counts)`` on hidden confusion counts (some classes absent), against
   :func:`fer_kit.evaluate.classification_metrics`;
2. ``worst_confusion(counts, classes)`` on hidden counts and class names, against
   :func:`fer_kit.evaluate.row_percent`;
3. ``paired_fractions(c3d, mcdcn)`` on hidden prediction tables (clips in common and not);
4. ``mirror_effect(kind)`` for models of ``models`` drawn from the secret and the name: the reference
   predicts the test clips of the solution run's training run of that model (found in its work folder by
   the notebook's settings, :func:`fer_kit.grading.checks.find_run`; every student's work folder is a copy
   of it) with and without their mirror images (:func:`fer_kit.evaluate.predict_clip_files`).
"""

from __future__ import annotations

from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check, CheckContext, find_run, reference
from fer_kit.grading.hidden import Case, HiddenTest, Verdict, close, mapping


def metrics_reference(counts: Any, classes: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of the kit from confusion counts (rows: true class, columns: predicted)."""
    import numpy as np

    from fer_kit.evaluate import classification_metrics

    counts = np.asarray(counts, dtype=int)
    pairs = [(i, j) for i in range(len(classes)) for j in range(len(classes)) for _ in range(int(counts[i, j]))]
    y_true, y_pred = (np.array(column, dtype=int) for column in zip(*pairs, strict=True))
    metrics = classification_metrics(y_true, y_pred, classes)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def paired_reference(correct: dict[str, dict[str, bool]]) -> dict[str, float]:
    """Fractions of the common test clips both / only one / neither of C3D and MC-DCN got right."""
    c3d, mcdcn = correct["c3d"], correct["mcdcn"]
    common = [path for path in mcdcn if path in c3d]
    n = max(len(common), 1)
    return {
        "both": sum(c3d[p] and mcdcn[p] for p in common) / n,
        "only_mcdcn": sum(mcdcn[p] and not c3d[p] for p in common) / n,
        "only_c3d": sum(c3d[p] and not mcdcn[p] for p in common) / n,
        "neither": sum(not c3d[p] and not mcdcn[p] for p in common) / n,
    }


def worst_cells(counts: Any, classes: list[str]) -> dict:
    """The largest off-diagonal percentage of the row-normalised matrix and every (true, predicted) cell holding it."""
    import numpy as np

    from fer_kit.evaluate import row_percent

    off = row_percent(np.asarray(counts)).astype(np.float64)
    np.fill_diagonal(off, -1.0)
    worst = float(off.max())
    cells = sorted((classes[i], classes[j]) for i, j in zip(*np.nonzero(np.isclose(off, worst)), strict=True))
    return {"percent": worst, "cells": [list(cell) for cell in cells]}


def same_worst(got: Any, want: dict) -> Verdict:
    """``[true, predicted, percent]``: a cell holding the largest percentage (3/4) and that percentage (1/4)."""
    shown = f"{want['cells'][0][0]} -> {want['cells'][0][1]} at {want['percent']:.4g} %"
    if not isinstance(got, list) or len(got) != 3:
        return Verdict(0.0, f"returned {type(got).__name__}, not [true class, predicted class, percent]", shown)
    cell_right = [str(got[0]), str(got[1])] in want["cells"]
    percent_right = close(rtol=1e-3)(got[2], want["percent"]).credit >= 1
    if cell_right and percent_right:
        return Verdict(1.0)
    problems = [text for right, text in ((cell_right, f"the cell {got[0]} -> {got[1]} is not the largest"),
                                         (percent_right, "the percentage is not the reference")) if not right]
    return Verdict(0.75 * cell_right + 0.25 * percent_right, "; ".join(problems), shown)


def _counts(rng: Any, classes: int) -> Any:
    """Random confusion counts, heavier on the diagonal; with more than three classes one is absent."""
    import numpy as np

    counts = rng.integers(0, 6, (classes, classes))
    counts[np.diag_indices(classes)] += rng.integers(1, 8, classes)
    if classes > 3:
        absent = int(rng.integers(1, classes))
        counts[absent, :] = 0
        counts[:, absent] = 0
    return counts


def _count_cases(rng: Any, parameters: dict) -> list[Case]:
    return [Case((_counts(rng, int(rng.integers(3, 8))),), label="hidden matrix") for _ in range(3)]


def _class_names(rng: Any, classes: int) -> list[str]:
    from fer_kit.labels import EMOTIONS

    names = [str(name) for name in rng.permutation(EMOTIONS)]
    return sorted(names[:classes]) if classes <= len(names) else [f"class{i}" for i in range(classes)]


def _worst_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for _ in range(3):
        classes = int(rng.integers(3, 8))
        cases.append(Case((_counts(rng, classes), _class_names(rng, classes)), label="hidden matrix"))
    return cases


def _table(rng: Any, paths: list[str], classes: list[str]) -> Any:
    import pandas as pd

    labels = rng.choice(classes, len(paths))
    guessed = rng.choice(classes, len(paths))
    predicted = [label if rng.random() < 0.6 else guess for label, guess in zip(labels, guessed, strict=True)]
    return pd.DataFrame({"path": paths, "label": [str(x) for x in labels], "predicted": [str(x) for x in predicted]})


def _table_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for _ in range(2):
        clips = [f"clips/{rng.integers(10**6):06d}-{i}.npz" for i in range(int(rng.integers(8, 40)))]
        classes = _class_names(rng, int(rng.integers(3, 8)))
        c3d = _table(rng, [p for p in clips if rng.random() < 0.9], classes)
        mcdcn = _table(rng, [p for p in clips if rng.random() < 0.9], classes)
        cases.append(Case((c3d, mcdcn.sample(frac=1.0, random_state=int(rng.integers(2**31)))),
                          label="hidden predictions"))
    return cases


def _paired(ctx: CheckContext, c3d: Any, mcdcn: Any) -> dict[str, float]:
    correct = {kind: dict(zip(table["path"], (table["label"] == table["predicted"]).tolist(), strict=True))
               for kind, table in (("c3d", c3d), ("mcdcn", mcdcn))}
    return paired_reference(correct)


@reference
def _mirror_reference(run_dir: str) -> dict[str, float]:
    import json
    from pathlib import Path

    from fer_kit.evaluate import classification_metrics, predict_clip_files
    from fer_kit.training.runfolder import clips_from_record
    from fer_kit.training.runs import load_run

    loaded = load_run(run_dir)
    record = json.loads((Path(run_dir) / "split.json").read_text())
    clips = clips_from_record(record, "test", None, Path(run_dir))
    plain, mirror = (predict_clip_files(loaded, clips.paths, mirror=flag).argmax(axis=1) for flag in (False, True))
    return {"plain": classification_metrics(clips.labels, plain, loaded.classes)["accuracy"],
            "mirror": classification_metrics(clips.labels, mirror, loaded.classes)["accuracy"],
            "changed": float((plain != mirror).mean())}


def run_settings(parameters: dict, kind: str) -> dict:
    """The training settings section 1 gives ``course.ensure_run`` for model ``kind``, as in its config.json."""
    return {"model": kind, "preset": parameters["preset"], "epochs": int(parameters["epochs"]),
            "seed": int(parameters["seed"]), "protocol": parameters["protocol"],
            "batch_size": int(parameters["batch_size"]), "lambda_global": 0.5, "lambda_local": 0.5,
            "fused_weight": 1.0, "recipe": parameters.get("recipe", "paper"),
            "local_standardization": parameters.get("local_standardization") if kind == "mcdcn" else None}


def _model_cases(rng: Any, parameters: dict) -> list[Case]:
    models = [str(kind) for kind in parameters["models"]]
    return [Case((kind,), label="model") for kind in rng.permutation(models)[:2]]


def _mirror(ctx: CheckContext, kind: str) -> dict[str, float]:
    return _mirror_reference(str(find_run(ctx.work_dir, **run_settings(dict(ctx.parameters), kind))))


def _metrics_reference(ctx: CheckContext, counts: Any) -> dict[str, float]:
    return metrics_reference(counts, [f"class{i}" for i in range(len(counts))])


def _worst_reference(ctx: CheckContext, counts: Any, classes: list[str]) -> dict:
    return worst_cells(counts, classes)


ASSIGNMENT = Assignment(
    name="05_confusion_analysis",
    title="Confusion analysis: where the networks go wrong",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "epochs": 8, "seed": 0, "per_class": 10,
                "protocol": "random", "recipe": "paper", "local_standardization": None, "batch_size": 8,
                "models": ["cnn", "c3d", "mcdcn"],
                "gallery": 8},
    solution_run=True,
    checks=(
        Check("ex1_metrics", 2, "metrics_from_counts(counts): accuracy and macro-F1 from confusion counts", None,
              ("exercise_1_metrics",),
              hidden=HiddenTest("metrics_from_counts", _count_cases,
                                _metrics_reference,
                                mapping(close(rtol=0, atol=2e-4)), seconds=5)),  # the kit rounds to 4 decimals
        Check("ex2_worst_confusion", 3, "worst_confusion(counts, classes): the largest off-diagonal cell of the "
              "row-normalised matrix", None, ("exercise_2_worst_confusion",),
              hidden=HiddenTest("worst_confusion", _worst_cases, _worst_reference, same_worst,
                                seconds=5)),
        Check("ex3_paired", 3, "paired_fractions(c3d, mcdcn): clip-by-clip comparison of two models", None,
              ("exercise_3_paired",),
              hidden=HiddenTest("paired_fractions", _table_cases, _paired, mapping(close(rtol=0, atol=1e-9)),
                                seconds=10)),
        Check("ex4_mirror", 2, "mirror_effect(kind): test accuracy without and with test-time mirroring, and the "
              "fraction of test clips whose prediction changes", None, ("exercise_4_mirror",),
              hidden=HiddenTest("mirror_effect", _model_cases, _mirror, mapping(close(rtol=0, atol=2e-4)),
                                seconds=300)),  # the kit rounds accuracies to 4 decimals
    ),
)
