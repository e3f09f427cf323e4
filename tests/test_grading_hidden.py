"""Hidden tests: the grader calls the students' functions in their own sandboxed kernels, on inputs they never saw.

The toy assignment (``tests/fixtures/grading``) asks for three functions. A class is graded once
(module fixture, marked slow: about 30 s): the solution twice (two names), a notebook that records the
right numbers from wrong functions, one whose function raises on inputs it has not seen, one returning
garbage and one that sleeps forever on them. The quicker tests grade one notebook at a time
(``--show-expected``, the secret and the resume fingerprint), and the parts (drawing inputs, the probe,
the secret, judging) are tested without notebooks below.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import stat
from pathlib import Path

import nbformat
import numpy as np
import pytest

from fer_kit.cli import main
from fer_kit.errors import InputFileError
from fer_kit.grading import Check, CheckContext, get_assignment
from fer_kit.grading.checks import run_check
from fer_kit.grading.hidden import (
    SECRET_FILE,
    HiddenTest,
    close,
    equal,
    hidden_run,
    mapping,
    optional,
    plan_hidden,
    read_secret,
    secret_digest,
    stored_secret,
)
from fer_kit.grading.probe import PROBE_TAG, call_case, decode_input, encode_input, plain_output, run_cases
from fer_kit.grading.runner import grade_class, grader_fingerprint
from fer_kit.grading.sandbox import bubblewrap_problem
from fer_kit.grading.submissions import grading_copy

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
CHECKS = str(FIXTURES / "toy_checks.py")
SECRET = b"instructor-secret-for-the-tests-0123456789"
OTHER_SECRET = b"another-instructor-secret-9876543210"

needs_bwrap = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"no sandbox here: {bubblewrap_problem()}")

SOLUTION_BLOCK = {
    "squares": "    ### BEGIN SOLUTION\n    return [i * i for i in range(n)]\n    ### END SOLUTION",
    "crop_pixels": ("    ### BEGIN SOLUTION\n    size = get_preset(preset_name).size\n    return size * size\n"
                    "    ### END SOLUTION"),
    "mean_of_squares": "    ### BEGIN SOLUTION\n    return sum(squares(n)) / n\n    ### END SOLUTION",
}


def _toy() -> nbformat.NotebookNode:
    return nbformat.read(FIXTURES / "toy.ipynb", as_version=4)


def _with(**bodies: str) -> nbformat.NotebookNode:
    """The toy solution with the body of each named function replaced."""
    nb = _toy()
    for function, body in bodies.items():
        cell = next(cell for cell in nb.cells if f"def {function}(" in cell.source)
        assert SOLUTION_BLOCK[function] in cell.source
        cell.source = cell.source.replace(SOLUTION_BLOCK[function], body)
    return nb


FORGE = """\
import json, sys, types
from pathlib import Path
hidden = Path.cwd().parent / "hidden"  # the probe's cases and answers, beside the working folder
cases = json.loads((hidden / "cases.json").read_text())
forged = {t["check"]: {"function": t["function"], "finished": True,
                       "answers": [{"value": [0, 1, 4, 9, 16, 25]} for _ in t["cases"]]} for t in cases["tests"]}
(hidden / "answers.json").write_text(json.dumps({"tests": forged, "running": None}))
fake = types.ModuleType("fer_kit.grading.probe")
fake.run_cases = lambda *args, **kwargs: None
sys.modules["fer_kit.grading.probe"] = fake
import fer_kit.grading
fer_kit.grading.probe = fake
"""


def _forger() -> nbformat.NotebookNode:
    """The released stub, plus a last cell writing the probe's answers itself and disabling the probe."""
    stub = "    raise NotImplementedError()"
    nb = _with(squares=stub, crop_pixels=stub, mean_of_squares=stub)
    nb.cells.append(nbformat.v4.new_code_cell(FORGE))
    return nb


CLASS = {
    "alice": _toy,
    "bob": _toy,
    # the right numbers for what the notebook itself asks (n = 6, the grading preset, n = 10), wrong functions
    "const": lambda: _with(squares="    return [0, 1, 4, 9, 16, 25]", crop_pixels="    return 1024",
                           mean_of_squares="    return 28.5"),
    # right where the notebook calls it, an error on any other preset
    "raiser": lambda: _with(crop_pixels=(
        "    if preset_name != preset:\n        raise ValueError(f'no preset {preset_name} here')\n"
        "    return get_preset(preset_name).size ** 2")),
    "garbage": lambda: _with(squares="    return {i * i for i in range(n)} if n != 6 else [0, 1, 4, 9, 16, 25]",
                             mean_of_squares="    return 'twenty-eight and a half'"),
    "sleeper": lambda: _with(mean_of_squares=(
        "    import time\n    while n != 10:\n        time.sleep(1)\n    return sum(squares(n)) / n")),
    "forger": _forger,
}


def _grade(subs: Path, gradebook: Path, secret: bytes = SECRET, **options) -> object:
    assignment = dataclasses.replace(get_assignment(CHECKS), solution_run=True, solution=str(FIXTURES / "toy.ipynb"))
    messages: list[str] = []
    report = grade_class(subs, assignment, gradebook, timeout=60, workers=2, log=messages.append, secret=secret,
                         **options)
    report.messages = messages
    return report


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden")
    subs = root / "submissions"
    subs.mkdir()
    for student, make in CLASS.items():
        nbformat.write(make(), subs / f"{student}.ipynb")
    report = _grade(subs, root / "grades" / "toy.csv")
    with report.gradebook.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    feedback = {student: (report.feedback_dir / f"{student}.md").read_text() for student in rows}
    return report, rows, feedback


def _tiny_share(student: str) -> float:
    """The fraction of ``student``'s hidden presets that are the grading preset (``tiny``)."""
    cases = plan_hidden(get_assignment(CHECKS), SECRET, student).cases["ex2_pixels"]
    return sum(case.args == ("tiny",) for case in cases) / len(cases)


def _points(row: dict) -> tuple:
    return float(row["score"]), float(row["ex1_squares"]), float(row["ex2_pixels"]), float(row["ex3_mean"])


# --- a class ----------------------------------------------------------------------------------------


@needs_bwrap
@pytest.mark.slow
def test_the_solution_passes_its_hidden_tests(graded):
    report, rows, feedback = graded
    assert any(message.startswith("solution: 10/10") for message in report.messages), report.messages
    assert _points(rows["alice"]) == _points(rows["bob"]) == (10, 2, 3, 5)
    assert "gives the reference answer on all 3 hidden inputs" in feedback["alice"]


@needs_bwrap
@pytest.mark.slow
def test_recorded_numbers_alone_earn_nothing(graded):
    _, rows, feedback = graded
    results = json.loads((graded[0].state_dir / "results" / "const.json").read_text())
    assert results["exercise_1_squares"] == [0, 1, 4, 9, 16, 25] and results["exercise_3_mean"] == 28.5
    assert rows["const"]["status"] == "ok"
    # crop_pixels returns the tiny preset's 1024 for every preset: right only where a hidden preset is tiny
    assert _points(rows["const"]) == (_tiny_share("const") * 3, 0, _tiny_share("const") * 3, 0)
    assert "`squares(hidden input 1)`" in feedback["const"] and "differs from the reference by" in feedback["const"]


@needs_bwrap
@pytest.mark.slow
def test_a_function_that_raises_gets_zero_and_a_reason(graded):
    _, rows, feedback = graded
    assert rows["raiser"]["status"] == "ok"  # the notebook itself ran cleanly
    pixels = _tiny_share("raiser") * 3  # right only on a hidden preset that is the notebook's own
    assert _points(rows["raiser"]) == (7 + pixels, 2, pixels, 5)
    assert "raised ValueError: no preset" in feedback["raiser"]


@needs_bwrap
@pytest.mark.slow
def test_garbage_answers_get_zero_and_a_reason(graded):
    _, rows, feedback = graded
    assert _points(rows["garbage"]) == (3, 0, 3, 0)
    assert "returned a set, which is not plain numbers" in feedback["garbage"]
    assert "`mean_of_squares(hidden input 1)` returned str, not numbers" in feedback["garbage"]


@needs_bwrap
@pytest.mark.slow
def test_a_function_that_never_returns_is_stopped_and_the_rest_still_counts(graded):
    _, rows, feedback = graded
    assert rows["sleeper"]["status"] == "ok" and _points(rows["sleeper"]) == (5, 2, 3, 0)
    assert "did not return within 2 s" in feedback["sleeper"]


@needs_bwrap
@pytest.mark.slow
def test_answers_written_by_the_notebook_itself_earn_nothing(graded):
    """The forger writes answers.json and replaces the probe: its answers are still compared with references."""
    _, rows, feedback = graded
    assert rows["forger"]["status"] == "not implemented" and float(rows["forger"]["score"]) == 0
    assert "`squares(hidden input 1)` returned 6 items" in feedback["forger"]


@needs_bwrap
def test_hidden_inputs_differ_per_student_and_per_secret():
    assignment = get_assignment(CHECKS)
    alice, bob = (plan_hidden(assignment, SECRET, name).cases for name in ("alice", "bob"))
    other = plan_hidden(assignment, OTHER_SECRET, "alice").cases
    assert alice == plan_hidden(assignment, SECRET, "alice").cases  # deterministic
    assert alice["ex1_squares"] != bob["ex1_squares"] and alice["ex3_mean"] != bob["ex3_mean"]
    assert alice["ex1_squares"] != other["ex1_squares"]
    assert all(case.args != (6,) for case in alice["ex1_squares"])  # not what the notebook itself asks


@needs_bwrap
def test_expected_values_only_with_show_expected(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(CLASS["const"](), subs / "const.ipynb")
    book = tmp_path / "grades.csv"
    plan = plan_hidden(get_assignment(CHECKS), SECRET, "const")
    wanted = [repr(sum(i * i for i in range(n)) / n) for (n,) in (case.args for case in plan.cases["ex3_mean"])]

    hidden = _grade(subs, book)
    (record,) = hidden.records  # the right recorded numbers from wrong functions earn nothing for them
    assert record.status == "ok" and [check.points for check in record.checks][::2] == [0, 0]
    text = (hidden.feedback_dir / "const.md").read_text()
    assert "differs from the reference" in text and "expected" not in text
    assert not any(value in text for value in wanted), (wanted, text)

    shown = _grade(subs, book, show_expected=True)
    assert shown.graded == 1 and shown.reused == 0  # --show-expected is part of the resume fingerprint
    text = (shown.feedback_dir / "const.md").read_text()
    assert "expected" in text and all(value in text for value in wanted[:2]), (wanted, text)


@needs_bwrap
def test_the_secret_is_part_of_the_resume_fingerprint_and_never_stored(tmp_path, capsys):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")
    book = tmp_path / "grades.csv"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_bytes(SECRET + b"\n")

    def grade(*extra: str) -> dict:
        assert main(["grade", str(subs), "--assignment", CHECKS, "--out", str(book), "--timeout", "60",
                     "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    first = grade("--secret-file", str(secret_file))
    assert first["scores"]["alice"] == [10, 10, "ok"]
    assert grade("--secret-file", str(secret_file))["reused"] == 1
    secret_file.write_bytes(OTHER_SECRET)
    again = grade("--secret-file", str(secret_file))
    assert again["graded"] == 1 and again["scores"]["alice"] == [10, 10, "ok"]
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p != secret_file)
    assert SECRET.decode() not in written and OTHER_SECRET.decode() not in written
    # without --secret-file: one is made, kept with mode 0600, and used again next time
    made = grade()
    assert made["graded"] == 1
    stored = tmp_path / "grades_runs" / SECRET_FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert grade()["reused"] == 1


@needs_bwrap
@pytest.mark.slow
def test_a_kernel_that_ignores_the_time_limit_is_killed_without_waiting_for_the_hidden_tests(tmp_path):
    """A loop that swallows the interrupt: killed about 15 s after --timeout, not after the hidden tests' budget."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.5)\n    except KeyboardInterrupt:\n        pass"
    nb = _toy()
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if "def crop_pixels" in c.source),
                    nbformat.v4.new_code_cell(stubborn))
    nbformat.write(nb, subs / "stubborn.ipynb")
    report = grade_class(subs, get_assignment(CHECKS), tmp_path / "g.csv", timeout=10, secret=SECRET)
    (record,) = report.records
    assert record.status == "timeout" and record.seconds < 10 + 15 + 20, record.seconds
    assert record.score == 0 and "before the hidden tests could run" in record.checks[0].message


# --- the parts -------------------------------------------------------------------------------------


def test_secret_files(tmp_path):
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(InputFileError, match="too short"):
        read_secret(short)
    with pytest.raises(InputFileError, match="cannot read"):
        read_secret(tmp_path / "missing")
    secret, made = stored_secret(tmp_path / "state")
    assert made and len(secret) == 64
    assert stored_secret(tmp_path / "state") == (secret, False)
    assert stat.S_IMODE((tmp_path / "state" / SECRET_FILE).stat().st_mode) == 0o600
    assert secret_digest(secret) != secret_digest(SECRET) and secret.decode() not in secret_digest(secret)
    (tmp_path / "linked").mkdir()
    os.symlink(tmp_path / "short", tmp_path / "linked" / SECRET_FILE)
    with pytest.raises(InputFileError):
        stored_secret(tmp_path / "linked")


def test_the_fingerprint_covers_the_secret_and_show_expected():
    from fer_kit.grading.hidden import HiddenOptions

    assignment = get_assignment(CHECKS)
    base = grader_fingerprint(assignment, None, HiddenOptions(SECRET))
    assert base == grader_fingerprint(assignment, None, HiddenOptions(SECRET))
    assert base != grader_fingerprint(assignment, None, HiddenOptions(OTHER_SECRET))
    assert base != grader_fingerprint(assignment, None, HiddenOptions(SECRET, show_expected=True))


def test_inputs_and_outputs_cross_as_plain_json():
    image = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    table = {"a": [1.5, 2.5]}
    decoded = decode_input(json.loads(json.dumps(encode_input([image, table, (1, 2)]))))
    assert np.array_equal(decoded[0], image) and decoded[0].dtype == np.uint8 and decoded[0].flags.writeable
    assert decoded[1:] == [table, [1, 2]]
    import pandas as pd

    frame = pd.DataFrame([[0.1, 0.2]], index=["happiness"], columns=["mouth", "brows"])
    assert decode_input(json.loads(json.dumps(encode_input(frame)))).equals(frame)
    assert plain_output({"x": np.float32(0.5), "y": np.arange(3), "z": (True, None, Path("/a"))}) == {
        "x": 0.5, "y": [0, 1, 2], "z": [True, None, "/a"]}
    for bad in ({1, 2}, object(), np.zeros(200_000), (i for i in range(3))):
        with pytest.raises(ValueError):
            plain_output(bad)


def test_calls_are_limited_and_errors_named():
    def sleeps(n):
        import time

        time.sleep(30)

    def raises(n):
        raise KeyError("nope\nsecond line")

    assert call_case(lambda n: n * 2, {"args": [3]}, 2)["value"] == 6
    assert call_case(sleeps, {"args": [1]}, 0.5) == {"error": "timeout", "detail": "0.5"}
    raised = call_case(raises, {"args": [1]}, 2)
    assert raised["error"] == "raised" and raised["name"] == "KeyError" and "\n" not in raised["detail"]
    assert call_case(lambda n: {1}, {"args": [1]}, 2)["error"] == "output"


def test_the_probe_answers_and_the_grader_judges(tmp_path):
    """The probe run in this process on the toy plan (as the kernel would), judged like the grader does."""
    assignment = get_assignment(CHECKS)
    plan = plan_hidden(assignment, SECRET, "zoe")
    (tmp_path / "cases.json").write_text(json.dumps(plan.payload()))
    namespace = {"squares": lambda n: [i * i for i in range(n)], "crop_pixels": lambda name: 1024}
    run_cases(tmp_path / "cases.json", tmp_path / "answers.json", namespace)
    answers = json.loads((tmp_path / "answers.json").read_text())
    run = hidden_run(plan, answers, "")
    context = CheckContext({}, tmp_path, dict(assignment.parameters), hidden=run)
    squares, pixels, mean = (run_check(check, context) for check in assignment.checks)
    assert squares.passed and squares.points == 2
    assert pixels.points < 3 and "differs from the reference" not in pixels.message  # exact: "not the reference"
    assert mean.points == 0 and "defines no function `mean_of_squares`" in mean.message
    nothing = CheckContext({}, tmp_path, {}, hidden=hidden_run(plan, None, "the run was stopped at the time limit"))
    assert "not tested: the run was stopped at the time limit" in run_check(assignment.checks[0], nothing).message


def test_comparisons_say_what_is_wrong_without_the_value():
    assert close()(1.0, 1.0 + 1e-9).credit == 1
    verdict = close(rtol=1e-6)(0.52, 0.83)
    assert verdict.credit == 0 and "differs from the reference by 0.31" in verdict.problem
    assert "0.83" not in verdict.problem and "0.83" in verdict.expected
    assert "shape 2" in close()([1, 2], [[1, 2]]).problem
    assert equal()(["a"], ["b"]).problem == "is not the reference answer"
    shares = mapping(close())({"age": 0.1, "mouth": 0.5}, {"age": 0.1, "mouth": 0.3, "brows": 0.2})
    assert shares.credit == pytest.approx(1 / 3) and "'brows'] is missing" in shares.problem
    assert optional(close())(None, None).credit == 1 and optional(close())(1.0, None).credit == 0


def test_a_hidden_check_without_answers_scores_zero():
    test = HiddenTest("f", lambda rng, p: [(1,)], lambda ctx, x: x, equal())
    check = Check("c", 4, "", None, (), hidden=test)
    result = run_check(check, CheckContext({"exercise_1_c": 1}, Path(".")))
    assert result.points == 0 and "no hidden inputs" in result.message


def test_students_cannot_tag_their_own_cells_as_the_graders():
    nb = _toy()
    nb.cells[-1].metadata["tags"] = [PROBE_TAG, "keep"]
    nb.cells[-1].metadata["fer_kit_grader"] = {"stopped": "time limit"}
    copy = grading_copy(nb)
    assert copy["cells"][-1]["metadata"] == {"tags": ["keep"]}
