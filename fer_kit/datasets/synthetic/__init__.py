"""The embedded default dataset: synthetic expression clips animated from real neutral face photos.

The generator (``fer-kit data synth``) lives in this package:

- :mod:`.generate`: the dataset: faces x emotions x variations, written as clips and ``labels.csv``;
- :mod:`.action_units`: FACS action units as landmark displacements, the emotion prototypes;
- :mod:`.animate`: one clip's random plan and the rendering of its frames;
- :mod:`.faces`: the neutral face photos; :mod:`.warp`, :mod:`.folds`, :mod:`.mouth`: the rendering;
- :mod:`.stills`: still faces with exact 68-point ground truth, for training an ERT offline.

This module itself is the dataset adapter. Layout read: ``ROOT/labels.csv`` with ``source`` (relative to ROOT), ``label`` and
``subject`` (the source photo's identity) columns, and the clips it lists. Missing clips
are skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import KIT_LABELS, found_summary, make_index, require_dir
from fer_kit.errors import DatasetLayoutError

if TYPE_CHECKING:
    import pandas as pd

NAME = "synthetic"
LABELS_FILE = "labels.csv"


def index(root: str | Path) -> pd.DataFrame:
    """Index a synthetic dataset folder through its ``labels.csv``."""
    import pandas as pd

    root = require_dir(root, "synthetic dataset")
    table_path = root / LABELS_FILE
    if not table_path.is_file():
        raise DatasetLayoutError(
            f"no {LABELS_FILE} (expected the output folder of 'fer-kit data synth'); {found_summary(root)}", root
        )
    table = pd.read_csv(table_path, dtype={"subject": str, "source": str, "label": str})
    missing = [c for c in ("source", "label", "subject") if c not in table.columns]
    if missing:
        raise DatasetLayoutError(f"{LABELS_FILE} lacks the columns {', '.join(missing)}", table_path)
    rows, skipped = [], Counter()
    for source, label, subject in zip(table["source"], table["label"], table["subject"], strict=True):
        path = root / str(source)
        if not path.exists():
            skipped["missing clip"] += 1
            continue
        if label not in KIT_LABELS:
            skipped[f"unknown label {label}"] += 1
            continue
        rows.append({"source": str(path.resolve()), "label": label, "subject": str(subject)})
    if not rows:
        raise DatasetLayoutError(f"none of the clips {LABELS_FILE} lists is present (skipped: {dict(skipped)})", root)
    return make_index(rows, NAME, skipped)
