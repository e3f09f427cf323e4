"""A folder per class, for any corpus without an adapter.

Layout read: ``ROOT/<label>/...`` where ``<label>`` is a kit label or a common spelling of
one (``happy``, ``Angry``, ``surprised``, ...; see :data:`fer_kit.datasets._common.LABEL_ALIASES`,
extend with ``labels={"folder name": "kit label"}``), holding video files or folders of
frames at any depth. Subject: the first folder below the class folder when the clips
sit deeper (``ROOT/happy/alice/clip1.mp4`` -> ``alice``), else the first group of
``subject_pattern`` (a regular expression searched in the file name, e.g. ``r"^(\\w+?)_"``),
else the file name itself (then every clip is its own subject and a subject split is a
random split). Class folders that are not labels, and loose still photos (not clips),
are skipped and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import (
    KIT_LABELS,
    image_suffixes,
    layout_error,
    make_index,
    media_items,
    normalise_label,
    require_dir,
)
from fer_kit.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

NAME = "folder"
EXPECTED = "class folders (ROOT/<label>/<video or frame folder>, label one of " + ", ".join(KIT_LABELS) + ")"


def index(
    root: str | Path, labels: Mapping[str, str] | None = None, subject_pattern: str | None = None
) -> pd.DataFrame:
    """Index class folders; ``labels`` maps extra folder names to kit labels."""
    root = require_dir(root, "class")
    extra = {k.lower(): v for k, v in (labels or {}).items()}
    for name, label in extra.items():
        if label not in KIT_LABELS:
            raise UsageError(f"folder {name!r} mapped to {label!r}, which is not a kit label ({', '.join(KIT_LABELS)})")
    pattern = re.compile(subject_pattern) if subject_pattern else None
    rows, skipped, per_file = [], Counter(), 0
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = extra.get(class_dir.name.lower()) or normalise_label(class_dir.name)
        if label is None:
            skipped[f"folder {class_dir.name!r} is not a label"] += 1
            continue
        stills = [p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in image_suffixes()]
        if stills:  # a clip is a video or a folder of frames; loose photos are not clips
            skipped["still images (not clips)"] += len(stills)
        for item in media_items(class_dir):
            if item == class_dir:
                continue
            parts = item.relative_to(class_dir).parts
            name = item.stem if item.is_file() else item.name
            if len(parts) > 1:
                subject = parts[0]
            elif pattern and (match := pattern.search(name)):
                subject = match.group(1) if match.groups() else match.group(0)
            else:
                subject, per_file = name, per_file + 1
            rows.append({"source": str(item.resolve()), "label": label, "subject": subject})
    if not rows:
        raise layout_error(root, EXPECTED)
    notes = {"subjects_from_file_names": per_file} if per_file else None
    return make_index(rows, NAME, skipped, notes)
