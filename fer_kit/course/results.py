"""Where a course notebook writes, and the results it records for the chain's page and the grader.

:func:`prepare_dirs` picks a notebook's ``output_dir`` (its own results and figures) and the
``work_dir`` shared by all chapters; :func:`record` merges key results into
``output_dir/results.json`` (plain JSON, atomic rewrite; exercise answers go under
``exercise_<n>_<name>``), :func:`load_results` reads them back and :func:`save_figure`
writes a figure as PNG beside them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic
from fer_kit.config import default_output_root
from fer_kit.errors import InputFileError

RESULTS_FILE = "results.json"


def default_course_root() -> Path:
    """Where a notebook opened by hand writes (:func:`fer_kit.config.default_output_root`)."""
    return default_output_root("course-output")


def prepare_dirs(output_dir: str | Path | None, work_dir: str | Path | None, notebook: str) -> tuple[Path, Path]:
    """Resolve (and create) a notebook's ``output_dir`` and the shared ``work_dir``.

    ``None`` means the defaults the chain also uses: ``course-output/<notebook>/`` and
    ``course-output/work/``; so a notebook opened in JupyterLab finds the data an earlier
    chapter (or ``make course``) already made.
    """
    root = default_course_root()
    out = Path(output_dir) if output_dir else root / notebook
    work = Path(work_dir) if work_dir else (out.parent / "work" if output_dir else root / "work")
    out = out.expanduser().resolve()
    work = work.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    return out, work


def jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, paths, tuples and nested containers (NaN and inf become None)."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record a {type(value).__name__} as JSON: {value!r}")


def load_results(output_dir: str | Path) -> dict:
    """The merged results a notebook recorded in ``output_dir/results.json`` (``{}`` if none yet)."""
    path = Path(output_dir) / RESULTS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputFileError(f"not a valid results file ({error})", path) from error
    if not isinstance(data, dict):
        raise InputFileError("a results file must hold one JSON object", path)
    return data


def record(output_dir: str | Path, **values: Any) -> dict:
    """Merge ``values`` into ``output_dir/results.json`` (atomic rewrite) and return the merged dict.

    Values are converted to plain JSON (numpy numbers and arrays become numbers and lists,
    NaN becomes null); a later value replaces an earlier one under the same key. Exercise
    answers use keys ``exercise_<n>_<name>`` so a grader can find them.
    """
    if not values:
        raise ValueError("record() needs at least one name=value")
    output_dir = Path(output_dir)
    merged = load_results(output_dir)
    merged.update(jsonable(values))
    write_text_atomic(output_dir / RESULTS_FILE, json.dumps(merged, indent=2, sort_keys=True))
    return merged


def save_figure(fig: Any, output_dir: str | Path, name: str, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``output_dir/<name>.png`` (atomically) for the chain's index page."""
    from fer_kit.viz.plots import save_figure as save_plot

    return save_plot(fig, Path(output_dir) / (name if name.endswith(".png") else f"{name}.png"), dpi=dpi)
