"""The student release: the course notebooks without their solutions, outputs or grading code.

An instructor notebook marks each exercise answer inside a code cell as::

    def region_area(mask):
        ### BEGIN SOLUTION
        return int(mask.sum())
        ### END SOLUTION

:func:`release_notebooks` writes a copy of every notebook in which each such block is
replaced by a stub at the block's own indentation::

        # YOUR CODE HERE
        raise NotImplementedError()

In Markdown cells a solution block becomes ``YOUR ANSWER HERE``. Blocks between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` and whole cells tagged
``instructor`` (or ``remove-in-release``) are dropped. Every output, execution count and
execution record (papermill, timing and widget state) is cleared, and the notebook metadata
gains ``fer_kit.assignment`` (the notebook's stem) so the grader can tell which assignment a
returned notebook belongs to. After writing, every file in the release folder is searched
for a solution or hidden-test marker; one found is an error, never a silent leak.

The markers, stubs and hidden-test blocks are nbgrader's conventions (its ``ClearSolutions``
and ``ClearHiddenTests`` preprocessors), so an instructor who knows nbgrader knows these
notebooks. The kit applies them itself rather than depend on nbgrader: nbgrader brings a
database, a Jupyter server extension and its own course layout, of which the release needs
only these few rules; the stricter final scan for leftover markers is the kit's own.

The grading checks themselves live in :mod:`fer_kit.grading`, never in the notebooks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

from fer_kit import __version__
from fer_kit.course.cells import cell_source, cell_tags, clear_outputs, read_notebook, write_notebook
from fer_kit.errors import FerKitError, InputFileError

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
REMOVE_TAGS = frozenset({"instructor", "remove-in-release"})
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
"""Text that must not appear anywhere in a release folder."""

_MARKER_RE = re.compile("|".join(re.escape(marker) for marker in MARKERS))
_DROP_CELL_METADATA = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")
_DROP_NB_METADATA = ("papermill", "widgets", "execution")


class ReleaseError(FerKitError):
    """A notebook cannot be released: unbalanced markers, or a marker left in the release folder."""


def _replace_blocks(source: str, begin: str, end: str, stub: tuple[str, ...], where: str) -> str:
    """Replace each ``begin`` ... ``end`` block of lines by ``stub`` lines at the ``begin`` line's indentation."""
    lines = source.splitlines()
    out: list[str] = []
    inside = False
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text.startswith(begin):
            if inside:
                raise ReleaseError(f"line {number}: {begin!r} inside another block", where)
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub_line for stub_line in stub)
        elif text.startswith(end):
            if not inside:
                raise ReleaseError(f"line {number}: {end!r} without {begin!r}", where)
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError(f"{begin!r} is never closed by {end!r}", where)
    return "\n".join(out)


def student_version(nb: dict, assignment: str, where: str = "notebook") -> dict:
    """A student copy of the notebook ``nb`` (an nbformat dict); the argument is left untouched.

    ``assignment`` is stamped into ``metadata["fer_kit"]["assignment"]``; ``where`` names the
    notebook in error messages.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.get("cells", []), start=1):
        if cell_tags(cell) & REMOVE_TAGS:
            continue
        source = cell_source(cell)
        cell_where = f"{where} (cell {index})"
        if cell.get("cell_type") == "code":
            source = _replace_blocks(source, BEGIN_HIDDEN, END_HIDDEN, (), cell_where)
            source = _replace_blocks(source, BEGIN_SOLUTION, END_SOLUTION, CODE_STUB, cell_where)
            clear_outputs(cell)
        elif cell.get("cell_type") == "markdown":
            source = _replace_blocks(source, BEGIN_SOLUTION, END_SOLUTION, (MARKDOWN_STUB,), cell_where)
        cell["source"] = source
        metadata = cell.setdefault("metadata", {})
        for key in _DROP_CELL_METADATA:
            metadata.pop(key, None)
        cells.append(cell)
    nb["cells"] = cells
    metadata = nb.setdefault("metadata", {})
    for key in _DROP_NB_METADATA:
        metadata.pop(key, None)
    metadata["fer_kit"] = {**metadata.get("fer_kit", {}), "assignment": assignment, "release": __version__}
    return nb


def find_markers(folder: str | Path) -> list[tuple[Path, str]]:
    """Every (file, marker) pair in ``folder`` (recursively) where a solution or hidden-test marker remains."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        found.extend((path, match) for match in sorted(set(_MARKER_RE.findall(text))))
    return found


def release_notebooks(
    src_dir: str | Path, out_dir: str | Path, notebooks: Iterable[str] | None = None
) -> list[Path]:
    """Write the student version of every notebook in ``src_dir`` to ``out_dir``; return the written paths.

    ``notebooks`` selects stems or file names (default: every ``*.ipynb`` in ``src_dir``).
    Raises :class:`~fer_kit.errors.InputFileError` for a missing folder or unreadable
    notebook and :class:`ReleaseError` for unbalanced markers or when any marker remains
    in ``out_dir`` after writing.
    """
    src_dir, out_dir = Path(src_dir).resolve(), Path(out_dir).resolve()
    if not src_dir.is_dir():
        raise InputFileError("no such notebooks folder", src_dir)
    if out_dir == src_dir or src_dir in out_dir.parents:
        raise ReleaseError("the release folder must be outside the instructor notebooks folder", out_dir)
    if notebooks is None:
        sources = sorted(path for path in src_dir.glob("*.ipynb") if not path.name.startswith("."))
    else:
        sources = [src_dir / (name if name.endswith(".ipynb") else f"{name}.ipynb") for name in notebooks]
    if not sources:
        raise InputFileError("no notebooks to release", src_dir)

    released = []
    for path in sources:
        nb = read_notebook(path)
        released.append((path, student_version(nb, path.stem, where=str(path))))

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, nb in released:
        target = out_dir / path.name
        write_notebook(target, nb)
        written.append(target)

    leaks = find_markers(out_dir)
    if leaks:
        listing = ", ".join(f"{path.name} ({marker})" for path, marker in leaks[:5])
        raise ReleaseError(f"solution markers remain in the release: {listing}", out_dir)
    return written
