"""MMI Facial Expression Database (paper 2.2): sessions of posed expressions, neutral -> apex -> neutral.

Layout read: one folder per session (``Sessions/<id>/``) holding the video (e.g.
``S001-001.avi``) and the session's XML metadata (``session.xml`` or any ``*.xml``) whose
emotion tag gives the label: ``<Metatag Name="Emotion" Value="4"/>`` (an element with a
``name="Emotion"`` attribute and a ``value``, or an ``<Emotion>`` element; case ignored).
Codes: 1 anger, 2 disgust, 3 fear, 4 happiness, 5 sadness, 6 surprise. Subject from a
``<Subject id="...">`` element (or a ``Subject`` metatag), else from the video name
``S001-...``, else the session folder. Sessions without an emotion label (most MMI
sessions are AU-only) are skipped and counted; where a session holds several camera
views only the first video (by name) is kept, as the paper did.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fer_kit.datasets._common import layout_error, make_index, normalise_label, require_dir, video_files

if TYPE_CHECKING:
    import pandas as pd

NAME = "mmi"
CODES = {"1": "anger", "2": "disgust", "3": "fear", "4": "happiness", "5": "sadness", "6": "surprise"}
EXPECTED = (
    "MMI session folders (a video such as S001-001.avi next to its session.xml holding "
    '<Metatag Name="Emotion" Value="1..6"/>)'
)


def _attributes(element: ElementTree.Element) -> dict[str, str]:
    return {k.lower(): v for k, v in element.attrib.items()}


def read_session_xml(path: str | Path) -> tuple[str | None, str | None]:
    """``(emotion code or name, subject)`` from an MMI session XML file (``None`` where absent)."""
    try:
        tree = ElementTree.parse(path)
    except (ElementTree.ParseError, OSError):
        return None, None
    emotion = subject = None
    for element in tree.iter():
        tag = element.tag.split("}")[-1].lower()
        attrs = _attributes(element)
        name = attrs.get("name", "").lower()
        value = attrs.get("value")
        if emotion is None and name == "emotion" and value:
            emotion = value.strip()
        elif emotion is None and tag == "emotion":
            emotion = (value or element.text or "").strip() or None
        if subject is None and tag == "subject":
            subject = attrs.get("id") or attrs.get("subjectid") or (element.text or "").strip() or None
        elif subject is None and name == "subject" and value:
            subject = value.strip()
    return emotion, subject


def _label(code: str | None) -> str | None:
    if code is None:
        return None
    code = code.strip()
    if re.fullmatch(r"\d+(\.0+)?", code):
        return CODES.get(str(int(float(code))))
    return normalise_label(code)


def index(root: str | Path) -> pd.DataFrame:
    """Index an MMI folder: one row per labelled session."""
    root = require_dir(root, "MMI")
    sessions: dict[Path, list[Path]] = {}
    for video in video_files(root):
        sessions.setdefault(video.parent, []).append(video)
    rows, skipped, seen_xml = [], Counter(), False
    for folder, videos in sorted(sessions.items()):
        xmls = sorted(folder.glob("*.xml"), key=lambda p: (p.name.lower() != "session.xml", p.name))
        if not xmls:
            continue
        seen_xml = True
        emotion = subject = None
        for xml in xmls:
            e, s = read_session_xml(xml)
            emotion, subject = emotion or e, subject or s
        label = _label(emotion)
        if label is None:
            skipped["no emotion label" if emotion is None else f"unknown emotion {emotion}"] += 1
            continue
        if len(videos) > 1:
            skipped["extra camera view"] += len(videos) - 1
        video = videos[0]
        if subject is None:
            match = re.match(r"^S(\d+)", video.stem, re.IGNORECASE)
            subject = match.group(1) if match else folder.name
        subject = f"S{int(subject):03d}" if str(subject).isdigit() else str(subject)
        rows.append({"source": str(video.resolve()), "label": label, "subject": subject})
    if not rows:
        if seen_xml and skipped:
            raise layout_error(root, EXPECTED + f" with an emotion label (skipped: {dict(skipped)})")
        raise layout_error(root, EXPECTED)
    return make_index(rows, NAME, skipped)
