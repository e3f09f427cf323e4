"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors, 7,442 clips.

Layout read: video files named ``ActorID_Sentence_EMO_Level`` (e.g. ``1001_DFA_ANG_XX.flv``)
anywhere below the folder; audio-only files are ignored. EMO: ANG anger, DIS disgust,
FEA fear, HAP happiness, NEU neutral, SAD sadness. Subject = actor id.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import layout_error, make_index, require_dir, video_files

if TYPE_CHECKING:
    import pandas as pd

NAME = "cremad"
CODES = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
PATTERN = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})$")
EXPECTED = "CREMA-D videos named like 1001_DFA_ANG_XX.flv (ActorID_Sentence_EMO_Level)"


def index(root: str | Path) -> pd.DataFrame:
    """Index a CREMA-D folder: label from the EMO field, subject = actor id."""
    root = require_dir(root, "CREMA-D")
    rows, skipped = [], Counter()
    for path in video_files(root):
        match = PATTERN.match(path.stem)
        if not match:
            continue
        label = CODES.get(match.group("emotion"))
        if label is None:
            skipped[f"unknown emotion code {match.group('emotion')}"] += 1
            continue
        rows.append({"source": str(path.resolve()), "label": label, "subject": match.group("actor")})
    if not rows:
        raise layout_error(root, EXPECTED)
    return make_index(rows, NAME, skipped)
