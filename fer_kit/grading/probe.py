"""The hidden tests' side inside the student's kernel: call the student's functions on hidden inputs, keep raw outputs.

The grader appends one cell, tagged :data:`PROBE_TAG`, to the notebook it runs (the student never
sees it; :func:`probe_source`). After the notebook's own cells it imports this module in the
student's kernel, inside the student's sandbox, and calls :func:`run_cases`:

1. read the cases the grader wrote (``cases.json``: per check, the function's name, the per-call
   time limit in seconds and the argument lists, arrays and tables tagged by :func:`encode_input`);
2. look each function up by name in the notebook's namespace and call it once per case, under a
   per-call wall-clock limit (``SIGALRM`` raising :class:`CallTimeout`, a ``BaseException`` that a
   student's ``except Exception`` does not swallow);
3. turn each result into plain JSON (:func:`plain_output`: numbers, strings, booleans, None, lists
   and string-keyed dicts; numpy arrays and scalars, pandas series, tuples and paths converted; at
   most :data:`MAX_VALUES` values) or record why not: the function is missing, raised (its
   exception's name and first line), did not return in time, or returned something else;
4. rewrite ``answers.json`` atomically after every case, so what was answered before a dead kernel
   or the run's time limit is kept; ``running`` names the case under way.

Nothing here is trusted by the grader: the student's code runs in the same process and can change
anything in it. The grader reads ``answers.json`` with size limits, checks every value's type
itself and compares it with references it computes outside the sandbox (:mod:`.hidden`); the
hidden inputs are worth nothing without those references. This module needs only the standard
library and NumPy (pandas for tables), and must not import the grader's checks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROBE_TAG = "fer-kit-hidden-tests"
"""The tag of the grader's hidden-tests cell (stripped from the student's own cells)."""

MAX_VALUES = 100_000
"""Largest number of values one answer may hold."""
MAX_DEPTH = 12
MAX_TEXT = 200
"""Longest string kept from an answer or an error message."""
TAG = "__fer_kit__"


class CallTimeout(BaseException):
    """Raised in the student's function when its per-call time limit passes."""


class OutputError(ValueError):
    """A result that is not plain numbers, strings, lists or dicts (or too large)."""


# --------------------------------------------------------------------------------------------
# Inputs: encoded by the grader, decoded in the kernel
# --------------------------------------------------------------------------------------------


def encode_input(value: Any) -> Any:
    """``value`` as JSON: numpy arrays (base64 bytes + dtype + shape) and pandas tables are tagged."""
    import numpy as np

    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {TAG: "ndarray", "dtype": array.dtype.str, "shape": list(array.shape),
                "data": base64.b64encode(array.tobytes()).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__name__ == "DataFrame":
        return {TAG: "dataframe", "columns": [encode_input(c) for c in value.columns],
                "index": [encode_input(i) for i in value.index],
                "data": [[encode_input(v) for v in row] for row in value.itertuples(index=False)]}
    if isinstance(value, Mapping):
        return {str(key): encode_input(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_input(item) for item in value]
    return value


def decode_input(value: Any) -> Any:
    """The inverse of :func:`encode_input` (arrays come back writable, tables as ``pandas.DataFrame``)."""
    if isinstance(value, dict):
        kind = value.get(TAG)
        if kind == "ndarray":
            import numpy as np

            data = base64.b64decode(value["data"])
            return np.frombuffer(data, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
        if kind == "dataframe":
            import pandas as pd

            return pd.DataFrame([[decode_input(v) for v in row] for row in value["data"]],
                                index=[decode_input(i) for i in value["index"]],
                                columns=[decode_input(c) for c in value["columns"]])
        return {key: decode_input(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_input(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------
# Outputs: plain JSON only
# --------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def plain_output(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """``value`` as plain JSON; :class:`OutputError` saying why when it cannot be (or holds too many values).

    ``budget`` is a one-item list of the values still allowed (:data:`MAX_VALUES` to start).
    """
    budget = [MAX_VALUES] if budget is None else budget
    if depth > MAX_DEPTH:
        raise OutputError(f"nested deeper than {MAX_DEPTH} levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise OutputError(f"more than {MAX_VALUES} values")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, os.PathLike):
        return os.fspath(value)[:MAX_TEXT * 4]
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency of the kit
        np = None
    if np is not None and isinstance(value, np.generic):
        return plain_output(value.item(), budget, depth + 1)
    if np is not None and isinstance(value, np.ndarray):
        if value.size > budget[0]:
            raise OutputError(f"an array of {value.size} values (more than {MAX_VALUES})")
        if value.dtype.kind not in "biuf":
            raise OutputError(f"an array of dtype {value.dtype} (numbers were expected)")
        budget[0] -= value.size
        return value.tolist()
    if type(value).__name__ == "Series" and hasattr(value, "to_dict"):
        return plain_output(value.to_dict(), budget, depth + 1)
    if isinstance(value, Mapping):
        return {str(key)[:MAX_TEXT]: plain_output(item, budget, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_output(item, budget, depth + 1) for item in value]
    raise OutputError(f"a {_type_name(value)}")


# --------------------------------------------------------------------------------------------
# Calling the student's functions
# --------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line[:MAX_TEXT]


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`CallTimeout` in this (the main) thread after ``seconds``; no limit off the main thread."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_case(function: Any, case: Mapping[str, Any], seconds: float) -> dict:
    """One answer: ``{"value": ...}``, or ``{"error": kind, "detail": ...}`` (kind: raised, timeout, output)."""
    args = decode_input(case.get("args", []))
    kwargs = decode_input(case.get("kwargs", {}))
    started = time.monotonic()
    try:
        with time_limit(seconds):
            result = function(*args, **kwargs)
    except CallTimeout:
        return {"error": "timeout", "detail": f"{seconds:g}"}
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - anything the student's code raises is its answer
        detail = f"{type(error).__name__}: {_one_line(error)}" if _one_line(error) else type(error).__name__
        return {"error": "raised", "detail": detail[:MAX_TEXT], "name": type(error).__name__[:MAX_TEXT]}
    try:
        value = plain_output(result)
    except OutputError as problem:
        return {"error": "output", "detail": str(problem)[:MAX_TEXT]}
    return {"value": value, "seconds": round(time.monotonic() - started, 3)}


def _write(path: Path, answers: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(answers), encoding="utf-8")
    os.replace(temporary, path)


def run_cases(cases_file: str | Path, answers_file: str | Path, namespace: Mapping[str, Any]) -> dict:
    """Answer every case of ``cases_file`` with the functions of ``namespace``; write and return the answers."""
    plan = json.loads(Path(cases_file).read_text(encoding="utf-8"))
    path = Path(answers_file)
    answers: dict[str, Any] = {"tests": {}, "running": None}
    _write(path, answers)
    try:
        for test in plan.get("tests", []):
            check, name = str(test["check"]), str(test["function"])
            entry = answers["tests"].setdefault(check, {"function": name, "answers": [], "finished": False})
            function = namespace.get(name)
            if not callable(function):
                entry.update(missing=True, finished=True)
                continue
            for number, case in enumerate(test.get("cases", [])):
                answers["running"] = f"{check}/{number}"
                _write(path, answers)
                entry["answers"].append(call_case(function, case, float(test.get("seconds", 10))))
            entry["finished"] = True
            answers["running"] = None
            _write(path, answers)
    except KeyboardInterrupt:  # the hidden tests' own time ran out: keep what was answered
        answers["interrupted"] = True
    _write(path, answers)
    return answers


def probe_source(cases_file: str | Path, answers_file: str | Path) -> str:
    """The code of the hidden-tests cell the grader appends to the notebook."""
    return ("# fer-kit grader: the hidden tests call your functions on inputs you have not seen\n"
            "import fer_kit.grading.probe as _fer_kit_probe\n"
            f"_fer_kit_probe.run_cases({str(cases_file)!r}, {str(answers_file)!r}, globals())\n"
            "del _fer_kit_probe\n")
