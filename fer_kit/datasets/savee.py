"""SAVEE (Surrey Audio-Visual Expressed Emotion; paper 2.1): 4 actors x 7 emotions, 480 clips.

Layout read: video files (any extension) or frame folders whose name is the emotion code
and the sentence number, with the actor as a folder or a prefix, with or without zero
padding: ``DC/a1.avi``, ``DC/sa01.avi``, ``DC_a01.avi``, ``JE-su15.mp4``. Actors: DC, JE,
JK, KL. Codes: a anger, d disgust, f fear, h happiness, n neutral, sa sadness, su surprise.
Subject = actor.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import layout_error, make_index, media_items, require_dir

if TYPE_CHECKING:
    import pandas as pd

NAME = "savee"
ACTORS = ("DC", "JE", "JK", "KL")
CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness", "su": "surprise"}
PATTERN = re.compile(r"^(?:(?P<actor>DC|JE|JK|KL)[_\-]?)?(?P<code>sa|su|a|d|f|h|n)(?P<number>\d{1,2})$", re.IGNORECASE)
EXPECTED = "SAVEE clips: files matching DC_a01.avi or DC/a1.avi (actors DC, JE, JK, KL; codes a d f h n sa su)"


def index(root: str | Path) -> pd.DataFrame:
    """Index a SAVEE folder: one row per clip, label from the code, subject = actor."""
    root = require_dir(root, "SAVEE")
    rows, skipped = [], Counter()
    for item in media_items(root):
        match = PATTERN.match(item.stem if item.is_file() else item.name)
        if not match:
            continue
        actor = match.group("actor")
        if actor is None:
            parents = [p.upper() for p in item.relative_to(root).parts[:-1]]
            actor = next((p for p in reversed(parents) if p in ACTORS), None)
        if actor is None:
            skipped["no actor in name or folders"] += 1
            continue
        rows.append(
            {"source": str(item.resolve()), "label": CODES[match.group("code").lower()], "subject": actor.upper()}
        )
    if not rows:
        raise layout_error(root, EXPECTED)
    return make_index(rows, NAME, skipped)
