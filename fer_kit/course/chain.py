"""The headless course chain: execute the notebooks in order with papermill and report each one.

:func:`run_chain` runs the chapters of :data:`NOTEBOOKS` (kernel ``python3``) into one output
folder, each with its own ``output_dir`` and the shared ``work_dir``, passing on only the
parameters a notebook declares in its ``parameters`` cell. After every notebook it rewrites
``summary.json`` and ``index.html`` (:mod:`fer_kit.course.report`); it stops at the first
notebook that fails with a :class:`ChainError` naming the notebook, the cell (numbered as in
the notebook as written) and the error. :func:`run_notebook` executes a single notebook.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fer_kit import cpu_environment
from fer_kit.config import NOTEBOOKS_DIR
from fer_kit.course.cells import code_cell_number, notebook_parameters, read_notebook
from fer_kit.course.report import ChainReport, NotebookRun, write_summary
from fer_kit.course.results import jsonable
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


def default_notebooks_dir() -> Path:
    """The course notebooks shipped inside the package (:data:`fer_kit.config.NOTEBOOKS_DIR`)."""
    if any((NOTEBOOKS_DIR / f"{stem}.ipynb").is_file() for stem in NOTEBOOKS):
        return NOTEBOOKS_DIR
    raise InputFileError(f"the course notebooks are not there (looked for {NOTEBOOKS[0]}.ipynb ...)", NOTEBOOKS_DIR)


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return lines[0][:100] if lines else ""


def _kernel_env() -> dict[str, str | None]:
    """Environment changes for the kernel: inline figures (undo a headless ``MPLBACKEND=Agg``), quiet TF,
    static widget fallbacks (nobody is there to move a slider), TensorFlow's oneDNN CPU kernels
    (:data:`fer_kit.CPU_ENVIRONMENT`; a notebook imports Keras before the kit), and the kernel of this environment."""
    changes: dict[str, str | None] = {"MPLBACKEND": None,
                                      "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                                      "FER_KIT_WIDGETS": "static"}
    changes.update(cpu_environment())
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
    passed = {key: jsonable(value) for key, value in parameters.items() if key in declared}
    start = time.perf_counter()
    try:
        with _patched_env(_kernel_env()):
            papermill.execute_notebook(
                str(notebook), str(executed), parameters=passed, kernel_name=kernel_name,
                cwd=str(cwd or Path(executed).parent), progress_bar=progress,
                **({"execution_timeout": cell_timeout} if cell_timeout else {}),
            )
    except PapermillExecutionError as error:
        # numbered in the notebook as written, before papermill's injected cell
        cell = code_cell_number(read_notebook(notebook).cells, error.source)
        where = f"cell {cell}" if cell else f"cell In [{error.exec_count}]"
        evalue = (error.evalue or "").strip().splitlines()
        message = f"{where} ({_first_line(error.source)!r}) raised {error.ename}: {evalue[0] if evalue else ''}".strip()
        raise ChainError(message, notebook, notebook.stem, cell, error.ename, error.evalue) from None
    except Exception as error:  # kernel died, timeout, bad notebook JSON
        raise ChainError(f"could not run: {type(error).__name__}: {error}", notebook, notebook.stem, None,
                         type(error).__name__, str(error)) from None
    return time.perf_counter() - start


def _chain_stems(source_dir: Path, notebooks: tuple[str, ...] | list[str] | None) -> list[str]:
    """The notebooks to run: ``notebooks`` as stems, else the course's found in ``source_dir``, else all there."""
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
    return stems


def _note_unused(source_dir: Path, stems: list[str], parameters: Mapping[str, Any] | None,
                 log: Callable[[str], None]) -> None:
    """Log the given parameters that no notebook of the chain declares (they are not passed)."""
    declared = set().union(*(notebook_parameters(source_dir / f"{stem}.ipynb") for stem in stems
                             if (source_dir / f"{stem}.ipynb").is_file()))
    unused = sorted(set(parameters or {}) - declared)
    if unused:
        log(f"note: no notebook declares the parameter(s) {', '.join(unused)}; they are not passed")


def _absolute_folders(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """``parameters`` with every folder parameter (a name ending in ``_dir``) made absolute.

    Each notebook's kernel runs in that notebook's output folder, so a relative
    ``data_dir="../data/ckplus"`` is read from where the chain was started, as the
    command line promises, not from where the kernel happens to run.
    """
    values = dict(parameters or {})
    for name, value in values.items():
        if name.endswith("_dir") and isinstance(value, str) and value:
            values[name] = str(Path(value).expanduser().resolve())
    return values


def _run_one(
    run: NotebookRun, source_dir: Path, out: Path, parameters: Mapping[str, Any] | None,
    execute: Callable[..., float], log: Callable[[str], None],
) -> ChainError | None:
    """Execute one notebook of the chain with ``execute`` (:func:`run_notebook`); returns its failure, if any.

    The outcome (status, seconds, error and cell, where the outputs went) is recorded in ``run``.
    """
    output_dir = out / run.notebook
    output_dir.mkdir(parents=True, exist_ok=True)
    values = dict(parameters or {})
    values.update(output_dir=str(output_dir), work_dir=str(out / "work"))
    run.output_dir = str(output_dir)
    run.executed = str(out / f"{run.notebook}.ipynb")
    log(f"running {run.notebook} ...")
    t0 = time.perf_counter()
    try:
        run.seconds = execute(source_dir / f"{run.notebook}.ipynb", run.executed, values, cwd=output_dir)
    except ChainError as error:
        run.seconds = time.perf_counter() - t0
        run.status, run.error, run.cell = "failed", error.problem, error.cell
        return error
    run.status = "ok"
    log(f"{run.notebook}: ok in {run.seconds:.1f} s")
    return None


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
    stems = _chain_stems(source_dir, notebooks)
    work_dir = out / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    log = log or (lambda message: None)
    parameters = _absolute_folders(parameters)
    _note_unused(source_dir, stems, parameters, log)
    execute = functools.partial(run_notebook, kernel_name=kernel_name, cell_timeout=cell_timeout, progress=progress)
    report = ChainReport(out=str(out), runs=[NotebookRun(stem, "skipped") for stem in stems])
    started = time.perf_counter()
    for run in report.runs:
        failure = _run_one(run, source_dir, out, parameters, execute, log)
        report.seconds = time.perf_counter() - started
        write_summary(report)
        if failure:
            failure.report = report
            raise failure
    return report
