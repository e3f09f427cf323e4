"""Reading and editing Jupyter notebook cells (nbformat 4), shared by the course chain, the release and grading.

A notebook is read with :func:`read_notebook` (a missing or unreadable file becomes an
:class:`~fer_kit.errors.InputFileError` naming it) and written back with
:func:`write_notebook` (atomic: readers see the old file or the whole new one). Cells are
nbformat nodes or plain dicts; the helpers only use ``cell.get`` and item access, so both
work: :func:`cell_source` joins a source stored as a list of lines, :func:`cell_tags` reads
``metadata.tags``, :func:`clear_outputs` empties a code cell's outputs and execution count,
:func:`code_cell_number` finds a code cell by its source (1-based, as a reader counts), and
:func:`notebook_parameters` reads the cell tagged ``parameters`` the way papermill does.

nbformat and papermill are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic
from fer_kit.errors import InputFileError


def read_notebook(path: str | Path) -> Any:
    """The notebook at ``path`` as an nbformat 4 node; :class:`InputFileError` if absent or unreadable."""
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise InputFileError("no such notebook", path) from None
    except Exception as error:  # nbformat raises several JSON / validation errors
        raise InputFileError(f"not a readable notebook ({type(error).__name__}: {error})", path) from None


def write_notebook(path: str | Path, nb: Mapping[str, Any]) -> None:
    """Write ``nb`` (an nbformat node or a plain dict) to ``path`` as nbformat JSON, atomically."""
    import nbformat

    write_text_atomic(Path(path), nbformat.writes(nbformat.from_dict(nb)) + "\n")


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (the file format may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def cell_tags(cell: Mapping[str, Any]) -> set[str]:
    """The tags of a cell (``metadata.tags``), empty when it has none."""
    return set(cell.get("metadata", {}).get("tags", []))


def clear_outputs(cell: MutableMapping[str, Any]) -> None:
    """Drop a code cell's outputs and execution count in place; other cells are left as they are."""
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None


def code_cell_number(cells: Iterable[Mapping[str, Any]], source: str) -> int | None:
    """1-based position (among all cells) of the first code cell whose source is ``source``, else None."""
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") == "code" and cell_source(cell) == source:
            return number
    return None


def notebook_parameters(path: str | Path) -> dict[str, str]:
    """Names and default values (as source text) of a notebook's ``parameters`` cell (papermill's reading)."""
    import papermill

    return {name: info["default"] for name, info in papermill.inspect_notebook(str(path)).items()}
