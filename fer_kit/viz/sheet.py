"""Contact sheets: one row per emotion, the frames of a clip from neutral to apex across.

The quickest way to judge the synthetic data (are the expressions recognisable? do the
folds show?) and to show students what the network will see. :func:`contact_sheet`
renders clips in memory from a face photo; :func:`contact_sheet_from_folder` tiles the
clips a :func:`fer_kit.datasets.synthetic.generate.generate_synthetic` run wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.datasets.synthetic.faces import FaceSource
from fer_kit.labels import EMOTIONS


def _label(row: np.ndarray, text: str) -> np.ndarray:
    import cv2

    height = row.shape[0]
    panel = np.full((height, 110, 3), 255, np.uint8)
    cv2.putText(panel, text, (6, height // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.hstack([panel, row])


def tile_rows(rows: Sequence[tuple[str, np.ndarray]], columns: int, tile: int) -> np.ndarray:
    """Tile ``[(label, frames uint8[T, H, W, 3])]``: ``columns`` frames evenly spaced from first to last."""
    import cv2

    lines = []
    for text, frames in rows:
        picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        cells = [cv2.resize(frames[i], (tile, tile), interpolation=cv2.INTER_AREA) for i in picks]
        lines.append(_label(np.hstack(cells), text))
    return np.vstack(lines)


def _save_png(image: np.ndarray, path: str | Path | None) -> None:
    import cv2

    if path is None:
        return
    path = Path(path)
    with atomic_path(path, suffix=".png") as temporary:  # always PNG, whatever the name says
        if not cv2.imwrite(str(temporary), image[:, :, ::-1]):
            raise OSError(f"cannot write {path}")


def contact_sheet(
    path: str | Path | None = None,
    face: FaceSource | None = None,
    emotions: Sequence[str] = EMOTIONS,
    columns: int = 6,
    tile: int = 160,
    seed: int = 0,
    intensity: tuple[float, float] = (0.9, 1.0),
) -> np.ndarray:
    """Render one clip per emotion of ``face`` (default: the astronaut) and tile it; write a PNG if ``path``.

    Returns the sheet as an RGB array. Rows are emotions, columns the clip's frames from
    the first (neutral) to the last (apex).
    """
    from fer_kit.datasets.synthetic.animate import AnimatedFace
    from fer_kit.datasets.synthetic.faces import builtin_faces
    from fer_kit.datasets.synthetic.generate import SynthSettings, clip_seed, make_clip

    face = builtin_faces()[0] if face is None else face
    animated = AnimatedFace(face)
    settings = SynthSettings(intensity=intensity, seed=seed)
    rows = []
    for emotion in emotions:
        frames, _, _ = make_clip(animated, emotion, clip_seed(seed, face.key, emotion, 0), settings)
        rows.append((emotion, frames))
    sheet = tile_rows(rows, columns, tile)
    _save_png(sheet, path)
    return sheet


def contact_sheet_from_folder(
    folder: str | Path, path: str | Path | None = None, per_emotion: int = 1, columns: int = 6, tile: int = 128
) -> np.ndarray:
    """Tile the first ``per_emotion`` clips of each emotion of a synthetic folder (reads ``labels.csv``)."""
    import pandas as pd

    from fer_kit.clips.video import read_video

    folder = Path(folder)
    table = pd.read_csv(folder / "labels.csv")
    rows = []
    for emotion, group in table.groupby("label", sort=False):
        for source in group["source"].head(per_emotion):
            rows.append((str(emotion), np.stack(read_video(folder / source).frames)))
    sheet = tile_rows(rows, columns, tile)
    _save_png(sheet, path)
    return sheet
