"""Grade a small class of the toy assignment end to end through ``fer-kit grade`` and read every row."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

from fer_kit.cli import main
from fer_kit.course.release import release_notebooks
from fer_kit.grading import get_assignment
from fer_kit.grading.runner import grade_class
from fer_kit.grading.sandbox import bubblewrap_problem

pytestmark = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"the grader's sandbox cannot run here: {bubblewrap_problem()}")

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
CHECKS = str(FIXTURES / "toy_checks.py")
SOLUTION_2 = (
    "    ### BEGIN SOLUTION\n    size = get_preset(preset_name).size\n    return size * size\n    ### END SOLUTION"
)


def _toy() -> nbformat.NotebookNode:
    return nbformat.read(FIXTURES / "toy.ipynb", as_version=4)


def _with_exercise_2(body: str) -> nbformat.NotebookNode:
    nb = _toy()
    cell = next(cell for cell in nb.cells if "def crop_pixels" in cell.source)
    assert SOLUTION_2 in cell.source
    cell.source = cell.source.replace(SOLUTION_2, body)
    return nb


def _insert_after_setup(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    index = next(i for i, cell in enumerate(nb.cells) if "from fer_kit.course import record" in cell.source)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def _kernels() -> set[int]:
    """Pids of the Jupyter kernels running on this machine, less those of other pytest-xdist workers.

    A kernel that outlived its sandbox is orphaned, so it is counted wherever it ended up; a kernel
    started by another worker (its notebook tests run at the same time) descends from the xdist
    controller but not from this worker, and is not this test's.
    """
    me = os.getpid()
    controller = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else None
    found = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        if "ipykernel" not in " ".join(process.info.get("cmdline") or []):
            continue
        try:
            ancestors = {parent.pid for parent in process.parents()}
        except psutil.Error:
            continue
        if controller is not None and controller in ancestors and me not in ancestors:
            continue  # another worker's kernel
        found.add(process.info["pid"])
    return found


def _make_class(root: Path) -> Path:
    subs = root / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")  # the solution
    release_notebooks(FIXTURES, root / "release", notebooks=["toy"])
    (subs / "carol.ipynb").write_bytes((root / "release" / "toy.ipynb").read_bytes())  # the untouched stub
    nbformat.write(_with_exercise_2('    raise ValueError("half-way")'), subs / "dave.ipynb")
    looping = _insert_after_setup(
        _with_exercise_2("    while True:\n        pass"), "import os\nrecord(output_dir, kernel_pid=os.getpid())"
    )
    nbformat.write(looping, subs / "bea.ipynb")
    (subs / "frank.ipynb").write_text('{"cells": [ {"cell_type": "code", "sour')  # truncated upload
    (subs / ".DS_Store").write_bytes(b"junk")  # ignored
    return subs


def _make_odd_class(root: Path) -> Path:
    subs = root / "submissions"
    subs.mkdir()
    (subs / "gina.ipynb").write_bytes(b"")
    other = _toy()
    other.metadata["fer_kit"] = {"assignment": "03_cnn_blocks"}
    nbformat.write(other, subs / "hank.ipynb")
    # a folder submission whose notebook reads a file it brought along
    (subs / "bob").mkdir()
    (subs / "bob" / "helper.txt").write_text("six")
    nbformat.write(
        _insert_after_setup(_toy(), "assert Path('helper.txt').read_text() == 'six'"), subs / "bob" / "toy.ipynb"
    )
    # a vandal: empties its working folder and leaves it, then answers correctly
    vandal = (
        "import os, shutil\nfor p in Path.cwd().iterdir():\n"
        "    shutil.rmtree(p) if p.is_dir() else p.unlink()\nos.chdir('/')"
    )
    nbformat.write(_insert_after_setup(_toy(), vandal), subs / "ivan.ipynb")
    nbformat.write(_toy(), subs / "judy.ipynb")
    return subs


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _read(gradebook: Path) -> tuple[list[str], dict[str, dict]]:
    with gradebook.open() as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, {row["student"]: row for row in reader}


def _points(rows: dict, student: str) -> tuple:
    r = rows[student]
    return (float(r["score"]), r["status"], float(r["ex1_squares"]), float(r["ex2_pixels"]), float(r["ex3_mean"]))


def test_grade_a_class(tmp_path, capsys):
    """Solution, released stub, exception half-way, infinite loop, corrupt file: one clear row each."""
    subs = _make_class(tmp_path)
    gradebook = tmp_path / "grades" / "toy.csv"
    kernels_before = _kernels()
    code = main(
        [
            "grade",
            str(subs),
            "--assignment",
            CHECKS,
            "--out",
            str(gradebook),
            "--timeout",
            "15",
            "--workers",
            "2",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["graded"] == 5 and summary["reused"] == 0

    header, rows = _read(gradebook)
    assert header == [
        "student",
        "assignment",
        "score",
        "max",
        "status",
        "ex1_squares",
        "ex2_pixels",
        "ex3_mean",
        "seconds",
        "note",
    ]
    assert list(rows) == ["alice", "bea", "carol", "dave", "frank"]
    assert all(r["max"] == "10" and r["assignment"] == "toy" for r in rows.values())
    assert _points(rows, "alice") == (10, "ok", 2, 3, 5)  # ex2 proves the grading preset reached the notebook
    assert _points(rows, "carol") == (0, "not implemented", 0, 0, 0)
    assert _points(rows, "dave") == (7, "error", 2, 0, 5)  # the exercises after the error still count
    assert "ValueError: half-way" in rows["dave"]["note"]
    assert _points(rows, "bea") == (2, "timeout", 2, 0, 0)  # what it recorded before the loop counts
    assert "15 s" in rows["bea"]["note"] and "cell 10" in rows["bea"]["note"]
    assert _points(rows, "frank")[:2] == (0, "invalid") and "not a Jupyter notebook" in rows["frank"]["note"]

    # the looping kernel was killed, not left spinning (its pid is the sandbox's own, so look for kernels)
    state = tmp_path / "grades" / "toy_runs"
    assert json.loads((state / "results" / "bea.json").read_text())["kernel_pid"] > 0
    assert _kernels() <= kernels_before, "a kernel outlived its sandbox"
    assert "in crop_pixels" in (state / "logs" / "bea.log").read_text()  # where it was stuck, for the instructor

    feedback = tmp_path / "grades" / "toy_feedback"
    assert sorted(p.stem for p in feedback.glob("*.md")) == sorted(rows)
    dave = (feedback / "dave.md").read_text()
    assert "**Score: 7 / 10**" in dave and "ValueError" in dave and "half-way" in dave
    assert "| failed | ex2_pixels | 0 / 3 |" in dave and "| passed | ex3_mean | 5 / 5 |" in dave
    assert "NotImplementedError" in (feedback / "carol.md").read_text()
    assert "time limit" in (feedback / "bea.md").read_text()
    assert (state / "executed" / "alice.ipynb").is_file()

    # re-running resumes: nothing changed -> nothing runs; a new hand-in -> only that student runs
    # (with the same time limit: a time-out is graded again when the limit changes)
    same = ["--timeout", "15"]
    assert main(["grade", str(subs), "--assignment", CHECKS, "--out", str(gradebook), "--json", *same]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["graded"] == 0 and again["reused"] == 5
    nbformat.write(_toy(), subs / "carol.ipynb")  # carol hands in the finished notebook
    assert main(["grade", str(subs), "--assignment", CHECKS, "--out", str(gradebook), "--json", *same]) == 0
    third = json.loads(capsys.readouterr().out)
    assert third["graded"] == 1 and third["scores"]["carol"] == [10, 10, "ok"]
    assert _read(gradebook)[1]["dave"]["score"] == "7"


def test_grade_odd_submissions_in_their_own_sandboxes(tmp_path):
    """Empty file, wrong assignment, folder submission, a notebook emptying its working folder.

    The assignment runs its solution first: every student starts from a fresh copy of what the
    solution left in its work folder, and the solution's own copy stays as it was.
    """
    subs = _make_odd_class(tmp_path)
    before = _hashes(subs)
    assignment = dataclasses.replace(get_assignment(CHECKS), solution_run=True, solution="toy.ipynb")
    gradebook = subs / "grades.csv"  # the gradebook may even live inside the submissions folder
    messages: list[str] = []
    report = grade_class(subs, assignment, gradebook, timeout=60, workers=2, log=messages.append)
    assert any(message.startswith("solution: 10/10") for message in messages)
    _, rows = _read(gradebook)
    assert [record.student for record in report.records] == list(rows) == ["bob", "gina", "hank", "ivan", "judy"]
    assert _points(rows, "gina")[:2] == (0, "invalid") and "empty" in rows["gina"]["note"]
    assert _points(rows, "hank")[:2] == (0, "wrong assignment") and "03_cnn_blocks" in rows["hank"]["note"]
    assert _points(rows, "bob") == (10, "ok", 2, 3, 5)  # the folder's helper file was beside the notebook
    assert _points(rows, "ivan") == (10, "ok", 2, 3, 5)  # it only emptied its own sandbox
    assert _points(rows, "judy") == (10, "ok", 2, 3, 5)
    after = {name: digest for name, digest in _hashes(subs).items() if not name.startswith("grades")}
    assert after == before  # nobody touched the hand-ins

    state = subs / "grades_runs"
    # the solution ran once, for both workers; each student worked on a copy in its own sandbox
    assert (state / "solution" / "work" / "runs.txt").read_text().split() == ["run"]
    assert sorted(p.name for p in (state / "solution").iterdir() if p.is_dir()) == ["executed", "logs", "results",
                                                                                     "work"]
    for student in ("bob", "ivan", "judy"):
        assert json.loads((state / "results" / f"{student}.json").read_text())["work_dir_runs"] == 2


def test_grade_rejects_a_missing_folder_in_one_line(tmp_path, capsys):
    code = main(["grade", str(tmp_path / "nowhere"), "--assignment", CHECKS, "--out", str(tmp_path / "g.csv")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and "no such submissions folder" in err[0]
    assert main(["grade", str(tmp_path), "--assignment", "99_nothing", "--out", str(tmp_path / "g.csv")]) == 2
    assert "unknown assignment" in capsys.readouterr().err
