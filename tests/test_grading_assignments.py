"""The checks of notebooks 01-05 stay in step with the notebooks they grade (fast: nothing runs)."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from fer_kit.config import NOTEBOOKS_DIR
from fer_kit.grading import get_assignment, known_assignments

NOTEBOOKS = NOTEBOOKS_DIR


@pytest.mark.parametrize("name", known_assignments())
def test_checks_match_the_notebook(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    assignment = get_assignment(name)
    assert assignment.name == name and assignment.max_points == 10
    assert get_assignment(name[:2]).name == name
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    recorded = set(re.findall(r"\b(exercise_\d+_\w+)\s*=", code))
    assert recorded, "the notebook records no exercise answers"
    assert assignment.keys == recorded, "every recorded exercise has a check and every check reads a recorded key"
    parameters = next(cell.source for cell in nb.cells if "parameters" in cell.metadata.get("tags", []))
    declared = set(re.findall(r"^(\w+)\s*=", parameters, re.M))
    assert set(assignment.parameters) <= declared, "grading parameters the notebook does not declare"
    assert assignment.parameters.get("preset", "tiny") == "tiny"
    assert len({check.name for check in assignment.checks}) == len(assignment.checks)
    solutions = sum(cell.source.count("### BEGIN SOLUTION") for cell in nb.cells)
    assert solutions >= len(recorded), "each exercise has a solution block for the release to strip"


@pytest.mark.parametrize("name", known_assignments())
def test_every_exercise_is_a_function_the_hidden_tests_call(name):
    """Each check calls a function the notebook defines, and its ``def`` line survives the release."""
    path = NOTEBOOKS / f"{name}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    from fer_kit.grading.hidden import plan_hidden

    assignment = get_assignment(name)
    nb = nbformat.read(path, as_version=4)
    released = "\n".join(re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", cell.source, flags=re.S)
                         for cell in nb.cells if cell.cell_type == "code")
    for check in assignment.checks:
        assert check.hidden is not None and check.function is None, f"{check.name} reads a recorded value"
        assert re.search(rf"^def {check.hidden.function}\(", released, re.M), check.hidden.function
    plan = plan_hidden(assignment, b"a secret of sixteen bytes or more", "student")
    assert set(plan.cases) == {check.name for check in assignment.checks}
    assert all(plan.cases.values()) and json.dumps(plan.payload())


# --- the references the hidden tests compare with (pure Python, no notebook) ---


def test_a02_most_changed_region_beyond_neutral():
    from fer_kit.grading.assignments.a02_wrinkle_regions import most_changed

    motion = {"neutral": {"mouth": 0.05, "brows": 0.01}, "happiness": {"mouth": 0.10, "brows": 0.02},
              "surprise": {"mouth": 0.07, "brows": 0.09}}
    assert most_changed(motion) == {"happiness": "mouth", "surprise": "brows"}
    no_neutral = {"anger": {"mouth": 0.0, "brows": 0.3}, "fear": {"mouth": 0.2, "brows": 0.3}}
    assert most_changed(no_neutral) == {"anger": "brows", "fear": "mouth"}
    compare = get_assignment("02").checks[2].hidden.compare
    verdict = compare({"happiness": "mouth", "surprise": "mouth"}, most_changed(motion))
    assert verdict.credit == pytest.approx(0.5) and "surprise" in verdict.problem and "brows" not in verdict.problem


def test_a01_mean_shape_in_box_coordinates():
    import numpy as np

    from fer_kit.grading.assignments.a01_ert_landmarks import box_mean_shape

    points = np.zeros((2, 68, 2))
    points[0, :, 0], points[1, :, 0] = 15.0, 30.0
    boxes = np.array([[10, 0, 20, 10], [20, 0, 40, 20]])
    assert box_mean_shape(points, boxes)[:, 0] == pytest.approx(0.5)


def test_a04_dual_loss_and_paper_hours():
    import numpy as np

    from fer_kit.grading.assignments.a04_dual_network_training import ASSIGNMENT, dual_loss_reference

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 5, 7))
    labels = rng.integers(0, 7, size=5)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    want = sum(w * -log_p[k, np.arange(5), labels].mean() for k, w in enumerate((1.0, 0.5, 0.25)))
    assert dual_loss_reference(probabilities, labels) == pytest.approx(want, rel=1e-9)
    hours = ASSIGNMENT.checks[2].hidden
    assert hours.reference(None, 3.0) == pytest.approx(16.0) and hours.reference(None, None) is None
    assert hours.compare(None, None).credit == 1 and hours.compare(1.6, 16.0).credit == 0


def test_a05_references_from_confusion_counts():
    import numpy as np

    from fer_kit.grading.assignments.a05_confusion_analysis import (
        metrics_reference,
        paired_reference,
        same_worst,
        worst_cells,
    )

    classes = ["anger", "fear", "happiness"]
    counts = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 4]])
    metrics = metrics_reference(counts, classes)
    f1 = [2 * 1.0 * 0.75 / 1.75, 2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 2 * (4 / 6) * 1.0 / (4 / 6 + 1.0)]
    assert metrics["accuracy"] == pytest.approx(9 / 12, abs=1e-4)
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1), abs=1e-4)
    worst = worst_cells(counts, classes)
    assert worst == {"percent": 50.0, "cells": [["fear", "happiness"]]}
    assert same_worst(["fear", "happiness", 50.0], worst).credit == 1
    wrong_cell = same_worst(["anger", "fear", 50.0], worst)  # right percentage, wrong cell
    assert wrong_cell.credit == pytest.approx(0.25) and "happiness" not in wrong_cell.problem
    paired = paired_reference({"c3d": {"a": True, "b": False, "c": True, "x": True},
                               "mcdcn": {"a": True, "b": True, "c": False, "d": False}})
    assert paired == pytest.approx({"both": 1 / 3, "only_mcdcn": 1 / 3, "only_c3d": 1 / 3, "neither": 0.0})
