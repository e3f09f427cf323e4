"""Figures the kit's benchmarks measured, with their provenance, for the notebooks to show.

The numbers live in ``measured.json`` beside this module; each entry says what was
measured, on what data, with which preset, recipe and script, on what machine and when.
The notebooks print them from here instead of writing them into their Markdown::

    from fer_kit.course.measured import measured, measured_table, provenance
    measured("ckplus_10fold")["rows"]["mcdcn"]["accuracy"]
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MEASURED_FILE = Path(__file__).with_name("measured.json")


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    return json.loads(MEASURED_FILE.read_text(encoding="utf-8"))


def measured(name: str) -> dict:
    """The entry ``name`` of ``measured.json`` (a copy); ``KeyError`` naming the known entries otherwise."""
    entries = _load()
    if name not in entries:
        raise KeyError(f"no measured figures called {name!r}; known: {', '.join(sorted(entries))}")
    return copy.deepcopy(entries[name])


def provenance(name: str) -> str:
    """Where the figures of entry ``name`` come from, in a few lines."""
    entry = measured(name)
    return (f"{entry['what']}.\nData: {entry['data']}.\nProtocol: {entry['protocol']}; preset {entry['preset']}, "
            f"recipe {entry['recipe']} ({entry['recipe_settings']}).\n"
            f"Measured on a {entry['machine']} by `{entry['script']}`, {entry['date']}.")


def measured_table(name: str, rows: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of entry ``name`` (all, or ``rows`` in that order) as a table, one row per measured model."""
    import pandas as pd

    table = pd.DataFrame(measured(name)["rows"]).T
    table = table.loc[list(rows)] if rows is not None else table
    numeric = [column for column in table.columns if column != "model"]
    return table.astype({column: float for column in numeric})
