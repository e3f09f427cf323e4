"""Datasets: one adapter per corpus layout, the synthetic default, and subject-independent splits.

Every adapter turns a folder into the **dataset index** (DESIGN.md): a pandas DataFrame
with one row per video or frame sequence and the columns ``source`` (absolute path),
``label`` (the kit's vocabulary, :data:`fer_kit.labels.EMOTIONS` + ``contempt``),
``subject`` (the person, for identity-disjoint splits) and ``dataset``. Rows an adapter
had to skip are counted in ``df.attrs["skipped"]``. An adapter pointed at a folder of
another layout raises :class:`fer_kit.errors.DatasetLayoutError` saying what it expected
and what it found; it never returns an empty index.

>>> from fer_kit.datasets import index_dataset
>>> index = index_dataset("data/savee", "savee")            # doctest: +SKIP
>>> index.groupby("label").size()                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.errors import UsageError

from . import ckplus, cremad, folder, gemep, manifest, mmi, photos, ravdess, savee, synthetic

if TYPE_CHECKING:
    import pandas as pd

ADAPTERS: dict[str, Callable[..., pd.DataFrame]] = {
    "savee": savee.index,
    "mmi": mmi.index,
    "gemep": gemep.index,
    "ckplus": ckplus.index,
    "ravdess": ravdess.index,
    "cremad": cremad.index,
    "folder": folder.index,
    "photos": photos.index,
    "manifest": manifest.index,
    "synthetic": synthetic.index,
}
"""Adapter name -> ``index(root, **options)``."""

ALIASES = {"ck+": "ckplus", "ck": "ckplus", "crema-d": "cremad", "crema": "cremad", "csv": "manifest",
           "synth": "synthetic", "folders": "folder",
           "images": "photos", "stills": "photos"}


def adapter_name(name: str) -> str:
    """The canonical adapter name for ``name`` (case and common spellings ignored); ``ValueError`` if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ADAPTERS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(ADAPTERS)}")
    return key


def index_dataset(root: str | Path, name: str, **options) -> pd.DataFrame:
    """The dataset index of the corpus at ``root`` read with the adapter ``name`` (see :data:`ADAPTERS`).

    ``options`` go to the adapter (e.g. ``calm="drop"`` for RAVDESS, ``mapping=`` for
    GEMEP, ``contempt=False`` for CK+, ``labels=`` / ``subject_pattern=`` for folder).
    """
    return ADAPTERS[adapter_name(name)](root, **options)


__all__ = ["ADAPTERS", "adapter_name", "index_dataset"]
