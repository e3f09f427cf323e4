"""The named groups of the iBUG 68-point mark-up, defined once for the whole kit (paper 3.1, Figure 1).

"Left" and "right" are as seen in the image, the convention of dlib and ``face_recognition``.
:func:`named_landmarks` hands a face's points back by group, the way ``face_recognition``
does (``{"left_eye": [...], "outer_lips": [...], ...}``); :data:`MIRROR_68` says which
point each one becomes under a horizontal flip (paper 2.4's flip augmentation).
"""

from __future__ import annotations

import numpy as np

LANDMARK_GROUPS: dict[str, slice] = {
    "chin": slice(0, 17),
    "left_eyebrow": slice(17, 22),
    "right_eyebrow": slice(22, 27),
    "nose_bridge": slice(27, 31),
    "nose_tip": slice(31, 36),
    "left_eye": slice(36, 42),
    "right_eye": slice(42, 48),
    "outer_lips": slice(48, 60),
    "inner_lips": slice(60, 68),
}
"""Group name -> the slice of the 68 points it covers."""

CLOSED_GROUPS = frozenset({"left_eye", "right_eye", "outer_lips", "inner_lips"})
"""Groups whose outline is a closed loop (the eyes and the lips)."""

LEFT_OUTER_EYE_CORNER, RIGHT_OUTER_EYE_CORNER = 36, 45
"""The outer eye corners: their distance normalises landmark errors (NME)."""
LEFT_MOUTH_CORNER, RIGHT_MOUTH_CORNER = 48, 54


def named_landmarks(points: np.ndarray) -> dict[str, np.ndarray]:
    """A ``[68, 2]`` (or ``[..., 68, 2]``) array split into its named groups (``face_recognition`` style)."""
    points = np.asarray(points)
    if points.shape[-2:] != (68, 2):
        raise ValueError(f"expected 68 landmarks of (x, y), got an array of shape {points.shape}")
    return {name: points[..., part, :] for name, part in LANDMARK_GROUPS.items()}


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the eye on the image's left (points 36-41) and on its right (points 42-47)."""
    points = np.asarray(points, dtype=np.float64)
    return (points[..., LANDMARK_GROUPS["left_eye"], :].mean(axis=-2),
            points[..., LANDMARK_GROUPS["right_eye"], :].mean(axis=-2))


def _mirror_permutation() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(27 + i, 27 + i) for i in range(4)]  # nose bridge (on the axis)
    pairs += [(31 + i, 35 - i) for i in range(5)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48 + i, 54 - i) for i in range(7)]  # upper outer lip
    pairs += [(55 + i, 59 - i) for i in range(5)]  # lower outer lip
    pairs += [(60 + i, 64 - i) for i in range(5)]  # upper inner lip
    pairs += [(65, 67), (66, 66)]  # lower inner lip
    perm = np.full(68, -1)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    if not (np.sort(perm) == np.arange(68)).all():  # pragma: no cover - a typo above
        raise AssertionError("MIRROR_68 is not a permutation")
    return perm


MIRROR_68: np.ndarray = _mirror_permutation()
"""``flipped[i] = mirrored(points)[MIRROR_68[i]]``: the index each point takes after a horizontal flip."""


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks ``[..., 68, 2]`` of the horizontally flipped image (x -> width - 1 - x, indices mirrored)."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    flipped = landmarks.copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    return flipped[..., MIRROR_68, :]
