"""A CSV manifest, for anything else: one row per clip with ``source,label,subject``.

Layout read: a CSV file (or a folder holding ``manifest.csv`` / ``index.csv``) with the
columns ``source`` (a video file or frame folder; relative paths are taken from the CSV's
folder), ``label`` (a kit label or a common spelling of one) and ``subject``; optional
``dataset`` (default ``manifest``), ``start`` and ``end`` (seconds). Rows whose file is
missing, whose label is empty or unknown are skipped and counted.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import make_index, normalise_label
from fer_kit.errors import DatasetLayoutError

if TYPE_CHECKING:
    import pandas as pd

NAME = "manifest"
REQUIRED = ("source", "label", "subject")
CANDIDATES = ("manifest.csv", "index.csv")


def _csv_path(root: Path) -> Path:
    if root.is_file():
        return root
    if root.is_dir():
        for name in CANDIDATES:
            if (root / name).is_file():
                return root / name
        raise DatasetLayoutError(f"no manifest CSV ({' or '.join(CANDIDATES)}) in this folder", root)
    raise DatasetLayoutError("manifest CSV not found", root)


def index(root: str | Path) -> pd.DataFrame:
    """Index the clips a CSV manifest lists."""
    path = _csv_path(Path(root).expanduser())
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise DatasetLayoutError(
                f"manifest needs the columns {', '.join(REQUIRED)}; missing {', '.join(missing)} "
                f"(found {', '.join(reader.fieldnames or []) or 'no header'})",
                path,
            )
        rows, skipped = [], Counter()
        for record in reader:
            get = {key: (record.get(original) or "").strip() for key, original in columns.items()}
            source = Path(get["source"]).expanduser()
            if not get["source"]:
                skipped["empty source"] += 1
                continue
            if not source.is_absolute():
                source = path.parent / source
            if not source.exists():
                skipped["missing file"] += 1
                continue
            label = normalise_label(get["label"])
            if label is None:
                skipped["no label" if not get["label"] else f"unknown label {get['label']}"] += 1
                continue
            row = {"source": str(source.resolve()), "label": label, "subject": get["subject"] or source.stem}
            if get.get("dataset"):
                row["dataset"] = get["dataset"]
            for key in ("start", "end"):
                if get.get(key):
                    row[key] = float(get[key])
            rows.append(row)
    if not rows:
        raise DatasetLayoutError(f"the manifest lists no usable clip (skipped: {dict(skipped)})", path)
    return make_index(rows, NAME, skipped)
