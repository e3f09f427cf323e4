"""Hidden tests: the grader calls the student's functions, in the student's own kernel, on inputs they never saw.

A :class:`~fer_kit.grading.checks.Check` with ``hidden=HiddenTest(...)`` earns its points only from
what the student's function returns; what the notebook recorded earns nothing for it. Per check:

1. **plan** (the grader, before the run; :func:`plan_hidden`): a NumPy generator seeded with
   HMAC-SHA256(instructor secret, assignment, check, student) draws the hidden inputs with the test's
   ``cases(rng, parameters)``. A test marked ``shared`` draws them from the secret alone (the same for
   the whole class) because its reference is costly (training, evaluating runs) and is then computed
   once. The grader keeps its own copy of the inputs; an encoded copy goes into the sandbox for the probe.
2. **call** (the student's kernel, in the sandbox; :mod:`.probe`): a cell the grader appends after the
   notebook's own cells calls the function by name on each input, each call under ``seconds`` of
   wall clock, and writes the raw outputs (plain JSON, size-limited) to ``answers.json``.
3. **judge** (the grader, outside the sandbox; :func:`judge`): ``reference(context, *args)`` recomputes
   each answer with the kit, from the grader's own copy of the inputs, and ``compare`` scores the
   student's output (a :class:`Verdict`: credit 0..1 and what is wrong). The check earns its points
   times the mean credit. Feedback names the function, the input ("hidden input 2") and what is wrong
   (raised, timed out, wrong type or shape, how far from the reference), never the expected value
   unless the grader runs with ``--show-expected``.

The secret never enters a sandbox or a record: only its digest (:func:`secret_digest`) joins the resume
fingerprint. Without ``--secret-file`` the grader makes one and keeps it beside the records
(:func:`stored_secret`, mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.errors import FerKitError, InputFileError

from .checks import CheckFailed, flatten_mapping

SECRET_FILE = "hidden-tests.secret"
"""Where :func:`stored_secret` keeps the secret it made, in the gradebook's ``_runs`` folder."""
MIN_SECRET_BYTES = 16
SOLUTION_STUDENT = "\0instructor solution"
"""The name the solution run's hidden inputs are drawn for (no file name can hold a NUL)."""
CALL_OVERHEAD = 5.0
"""Seconds added to the probe's budget for importing it and writing its answers."""


@dataclass(frozen=True)
class Case:
    """One hidden input: the arguments of the call and how feedback names it (``label`` N, by default the
    test's ``what``: "hidden input 2")."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Verdict:
    """How one output compares with its reference: ``credit`` 0..1, ``problem`` ("" when right) and the
    ``expected`` text shown only with ``--show-expected``."""

    credit: float
    problem: str = ""
    expected: str = ""


@dataclass(frozen=True)
class HiddenTest:
    """Call the student's ``function`` on hidden inputs and compare with references the grader computes.

    ``cases(rng, parameters)`` draws the inputs (a list of :class:`Case` or argument tuples);
    ``reference(context, *args, **kwargs)`` computes one expected output with the kit (it may raise
    :class:`~fer_kit.grading.checks.CheckFailed` when the grader lacks what it needs); ``compare(got,
    want)`` returns a :class:`Verdict`. ``seconds`` is the wall-clock limit of one call in the
    student's kernel; ``shared`` draws the inputs from the secret alone; ``what`` names an input in
    the feedback ("hidden face" -> "hidden face 2").
    """

    function: str
    cases: Callable[..., Sequence[Case | tuple]]
    reference: Callable[..., Any]
    compare: Callable[[Any, Any], Verdict]
    seconds: float = 10.0
    shared: bool = False
    what: str = "hidden input"


# --------------------------------------------------------------------------------------------
# The secret
# --------------------------------------------------------------------------------------------


def _valid_secret(data: bytes, where: Path) -> bytes:
    secret = data.strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise InputFileError(f"the secret is too short ({len(secret)} bytes; use at least {MIN_SECRET_BYTES} "
                             "random characters, e.g. `openssl rand -hex 32 > secret.txt`)", where)
    return secret


def read_secret(path: str | Path) -> bytes:
    """The instructor's secret from ``path`` (surrounding whitespace dropped; at least 16 bytes)."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputFileError(f"cannot read the secret file ({error.strerror or error})", path) from None
    return _valid_secret(data, path)


def stored_secret(state_dir: str | Path) -> tuple[bytes, bool]:
    """(secret, made now): the secret kept in ``state_dir/hidden-tests.secret``, made (64 hex digits, 0600) if absent.

    The file is opened without following a link and made with ``O_EXCL``, so nobody can plant a
    link or a file of their own there first without this raising.
    """
    path = Path(state_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        fd = None
    except OSError as error:
        raise InputFileError(f"cannot read the stored secret ({error.strerror or error})", path) from None
    if fd is not None:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputFileError("the stored secret is not a regular file", path)
            return _valid_secret(handle.read(4096), path), False
    secret = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret + b"\n")
    return secret, True


def secret_digest(secret: bytes) -> str:
    """A short digest of the secret for the resume fingerprint (the secret itself is never stored there)."""
    return hashlib.sha256(b"fer-kit hidden-tests secret\0" + secret).hexdigest()[:16]


def case_seed(secret: bytes, assignment: str, check: str, student: str) -> int:
    """The seed of one check's hidden inputs for one student: HMAC-SHA256 of the names under the secret."""
    message = "\0".join(("fer-kit hidden tests", assignment, check, student)).encode()
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest(), "big")


# --------------------------------------------------------------------------------------------
# Planning: the hidden inputs of one run
# --------------------------------------------------------------------------------------------


@dataclass
class HiddenPlan:
    """The hidden inputs of one run, per check name (the grader's own copy), and their tests."""

    tests: dict[str, HiddenTest]
    cases: dict[str, list[Case]]

    @property
    def seconds(self) -> float:
        """The probe's time budget: every call's limit, plus a little for the cell itself."""
        return CALL_OVERHEAD + sum(test.seconds * len(self.cases[name]) for name, test in self.tests.items())

    def payload(self) -> dict:
        """What the probe reads (``cases.json``): per check, the function, its time limit, the encoded arguments."""
        from .probe import encode_input

        return {"version": 1, "tests": [
            {"check": name, "function": test.function, "seconds": test.seconds,
             "cases": [{"args": encode_input(list(case.args)), "kwargs": encode_input(dict(case.kwargs))}
                       for case in self.cases[name]]}
            for name, test in self.tests.items()]}


def _as_case(case: Case | tuple | list) -> Case:
    return case if isinstance(case, Case) else Case(tuple(case))


def plan_hidden(assignment: Any, secret: bytes, student: str, parameters: Mapping[str, Any] | None = None) -> HiddenPlan | None:
    """The hidden inputs of ``assignment``'s checks for ``student`` under ``secret``; None when it has no hidden test.

    :class:`~fer_kit.errors.FerKitError` when a test's ``cases`` fails (a fault of the checks module).
    """
    import numpy as np

    parameters = dict(assignment.parameters if parameters is None else parameters)
    tests = {check.name: check.hidden for check in assignment.checks if getattr(check, "hidden", None) is not None}
    if not tests:
        return None
    cases: dict[str, list[Case]] = {}
    for name, test in tests.items():
        seed = case_seed(secret, assignment.name, name, "" if test.shared else student)
        try:
            cases[name] = [_as_case(case) for case in test.cases(np.random.default_rng(seed), parameters)]
        except Exception as error:
            raise FerKitError(f"the hidden inputs of check {name} cannot be drawn ({type(error).__name__}: "
                              f"{error})") from error
    return HiddenPlan(tests, cases)


# --------------------------------------------------------------------------------------------
# What the probe answered (untrusted)
# --------------------------------------------------------------------------------------------


@dataclass
class HiddenRun:
    """A run's hidden tests: the plan, the probe's answers per check (validated shape) and why some are missing."""

    plan: HiddenPlan
    answers: dict[str, dict] = field(default_factory=dict)
    running: str = ""
    problem: str = ""
    """Why the probe left no answers at all (the run stopped first, the file was refused ...)."""


def parse_answers(data: Any) -> tuple[dict[str, dict], str]:
    """(answers per check, the case running when the probe stopped) from ``answers.json``; odd entries dropped."""
    if not isinstance(data, dict) or not isinstance(data.get("tests"), dict):
        return {}, ""
    answers: dict[str, dict] = {}
    for name, entry in data["tests"].items():
        if not isinstance(entry, dict):
            continue
        calls = entry.get("answers") if isinstance(entry.get("answers"), list) else []
        answers[str(name)] = {"missing": entry.get("missing") is True, "finished": entry.get("finished") is True,
                              "answers": [call if isinstance(call, dict) else {} for call in calls]}
    running = data.get("running")
    return answers, running if isinstance(running, str) else ""


def hidden_run(plan: HiddenPlan | None, data: Any, problem: str) -> HiddenRun | None:
    """The :class:`HiddenRun` of a run from the probe's parsed ``answers.json`` (None when nothing was read)."""
    if plan is None:
        return None
    answers, running = parse_answers(data) if data is not None else ({}, "")
    if data is not None and not answers and not problem:
        problem = "the hidden tests left no readable answers"
    if isinstance(data, dict) and data.get("interrupted") is True and not problem:
        problem = "the hidden tests ran out of time before reaching it"
    return HiddenRun(plan, answers, running, problem)


# --------------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------------


def _text(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_problem(answer: Mapping[str, Any], test: HiddenTest) -> str:
    """What went wrong in a call that returned no value (the student's own error text, cut to one line)."""
    kind, detail = answer.get("error"), str(answer.get("detail", ""))[:200].replace("\n", " ")
    if kind == "timeout":
        return f"did not return within {test.seconds:g} s"
    if kind == "raised" and str(answer.get("name")) == "NotImplementedError":
        return "raised NotImplementedError (the exercise is not done)"
    if kind == "raised":
        return f"raised {detail}"
    if kind == "output":
        return f"returned {detail}, which is not plain numbers, strings, lists or dicts"
    return "gave no answer the grader can read"


def _missing_problem(run: HiddenRun, name: str, number: int) -> str:
    if run.running == f"{name}/{number}":
        return "was still running when the run was stopped (the time limit, or its kernel died)"
    return "was not called: the run stopped before"


def _case_verdict(run: HiddenRun, name: str, number: int, case: Case, context: Any) -> Verdict:
    test = run.plan.tests[name]
    calls = run.answers[name]["answers"]
    if number >= len(calls):
        return Verdict(0.0, _missing_problem(run, name, number))
    if "value" not in calls[number]:
        return Verdict(0.0, _call_problem(calls[number], test))
    want = test.reference(context, *case.args, **dict(case.kwargs))
    return test.compare(calls[number]["value"], want)


def _summary(function: str, lines: list[str], right: int, total: int) -> str:
    if not lines:
        return f"`{function}` gives the reference answer on all {total} hidden inputs"
    more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
    return f"{'; '.join(lines[:2])}{more}; right on {right} of {total} hidden inputs"


def judge(check: Any, context: Any) -> tuple[float, str]:
    """(credit 0..1, feedback) of a hidden check from ``context.hidden``; see the module docstring."""
    run, test = getattr(context, "hidden", None), check.hidden
    if run is None or check.name not in run.plan.cases:
        raise CheckFailed(f"`{test.function}` could not be tested: the grader prepared no hidden inputs for it")
    if check.name not in run.answers:
        reason = run.problem or "the hidden tests stopped before reaching it (the run was stopped, or its kernel died)"
        if run.running.startswith(f"{check.name}/"):
            reason = "it was still running when the run was stopped (the time limit, or its kernel died)"
        raise CheckFailed(f"`{test.function}` was not tested: {reason}")
    if run.answers[check.name]["missing"]:
        raise CheckFailed(f"the notebook defines no function `{test.function}` when it ends (the hidden tests call "
                          "it by that name)")
    cases = run.plan.cases[check.name]
    credits, lines = [], []
    for number, case in enumerate(cases):
        verdict = _case_verdict(run, check.name, number, case, context)
        credits.append(min(max(float(verdict.credit), 0.0), 1.0))
        if verdict.problem:
            label = f"{case.label or test.what} {number + 1}"
            line = f"`{test.function}({label})` {verdict.problem}"
            if getattr(context, "show_expected", False) and verdict.expected:
                line += f" (expected {verdict.expected})"
            lines.append(line)
    right = sum(credit >= 1.0 for credit in credits)
    return (sum(credits) / len(credits) if credits else 0.0), _summary(test.function, lines, right, len(cases))


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def _numbers(value: Any) -> Any:
    """``value`` as a finite float array, or a :class:`Verdict` saying why not."""
    import numpy as np

    if isinstance(value, (str, dict)) or value is None or isinstance(value, bool):
        return Verdict(0.0, f"returned {type(value).__name__ if value is not None else 'None'}, not numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return Verdict(0.0, f"returned {_text(value, 40)}, not numbers")
    if not np.all(np.isfinite(array)):
        return Verdict(0.0, "returned NaN or infinite values")
    return array


def _shape(array: Any) -> str:
    return "x".join(map(str, array.shape)) or "a single number"


def close(rtol: float = 1e-6, atol: float = 1e-9) -> Callable[[Any, Any], Verdict]:
    """Numbers or arrays equal to the reference within ``rtol`` (relative) and ``atol`` (absolute)."""
    import numpy as np

    def compare(got: Any, want: Any) -> Verdict:
        expected = np.asarray(want, dtype=np.float64)
        shown = _text(expected.tolist() if expected.ndim else float(expected))
        array = _numbers(got)
        if isinstance(array, Verdict):
            return Verdict(0.0, array.problem, shown)
        if array.shape != expected.shape:
            return Verdict(0.0, f"returned shape {_shape(array)}; the reference has shape {_shape(expected)}", shown)
        if np.allclose(array, expected, rtol=rtol, atol=atol):
            return Verdict(1.0)
        worst = float(np.max(np.abs(array - expected))) if array.size else 0.0
        up_to = "" if array.ndim == 0 else "up to "
        return Verdict(0.0, f"differs from the reference by {up_to}{worst:.3g}", shown)

    return compare


def equal() -> Callable[[Any, Any], Verdict]:
    """Exactly the reference (JSON values: numbers, strings, lists, dicts; tuples compare as lists)."""

    def compare(got: Any, want: Any) -> Verdict:
        want = _jsonish(want)
        if got == want:
            return Verdict(1.0)
        if type(got) is not type(want) and not (_is_number(got) and _is_number(want)):
            return Verdict(0.0, f"returned {type(got).__name__}; the reference is a {type(want).__name__}", _text(want))
        if isinstance(want, list) and isinstance(got, list) and len(got) != len(want):
            return Verdict(0.0, f"returned {len(got)} items; the reference has {len(want)}", _text(want))
        return Verdict(0.0, "is not the reference answer", _text(want))

    return compare


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _jsonish(value: Any) -> Any:
    """The reference as the probe would return it: tuples as lists, numpy values as Python ones."""
    from .probe import plain_output

    return plain_output(value)


def mapping(compare_item: Callable[[Any, Any], Verdict]) -> Callable[[Any, Any], Verdict]:
    """A dict compared key by key (nested dicts leaf by leaf) with ``compare_item``; credit per key.

    Extra keys are ignored; a missing one counts as wrong.
    """

    def compare(got: Any, want: Any) -> Verdict:
        want = flatten_mapping(_jsonish(want))
        if not isinstance(got, Mapping):
            return Verdict(0.0, f"returned {type(got).__name__}, not a dict with the keys {_text(sorted(want), 60)}")
        got = flatten_mapping(got)
        wrong = []
        for key, item in want.items():
            if key not in got:
                wrong.append(f"[{key!r}] is missing")
                continue
            verdict = compare_item(got[key], item)
            if verdict.credit < 1.0:
                wrong.append(f"[{key!r}] {verdict.problem}")
        if not wrong:
            return Verdict(1.0)
        credit = 1.0 - len(wrong) / max(len(want), 1)
        return Verdict(credit, f"has {len(wrong)} of {len(want)} entries wrong: {'; '.join(wrong[:3])}", _text(want))

    return compare


def optional(compare_value: Callable[[Any, Any], Verdict]) -> Callable[[Any, Any], Verdict]:
    """Like ``compare_value``, where a reference of None asks for None."""

    def compare(got: Any, want: Any) -> Verdict:
        if want is None:
            return Verdict(1.0) if got is None else Verdict(0.0, f"returned {_text(got, 40)} where None was due", "None")
        if got is None:
            return Verdict(0.0, "returned None", _text(want))
        return compare_value(got, want)

    return compare



@dataclass(frozen=True)
class HiddenOptions:
    """How a grading run draws and reports its hidden tests: the instructor's ``secret`` and ``show_expected``."""

    secret: bytes
    show_expected: bool = False

    @classmethod
    def ephemeral(cls) -> HiddenOptions:
        """A random secret of this process only (hidden inputs then differ from run to run)."""
        return cls(secrets.token_hex(32).encode())

    @property
    def digest(self) -> str:
        """The secret's digest (:func:`secret_digest`), for fingerprints."""
        return secret_digest(self.secret)
