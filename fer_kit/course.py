"""The course: results notebooks record, the helpers they share, the headless papermill chain.

Each notebook in ``notebooks/`` is one chapter of the paper. A notebook keeps its logic
in the library and calls the few helpers here:

- :func:`prepare_dirs` picks its ``output_dir`` (its own results and figures) and the
  ``work_dir`` shared by all chapters (data, preprocessed cache, training runs);
- :func:`record` merges key results into ``output_dir/results.json`` (what a grader reads;
  exercise answers go under ``exercise_<n>_<name>``);
- :func:`save_figure` writes a figure as PNG beside them;
- :func:`ensure_dataset`, :func:`ensure_cache`, :func:`ensure_run` reuse what an earlier
  chapter made in ``work_dir`` or build it, so every notebook also runs on its own.

:func:`run_chain` executes the notebooks in order with papermill (kernel ``python3``),
passing the shared parameters through, and writes the executed notebooks, a
``summary.json`` and an ``index.html`` with every chapter's metrics and figures. It stops
at the first notebook that fails and names the notebook, the cell and the error.
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.config import PACKAGE_DIR, PROJECT_ROOT
from fer_kit.errors import FerKitError, InputFileError

NOTEBOOKS: tuple[str, ...] = (
    "00_setup",
    "01_ert_landmarks",
    "02_wrinkle_regions",
    "03_cnn_blocks",
    "04_dual_network_training",
    "05_confusion_analysis",
)
"""The chapters, in the order the chain runs them (the paper's order: data, 3.1, 3.1, 3.2.2, 3.2, 4.2)."""

RESULTS_FILE = "results.json"
KERNEL_NAME = "python3"


class ChainError(FerKitError):
    """A notebook of the chain failed: ``path`` is the notebook, the problem names the cell and error."""

    def __init__(self, problem: str, path: str | Path, notebook: str, cell: int | None, ename: str, evalue: str):
        super().__init__(problem, path)
        self.notebook = notebook
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        self.report: ChainReport | None = None  # set by run_chain: what ran before the failure


# --------------------------------------------------------------------------------------------
# Folders and results
# --------------------------------------------------------------------------------------------


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the project (editable install), else the copy shipped inside the package."""
    for candidate in (PROJECT_ROOT / "notebooks", PACKAGE_DIR / "notebooks"):
        if any((candidate / f"{stem}.ipynb").is_file() for stem in NOTEBOOKS):
            return candidate
    raise InputFileError(
        f"the course notebooks are not there (looked for {NOTEBOOKS[0]}.ipynb ... here and in {PACKAGE_DIR / 'notebooks'})",
        PROJECT_ROOT / "notebooks",
    )


def default_course_root() -> Path:
    """Where a notebook opened by hand writes: ``course-output/`` of the project, else of the current folder."""
    if (PROJECT_ROOT / "notebooks").is_dir() and os.access(PROJECT_ROOT, os.W_OK):
        return PROJECT_ROOT / "course-output"
    return Path.cwd() / "course-output"


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


def _jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, paths, tuples and nested containers."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record a {type(value).__name__} as JSON: {value!r}")


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    merged.update(_jsonable(values))
    _write_text_atomic(output_dir / RESULTS_FILE, json.dumps(merged, indent=2, sort_keys=True))
    return merged


def save_figure(fig: Any, output_dir: str | Path, name: str, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``output_dir/<name>.png`` (atomically) for the chain's index page."""
    path = Path(output_dir) / (name if name.endswith(".png") else f"{name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# Reuse or build: data, cache, training runs (so every chapter also runs on its own)
# --------------------------------------------------------------------------------------------

DEFAULT_PER_CLASS = 10
"""Synthetic clips per emotion the chapters make by default (2 identities x 7 emotions x 5)."""


def synthetic_dir(work_dir: str | Path, seed: int = 0) -> Path:
    """Where the chapters keep the generated synthetic dataset: ``work_dir/data/synthetic-s<seed>``."""
    return Path(work_dir) / "data" / f"synthetic-s{seed}"


def _synthetic_complete(folder: Path, per_class: int) -> bool:
    import pandas as pd

    labels = folder / "labels.csv"
    if not labels.is_file():
        return False
    try:
        table = pd.read_csv(labels)
    except (OSError, ValueError, pd.errors.ParserError):
        return False
    counts = table.groupby("label").size()
    return (len(counts) > 0 and bool((counts == per_class).all())
            and all((folder / str(source)).is_file() for source in table["source"]))


def ensure_dataset(
    work_dir: str | Path,
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
    **options: Any,
):
    """The dataset index (pandas: source, label, subject, dataset) the chapters work on.

    ``synthetic`` without ``data_dir``: the embedded clips, generated once into
    :func:`synthetic_dir` (``per_class`` clips per emotion; reused when already there,
    resumed when interrupted). ``synthetic`` with ``data_dir``: a folder made by
    ``fer-kit data synth``. Any other name: the corpus unpacked at ``data_dir``, read by
    that adapter of :mod:`fer_kit.datasets` (``options`` go to the adapter).
    """
    from fer_kit.datasets import adapter_name, index_dataset
    from fer_kit.errors import DatasetLayoutError

    name = adapter_name(dataset)
    if name == "synthetic" and not data_dir:
        folder = synthetic_dir(work_dir, seed)
        if not _synthetic_complete(folder, per_class):
            from fer_kit.datasets.synth import generate_synthetic

            generate_synthetic(folder, per_class=per_class, seed=seed, workers=workers, progress=progress)
        return index_dataset(folder, name)
    if not data_dir:
        raise DatasetLayoutError(f"the {name} corpus cannot ship with the kit: give data_dir, the folder you "
                                 f"unpacked it into", Path(work_dir))
    return index_dataset(data_dir, name, **options)


def cache_dir_for(work_dir: str | Path, index, preset: str, **overrides: Any) -> Path:
    """``work_dir/cache/<dataset>-<preset>-<settings key>``: one cache per dataset and preprocessing."""
    from fer_kit.preprocess import PreprocessSettings

    settings = PreprocessSettings.from_preset(preset, **overrides)
    names = sorted({str(name) for name in index["dataset"]}) if len(index) else ["data"]
    return Path(work_dir) / "cache" / f"{'+'.join(names)}-{preset}-{settings.key()}"


def ensure_cache(work_dir: str | Path, index, preset: str = "tiny", workers: int = 2, progress: bool = True,
                 **overrides: Any) -> Path:
    """Preprocess ``index`` into the clip cache of ``preset`` (reusing every clip already there); return its folder.

    ``overrides`` change :class:`fer_kit.preprocess.PreprocessSettings` (e.g. ``wrinkles=False``
    for an ablation), which gives a separate cache. Clips that fail are reported and skipped.
    """
    from fer_kit.cache import build_cache
    from fer_kit.preprocess import PreprocessSettings

    settings = PreprocessSettings.from_preset(preset, **overrides)
    folder = cache_dir_for(work_dir, index, preset, **overrides)
    report = build_cache(index, folder, settings, workers=workers, progress=progress)
    if progress or report.failed:
        print(report.summary())
    return folder


def ensure_run(
    work_dir: str | Path,
    cache_dir: str | Path,
    model: str = "mcdcn",
    preset: str = "tiny",
    epochs: int = 10,
    seed: int = 0,
    name: str | None = None,
    verbose: int | str = 2,
    **config: Any,
) -> Path:
    """Train ``model`` on the cache (or reuse the finished run with the same settings); return the run folder.

    The run folder is ``work_dir/runs/<name>`` where ``name`` defaults to
    ``<model>-<preset>-<hash of the settings>``, so a chapter asking for the run another
    chapter trained gets it back at once, and a changed setting trains a new one.
    ``config`` goes to :class:`fer_kit.train.TrainConfig` (``lambda_global``, ``batch_size``...).
    """
    import hashlib

    from fer_kit.train import TrainConfig, train

    config.setdefault("tensorboard", False)
    settings = TrainConfig(cache=str(cache_dir), out="", model=model, preset=preset, epochs=epochs, seed=seed,
                           **config).to_dict()
    settings.pop("out")
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    out = Path(work_dir) / "runs" / (name or f"{model}-{preset}-{digest}")
    return train(TrainConfig(**{**settings, "out": str(out)}), verbose=verbose)


# --------------------------------------------------------------------------------------------
# The chain
# --------------------------------------------------------------------------------------------


@dataclass
class NotebookRun:
    """What happened to one notebook of the chain."""

    notebook: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    executed: str = ""
    output_dir: str = ""
    error: str = ""
    cell: int | None = None


@dataclass
class ChainReport:
    """The chain's outcome: one :class:`NotebookRun` per notebook, the index page, the total time."""

    out: str
    runs: list[NotebookRun] = field(default_factory=list)
    index_html: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(run.status == "ok" for run in self.runs)

    def to_dict(self) -> dict:
        return {"out": self.out, "ok": self.ok, "seconds": round(self.seconds, 1),
                "index_html": self.index_html, "runs": [asdict(run) for run in self.runs]}


def notebook_parameters(path: str | Path) -> dict[str, str]:
    """Names and default values (as source text) of a notebook's ``parameters`` cell."""
    import papermill

    return {name: info["default"] for name, info in papermill.inspect_notebook(str(path)).items()}


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return lines[0][:100] if lines else ""


def _cell_number(notebook_path: Path, failing_source: str) -> int | None:
    """1-based position of the failing cell in the notebook as written (before papermill's injected cell)."""
    import nbformat

    cells = nbformat.read(str(notebook_path), as_version=4).cells
    for number, cell in enumerate(cells, start=1):
        if cell.cell_type == "code" and cell.source == failing_source:
            return number
    return None


def _kernel_env() -> dict[str, str | None]:
    """Environment changes for the kernel: inline figures (undo a headless ``MPLBACKEND=Agg``), quiet TF,
    static widget fallbacks (nobody is there to move a slider), and the kernel of this environment."""
    changes: dict[str, str | None] = {"MPLBACKEND": None,
                                      "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                                      "FER_KIT_WIDGETS": "static"}
    # Prefer this environment's kernel spec over a user-wide "python3" that may point at another Python.
    own = Path(sys.prefix) / "share" / "jupyter"
    if (own / "kernels" / KERNEL_NAME).is_dir():
        changes["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(own), os.environ.get("JUPYTER_PATH", "")) if p)
    return changes


class _patched_env:
    def __init__(self, changes: Mapping[str, str | None]) -> None:
        self.changes = changes
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.changes.items():
            self.saved[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(
    notebook: str | Path,
    executed: str | Path,
    parameters: Mapping[str, Any],
    kernel_name: str = KERNEL_NAME,
    cwd: str | Path | None = None,
    cell_timeout: float | None = None,
    progress: bool = True,
) -> float:
    """Execute one notebook with papermill; return seconds; :class:`ChainError` naming the cell on failure.

    Only the parameters the notebook declares are passed (a chapter without ``epochs``
    simply does not receive it).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise InputFileError("no such notebook", notebook)
    declared = notebook_parameters(notebook)
    passed = {key: _jsonable(value) for key, value in parameters.items() if key in declared}
    start = time.perf_counter()
    try:
        with _patched_env(_kernel_env()):
            papermill.execute_notebook(
                str(notebook), str(executed), parameters=passed, kernel_name=kernel_name,
                cwd=str(cwd or notebook.parent), progress_bar=progress,
                **({"execution_timeout": cell_timeout} if cell_timeout else {}),
            )
    except PapermillExecutionError as error:
        cell = _cell_number(notebook, error.source)
        where = f"cell {cell}" if cell else f"cell In [{error.exec_count}]"
        evalue = (error.evalue or "").strip().splitlines()
        message = f"{where} ({_first_line(error.source)!r}) raised {error.ename}: {evalue[0] if evalue else ''}".strip()
        raise ChainError(message, notebook, notebook.stem, cell, error.ename, error.evalue) from None
    except Exception as error:  # kernel died, timeout, bad notebook JSON
        raise ChainError(f"could not run: {type(error).__name__}: {error}", notebook, notebook.stem, None,
                         type(error).__name__, str(error)) from None
    return time.perf_counter() - start


def run_chain(
    out: str | Path,
    notebooks_dir: str | Path | None = None,
    notebooks: tuple[str, ...] | list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str = KERNEL_NAME,
    cell_timeout: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> ChainReport:
    """Run the course notebooks in order into ``out``; stop at the first failure (:class:`ChainError`).

    Each notebook gets ``output_dir = out/<stem>/`` and the shared ``work_dir = out/work``
    plus ``parameters`` (dataset, data_dir, preset, seed, epochs, ...). The executed
    notebooks go to ``out/<stem>.ipynb``; ``out/summary.json`` and ``out/index.html``
    (metrics and figures of each chapter) are rewritten after every notebook, so a failed
    chain still shows what finished. ``notebooks`` selects stems (default: all of
    :data:`NOTEBOOKS` found in ``notebooks_dir``, or every ``*.ipynb`` there when none is a
    course notebook).
    """
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    source_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    if not source_dir.is_dir():
        raise InputFileError("no such notebooks folder", source_dir)
    if notebooks is None:
        stems = [stem for stem in NOTEBOOKS if (source_dir / f"{stem}.ipynb").is_file()]
        if not stems:
            stems = sorted(path.stem for path in source_dir.glob("*.ipynb"))
    else:
        stems = [Path(name).stem for name in notebooks]
    if not stems:
        raise InputFileError("no notebooks to run", source_dir)
    work_dir = out / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    log = log or (lambda message: None)

    declared = set().union(*(notebook_parameters(source_dir / f"{stem}.ipynb") for stem in stems
                             if (source_dir / f"{stem}.ipynb").is_file()))
    unused = sorted(set(parameters or {}) - declared)
    if unused:
        log(f"note: no notebook declares the parameter(s) {', '.join(unused)}; they are not passed")
    report = ChainReport(out=str(out), runs=[NotebookRun(stem, "skipped") for stem in stems])
    started = time.perf_counter()
    failure: ChainError | None = None
    for run in report.runs:
        output_dir = out / run.notebook
        output_dir.mkdir(parents=True, exist_ok=True)
        values = dict(parameters or {})
        values.update(output_dir=str(output_dir), work_dir=str(work_dir))
        run.output_dir = str(output_dir)
        run.executed = str(out / f"{run.notebook}.ipynb")
        log(f"running {run.notebook} ...")
        t0 = time.perf_counter()
        try:
            run.seconds = run_notebook(source_dir / f"{run.notebook}.ipynb", run.executed, values,
                                       kernel_name=kernel_name, cwd=source_dir, cell_timeout=cell_timeout,
                                       progress=progress)
            run.status = "ok"
            log(f"{run.notebook}: ok in {run.seconds:.1f} s")
        except ChainError as error:
            run.seconds = time.perf_counter() - t0
            run.status, run.error, run.cell = "failed", error.problem, error.cell
            failure = error
        report.seconds = time.perf_counter() - started
        write_summary(report)
        if failure:
            break
    if failure:
        failure.report = report
        raise failure
    return report


# --------------------------------------------------------------------------------------------
# Summary: summary.json + index.html
# --------------------------------------------------------------------------------------------


def _scalars(results: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten results to (key, short value) rows for the index page; long lists are summarised."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(results):
        value = results[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) <= 12 and not prefix:
            rows.extend(_scalars(value, prefix=f"{name}."))
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        elif isinstance(value, (list, Mapping)):
            text = json.dumps(value)
            rows.append((name, text if len(text) <= 80 else f"{text[:77]}..."))
        else:
            rows.append((name, value))
    return rows


def write_summary(report: ChainReport) -> Path:
    """Write ``summary.json`` and ``index.html`` for ``report`` into its ``out`` folder; return the page."""
    out = Path(report.out)
    report.index_html = str(out / "index.html")
    _write_text_atomic(out / "summary.json", json.dumps(report.to_dict(), indent=2))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>fer-kit course run</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        ".ok{color:#080}.failed{color:#b00}.skipped{color:#888}img{max-width:48%;margin:4px;border:1px solid #ddd}"
        "pre{background:#fee;padding:.5em;white-space:pre-wrap}</style></head><body>",
        "<h1>fer-kit course run</h1>",
        f"<p>{len([r for r in report.runs if r.status == 'ok'])} of {len(report.runs)} notebooks ran, "
        f"{report.seconds:.0f} s in total.</p>",
        "<table><tr><th>notebook</th><th>status</th><th>seconds</th></tr>",
    ]
    for run in report.runs:
        parts.append(f"<tr><td><a href='#{run.notebook}'>{html.escape(run.notebook)}</a></td>"
                     f"<td class='{run.status}'>{run.status}</td><td>{run.seconds:.1f}</td></tr>")
    parts.append("</table>")
    for run in report.runs:
        parts.append(f"<h2 id='{run.notebook}'>{html.escape(run.notebook)} "
                     f"<small class='{run.status}'>{run.status}</small></h2>")
        if run.status != "skipped" and Path(run.executed).is_file():
            parts.append(f"<p>Executed notebook: <a href='{Path(run.executed).name}'>{Path(run.executed).name}</a></p>")
        if run.error:
            parts.append(f"<pre>{html.escape(run.error)}</pre>")
        output_dir = Path(run.output_dir) if run.output_dir else None
        if output_dir is None or not output_dir.is_dir():
            continue
        try:
            results = load_results(output_dir)
        except InputFileError as error:
            results = {"results.json": str(error)}
        if results:
            parts.append("<table><tr><th>result</th><th>value</th></tr>")
            parts.extend(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                         for k, v in _scalars(results))
            parts.append("</table>")
        for png in sorted(output_dir.glob("*.png")):
            rel = png.relative_to(out).as_posix()
            parts.append(f"<a href='{rel}'><img src='{rel}' alt='{html.escape(png.stem)}' "
                         f"title='{html.escape(png.stem)}'></a>")
    parts.append("</body></html>")
    page = out / "index.html"
    _write_text_atomic(page, "\n".join(parts))
    return page
