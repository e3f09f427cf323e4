"""The checks of notebooks 01-05 stay in step with the notebooks they grade (fast: nothing runs)."""

from __future__ import annotations

import re

import nbformat
import pytest

from fer_kit.config import PROJECT_ROOT
from fer_kit.grading import get_assignment, known_assignments

NOTEBOOKS = PROJECT_ROOT / "notebooks"


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
