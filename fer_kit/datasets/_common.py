"""What every dataset adapter shares: the index table, label names, media discovery, layout errors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from fer_kit.errors import DatasetLayoutError
from fer_kit.labels import EMOTIONS, EXTRA_EMOTIONS

INDEX_COLUMNS = ("source", "label", "subject", "dataset")
"""The dataset index of DESIGN.md: one row per video or frame sequence (+ optional start, end)."""

KIT_LABELS = EMOTIONS + EXTRA_EMOTIONS

LABEL_ALIASES: dict[str, str] = {
    "angry": "anger",
    "anger": "anger",
    "ang": "anger",
    "mad": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "dis": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "fea": "fear",
    "scared": "fear",
    "happiness": "happiness",
    "happy": "happiness",
    "hap": "happiness",
    "joy": "happiness",
    "neutral": "neutral",
    "neu": "neutral",
    "sadness": "sadness",
    "sad": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "sur": "surprise",
    "contempt": "contempt",
}
"""Common spellings of the kit's labels (folder names, manifest cells)."""


def normalise_label(text: object) -> str | None:
    """The kit label for a name such as ``"Happy"`` or ``"surprised"``; ``None`` if it is not one."""
    if text is None:
        return None
    key = re.sub(r"[^a-z]", "", str(text).strip().lower())
    return LABEL_ALIASES.get(key)


def require_dir(root: str | Path, dataset: str) -> Path:
    """``root`` as a Path; ``DatasetLayoutError`` if it is not a folder."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetLayoutError(f"{dataset} folder not found (expected a folder holding the unpacked corpus)", path)
    return path


def video_suffixes() -> tuple[str, ...]:
    from fer_kit.clips.video import VIDEO_SUFFIXES

    return VIDEO_SUFFIXES


def image_suffixes() -> tuple[str, ...]:
    from fer_kit.images import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def video_files(root: Path) -> list[Path]:
    """Video files under ``root`` (recursive, sorted; hidden files skipped)."""
    suffixes = video_suffixes()
    return sorted(
        p for p in root.rglob("*") if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()
    )


def frame_folders(root: Path, min_frames: int = 2) -> list[Path]:
    """Folders under ``root`` (itself included) directly holding at least ``min_frames`` images: frame sequences."""
    suffixes = image_suffixes()
    counts: Counter = Counter()
    for p in root.rglob("*"):
        if p.suffix.lower() in suffixes and not p.name.startswith("."):
            counts[p.parent] += 1
    return sorted(folder for folder, n in counts.items() if n >= min_frames)


def media_items(root: Path) -> list[Path]:
    """Everything that can be a clip: video files and folders of frames."""
    return sorted(video_files(root) + frame_folders(root))


def found_summary(root: Path, limit: int = 3) -> str:
    """``"found 12 files, e.g. a.txt, b/c.wav"`` (or ``"the folder is empty"``) for error messages."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    if not files:
        return "the folder is empty"
    examples = ", ".join(str(p.relative_to(root)) for p in files[:limit])
    return f"found {len(files)} file{'s' if len(files) != 1 else ''}, e.g. {examples}"


def layout_error(root: Path, expected: str) -> DatasetLayoutError:
    """The error of an adapter pointed at the wrong folder: what it expected and what it found."""
    return DatasetLayoutError(f"no {expected} under this folder; {found_summary(root)}", root)


def make_index(rows: Iterable[dict], dataset: str, skipped: Counter | None = None, notes: dict | None = None):
    """The index DataFrame (``INDEX_COLUMNS`` first, sorted by source) with ``attrs['skipped']`` counts."""
    import pandas as pd

    rows = list(rows)
    for row in rows:
        row.setdefault("dataset", dataset)
    extra = [c for c in ("start", "end") if any(c in row for row in rows)]
    frame = pd.DataFrame(rows, columns=list(INDEX_COLUMNS) + extra)
    frame = frame.sort_values("source", kind="stable").reset_index(drop=True)
    frame.attrs["dataset"] = dataset
    frame.attrs["skipped"] = {k: int(v) for k, v in sorted((skipped or Counter()).items()) if v}
    if notes:
        frame.attrs.update(notes)
    return frame
