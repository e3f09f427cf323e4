"""Checks of notebook 01 (face detection and the ERT cascade; paper 3.1, eq. 2, Algorithm 1).

Every exercise is a function the hidden tests call in the student's kernel (:mod:`fer_kit.grading.hidden`):

1. ``my_nme(predicted, truth)`` on built-in faces moved, scaled and jittered (:mod:`.hidden_faces`),
   against :func:`fer_kit.face.ert.nme`;
2. ``failure_rate(errors, threshold)`` on random per-face errors and thresholds;
3. ``box_mean_shape(points, boxes)`` on random faces and boxes (the mean of each face's points in its
   box's coordinates);
4. ``cascade_nme(n_trees)`` for a number of trees per level drawn from the secret alone (the same for
   the class: the reference trains the cascade once), against :func:`fer_kit.course.experiments.compare_cascades`
   on the annotated faces the solution run exported. dlib's training is deterministic for a given number of
   threads but not across thread counts (about 2 % in NME), so the check allows 10 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check, CheckContext, CheckFailed, reference
from fer_kit.grading.hidden import Case, HiddenTest, close

from .hidden_faces import hidden_landmarks


def _nme_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for _ in range(3):
        truth = hidden_landmarks(rng)
        predicted = truth + rng.normal(0.0, rng.uniform(0.5, 6.0), truth.shape)
        cases.append(Case((predicted, truth)))
    return cases


def _nme(ctx: CheckContext, predicted: Any, truth: Any) -> float:
    from fer_kit.face.ert import nme

    return nme(predicted, truth)


def _rate_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for _ in range(3):
        errors = rng.gamma(2.0, rng.uniform(0.005, 0.03), int(rng.integers(10, 80)))
        cases.append(Case(([float(e) for e in errors], float(rng.uniform(0.01, 0.1)))))
    return cases


def _rate(ctx: CheckContext, errors: list, threshold: float) -> float:
    import numpy as np

    return float((np.asarray(errors, dtype=np.float64) > threshold).mean())


def _shape_cases(rng: Any, parameters: dict) -> list[Case]:
    import numpy as np

    cases = []
    for _ in range(2):
        faces = [hidden_landmarks(rng, jitter=2.0) for _ in range(int(rng.integers(4, 12)))]
        boxes = []
        for points in faces:
            left, top = points.min(axis=0) - rng.uniform(0, 20, 2)
            width = float(np.ptp(points[:, 0]) + rng.uniform(10, 40))
            boxes.append([round(float(left)), round(float(top)), round(float(left) + width),
                          round(float(top) + width)])
        cases.append(Case((np.stack(faces), np.array(boxes, dtype=np.int64)), label="hidden faces"))
    return cases


def box_mean_shape(points: Any, boxes: Any) -> Any:
    """The mean over the faces of ``(p - (left, top)) / box width``: ``float64[68, 2]``."""
    import numpy as np

    points, boxes = np.asarray(points, dtype=np.float64), np.asarray(boxes, dtype=np.float64)
    return ((points - boxes[:, None, :2]) / (boxes[:, 2] - boxes[:, 0])[:, None, None]).mean(axis=0)


def _shape_reference(ctx: CheckContext, points: Any, boxes: Any) -> Any:
    return box_mean_shape(points, boxes)


@reference
def _samples(faces_dir: str, limit: int, seed: int) -> tuple[list, list]:
    from fer_kit.course.experiments import landmark_samples

    return landmark_samples(faces_dir, limit=limit, seed=seed)


@reference
def _cascade_nme(faces_dir: str, limit: int, seed: int, levels: int, trees: int, tree_depth: int,
                 oversampling: int) -> float:
    from fer_kit.course.experiments import compare_cascades

    train, test = _samples(faces_dir, limit, seed)
    row = compare_cascades(train, test, levels=[levels], pretrained=False, trees=trees, tree_depth=tree_depth,
                           oversampling=oversampling, seed=seed)[0]
    return float(row["nme_mean"])


def middle_level(cascade_levels: list[int]) -> int:
    """The cascade depth ``T`` exercise 4 trains: the middle entry of ``cascade_levels``."""
    levels = [int(level) for level in cascade_levels]
    return levels[len(levels) // 2]


def _faces_dir(ctx: CheckContext) -> Path | None:
    """The annotated faces the notebook trained on: ``landmark_dir``, else those the solution run exported."""
    if ctx.parameters.get("landmark_dir"):
        return Path(ctx.parameters["landmark_dir"])
    seed, limit = int(ctx.parameters["seed"]), int(ctx.parameters["landmark_faces"])
    faces_dir = Path(ctx.work_dir or "") / "data" / f"landmark-faces-s{seed}-n{limit}"
    return faces_dir if ctx.work_dir is not None and faces_dir.is_dir() else None


def _tree_cases(rng: Any, parameters: dict) -> list[Case]:
    """One number of trees per level, between an eighth and a half of ``trees`` (not ``trees // 4``)."""
    trees = int(parameters["trees"])
    choices = [n for n in range(max(2, trees // 8), max(3, trees // 2 + 1)) if n not in (trees, trees // 4)]
    return [Case((int(rng.choice(choices)),), label="hidden number of trees")]


def _tree_nme(ctx: CheckContext, n_trees: int) -> float:
    faces_dir = _faces_dir(ctx)
    if faces_dir is None:
        raise CheckFailed("no reference: the solution run left no annotated faces")
    p = ctx.parameters
    return _cascade_nme(str(faces_dir), int(p["landmark_faces"]), int(p["seed"]), middle_level(p["cascade_levels"]),
                        int(n_trees), int(p["tree_depth"]), int(p["oversampling"]))


ASSIGNMENT = Assignment(
    name="01_ert_landmarks",
    title="Faces and landmarks: detection and the ensemble of regression trees",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "seed": 0, "per_class": 10,
                "landmark_dir": None, "landmark_faces": 150, "cascade_levels": [1, 3, 10], "trees": 100,
                "tree_depth": 4, "oversampling": 10},
    solution_run=True,
    checks=(
        Check("ex1_nme", 2, "my_nme(predicted, truth) on hidden faces equals fer_kit.face.ert.nme", None,
              ("exercise_1_nme",),
              hidden=HiddenTest("my_nme", _nme_cases, _nme, close(rtol=1e-6), seconds=5, what="hidden face")),
        Check("ex2_failure_rates", 2, "failure_rate(errors, threshold) on hidden errors", None,
              ("exercise_2_failure_rates",),
              hidden=HiddenTest("failure_rate", _rate_cases, _rate, close(rtol=0, atol=1e-9), seconds=5)),
        Check("ex3_mean_shape", 3, "box_mean_shape(points, boxes): the mean shape S(0) in box coordinates", None,
              ("exercise_3_mean_shape",),
              hidden=HiddenTest("box_mean_shape", _shape_cases, _shape_reference,
                                close(rtol=1e-6, atol=1e-9), seconds=5)),
        Check("ex4_fewer_trees", 3, "cascade_nme(n_trees): mean NME of the middle cascade with a hidden number of "
              "trees per level", None, ("exercise_4_fewer_trees",),
              hidden=HiddenTest("cascade_nme", _tree_cases, _tree_nme, close(rtol=0.1, atol=1e-4), seconds=300,
                                shared=True)),
    ),
)
