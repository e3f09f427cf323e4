"""Named facial regions from the 68 landmarks, and the attention heatmap over them (paper 3.1, Table 2).

Paper 3.1 argues that wrinkles on the brows and forehead (and crow's feet) change with
age more than with expression, so the local stream should look at the corners of the
mouth and the nasolabial folds instead. Each region here is a polygon built from the
landmarks in a face frame (x along the line between the eye centres, y perpendicular
to it, unit = the eye-centre distance ``d``), so regions follow the face when it
turns or scales. Regions on both sides of the face have one polygon per side
(``mouth_corner_left`` / ``mouth_corner_right``; left and right as seen in the image).

The attention heatmap paints every region with its weight from :data:`ATTENTION_WEIGHTS`
(mouth corners and nasolabial folds highest, forehead and crow's feet zero), blurs it
so the weights fall off smoothly, and finally clears the excluded regions again.
"""

from __future__ import annotations

import numpy as np

from fer_kit.errors import UsageError
from fer_kit.face.groups import LANDMARK_GROUPS, eye_centres

REGION_NAMES: tuple[str, ...] = (
    "mouth_corners",
    "nasolabial_folds",
    "mouth",
    "eyes",
    "brows",
    "nose",
    "forehead",
    "crows_feet",
)
"""The regions of paper 3.1 / Table 2, most expression-sensitive first."""

REGION_PARTS: dict[str, tuple[str, ...]] = {
    "mouth_corners": ("mouth_corner_left", "mouth_corner_right"),
    "nasolabial_folds": ("nasolabial_fold_left", "nasolabial_fold_right"),
    "mouth": ("mouth",),
    "eyes": ("eye_left", "eye_right"),
    "brows": ("brow_left", "brow_right"),
    "nose": ("nose",),
    "forehead": ("forehead",),
    "crows_feet": ("crows_feet_left", "crows_feet_right"),
}
"""The polygons (keys of :func:`region_polygons`) that make up each region."""

PART_REGION: dict[str, str] = {part: region for region, parts in REGION_PARTS.items() for part in parts}

ATTENTION_WEIGHTS: dict[str, float] = {
    "mouth_corners": 1.0,
    "nasolabial_folds": 1.0,
    "mouth": 0.6,
    "eyes": 0.4,
    "nose": 0.3,
    "brows": 0.25,
    "forehead": 0.0,
    "crows_feet": 0.0,
}
"""Default attention per region: highest on mouth corners and nasolabial folds, none on the
age-sensitive forehead and crow's feet (paper 3.1 and Conclusions)."""

AGE_REGION_WEIGHT = 0.6
"""Attention on the forehead and crow's feet in the ablation that includes them (our choice: as
much as the mouth), to test paper 3.1's claim that these age-sensitive regions hurt."""


def attention_weights(age_regions: bool = False) -> dict[str, float]:
    """:data:`ATTENTION_WEIGHTS`, or with ``age_regions`` the forehead and crow's feet at :data:`AGE_REGION_WEIGHT`."""
    if not age_regions:
        return dict(ATTENTION_WEIGHTS)
    return ATTENTION_WEIGHTS | {"forehead": AGE_REGION_WEIGHT, "crows_feet": AGE_REGION_WEIGHT}


def _face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit vectors (x: left eye -> right eye, y: perpendicular, pointing down the face) and the eye distance."""
    left, right = eye_centres(landmarks)
    axis = right - left
    d = float(np.hypot(*axis))
    if d < 1e-6:
        d = 1.0
        axis = np.array([1.0, 0.0])
    ux = axis / np.hypot(*axis)
    uy = np.array([-ux[1], ux[0]])
    return ux, uy, d


def region_polygons(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Polygons ``float32[N, 2]`` of every region part, in the coordinates of ``landmarks``.

    Keys are the part names of :data:`REGION_PARTS` (e.g. ``"mouth"``, ``"eye_left"``,
    ``"nasolabial_fold_right"``); :data:`PART_REGION` maps them back to region names.
    """
    p = np.asarray(landmarks, dtype=np.float64)
    ux, uy, d = _face_frame(p)

    def at(point: np.ndarray, dx, dy) -> np.ndarray:
        """``point`` moved by ``(dx, dy)`` eye distances along the face axes (broadcasts over arrays)."""
        dx, dy = np.asarray(dx, dtype=np.float64)[..., None], np.asarray(dy, dtype=np.float64)[..., None]
        return point + (dx * ux + dy * uy) * d

    t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    cos_t, sin_t = np.cos(t), np.sin(t)

    def ring(centre: np.ndarray, rx: float, ry: float) -> np.ndarray:
        return at(centre, rx * cos_t, ry * sin_t)

    def band(points: np.ndarray, up: float, down: float) -> np.ndarray:
        zeros = np.zeros(len(points))
        return np.vstack([at(points, zeros, zeros - up), at(points[::-1], zeros, zeros + down)])

    polygons: dict[str, np.ndarray] = {}
    # Mouth corners: an ellipse on each corner of the lips (points 48 and 54), pushed slightly outwards.
    polygons["mouth_corner_left"] = ring(at(p[48], -0.06, 0.0), 0.2, 0.17)
    polygons["mouth_corner_right"] = ring(at(p[54], 0.06, 0.0), 0.2, 0.17)
    # Nasolabial folds: a band from beside the nose wing (31 / 35) down past the mouth corner (48 / 54).
    for side, wing, corner, sign in (("left", p[31], p[48], -1.0), ("right", p[35], p[54], 1.0)):
        polygons[f"nasolabial_fold_{side}"] = np.vstack(
            [at(wing, [sign * 0.08, sign * 0.38], [-0.12, -0.08]), at(corner, [sign * 0.34, sign * 0.12], [0.12, 0.05])]
        )
    polygons["mouth"] = p[48:60]
    polygons["eye_left"] = ring(p[LANDMARK_GROUPS["left_eye"]].mean(axis=0), 0.3, 0.14)
    polygons["eye_right"] = ring(p[LANDMARK_GROUPS["right_eye"]].mean(axis=0), 0.3, 0.14)
    polygons["brow_left"] = band(p[17:22], 0.08, 0.08)
    polygons["brow_right"] = band(p[22:27], 0.08, 0.08)
    polygons["nose"] = np.vstack(
        [at(p[27], -0.12, 0), at(p[31], -0.08, 0), p[31:36], at(p[35], 0.08, 0), at(p[27], 0.12, 0)]
    )
    polygons["forehead"] = band(p[17:27], 0.75, -0.15)
    # Crow's feet: lateral to the outer eye corners (36 / 45).
    crow_dx, crow_dy = np.array([0.08, 0.42, 0.42, 0.08]), np.array([-0.2, -0.28, 0.28, 0.2])
    polygons["crows_feet_left"] = at(p[36], -crow_dx, crow_dy)
    polygons["crows_feet_right"] = at(p[45], crow_dx, crow_dy)
    return {name: poly.astype(np.float32) for name, poly in polygons.items()}


def _shape(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def _fill(polygons: list[np.ndarray], size: int | tuple[int, int]) -> np.ndarray:
    import cv2

    canvas = np.zeros(_shape(size), np.uint8)
    cv2.fillPoly(canvas, [np.round(poly * 16).astype(np.int32) for poly in polygons], 1, cv2.LINE_8, shift=4)
    return canvas


def region_mask(
    landmarks: np.ndarray, name: str, size: int | tuple[int, int], polygons: dict | None = None
) -> np.ndarray:
    """``bool[S, S]`` (or ``[H, W]``) mask of a region (all its parts) or of one part, in landmark coordinates."""
    polygons = region_polygons(landmarks) if polygons is None else polygons
    if name in REGION_PARTS:
        parts = REGION_PARTS[name]
    elif name in polygons:
        parts = (name,)
    else:
        raise UsageError(f"unknown region {name!r}; choose one of {', '.join(REGION_NAMES)} or a part name")
    return _fill([polygons[part] for part in parts], size).astype(bool)


def attention_map(
    landmarks: np.ndarray, size: int | tuple[int, int], weights: dict[str, float] | None = None
) -> np.ndarray:
    """Attention heatmap ``float32[S, S]`` in ``[0, 1]``: region weights, blurred; zero-weight regions cleared.

    ``weights`` overrides :data:`ATTENTION_WEIGHTS` per region (missing regions keep the default).
    """
    import cv2

    weights = {**ATTENTION_WEIGHTS, **(weights or {})}
    unknown = set(weights) - set(REGION_NAMES)
    if unknown:
        raise UsageError(f"unknown region(s) {sorted(unknown)}; choose from {', '.join(REGION_NAMES)}")
    polygons = region_polygons(landmarks)
    shape = _shape(size)
    heat = np.zeros(shape, np.float32)
    excluded = []
    for region in sorted(REGION_NAMES, key=lambda r: weights[r]):  # strongest painted last, so it wins
        parts = [polygons[part] for part in REGION_PARTS[region]]
        if weights[region] <= 0:
            excluded.extend(parts)
            continue
        mask = _fill(parts, shape).astype(bool)
        heat[mask] = weights[region]
    _, _, d = _face_frame(np.asarray(landmarks, dtype=np.float64))
    sigma = max(0.5, 0.06 * d)
    heat = cv2.GaussianBlur(heat, (0, 0), sigma)
    if excluded:
        heat[_fill(excluded, shape).astype(bool)] = 0.0
    top = max(weights.values())
    if top > 0:
        heat /= top
    return np.clip(heat, 0.0, 1.0).astype(np.float32)
