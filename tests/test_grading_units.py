"""Grading parts without running notebooks: checks, vetting submissions, the gradebook, the registry."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from fer_kit.errors import FerKitError, InputFileError
from fer_kit.grading import Assignment, Check, CheckContext, CheckFailed, get_assignment, known_assignments
from fer_kit.grading.checks import (
    as_array,
    expect_close,
    expect_equal,
    expect_mapping_close,
    expect_range,
    reference,
    run_check,
    run_checks,
)
from fer_kit.grading.gradebook import feedback_markdown, write_gradebook
from fer_kit.grading.runner import GradeRecord, output_paths
from fer_kit.grading.sandbox import read_executed
from fer_kit.grading.submissions import find_submissions, grading_copy, vet_notebook

FIXTURES = Path(__file__).parent / "fixtures" / "grading"


def _ctx(**results) -> CheckContext:
    return CheckContext(results, Path("."), {"preset": "tiny"})


def _assignment() -> Assignment:
    return Assignment(
        name="toy",
        checks=(
            Check(
                "a", 2, "value a is 3", lambda ctx: expect_equal(ctx.value("exercise_1_a"), 3, "a"), ("exercise_1_a",)
            ),
            Check(
                "b",
                3,
                "b close to pi",
                lambda ctx: expect_close(ctx.number("exercise_2_b"), 3.14159, "b"),
                ("exercise_2_b",),
            ),
        ),
    )


# --- checks -----------------------------------------------------------------------------------


def test_run_check_pass_fail_partial_and_crash():
    assignment = _assignment()
    ok, wrong = run_checks(assignment.checks, _ctx(exercise_1_a=3, exercise_2_b=2.0))
    assert ok.passed and ok.points == 2
    assert not wrong.passed and wrong.points == 0 and "not the reference" in wrong.message
    assert "3.14159" not in wrong.message  # the expected value only with show_expected
    shown = CheckContext({"exercise_2_b": 2.0}, Path("."), {"preset": "tiny"}, show_expected=True)
    assert "expected 3.14159" in run_check(assignment.checks[1], shown).message

    def partial(ctx):
        raise CheckFailed("half right", credit=0.5)

    assert run_check(Check("p", 4, "", partial), _ctx()).points == 2

    def crash(ctx):
        return ctx.value("exercise_1_a")["key"]  # recorded a number where a dict was expected

    result = run_check(Check("c", 1, "", crash), _ctx(exercise_1_a=3))
    assert not result.passed and result.points == 0 and "TypeError" in result.message

    def asserting(ctx):
        assert ctx.number("exercise_1_a") > 5, "a is too small"

    assert run_check(Check("s", 1, "", asserting), _ctx(exercise_1_a=3)).message == "a is too small"


def test_missing_and_malformed_values_say_what_is_wrong():
    with pytest.raises(CheckFailed, match="`exercise_3_x` was not recorded"):
        _ctx().value("exercise_3_x")
    with pytest.raises(CheckFailed, match="should be a number"):
        _ctx(exercise_1_a="3").number("exercise_1_a")
    with pytest.raises(CheckFailed, match="should be a number"):
        _ctx(exercise_1_a=True).number("exercise_1_a")
    with pytest.raises(CheckFailed, match="shape 68x2"):
        _ctx(exercise_1_a=[[1, 2]]).array("exercise_1_a", (68, 2))
    with pytest.raises(CheckFailed, match="NaN"):
        as_array([1.0, float("nan")], "x")
    with pytest.raises(CheckFailed, match="list of numbers"):
        as_array([[1, 2], [3]], "x")
    assert expect_close([1.0, 2.0], [1.0, 2.0005], "x", rtol=1e-3)
    with pytest.raises(CheckFailed, match="differs"):
        expect_close([1.0, 2.0], [1.0, 2.1], "x")
    assert expect_range(0.5, 0, 1, "acc")
    with pytest.raises(CheckFailed, match="between"):
        expect_range(1.5, 0, 1, "acc")


def test_mapping_answers_earn_credit_per_right_key():
    want = {"plain": 1.3, "preact": 1.4, "residual": 1.1}
    assert "all 3" in expect_mapping_close({"plain": 1.3, "preact": 1.4, "residual": 1.1, "extra": 0}, want, "g")
    with pytest.raises(CheckFailed) as failure:
        expect_mapping_close({"plain": 1.3, "preact": 9.9}, want, "g")
    assert failure.value.credit == pytest.approx(1 / 3)
    assert "2 of 3 wrong" in str(failure.value) and "residual" in str(failure.value)
    with pytest.raises(CheckFailed, match="should be a dict"):
        expect_mapping_close([1.3, 1.4, 1.1], want, "g")
    result = run_check(Check("g", 3, "", lambda ctx: expect_mapping_close(ctx.value("g"), want, "g")),
                       _ctx(g={"plain": 1.3, "preact": 1.4, "residual": 0}))
    assert result.points == 2 and not result.passed


def test_reference_is_computed_once():
    calls = []

    @reference
    def expensive(n):
        calls.append(n)
        return n * n

    assert [expensive(3), expensive(3), expensive(4)] == [9, 9, 16]
    assert calls == [3, 4]


# --- submissions ------------------------------------------------------------------------------


def test_find_submissions_files_folders_and_oddities(tmp_path):
    toy = FIXTURES / "toy.ipynb"
    (tmp_path / "alice.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "work.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "work-checkpoint.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "carl").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "carl" / name).write_bytes(toy.read_bytes())
    (tmp_path / "dina").mkdir()
    (tmp_path / "dina" / "toy.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "dina" / "scratch.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "eve").mkdir()
    (tmp_path / "alice").mkdir()  # a second hand-in by alice
    (tmp_path / "alice" / "toy.ipynb").write_bytes(toy.read_bytes())
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".hidden.ipynb").write_text("")
    found = {s.student: s for s in find_submissions(tmp_path, _assignment())}
    assert sorted(found) == ["alice", "bob", "carl", "dina", "eve"]
    assert found["alice"].notebook is None and "two submissions" in found["alice"].problem
    assert found["bob"].notebook.name == "work.ipynb" and found["bob"].folder == tmp_path / "bob"
    assert found["carl"].notebook is None and "several notebooks" in found["carl"].problem
    assert found["dina"].notebook.name == "toy.ipynb"  # the one named like the assignment
    assert found["eve"].notebook is None and "no .ipynb" in found["eve"].problem


def test_vet_notebook_statuses(tmp_path):
    assignment = _assignment()
    cases = {
        "empty": b"   \n",
        "binary": b"\x89PNG\r\n\x1a\n\x00\x00",
        "json": b'{"cells": 3}',
        "truncated": b'{"cells": [{"cell_type": "code"',
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.ipynb"
        path.write_bytes(raw)
        status, reason, nb = vet_notebook(path, assignment)
        assert status == "invalid" and reason and nb is None, name

    def write(nb, name):
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    assert vet_notebook(write(new_notebook(cells=[new_markdown_cell("hi")]), "md"), assignment)[0] == "invalid"
    mine = new_notebook(cells=[new_code_cell("record(output_dir, exercise_1_a=3)")])
    assert vet_notebook(write(mine, "mine"), assignment)[0] == "ok"
    other = new_notebook(
        cells=[new_code_cell("from fer_kit.course import record\nrecord(d, exercise_1_z=1)  # 03_cnn_blocks")]
    )
    status, reason, _ = vet_notebook(write(other, "other"), assignment)
    assert status == "wrong assignment" and "03_cnn_blocks" in reason
    stamped = new_notebook(
        cells=[new_code_cell("record(output_dir, exercise_1_a=3)")],
        metadata={"fer_kit": {"assignment": "05_confusion_analysis"}},
    )
    status, reason, _ = vet_notebook(write(stamped, "stamped"), assignment)
    assert status == "wrong assignment" and "05_confusion_analysis" in reason


def test_grading_copy_restores_a_lost_parameters_tag():
    nb = new_notebook(
        cells=[
            new_code_cell("import os"),
            new_code_cell("preset = 'lite'\noutput_dir = None"),
            new_code_cell("x = 1", execution_count=4),
        ]
    )
    copy = grading_copy(nb)
    assert copy["cells"][1]["metadata"]["tags"] == ["parameters"]
    assert copy["cells"][2]["execution_count"] is None
    assert "tags" not in nb.cells[1].metadata  # the original is untouched


def test_read_executed_numbers_cells_as_submitted(tmp_path):
    nb = new_notebook(
        cells=[
            new_code_cell("p = 1", metadata={"tags": ["parameters"]}),
            new_code_cell("p = 2", metadata={"tags": ["injected-parameters"]}),
            new_code_cell(
                "# the answer\n1 / 0",
                outputs=[
                    nbformat.v4.new_output(
                        "error",
                        ename="ZeroDivisionError",
                        evalue="division by zero",
                        traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"],
                    )
                ],
            ),
            new_code_cell("while True: pass", metadata={"papermill": {"status": "running"}}),
        ]
    )
    nbformat.write(nb, tmp_path / "run.ipynb")
    errors, running = read_executed(tmp_path / "run.ipynb")
    assert errors == [
        {
            "cell": 2,
            "ename": "ZeroDivisionError",
            "evalue": "division by zero",
            "line": "1 / 0",
            "traceback": "ZeroDivisionError: division by zero",
        }
    ]
    assert running == {"cell": 3, "line": "while True: pass"}
    (tmp_path / "cut.ipynb").write_text('{"cells": [')  # killed while papermill was writing
    assert read_executed(tmp_path / "cut.ipynb") == ([], None)


# --- gradebook --------------------------------------------------------------------------------


def test_gradebook_rows_and_feedback(tmp_path):
    from fer_kit.grading.checks import CheckResult

    assignment = _assignment()
    records = [
        GradeRecord(
            "zoe", "toy", "ok", 5, 5, [CheckResult("a", 2, 2, True), CheckResult("b", 3, 3, True)], seconds=3.2
        ),
        GradeRecord(
            "al, jr",
            "toy",
            "error",
            2,
            5,
            [CheckResult("a", 2, 2, True), CheckResult("b", 0, 3, False, "`b` is 2, expected 3.14")],
            note="cell 4 raised KeyError: 'x'",
            errors=[{"cell": 4, "ename": "KeyError", "evalue": "'x'", "line": "d['x']", "traceback": "KeyError: 'x'"}],
        ),
    ]
    path = write_gradebook(records, assignment, tmp_path / "book.csv")
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["student", "assignment", "score", "max", "status", "a", "b", "seconds", "note"]
    assert rows[1] == ["zoe", "toy", "5", "5", "ok", "2", "3", "3.2", ""]
    assert rows[2][:7] == ["al, jr", "toy", "2", "5", "error", "2", "0"]
    text = feedback_markdown(records[1])
    assert "**Score: 2 / 5**" in text and "| failed | b | 0 / 3 | `b` is 2, expected 3.14 |" in text
    assert "Cell 4 (`d['x']`) raised **KeyError**" in text
    assert [p.name for p in tmp_path.iterdir()] == ["book.csv"]  # no temporary file left behind


def test_output_paths_sit_beside_the_gradebook(tmp_path):
    book, feedback, state = output_paths(tmp_path / "marks" / "a02.csv")
    assert feedback == tmp_path / "marks" / "a02_feedback" and state == tmp_path / "marks" / "a02_runs"


# --- registry ---------------------------------------------------------------------------------


def test_get_assignment_by_name_number_and_path():
    toy = get_assignment(str(FIXTURES / "toy_checks.py"))
    assert toy.name == "toy" and toy.max_points == 10 and toy.source_file.endswith("toy_checks.py")
    assert toy.fingerprint() == get_assignment(str(FIXTURES / "toy_checks.py")).fingerprint()
    with pytest.raises(FerKitError, match="unknown assignment"):
        get_assignment("07_nothing")
    with pytest.raises(InputFileError):
        get_assignment("/no/such/checks.py")
    assert known_assignments()[0] == "01_ert_landmarks"
