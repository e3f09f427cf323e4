"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 actors.

Layout read: files named with seven two-digit fields ``MM-VV-EE-II-SS-RR-AA.mp4`` (e.g.
``Actor_01/02-01-06-01-02-01-01.mp4``): modality (01 full audio-video, 02 video-only, 03
audio-only), vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy,
04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity, statement,
repetition, actor. Only the video modalities are read; a full-AV file and its video-only
twin hold the same frames, so one of each pair is kept (video-only preferred) unless
``dedupe=False``. ``calm`` becomes neutral (``calm="neutral"``, default) or is dropped
(``calm="drop"``). Subject = ``actorNN``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import layout_error, make_index, require_dir, video_files
from fer_kit.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

NAME = "ravdess"
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
PATTERN = re.compile(r"^(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})-"
                     r"(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})$")
EXPECTED = "RAVDESS video files named like 02-01-06-01-02-01-01.mp4 (modality 01 or 02)"


def index(root: str | Path, calm: str = "neutral", dedupe: bool = True) -> pd.DataFrame:
    """Index a RAVDESS folder (video modalities only); ``calm`` is ``"neutral"`` or ``"drop"``."""
    if calm not in ("neutral", "drop"):
        raise UsageError(f"calm must be 'neutral' or 'drop', not {calm!r}")
    root = require_dir(root, "RAVDESS")
    chosen: dict[tuple, tuple[str, Path]] = {}
    skipped = Counter()
    for path in video_files(root):
        match = PATTERN.match(path.stem)
        if not match:
            continue
        fields = match.groupdict()
        if fields["modality"] not in ("01", "02"):
            skipped["audio-only"] += 1
            continue
        if fields["emotion"] not in EMOTIONS:
            skipped[f"unknown emotion code {fields['emotion']}"] += 1
            continue
        key = tuple(v for k, v in fields.items() if k != "modality") if dedupe else (path,)
        previous = chosen.get(key)
        if previous is not None:
            skipped["full-AV twin of a video-only file"] += 1
            if previous[0] == "02" or fields["modality"] == "01":
                continue
        chosen[key] = (fields["modality"], path)
    rows = []
    for _, path in chosen.values():
        fields = PATTERN.match(path.stem).groupdict()
        label = EMOTIONS[fields["emotion"]]
        if label == "calm":
            if calm == "drop":
                skipped["calm (dropped)"] += 1
                continue
            label = "neutral"
        rows.append({"source": str(path.resolve()), "label": label, "subject": f"actor{fields['actor']}"})
    if not rows and not skipped:
        raise layout_error(root, EXPECTED)
    if not rows:
        raise layout_error(root, EXPECTED + f" (all skipped: {dict(skipped)})")
    return make_index(rows, NAME, skipped)
