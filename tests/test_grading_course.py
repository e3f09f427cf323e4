"""Grade a real course notebook end to end: solution, released stub and an exercise broken half-way."""

from __future__ import annotations

import csv
import re

import nbformat
import pytest

from fer_kit.cli import main
from fer_kit.config import NOTEBOOKS_DIR
from fer_kit.course.release import release_notebooks
from fer_kit.grading.sandbox import bubblewrap_problem

pytestmark = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"the grader's sandbox cannot run here: {bubblewrap_problem()}")

NOTEBOOK = "02_wrinkle_regions"
"""The course notebook graded here (one of the quickest to run with the tiny preset)."""


def _break_first_exercise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = next(cell for cell in nb.cells if "### BEGIN SOLUTION" in cell.source)
    cell.source = re.sub(
        r"^([ \t]*)### BEGIN SOLUTION\n.*?### END SOLUTION",
        lambda m: f'{m.group(1)}raise RuntimeError("half-way")',
        cell.source,
        flags=re.S | re.M,
    )
    return nb


@pytest.mark.slow
def test_grade_a_course_notebook(tmp_path, capsys):
    source = NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb"
    if not source.is_file():
        pytest.skip(f"{source} is not there")
    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "solution.ipynb").write_bytes(source.read_bytes())
    release_notebooks(source.parent, tmp_path / "release", notebooks=[NOTEBOOK])
    (subs / "stub.ipynb").write_bytes((tmp_path / "release" / f"{NOTEBOOK}.ipynb").read_bytes())
    nbformat.write(_break_first_exercise(nbformat.read(source, as_version=4)), subs / "broken.ipynb")

    gradebook = tmp_path / "gradebook.csv"
    assert (
        main(
            [
                "grade",
                str(subs),
                "--assignment",
                NOTEBOOK,
                "--out",
                str(gradebook),
                "--workers",
                "2",
                "--timeout",
                "600",
            ]
        )
        == 0
    )
    capsys.readouterr()
    with gradebook.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    first_check = list(rows["solution"])[5]
    assert rows["solution"]["status"] == "ok" and rows["solution"]["score"] == rows["solution"]["max"] == "10"
    assert rows["stub"]["status"] == "not implemented" and rows["stub"]["score"] == "0"
    assert rows["broken"]["status"] == "error" and "RuntimeError: half-way" in rows["broken"]["note"]
    assert 0 < float(rows["broken"]["score"]) < 10 and rows["broken"][first_check] == "0"
