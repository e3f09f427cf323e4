"""Painting the inside of the mouth: the cavity of parted lips, or the seam of closed ones.

When the warp parts lips that are closed in the photo (AU25, AU26 jaw drop, AU16), the
triangles between the inner lips stretch the thin line where the lips meet (or, on a
photo that shows teeth, stretch the teeth). A real open mouth shows a dark cavity with
the upper teeth under the upper lip, so the polygon of the inner lips (points 60-67) is
painted: a dark red-brown cavity, darker towards the back, upper teeth whose band height
follows the opening and fades towards the mouth corners, and a thinner band of lower
teeth once the jaw drops far. When a photo showing its teeth has been closed (see
:func:`fer_kit.datasets.synthetic.action_units.neutralising_displacement`), the squeezed teeth
would leave a bright line between the lips: a dark lip seam is drawn over it instead.
"""

from __future__ import annotations

import numpy as np

CAVITY_RGB = np.array([58.0, 24.0, 26.0])
TEETH_RGB = np.array([228.0, 212.0, 184.0])
SEAM_RGB = np.array([92.0, 42.0, 40.0])
UPPER_INNER = [60, 61, 62, 63, 64]
LOWER_INNER = [64, 65, 66, 67, 60]
OPEN_GAP = 0.015
"""Inner-lip gap (IOD) below which the lips count as closed."""


def _mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _seam(image: np.ndarray, landmarks_px: np.ndarray, pixels_per_unit: float) -> np.ndarray:
    import cv2

    height, width = image.shape[:2]
    line = (landmarks_px[UPPER_INNER] + landmarks_px[[60, 67, 66, 65, 64]]) / 2.0
    canvas = np.zeros((height, width), np.uint8)
    thickness = max(1, int(round(0.035 * pixels_per_unit)))
    cv2.polylines(canvas, [np.round(line * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(canvas, (0, 0), max(0.5, 0.01 * pixels_per_unit)).astype(np.float32)[..., None] / 255.0
    out = image.astype(np.float32) * (1 - 0.85 * alpha) + SEAM_RGB * 0.85 * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def paint_mouth(
    image: np.ndarray, landmarks_px: np.ndarray, opening: float, pixels_per_unit: float, seam: bool = False
) -> np.ndarray:
    """Paint cavity and teeth inside the inner-lip polygon; ``opening`` is the lip gap in IOD.

    Closed lips (gap below :data:`OPEN_GAP`) are left alone, or get a dark seam when
    ``seam`` is set (the photo's own teeth were squeezed between them). Returns a new image.
    """
    landmarks_px = np.asarray(landmarks_px, dtype=np.float64)
    if opening < OPEN_GAP and not seam:
        return image
    # work on the mouth's bounding box only
    margin = 0.15 * pixels_per_unit + 4
    lo = np.maximum(np.floor(landmarks_px[48:68].min(axis=0) - margin), 0).astype(int)
    hi = np.minimum(np.ceil(landmarks_px[48:68].max(axis=0) + margin), image.shape[1::-1]).astype(int)
    if np.any(hi <= lo):
        return image
    out = image.copy()
    crop = image[lo[1] : hi[1], lo[0] : hi[0]]
    local = landmarks_px - lo
    if opening < OPEN_GAP:
        out[lo[1] : hi[1], lo[0] : hi[0]] = _seam(crop, local, pixels_per_unit)
    else:
        out[lo[1] : hi[1], lo[0] : hi[0]] = _cavity(crop, local, opening, pixels_per_unit)
    return out


def _cavity(image: np.ndarray, landmarks_px: np.ndarray, opening: float, pixels_per_unit: float) -> np.ndarray:
    import cv2

    height, width = image.shape[:2]
    cavity = cv2.GaussianBlur(_mask((height, width), landmarks_px[60:68]), (0, 0), max(0.5, 0.012 * pixels_per_unit))
    if cavity.max() <= 0:
        return image
    alpha = float(np.clip((opening - OPEN_GAP) / 0.04, 0.0, 1.0))
    gap_px = opening * pixels_per_unit
    down = np.array([0.0, 1.0])
    left, right = landmarks_px[60, 0], landmarks_px[64, 0]
    centre, half = (left + right) / 2.0, max(abs(right - left) / 2.0, 1.0)
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    across = np.clip(1.0 - np.abs(xs - centre) / (0.8 * half), 0.0, 1.0) ** 0.6  # teeth fade to the corners
    upper = landmarks_px[UPPER_INNER]
    teeth_h = min(0.08 * pixels_per_unit, 0.45 * gap_px)
    teeth = _mask((height, width), np.concatenate([upper, (upper + down * teeth_h)[::-1]])) * cavity * across
    top = float(upper[:, 1].mean())
    shade = 1.0 - 0.15 * np.clip((ys - top) / max(teeth_h, 1.0), 0.0, 1.0)  # darker towards the biting edge
    lower_teeth = np.zeros_like(teeth)
    if opening > 0.12:
        lower = landmarks_px[LOWER_INNER]
        band = min(0.04 * pixels_per_unit, 0.2 * gap_px)
        lower_teeth = _mask((height, width), np.concatenate([lower, (lower - down * band)[::-1]])) * cavity * across**2
    depth = np.clip((ys - top) / max(gap_px, 1.0), 0.0, 1.0)
    cavity_rgb = CAVITY_RGB * (1.0 - 0.5 * depth[..., None])
    out = image.astype(np.float32)
    a = (alpha * cavity)[..., None]
    out = out * (1 - a) + cavity_rgb * a
    b = (alpha * teeth)[..., None]
    out = out * (1 - b) + TEETH_RGB * shade[..., None] * b
    c = (alpha * lower_teeth)[..., None]
    out = out * (1 - c) + TEETH_RGB * 0.78 * c
    return np.clip(out, 0, 255).astype(np.uint8)
