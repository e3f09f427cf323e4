"""GEMEP (Geneva Multimodal Emotion Portrayals; paper 2.3, 4.2.3): 10 actors, 18 portrayed emotions.

The paper relabels GEMEP to six basic emotions; its Appendix A (Table A1) gives four of the
pairs. The rest are completed here by emotion family, one documented choice per emotion;
an emotion mapped to ``None`` is dropped (and counted). Override any entry with
``mapping=`` (a dict, or a YAML / JSON / CSV file of ``emotion: label`` pairs; an empty or
``null`` label drops the emotion).

==============  ==========  ==========================================================
GEMEP emotion   kit label   why
==============  ==========  ==========================================================
admiration      surprise    paper, Appendix A Table A1
anger           anger       paper, Table A1 (GEMEP's "hot anger")
anxiety         sadness     paper, Table A1 (GEMEP's "worry")
contempt        disgust     paper, Table A1 (printed "Concept")
irritation      anger       anger family ("cold anger")
disgust         disgust     same emotion
fear            fear        same emotion ("panic fear")
despair         sadness     loss / distress family
sadness         sadness     same emotion
joy             happiness   joy family ("elation")
amusement       happiness   joy family (laughter, AU6+12)
pleasure        happiness   joy family ("sensual pleasure")
pride           happiness   positive; smile with raised head
relief          happiness   positive; smile after tension
tenderness      happiness   positive, affiliative smile
interest        surprise    attention family with raised brows, as the paper did for admiration
surprise        surprise    same emotion
shame           None        no basic-emotion family (gaze aversion, not a facial prototype)
==============  ==========  ==========================================================

Layout read: video files (any extension) or frame folders whose name starts with the
actor number and the emotion code, e.g. ``01adm_Ax.avi``, ``10-ang-2.mp4`` (codes: the
first three letters of the English name or GEMEP's French abbreviations, see
:data:`CODES`), or any file inside a folder named after the emotion (``anger/...``), the
actor then taken from the leading digits of the file name or an ``actorNN`` folder.
Subject = ``actorNN``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import KIT_LABELS, layout_error, make_index, media_items, require_dir
from fer_kit.errors import InputFileError, UsageError

if TYPE_CHECKING:
    import pandas as pd

NAME = "gemep"

GEMEP_TO_KIT: dict[str, str | None] = {
    "admiration": "surprise",
    "anger": "anger",
    "anxiety": "sadness",
    "contempt": "disgust",
    "irritation": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "despair": "sadness",
    "sadness": "sadness",
    "joy": "happiness",
    "amusement": "happiness",
    "pleasure": "happiness",
    "pride": "happiness",
    "relief": "happiness",
    "tenderness": "happiness",
    "interest": "surprise",
    "surprise": "surprise",
    "shame": None,
}
"""The default relabelling (see the table in the module docstring)."""

CODES: dict[str, str] = {
    **{name[:3]: name for name in GEMEP_TO_KIT},
    # GEMEP's French abbreviations and alternative English names
    "col": "anger",  # colère (hot anger)
    "hot": "anger",
    "inq": "anxiety",  # inquiétude
    "wor": "anxiety",  # worry
    "mep": "contempt",  # mépris
    "deg": "disgust",  # dégoût
    "peu": "fear",  # peur
    "pan": "fear",  # panic fear
    "tri": "sadness",  # tristesse
    "joi": "joy",  # joie
    "ele": "joy",  # elation
    "pla": "pleasure",  # plaisir
    "sen": "pleasure",  # sensual pleasure
    "fie": "pride",  # fierté
    "sou": "relief",  # soulagement
    "hon": "shame",  # honte
}
"""Emotion codes found in GEMEP file names -> GEMEP emotion."""

PATTERN = re.compile(r"^(?P<actor>\d{1,2})[_\-]?(?P<code>[a-z]{3})", re.IGNORECASE)
EXPECTED = "GEMEP portrayals named like 01adm_Ax.avi (actor number + emotion code) or <emotion>/<file>"


def load_mapping(mapping: Mapping[str, str | None] | str | Path | None) -> dict[str, str | None]:
    """The default table updated with ``mapping`` (dict or YAML / JSON / CSV file); labels are checked."""
    table = dict(GEMEP_TO_KIT)
    if mapping is None:
        return table
    if not isinstance(mapping, Mapping):
        path = Path(mapping)
        if not path.is_file():
            raise InputFileError("GEMEP mapping file not found", path)
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            import yaml

            mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        elif suffix == ".json":
            mapping = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                mapping = {row[0].strip(): (row[1].strip() if len(row) > 1 else "") for row in csv.reader(handle)
                           if row and row[0].strip() and row[0].strip().lower() != "emotion"}
        else:
            raise InputFileError("GEMEP mapping must be a .yaml, .json or .csv file", path)
        if not isinstance(mapping, Mapping):
            raise InputFileError("GEMEP mapping file must hold emotion: label pairs", path)
    for emotion, label in mapping.items():
        emotion = str(emotion).strip().lower()
        label = None if label in (None, "") or str(label).strip().lower() in ("none", "null", "drop") else str(label)
        if label is not None and label not in KIT_LABELS:
            raise UsageError(f"GEMEP mapping: {emotion!r} -> {label!r} is not a kit label ({', '.join(KIT_LABELS)})")
        table[emotion] = label
    return table


def _emotion_of(item: Path, root: Path) -> tuple[str | None, str | None]:
    """``(GEMEP emotion, actor)`` of a media item from its name or folders."""
    name = item.stem if item.is_file() else item.name
    match = PATTERN.match(name)
    if match and match.group("code").lower() in CODES:
        return CODES[match.group("code").lower()], f"actor{int(match.group('actor')):02d}"
    parts = [p.lower() for p in item.relative_to(root).parts[:-1]]
    emotion = next((p for p in reversed(parts) if p in GEMEP_TO_KIT), None)
    if emotion is None:
        return None, None
    digits = re.match(r"^(\d{1,2})", name)
    folder = next((re.search(r"(\d+)", p) for p in parts if p.startswith("actor")), None)
    actor = digits.group(1) if digits else (folder.group(1) if folder else None)
    return emotion, (f"actor{int(actor):02d}" if actor else None)


def index(root: str | Path, mapping: Mapping[str, str | None] | str | Path | None = None) -> pd.DataFrame:
    """Index a GEMEP folder relabelled to the kit's emotions (``mapping`` overrides the table)."""
    table = load_mapping(mapping)
    root = require_dir(root, "GEMEP")
    rows, skipped, portrayed = [], Counter(), Counter()
    for item in media_items(root):
        emotion, actor = _emotion_of(item, root)
        if emotion is None:
            continue
        portrayed[emotion] += 1
        label = table.get(emotion)
        if label is None:
            skipped[f"unmapped emotion {emotion}"] += 1
            continue
        if actor is None:
            skipped["no actor number"] += 1
            continue
        rows.append({"source": str(item.resolve()), "label": label, "subject": actor})
    if not rows:
        raise layout_error(root, EXPECTED + (f" that map to a kit label (skipped: {dict(skipped)})" if skipped else ""))
    return make_index(rows, NAME, skipped, {"portrayed": dict(sorted(portrayed.items()))})
