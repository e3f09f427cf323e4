"""The checks of notebooks 01-05 stay in step with the notebooks they grade (fast: nothing runs)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from fer_kit.config import NOTEBOOKS_DIR
from fer_kit.grading import CheckContext, get_assignment, known_assignments
from fer_kit.grading.checks import run_check

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


# --- the references the course checks derive from recorded tables (pure Python, no notebook) ---


def _ctx(results, **parameters):
    return CheckContext(results, Path("."), parameters)


def test_a02_most_changed_region_beyond_neutral():
    from fer_kit.grading.assignments.a02_wrinkle_regions import check_most_changed, most_changed

    motion = {"neutral": {"mouth": 0.05, "brows": 0.01}, "happiness": {"mouth": 0.10, "brows": 0.02},
              "surprise": {"mouth": 0.07, "brows": 0.09}}
    assert most_changed(motion) == {"happiness": "mouth", "surprise": "brows"}
    no_neutral = {"anger": {"mouth": 0.0, "brows": 0.3}, "fear": {"mouth": 0.2, "brows": 0.3}}
    assert most_changed(no_neutral) == {"anger": "brows", "fear": "mouth"}
    ctx = _ctx({"region_change": {"motion": motion}, "exercise_3_most_changed": {"happiness": "mouth",
                                                                                 "surprise": "mouth"}})
    check = get_assignment("02").checks[2]
    assert check.function is check_most_changed
    result = run_check(check, ctx)
    assert result.points == pytest.approx(2) and "surprise" in result.message


def test_a01_failure_rates_from_recorded_errors():
    from fer_kit.grading.assignments.a01_ert_landmarks import failure_rates

    rows = [{"name": "T=1", "errors": [0.01, 0.03, 0.06, 0.02]}, {"name": "pretrained", "errors": [0.01, 0.01]}]
    assert failure_rates(rows) == {"T=1": {"0.02": 0.5, "0.05": 0.25}, "pretrained": {"0.02": 0.0, "0.05": 0.0}}


def test_a04_dual_loss_and_paper_hours():
    import numpy as np

    from fer_kit.grading.assignments.a04_dual_network_training import check_paper_hours, dual_loss_reference
    from fer_kit.grading.checks import CheckFailed

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 5, 7))
    labels = rng.integers(0, 7, size=5)
    log_p = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    want = sum(w * -log_p[k, np.arange(5), labels].mean() for k, w in enumerate((1.0, 0.5, 0.25)))
    assert dual_loss_reference(3) == pytest.approx(want, rel=1e-9)
    assert check_paper_hours(_ctx({"paper_cost": {"seconds_per_clip": 3.0}, "exercise_3_paper_hours": 16.0}))
    assert check_paper_hours(_ctx({"paper_cost": {"seconds_per_clip": None}, "exercise_3_paper_hours": None}))
    with pytest.raises(CheckFailed):
        check_paper_hours(_ctx({"paper_cost": {"seconds_per_clip": 3.0}, "exercise_3_paper_hours": 1.6}))


def test_a05_references_from_confusion_counts():
    import numpy as np

    from fer_kit.grading.assignments.a05_confusion_analysis import (
        check_worst_confusion,
        metrics_reference,
        paired_reference,
    )
    from fer_kit.grading.checks import Check

    classes = ["anger", "fear", "happiness"]
    counts = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 4]])
    metrics = metrics_reference(counts, classes)
    f1 = [2 * 1.0 * 0.75 / 1.75, 2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 2 * (4 / 6) * 1.0 / (4 / 6 + 1.0)]
    assert metrics["accuracy"] == pytest.approx(9 / 12, abs=1e-4)
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1), abs=1e-4)
    results = {"confusion": {"mcdcn": counts.tolist()}, "classes": classes,
               "exercise_2_worst_confusion": ["fear", "happiness", 50.0]}
    check = Check("w", 3, "", check_worst_confusion)
    assert run_check(check, _ctx(results)).points == 3
    results["exercise_2_worst_confusion"] = ["anger", "fear", 50.0]  # right percentage, wrong cell
    assert run_check(check, _ctx(results)).points == pytest.approx(0.75)
    paired = paired_reference({"c3d": {"a": True, "b": False, "c": True, "x": True},
                               "mcdcn": {"a": True, "b": True, "c": False, "d": False}})
    assert paired == pytest.approx({"both": 1 / 3, "only_mcdcn": 1 / 3, "only_c3d": 1 / 3, "neither": 0.0})
