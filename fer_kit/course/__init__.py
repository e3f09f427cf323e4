"""The course's public face: what the notebooks, the ``course`` command and the grader import.

Each notebook in ``notebooks/`` is one chapter of the paper; it keeps its logic in the
library and calls the few helpers gathered here (``from fer_kit import course``):

- :func:`prepare_dirs`, :func:`record`, :func:`load_results`, :func:`save_figure`
  (:mod:`fer_kit.course.results`): a notebook's ``output_dir`` and the shared ``work_dir``,
  its key results merged into ``output_dir/results.json`` (exercise answers under
  ``exercise_<n>_<name>``, what a grader reads) and its figures as PNG;
- :func:`ensure_dataset`, :func:`ensure_cache`, :func:`ensure_run` (:mod:`fer_kit.course.work`):
  reuse what an earlier chapter made in ``work_dir`` or build it, so every notebook also runs
  on its own;
- :func:`run_chain` (:mod:`fer_kit.course.chain`): execute the notebooks in order with
  papermill, passing the shared parameters through, writing the executed notebooks, a
  ``summary.json`` and an ``index.html`` (:mod:`fer_kit.course.report`); it stops at the first
  notebook that fails and names the notebook, the cell and the error (:class:`ChainError`).

Importing this module is cheap: pandas, papermill, nbformat and TensorFlow are imported
inside the functions that need them.
"""

from __future__ import annotations

from fer_kit.course.cells import notebook_parameters
from fer_kit.course.chain import (
    KERNEL_NAME,
    NOTEBOOKS,
    ChainError,
    default_notebooks_dir,
    run_chain,
    run_notebook,
)
from fer_kit.course.report import ChainReport, NotebookRun, write_summary
from fer_kit.course.results import (
    RESULTS_FILE,
    default_course_root,
    load_results,
    prepare_dirs,
    record,
    save_figure,
)
from fer_kit.course.work import (
    DEFAULT_PER_CLASS,
    cache_dir_for,
    ensure_cache,
    ensure_dataset,
    ensure_run,
    synthetic_dir,
)

__all__ = [
    "DEFAULT_PER_CLASS",
    "KERNEL_NAME",
    "NOTEBOOKS",
    "RESULTS_FILE",
    "ChainError",
    "ChainReport",
    "NotebookRun",
    "cache_dir_for",
    "default_course_root",
    "default_notebooks_dir",
    "ensure_cache",
    "ensure_dataset",
    "ensure_run",
    "load_results",
    "notebook_parameters",
    "prepare_dirs",
    "record",
    "run_chain",
    "run_notebook",
    "save_figure",
    "synthetic_dir",
    "write_summary",
]
