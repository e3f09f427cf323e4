"""The student release: solutions become stubs, outputs and grading code disappear, nothing leaks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from fer_kit.cli import main
from fer_kit.course.release import ReleaseError, find_markers, release_notebooks, student_version

FIXTURE = Path(__file__).parent / "fixtures" / "grading" / "toy.ipynb"


def _instructor_notebook() -> dict:
    code = new_code_cell(
        "import numpy as np\n\n"
        "def area(mask):\n"
        "    total = 0\n"
        "    ### BEGIN SOLUTION\n"
        "    total = int(mask.sum())\n"
        "    ### END SOLUTION\n"
        "    return total\n",
        execution_count=3,
        outputs=[new_output("stream", name="stdout", text="secret answer 42\n")],
        metadata={"execution": {"iopub.status.busy": "2024-01-01"}, "papermill": {"duration": 1.0}},
    )
    nested = new_code_cell(
        "class Stage:\n"
        "    def run(self, x):\n"
        "        if x:\n"
        "            ### BEGIN SOLUTION\n"
        "            return x * 2\n"
        "            ### END SOLUTION\n"
        "        return 0\n"
    )
    hidden = new_code_cell(
        "assert area(np.ones((2, 2))) == 4\n### BEGIN HIDDEN TESTS\nassert area(np.ones((3, 3))) == 9\n### END HIDDEN TESTS"
    )
    answer = new_markdown_cell(
        "Why exclude the forehead?\n\n### BEGIN SOLUTION\nIt wrinkles with age.\n### END SOLUTION"
    )
    instructor = new_code_cell("print('grading helper')", metadata={"tags": ["instructor"]})
    return new_notebook(
        cells=[code, nested, hidden, answer, instructor],
        metadata={"papermill": {"parameters": {}}, "kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )


def test_student_version_replaces_solutions_keeping_indentation():
    student = student_version(_instructor_notebook(), "02_wrinkle_regions")
    sources = [cell["source"] for cell in student["cells"]]
    assert sources[0] == (
        "import numpy as np\n\ndef area(mask):\n    total = 0\n"
        "    # YOUR CODE HERE\n    raise NotImplementedError()\n    return total"
    )
    assert "            # YOUR CODE HERE\n            raise NotImplementedError()\n        return 0" in sources[1]
    assert sources[2] == "assert area(np.ones((2, 2))) == 4"  # hidden test gone, visible one kept
    assert sources[3] == "Why exclude the forehead?\n\nYOUR ANSWER HERE"
    assert len(sources) == 4  # the instructor-only cell is dropped
    code = student["cells"][0]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert "execution" not in code["metadata"] and "papermill" not in code["metadata"]
    assert student["metadata"]["fer_kit"]["assignment"] == "02_wrinkle_regions"
    assert "papermill" not in student["metadata"]
    compile(sources[0], "cell", "exec")  # the stub is still valid Python
    compile(sources[1], "cell", "exec")


def test_release_writes_clean_notebooks_and_the_stub_raises(tmp_path):
    src = tmp_path / "instructor"
    src.mkdir()
    nbformat.write(nbformat.from_dict(_instructor_notebook()), src / "02_wrinkle_regions.ipynb")
    (src / "toy.ipynb").write_bytes(FIXTURE.read_bytes())
    written = release_notebooks(src, tmp_path / "release")
    assert [path.name for path in written] == ["02_wrinkle_regions.ipynb", "toy.ipynb"]
    for path in written:
        text = path.read_text()
        assert "SOLUTION" not in text and "HIDDEN" not in text and "secret answer" not in text
        assert "It wrinkles with age" not in text and "grading helper" not in text
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all(not cell.get("outputs") for cell in nb.cells)
    toy = nbformat.read(tmp_path / "release" / "toy.ipynb", as_version=4)
    assert "return [i * i for i in range(n)]" not in json.dumps(toy)
    namespace: dict = {}
    exec(toy.cells[4].source, namespace)  # def squares(n): stub
    with pytest.raises(NotImplementedError):
        namespace["squares"](3)
    assert find_markers(tmp_path / "release") == []


def test_release_refuses_unbalanced_markers(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2")])
    nbformat.write(nb, src / "bad.ipynb")
    with pytest.raises(ReleaseError, match="never closed"):
        release_notebooks(src, tmp_path / "out")
    assert not (tmp_path / "out" / "bad.ipynb").exists()


def test_release_detects_a_leak_already_in_the_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "toy.ipynb").write_bytes(FIXTURE.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "answers.py").write_text("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n")
    with pytest.raises(ReleaseError, match="answers.py"):
        release_notebooks(src, out)


def test_release_into_the_source_folder_is_refused(tmp_path):
    (tmp_path / "toy.ipynb").write_bytes(FIXTURE.read_bytes())
    with pytest.raises(ReleaseError):
        release_notebooks(tmp_path, tmp_path / "student")


def test_course_release_command(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "toy.ipynb").write_bytes(FIXTURE.read_bytes())
    assert main(["course", "release", "--notebooks", str(src), "--out", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(path).name for path in report["notebooks"]] == ["toy.ipynb"]
    assert main(["course", "release", "--notebooks", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing" in capsys.readouterr().err


def test_released_notebooks_are_readable_by_others(tmp_path):
    """An instructor hands the release out: under the usual umask 022 every notebook is -rw-r--r--."""
    import os

    from fer_kit.config import NOTEBOOKS_DIR

    old = os.umask(0o022)
    try:
        written = release_notebooks(NOTEBOOKS_DIR, tmp_path / "student")
    finally:
        os.umask(old)
    assert len(written) == 6
    assert {oct(Path(path).stat().st_mode & 0o777) for path in written} == {"0o644"}
