"""The course notebooks as files: parameters cells, no outputs, exercises, code that parses."""

from __future__ import annotations

import re

import nbformat
import pytest

from fer_kit.course import NOTEBOOKS, default_notebooks_dir

NOTEBOOK_DIR = default_notebooks_dir()
COMMON = {"preset", "seed", "output_dir", "work_dir"}
WITH_DATA = {"dataset", "data_dir", "per_class"}
EXPECTED_PARAMETERS = {
    "00_setup": COMMON | WITH_DATA,
    "01_ert_landmarks": COMMON | WITH_DATA | {"landmark_dir", "landmark_faces", "cascade_levels"},
    "02_wrinkle_regions": COMMON | WITH_DATA | {"videos_per_class", "crop_size"},
    "03_cnn_blocks": COMMON | {"depth"},
    "04_dual_network_training": COMMON | WITH_DATA | {"epochs", "lambdas", "protocol", "recipe", "fused_weights",
                                                               "paper_cost_clips"},
    "05_confusion_analysis": COMMON | WITH_DATA | {"epochs", "models", "protocol", "recipe"},
}


def _load(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(str(NOTEBOOK_DIR / f"{stem}.ipynb"), as_version=4)


def _python(source: str) -> str:
    """Cell source with IPython syntax (``%magic``) turned into Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_is_valid_with_python3_kernel(stem: str) -> None:
    nb = _load(stem)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {stem[:2]}")


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_first_code_cell_is_the_parameters_cell(stem: str) -> None:
    import papermill

    nb = _load(stem)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1
    declared = set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{stem}.ipynb")))
    assert EXPECTED_PARAMETERS[stem] <= declared, EXPECTED_PARAMETERS[stem] - declared
    # the next code cell resolves the folders, so the notebook also runs when opened by hand
    assert f'course.prepare_dirs(output_dir, work_dir, "{stem}")' in code[1].source


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_committed_without_outputs(stem: str) -> None:
    for cell in _load(stem).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_code_cells_parse(stem: str) -> None:
    for number, cell in enumerate(_load(stem).cells, start=1):
        if cell.cell_type == "code":
            compile(_python(cell.source), f"{stem} cell {number}", "exec")


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_exercises_have_solutions_and_record_answers(stem: str) -> None:
    nb = _load(stem)
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    begins, ends = text.count("### BEGIN SOLUTION"), text.count("### END SOLUTION")
    assert begins == ends >= 2
    recorded = re.findall(r"exercise_(\d+)_\w+=", text)
    assert len(recorded) >= 2 and sorted(set(recorded)) == [str(n) for n in range(1, len(set(recorded)) + 1)]
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "## Exercises" in markdown
    for n in set(recorded):
        assert f"### Exercise {n}" in markdown


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_student_release_stubs_every_solution(stem: str, tmp_path) -> None:
    from fer_kit.course.release import release_notebooks

    released = release_notebooks(NOTEBOOK_DIR, tmp_path, notebooks=[stem])
    nb = nbformat.read(str(released[0]), as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert "SOLUTION" not in text
    original = "\n".join(cell.source for cell in _load(stem).cells)
    assert text.count("raise NotImplementedError()") == original.count("### BEGIN SOLUTION") >= 2
    for cell in nb.cells:
        if cell.cell_type == "code":
            compile(_python(cell.source), f"released {stem}", "exec")


def test_notebooks_keep_logic_in_the_library() -> None:
    """A notebook cell is a few lines calling fer_kit: no long cells, no function longer than an exercise."""
    for stem in NOTEBOOKS:
        for cell in _load(stem).cells:
            if cell.cell_type == "code":
                assert len(cell.source.splitlines()) <= 30, (stem, cell.source[:80])
