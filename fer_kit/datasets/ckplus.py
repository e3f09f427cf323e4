"""CK+ (Extended Cohn-Kanade): 123 subjects, 593 image sequences from neutral to apex, 327 labelled.

Layout read (as unpacked from the two archives): ``cohn-kanade-images/S005/001/*.png``
(one folder of frames per sequence) and ``Emotion/S005/001/S005_001_00000011_emotion.txt``
(one number: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7
surprise). Both folders may sit anywhere below the given root. Sequences without an
emotion file are skipped and counted. ``contempt=False`` drops the contempt sequences
(the kit's seven classes have no contempt). Subject = ``Sxxx``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import image_suffixes, layout_error, make_index, require_dir

if TYPE_CHECKING:
    import pandas as pd

NAME = "ckplus"
CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness", 6: "sadness", 7: "surprise"}
EXPECTED = "CK+ sequences cohn-kanade-images/Sxxx/yyy/*.png with Emotion/Sxxx/yyy/*_emotion.txt"


def _find_dir(root: Path, name: str) -> Path | None:
    if root.name.lower() == name.lower():
        return root
    for depth in ("*", "*/*", "*/*/*"):
        for candidate in sorted(root.glob(depth)):
            if candidate.is_dir() and candidate.name.lower() == name.lower():
                return candidate
    return None


def read_emotion_file(path: Path) -> int | None:
    """The code in a CK+ ``*_emotion.txt`` (e.g. ``   3.0000000e+00``), or ``None`` if unreadable."""
    try:
        return int(round(float(path.read_text().split()[0])))
    except (OSError, ValueError, IndexError):
        return None


def index(root: str | Path, contempt: bool = True) -> pd.DataFrame:
    """Index a CK+ folder: one row per labelled sequence (a folder of frames)."""
    root = require_dir(root, "CK+")
    images = _find_dir(root, "cohn-kanade-images")
    emotions = _find_dir(root, "Emotion")
    if images is None:
        raise layout_error(root, EXPECTED + " (no cohn-kanade-images folder)")
    if emotions is None:
        raise layout_error(root, EXPECTED + " (no Emotion folder with the labels)")
    suffixes = image_suffixes()
    rows, skipped = [], Counter()
    for sequence in sorted(p for p in images.glob("*/*") if p.is_dir()):
        if not any(f.suffix.lower() in suffixes for f in sequence.iterdir()):
            continue
        subject, number = sequence.parent.name, sequence.name
        files = sorted((emotions / subject / number).glob("*_emotion.txt"))
        code = read_emotion_file(files[0]) if files else None
        if code is None:
            skipped["no emotion label"] += 1
            continue
        label = CODES.get(code)
        if label is None:
            skipped[f"unknown emotion code {code}"] += 1
            continue
        if label == "contempt" and not contempt:
            skipped["contempt (dropped)"] += 1
            continue
        rows.append({"source": str(sequence.resolve()), "label": label, "subject": subject})
    if not rows:
        raise layout_error(root, EXPECTED + (f" (skipped: {dict(skipped)})" if skipped else ""))
    return make_index(rows, NAME, skipped)
