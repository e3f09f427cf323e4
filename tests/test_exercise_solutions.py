"""The instructor's exercise solutions earn full marks from the grader's own checks, with ``tiny`` and ``lite``.

Each course notebook 01-05 is executed as written (solutions in place) with small parameters the way
the grader runs a notebook (:func:`fer_kit.grading.sandbox.run_sandboxed`, without bubblewrap so the
test runs anywhere): papermill, then the grader's hidden-tests cell, which calls the exercise
functions on hidden inputs drawn from a test secret. Its assignment's checks
(:mod:`fer_kit.grading.assignments`) are then run on what it recorded and answered exactly as the
grader runs them on the solution: with the grading parameters (the assignment's, overridden by the
small ones the notebook ran with), no reference results, and the notebooks' work folder as the
solution's work folder. The checks compute their references themselves; every check must give full
marks, and no check may write into the work folder (it is a read-only snapshot when grading). Hidden
inputs catch a solution that is only right for what the notebook itself asks (notebook 03's exercise 2
once was only right for ``tiny``, whose last feature map is 1 x 1 x 1).

Cost (2 CPU cores, about 4 minutes): the ``tiny`` notebooks share one work folder like the course
chain (00 is not graded and not run; 01 makes the synthetic clips, 05 reuses 04's MC-DCN run; each
notebook works on a copy of the folder, copied back after it), about 3 minutes. ``lite`` is run for 03, whose exercises compute parameter counts from the preset's shapes
(about half a minute: no data, no training). The others are not run again with ``lite``; instead the
tests below assert why their exercises cannot depend on it:

- 01 and 02 never read ``preset`` (annotated faces, built-in photos, ``crop_size``), and their checks
  give the ``tiny`` answers full marks whatever preset the grader names (:func:`test_preset_free_notebooks`);
- 04 and 05 train and evaluate the preset's networks (with ``lite``, preprocessing and training more
  than double their run time). Their exercises 1-3 work on a seeded batch, the logged learning rates,
  the paper preset's timing and the recorded confusion counts, and their checks ignore the preset;
  exercise 4 reports the kit's own evaluation of the preset's runs, which the check recomputes on the
  runs of the grading preset (:func:`test_training_notebooks_follow_the_preset`). No code cell of any
  notebook names ``tiny`` or ``lite``: every preset comes from the ``preset`` parameter.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from fer_kit import course
from fer_kit.grading import CheckContext, get_assignment
from fer_kit.grading.checks import run_checks
from fer_kit.grading.hidden import hidden_run, plan_hidden
from fer_kit.grading.sandbox import Isolation, run_sandboxed
from fer_kit.grading.submissions import copy_tree, remove_tree

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

NOTEBOOKS = ("01_ert_landmarks", "02_wrinkle_regions", "03_cnn_blocks", "04_dual_network_training",
             "05_confusion_analysis")
PRESET_DEPENDENT = ("03_cnn_blocks", "04_dual_network_training", "05_confusion_analysis")

RUNS_TRAINED = {"04_dual_network_training": "ex4_fused_term", "05_confusion_analysis": "ex4_mirror"}
"""The notebooks that train the preset's networks, and the check that evaluates those runs."""
PRESET_FREE = tuple(stem for stem in NOTEBOOKS if stem not in PRESET_DEPENDENT)

SMALL = {"dataset": "synthetic", "seed": 0, "per_class": 4, "epochs": 2, "landmark_faces": 60,
         "cascade_levels": [1, 3], "trees": 40, "videos_per_class": 1, "depth": 12, "lambdas": [[0.5, 0.5]],
         "paper_cost_clips": 0, "gallery": 4}
"""The parameters the notebooks run with (a notebook receives only those it declares)."""
RUN = {"tiny": NOTEBOOKS, "lite": tuple(stem for stem in PRESET_DEPENDENT if stem not in RUNS_TRAINED)}
SECRET = b"the secret of the solutions test"
TIMEOUT = 1200.0


def _run(out: Path, stem: str, preset: str) -> None:
    """Run notebook ``stem`` as the grader runs the solution, on a copy of ``out/work``; keep what it left.

    The work folder comes back (``out/work``); the recorded results, the output folder and the hidden
    tests' answers stay in ``out/<stem>/`` (``results.json``, ``run/out/``) for :func:`grade`.
    """
    assignment = get_assignment(stem)
    parameters = grading_parameters(stem, preset)
    plan = plan_hidden(assignment, SECRET, "solution", parameters)
    nb = nbformat.read(str(course.default_notebooks_dir() / f"{stem}.ipynb"), as_version=4)
    work = out / "work"
    outcome = run_sandboxed(nb, stem, out / stem / "run", parameters, TIMEOUT,
                            fill_work=lambda target: copy_tree(work, target, links="copy", writable=True),
                            isolation=Isolation(sandbox=False), hidden=plan.payload(), hidden_seconds=plan.seconds)
    assert outcome.finished and not outcome.timed_out and not outcome.errors, (stem, outcome.error, outcome.errors)
    remove_tree(work)
    copy_tree(out / stem / "run" / "box" / "course-work", work, links="copy", writable=True)
    remove_tree(out / stem / "run" / "box")
    (out / stem / "answers.json").write_text(json.dumps({"answers": outcome.hidden_answers,
                                                         "problem": outcome.hidden_problem}))


def _chain(tmp_path_factory, preset: str) -> Path:
    out = tmp_path_factory.mktemp(f"solutions-{preset}")
    (out / "work").mkdir()
    for stem in RUN[preset]:
        _run(out, stem, preset)
    return out


@pytest.fixture(scope="module")
def tiny_chain(tmp_path_factory) -> Path:
    return _chain(tmp_path_factory, "tiny")


@pytest.fixture(scope="module")
def lite_chain(tmp_path_factory) -> Path:
    return _chain(tmp_path_factory, "lite")


def grading_parameters(stem: str, preset: str) -> dict:
    """What the grader would pass: the assignment's parameters with the ones this test ran the notebook with."""
    declared = course.notebook_parameters(course.default_notebooks_dir() / f"{stem}.ipynb")
    ran = {key: value for key, value in {**SMALL, "preset": preset}.items() if key in declared}
    return {**get_assignment(stem).parameters, **ran}


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def _results(chain: Path, stem: str) -> dict:
    return course.load_results(chain / stem / "run" / "out" / "output")


def grade(chain: Path, stem: str, preset: str, parameters: dict | None = None) -> list:
    """The assignment's checks on what notebook ``stem`` recorded and answered, as the grader runs them on the
    solution (the hidden inputs are those it ran with; ``parameters`` only change what the checks compare with)."""
    assignment = get_assignment(stem)
    ran = json.loads((chain / stem / "answers.json").read_text())
    plan = plan_hidden(assignment, SECRET, "solution", grading_parameters(stem, preset))
    context = CheckContext(_results(chain, stem), chain / stem / "run" / "out" / "output",
                           parameters or grading_parameters(stem, preset), {},
                           chain / "work" if assignment.solution_run else None,
                           hidden_run(plan, ran["answers"], ran["problem"]))
    return run_checks(assignment.checks, context)


def assert_full_marks(checks: list, what: str) -> None:
    wrong = [f"{check.name}: {check.points:g}/{check.max_points:g} ({check.message})" for check in checks
             if not check.passed or check.points != check.max_points]
    assert not wrong, f"{what}: " + "; ".join(wrong)


def _check_solutions(chain: Path, stem: str, preset: str) -> None:
    work = chain / "work"
    before = _snapshot(work)
    checks = grade(chain, stem, preset)
    assert_full_marks(checks, f"{stem} with {preset}")
    assert {key for check in get_assignment(stem).checks for key in check.keys} <= set(_results(chain, stem))
    assert _snapshot(work) == before, "a check wrote into the solution's work folder (it is read-only when grading)"


@pytest.mark.parametrize("stem", RUN["tiny"])
def test_solutions_earn_full_marks_tiny(tiny_chain: Path, stem: str) -> None:
    _check_solutions(tiny_chain, stem, "tiny")


@pytest.mark.parametrize("stem", RUN["lite"])
def test_solutions_earn_full_marks_lite(lite_chain: Path, stem: str) -> None:
    _check_solutions(lite_chain, stem, "lite")


def _code_trees(stem: str) -> list[ast.Module]:
    """The code cells after the parameters cell, as Python syntax trees (IPython magics turned into Python)."""
    from IPython.core.inputtransformer2 import TransformerManager

    nb = nbformat.read(str(course.default_notebooks_dir() / f"{stem}.ipynb"), as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    return [ast.parse(TransformerManager().transform_cell(cell.source)) for cell in code[1:]]


def _reads_preset(stem: str) -> bool:
    return any(isinstance(node, ast.Name) and node.id == "preset" for tree in _code_trees(stem)
               for node in ast.walk(tree))


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_presets_come_from_the_parameter(stem: str) -> None:
    """No code cell names ``tiny`` or ``lite``; exactly the notebooks run with ``lite`` above read ``preset``."""
    named = {node.value for tree in _code_trees(stem) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and node.value in ("tiny", "lite")}
    assert not named, f"{stem} names the preset(s) {named} in code: take it from the `preset` parameter"
    assert _reads_preset(stem) == (stem in PRESET_DEPENDENT), "update PRESET_DEPENDENT (and what runs with lite)"


@pytest.mark.parametrize("stem", PRESET_FREE)
def test_preset_free_notebooks(tiny_chain: Path, stem: str) -> None:
    """01 and 02 are not run with ``lite``: nothing they compute depends on the preset.

    Their code never reads ``preset`` (it is declared only so the chain can pass one parameter set to
    every chapter; :func:`test_presets_come_from_the_parameter`), and their checks compute the same
    references whatever preset the grader names: the ``tiny`` run's answers keep full marks when graded
    as ``lite`` or ``paper``.
    """
    for preset in ("lite", "paper"):
        parameters = {**grading_parameters(stem, "tiny"), "preset": preset}
        assert_full_marks(grade(tiny_chain, stem, "tiny", parameters), f"{stem} graded as {preset}")


@pytest.mark.parametrize("stem", RUNS_TRAINED)
def test_training_notebooks_follow_the_preset(tiny_chain: Path, stem: str) -> None:
    """04 and 05 are not run with ``lite`` (too slow for CI): their answers are the kit's, on the preset's runs.

    Exercises 1-3 do not depend on the preset: graded as ``lite`` or ``paper``, the ``tiny`` answers
    keep full marks. Exercise 4's function works on the runs the notebook trained with its ``preset``
    (``eq8_run`` returns them, ``mirror_effect`` evaluates them), and the check finds the grading preset's
    runs itself: graded as ``lite``, it finds no ``lite`` run in the ``tiny`` work folder and says so (it
    never falls back on another preset's runs or on what was recorded). With the ``tiny`` runs it gave full
    marks above.
    """
    evaluates_runs = RUNS_TRAINED[stem]
    for preset in ("lite", "paper"):
        parameters = {**grading_parameters(stem, "tiny"), "preset": preset}
        checks = grade(tiny_chain, stem, "tiny", parameters)
        assert_full_marks([check for check in checks if check.name != evaluates_runs], f"{stem} graded as {preset}")
        (runs_check,) = [check for check in checks if check.name == evaluates_runs]
        assert runs_check.points == 0 and f"preset={preset!r}" in runs_check.message, runs_check.message
