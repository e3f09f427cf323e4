"""Checks of notebook 05 (confusion analysis and the Table-3 comparison; paper 4.2, Figures 7-9).

Trained models differ from run to run, so every reference is derived from what the notebook's
own sections recorded (``confusion``, ``classes``, ``correct``), recomputed with
:func:`fer_kit.evaluate.classification_metrics` and :func:`fer_kit.evaluate.row_percent`. Exercise 4
(test-time mirroring) is recomputed from the solution run's training runs, found in its work folder by the
notebook's settings (:func:`fer_kit.grading.checks.find_run`; every student's work folder is a copy of it):
each run's test clips are predicted with and without their mirror images
(:func:`fer_kit.evaluate.predict_clip_files`).
"""

from __future__ import annotations

from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import (
    Check,
    CheckContext,
    CheckFailed,
    as_array,
    as_number,
    expect_close,
    expect_mapping_close,
    find_run,
    reference,
)

MODEL = "mcdcn"


def _confusion(ctx: CheckContext) -> tuple[Any, list[str]]:
    confusion, classes = ctx.results.get("confusion"), ctx.results.get("classes")
    if not isinstance(confusion, dict) or MODEL not in confusion or not isinstance(classes, list):
        raise CheckFailed("section 2 did not record the confusion counts (`confusion`, `classes`)")
    counts = as_array(confusion[MODEL], f"confusion[{MODEL!r}]", (len(classes), len(classes)))
    return counts.astype(int), [str(name) for name in classes]


def metrics_reference(counts: Any, classes: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of the kit from confusion counts (rows: true class, columns: predicted)."""
    import numpy as np

    from fer_kit.evaluate import classification_metrics

    pairs = [(i, j) for i in range(len(classes)) for j in range(len(classes)) for _ in range(int(counts[i, j]))]
    y_true, y_pred = (np.array(column, dtype=int) for column in zip(*pairs, strict=True))
    metrics = classification_metrics(y_true, y_pred, classes)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def paired_reference(correct: dict[str, dict[str, bool]]) -> dict[str, float]:
    """Fractions of the common test clips both / only one / neither of C3D and MC-DCN got right."""
    c3d, mcdcn = correct["c3d"], correct["mcdcn"]
    common = [path for path in mcdcn if path in c3d]
    if not common:
        raise CheckFailed("C3D and MC-DCN share no test clip in the recorded `correct` table")
    n = len(common)
    return {
        "both": sum(c3d[p] and mcdcn[p] for p in common) / n,
        "only_mcdcn": sum(mcdcn[p] and not c3d[p] for p in common) / n,
        "only_c3d": sum(c3d[p] and not mcdcn[p] for p in common) / n,
        "neither": sum(not c3d[p] and not mcdcn[p] for p in common) / n,
    }


def check_metrics(ctx: CheckContext) -> str:
    counts, classes = _confusion(ctx)
    return expect_mapping_close(ctx.value("exercise_1_metrics"), metrics_reference(counts, classes),
                                "exercise_1_metrics", rtol=0, atol=2e-4)  # the kit rounds to 4 decimals


def check_worst_confusion(ctx: CheckContext) -> str:
    import numpy as np

    from fer_kit.evaluate import row_percent

    counts, classes = _confusion(ctx)
    answer = ctx.value("exercise_2_worst_confusion")
    if not isinstance(answer, list) or len(answer) != 3:
        raise CheckFailed(f"`exercise_2_worst_confusion` should be [true class, predicted class, percent], "
                          f"got {answer!r}"[:200])
    percent = row_percent(counts)
    off = percent.copy()
    np.fill_diagonal(off, -1.0)
    worst = float(off.max())
    cells = {(classes[i], classes[j]) for i, j in zip(*np.nonzero(np.isclose(off, worst)), strict=True)}
    expect_close(as_number(answer[2], "exercise_2_worst_confusion[2]"), worst, "the percentage", rtol=1e-3)
    if (str(answer[0]), str(answer[1])) not in cells:
        true, predicted = sorted(cells)[0]
        raise CheckFailed(f"the largest off-diagonal cell is {true} -> {predicted} ({worst:.1f} %), "
                          f"not {answer[0]} -> {answer[1]}", credit=0.25)
    return f"{answer[0]} -> {answer[1]} at {worst:.1f} % is the worst confusion"


def check_paired(ctx: CheckContext) -> str:
    correct = ctx.results.get("correct")
    if not isinstance(correct, dict) or not {"c3d", MODEL} <= set(correct):
        raise CheckFailed("section 5 did not record the per-clip results (`correct`) of C3D and MC-DCN")
    return expect_mapping_close(ctx.value("exercise_3_paired"), paired_reference(correct), "exercise_3_paired",
                                rtol=0, atol=1e-6)


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
            "fused_weight": 1.0, "recipe": "paper"}


def check_mirror(ctx: CheckContext) -> str:
    models = [str(kind) for kind in ctx.parameters["models"]]
    want = {kind: _mirror_reference(str(find_run(ctx.work_dir, **run_settings(dict(ctx.parameters), kind))))
            for kind in models}
    return expect_mapping_close(ctx.value("exercise_4_mirror"), want, "exercise_4_mirror", rtol=0,
                                atol=2e-4)  # the kit rounds accuracies to 4 decimals


ASSIGNMENT = Assignment(
    name="05_confusion_analysis",
    title="Confusion analysis: where the networks go wrong",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "epochs": 8, "seed": 0, "per_class": 10,
                "protocol": "random", "batch_size": 8, "models": ["cnn", "c3d", "mcdcn"], "gallery": 8},
    solution_run=True,
    checks=(
        Check("ex1_metrics", 2, "accuracy and macro-F1 of MC-DCN from its confusion counts", check_metrics,
              ("exercise_1_metrics",)),
        Check("ex2_worst_confusion", 3, "the largest off-diagonal cell of the row-normalised matrix",
              check_worst_confusion, ("exercise_2_worst_confusion",)),
        Check("ex3_paired", 3, "clip-by-clip comparison of C3D and MC-DCN", check_paired, ("exercise_3_paired",)),
        Check("ex4_mirror", 2, "test accuracy of every model without and with test-time mirroring, and the "
              "fraction of test clips whose prediction changes", check_mirror, ("exercise_4_mirror",)),
    ),
)
