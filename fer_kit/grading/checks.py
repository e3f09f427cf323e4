"""Grading checks: a named test worth some points, run against what an executed notebook recorded.

A notebook records its exercise answers with :func:`fer_kit.course.record` under keys
``exercise_<n>_<name>`` in ``output_dir/results.json``. A :class:`Check` reads those
values through a :class:`CheckContext`, usually recomputes a reference with ``fer_kit``,
and compares within a tolerance. The check function returns (optionally a short message)
when the answer is right and raises :class:`CheckFailed` (or ``AssertionError``) with a
message the student can act on when it is not; :func:`run_checks` turns that into
points. A check that crashes on malformed recorded data scores zero with the error as
its message, so one odd submission can never stop a class being graded.

A check with ``hidden`` (a :class:`~fer_kit.grading.hidden.HiddenTest`) is scored instead by calling the
student's function in their kernel on hidden inputs (:func:`fer_kit.grading.hidden.judge`): what the
notebook recorded earns nothing for it. Messages never show the expected value unless the context says
``show_expected`` (``fer-kit grade --show-expected``): :class:`CheckFailed` carries it apart.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    """The answer is wrong or missing; ``credit`` (0..1) is the fraction of the points still earned.

    ``expected`` (e.g. "expected 3.14") is added to the message only with ``show_expected``.
    """

    def __init__(self, message: str, credit: float = 0.0, expected: str = "") -> None:
        super().__init__(message)
        self.credit = min(max(float(credit), 0.0), 1.0)
        self.expected = expected


@dataclass
class CheckContext:
    """What a check may look at.

    ``results``: what the submission recorded; ``output_dir``: its output folder; ``parameters``:
    the grading parameters; ``reference``: what the instructor's solution recorded under the same
    parameters (empty unless the assignment has a solution run); ``work_dir``: the solution run's
    work folder (its data and runs; None without a solution run); ``hidden``: the run's hidden inputs
    and what the student's functions answered (:class:`~fer_kit.grading.hidden.HiddenRun`);
    ``show_expected``: whether feedback may show expected values.
    """

    results: Mapping[str, Any]
    output_dir: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    reference: Mapping[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None
    hidden: Any = None
    show_expected: bool = False

    def value(self, key: str) -> Any:
        """The recorded value under ``key``; :class:`CheckFailed` saying it was not recorded otherwise."""
        if key not in self.results:
            raise CheckFailed(f"`{key}` was not recorded (the exercise cell did not run to its `record(...)` call)")
        return self.results[key]

    def number(self, key: str) -> float:
        """The recorded value under ``key`` as a finite float."""
        return as_number(self.value(key), key)

    def array(self, key: str, shape: Sequence[int | None] | None = None) -> Any:
        """The recorded value under ``key`` as a float numpy array (optionally of ``shape``, None = any size)."""
        return as_array(self.value(key), key, shape)


@dataclass(frozen=True)
class Check:
    """One graded test: ``function(context)`` passes by returning, fails by raising :class:`CheckFailed`.

    ``keys`` are the results it reads (they also identify the assignment a notebook belongs to).
    With ``hidden`` (a :class:`~fer_kit.grading.hidden.HiddenTest`) the check is the student's function
    called on hidden inputs instead, and ``function`` may be None.
    """

    name: str
    points: float
    description: str
    function: Callable[[CheckContext], str | None] | None = None
    keys: tuple[str, ...] = ()
    hidden: Any = None


@dataclass
class CheckResult:
    """The outcome of one check on one submission."""

    name: str
    points: float
    max_points: float
    passed: bool
    message: str = ""
    description: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _call(check: Check, context: CheckContext) -> tuple[float, str]:
    """(credit, message) of one check: its hidden test, else its function (which passes by returning)."""
    if check.hidden is not None:
        from .hidden import judge

        return judge(check, context)
    if check.function is None:
        raise CheckFailed("this check has nothing to run (no function and no hidden test)")
    return 1.0, str(check.function(context) or "")


def run_check(check: Check, context: CheckContext) -> CheckResult:
    """Run one check; any exception is a (partial) failure with a message, never a crash."""
    try:
        credit, message = _call(check, context)
        points = round(check.points * credit, 4)
        return CheckResult(check.name, points, check.points, credit >= 1.0, message, check.description)
    except CheckFailed as failure:
        points = round(check.points * failure.credit, 4)
        message = str(failure)
        if context.show_expected and failure.expected:
            message = f"{message} ({failure.expected})"
        return CheckResult(check.name, points, check.points, False, message, check.description)
    except AssertionError as failure:
        message = str(failure).strip().splitlines()
        return CheckResult(check.name, 0.0, check.points, False, message[0] if message else "assertion failed",
                           check.description)
    except Exception as error:  # malformed recorded data: the submission's problem, not the grader's
        what = "the answers of the hidden tests" if check.hidden is not None else "the recorded value"
        return CheckResult(check.name, 0.0, check.points, False,
                           f"could not check {what} ({type(error).__name__}: {str(error)[:300]})", check.description)


def run_checks(checks: Sequence[Check], context: CheckContext) -> list[CheckResult]:
    """Run every check in order."""
    return [run_check(check, context) for check in checks]


# --------------------------------------------------------------------------------------------
# Helpers for writing checks
# --------------------------------------------------------------------------------------------


def as_number(value: Any, what: str) -> float:
    """``value`` as a finite float, or :class:`CheckFailed` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"`{what}` should be a number, got {type(value).__name__} {_short(value)}")
    if not math.isfinite(value):
        raise CheckFailed(f"`{what}` should be a finite number, got {value}")
    return float(value)


def as_array(value: Any, what: str, shape: Sequence[int | None] | None = None) -> Any:
    """``value`` (nested lists) as a float numpy array, optionally checked against ``shape``."""
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"`{what}` should be a list of numbers, got {_short(value)}") from None
    if shape is not None and (
        array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape, strict=True))
    ):
        wanted = "x".join("N" if size is None else str(size) for size in shape)
        raise CheckFailed(f"`{what}` should have shape {wanted}, got {'x'.join(map(str, array.shape)) or 'scalar'}")
    if not np.all(np.isfinite(array)):
        raise CheckFailed(f"`{what}` contains NaN or infinite values")
    return array


def expect_close(value: Any, reference: Any, what: str, rtol: float = 1e-3, atol: float = 1e-6) -> str:
    """Pass when ``value`` matches ``reference`` elementwise within ``rtol``/``atol``; else :class:`CheckFailed`."""
    import numpy as np

    got = as_array(value, what)
    want = np.asarray(reference, dtype=np.float64)
    if got.shape != want.shape:
        raise CheckFailed(f"`{what}` should have shape {want.shape}, got {got.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        if got.ndim == 0:
            raise CheckFailed(f"`{what}` is {float(got):.6g}, not the reference (tolerance {rtol:g} relative)",
                              expected=f"expected {float(want):.6g}")
        raise CheckFailed(f"`{what}` differs from the reference values (tolerance {rtol:g} relative, {atol:g} absolute)",
                          expected=f"expected {_short(want.tolist())}")
    return f"`{what}` matches"


def expect_equal(value: Any, reference: Any, what: str) -> str:
    """Pass when ``value == reference`` (JSON values: lists, strings, numbers, dicts)."""
    if value != reference:
        raise CheckFailed(f"`{what}` is {_short(value)}, not the reference answer", expected=f"expected {_short(reference)}")
    return f"`{what}` is right"


def expect_range(value: Any, low: float, high: float, what: str) -> str:
    """Pass when the number ``value`` lies in ``[low, high]``."""
    number = as_number(value, what)
    if not low <= number <= high:
        raise CheckFailed(f"`{what}` is {number:.6g}, expected between {low:g} and {high:g}")
    return f"`{what}` = {number:.4g} is plausible"


def expect_mapping_close(value: Any, reference: Mapping[str, Any], what: str, rtol: float = 1e-3,
                         atol: float = 1e-6) -> str:
    """Pass when the dict ``value`` matches ``reference`` key by key; partial credit per matching key.

    Extra keys are ignored; each reference key must be present and close (numbers or arrays).
    Nested dicts are compared leaf by leaf (``{"a": {"b": 1}}`` has the one key ``a/b``).
    """
    if not isinstance(value, Mapping):
        raise CheckFailed(f"`{what}` should be a dict with the keys {_short(sorted(reference))}, got {_short(value)}",
                          expected=f"expected {_short(dict(reference))}")
    got, reference = flatten_mapping(value), flatten_mapping(reference)
    wrong, expected = [], []
    for key, want in reference.items():
        if key not in got:
            wrong.append(f"`{what}[{key!r}]` is missing")
            continue
        try:
            expect_close(got[key], want, f"{what}[{key!r}]", rtol=rtol, atol=atol)
        except CheckFailed as failure:
            wrong.append(str(failure))
            expected.append(f"{key!r}: {failure.expected}")
    if wrong:
        credit = 1.0 - len(wrong) / max(len(reference), 1)
        raise CheckFailed(f"{len(wrong)} of {len(reference)} wrong: {'; '.join(wrong[:4])}", credit,
                          "; ".join(expected[:4]))
    return f"`{what}`: all {len(reference)} values right"


def expect_mapping_equal(value: Any, reference: Mapping[str, Any], what: str) -> str:
    """Like :func:`expect_mapping_close` for exact values (strings, integers); partial credit per key."""
    if not isinstance(value, Mapping):
        raise CheckFailed(f"`{what}` should be a dict with the keys {_short(sorted(reference))}, got {_short(value)}",
                          expected=f"expected {_short(dict(reference))}")
    got, reference = flatten_mapping(value), flatten_mapping(reference)
    keys = [key for key, want in reference.items() if got.get(key) != want]
    wrong = [f"`{what}[{key!r}]` is {_short(got.get(key, 'missing'), 30)}" for key in keys]
    if wrong:
        credit = 1.0 - len(wrong) / max(len(reference), 1)
        raise CheckFailed(f"{len(wrong)} of {len(reference)} wrong: {'; '.join(wrong[:4])}", credit,
                          "expected " + "; ".join(f"{key!r}: {_short(reference[key], 30)}" for key in keys[:4]))
    return f"`{what}`: all {len(reference)} values right"


def flatten_mapping(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level, keys joined by ``/`` (``{"a": {"b": 1}}`` -> ``{"a/b": 1}``)."""
    flat: dict[str, Any] = {}
    for key, item in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten_mapping(item, f"{name}/"))
        else:
            flat[name] = item
    return flat


def find_run(work_dir: str | Path | None, **settings: Any) -> Path:
    """The finished training run under ``work_dir/runs`` whose ``config.json`` has these training ``settings``.

    The course notebooks train with :func:`fer_kit.course.ensure_run`, one run folder per set of
    settings, so a check finds the run a notebook used (in the solution run's work folder, which
    every student's work folder is a copy of) by the settings the notebook passed, e.g.
    ``find_run(ctx.work_dir, model="mcdcn", preset="tiny", fused_weight=0.0)``. Numbers compare as
    floats. With several matches (the same settings on different caches) the most recently finished
    one is returned. :class:`CheckFailed` when there is no work folder or no such run.
    """
    import json

    if work_dir is None:
        raise CheckFailed("no reference: the grader has no solution run whose training runs it could look at")
    wanted = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    found = []
    for config in Path(work_dir).glob("runs/*/config.json"):
        summary = config.parent / "summary.json"
        if not summary.is_file() or not (config.parent / "model.keras").is_file():
            continue  # unfinished
        try:
            train = json.loads(config.read_text()).get("train", {})
        except (OSError, ValueError):
            continue
        if all(_same_setting(train.get(key), value) for key, value in settings.items()):
            found.append((summary.stat().st_mtime, str(config.parent)))
    if not found:
        raise CheckFailed(f"no reference: the solution run left no finished training run with {wanted}")
    return Path(max(found)[1])


def _same_setting(got: Any, want: Any) -> bool:
    numbers = (int, float)
    if isinstance(want, numbers) and not isinstance(want, bool) and isinstance(got, numbers) and not isinstance(got, bool):
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return got == want


_REFERENCE_LOCK = threading.RLock()


def reference(function: Callable) -> Callable:
    """Memoise a reference computation for the grading run, one computation at a time (thread-safe).

    Grading workers are threads; Keras and TensorFlow state is shared, so references are
    computed under one lock and then reused for every submission.
    """
    cached = functools.lru_cache(maxsize=None)(function)

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        with _REFERENCE_LOCK:
            return cached(*args)

    return wrapper


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
