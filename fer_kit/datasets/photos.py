"""Expression photos, a folder per class: still images that become static clips (for pretraining).

Layout read: ``ROOT/<label>/<photo>`` (``.jpg``, ``.png``, ...; at any depth below the class
folder), ``<label>`` a kit label or a common spelling of one (``happy``, ``Angry``; see
:data:`fer_kit.datasets._common.LABEL_ALIASES`). Each photo is one row; preprocessing makes it
a *static clip*, its one frame repeated over the clip's 16 frames
(:func:`fer_kit.clips.preprocess.preprocess_video`). Subject (for person-disjoint splits):

1. the ``person`` column of ``ROOT/labels.csv`` when there is one (columns ``image`` = the
   path below ``ROOT``, ``person``), as the shared expression photos have;
2. else the first folder below the class folder (``ROOT/happy/alice/1.jpg`` -> ``alice``);
3. else the file name without a trailing number (``Al_Gore_0002.jpg`` -> ``Al_Gore``).

Why photos: a corpus of expression *videos* of a few dozen people is small; photos of many
more people with the same labels can pretrain both streams of MC-DCN on how expressions
look before the videos teach how they move (``fer-kit train --init``, our choice, not the
paper's). Folders that are not labels are skipped and counted.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import KIT_LABELS, image_suffixes, layout_error, make_index, normalise_label, require_dir

if TYPE_CHECKING:
    import pandas as pd

NAME = "photos"
EXPECTED = "class folders of photos (ROOT/<label>/<image>, label one of " + ", ".join(KIT_LABELS) + ")"
TRAILING_NUMBER = re.compile(r"[_\-\s]*\d+$")


def read_persons(root: Path) -> dict[str, str]:
    """``{image path below ROOT: person}`` from ``ROOT/labels.csv`` (empty when there is none)."""
    path = root / "labels.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"image", "person"} <= set(reader.fieldnames):
            return {}
        return {row["image"].strip(): row["person"].strip() for row in reader if row.get("person")}


def photo_subject(photo: Path, class_dir: Path, persons: dict[str, str], root: Path) -> str:
    """The person in ``photo`` (module doc: ``labels.csv``, a person folder, or the file name)."""
    key = photo.relative_to(root).as_posix()
    if key in persons:
        return persons[key]
    parts = photo.relative_to(class_dir).parts
    if len(parts) > 1:
        return parts[0]
    return TRAILING_NUMBER.sub("", photo.stem) or photo.stem


def index(root: str | Path) -> pd.DataFrame:
    """Index class folders of photos: one row per photo (module doc)."""
    root = require_dir(root, "photos")
    suffixes = image_suffixes()
    persons = read_persons(root)
    rows, skipped = [], Counter()
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = normalise_label(class_dir.name)
        if label is None:
            skipped[f"folder {class_dir.name!r} is not a label"] += 1
            continue
        for photo in sorted(class_dir.rglob("*")):
            if photo.is_file() and photo.suffix.lower() in suffixes and not photo.name.startswith("."):
                rows.append({"source": str(photo.resolve()), "label": label,
                             "subject": photo_subject(photo, class_dir, persons, root)})
    if not rows:
        raise layout_error(root, EXPECTED)
    return make_index(rows, NAME, skipped)
