"""Skin folds and wrinkles that action units make, drawn as shading along curves.

Warping a photo moves its texture but cannot create the folds a contracting muscle
raises: the nasolabial fold and the creases beside the mouth corners of a smile (AU12),
the dimple beside a tightened lip corner (AU14), the nose wrinkles of disgust (AU9), the
vertical lines between lowered brows (AU4), the crow's feet and lower-lid furrow of a
Duchenne smile (AU6). Those are the regions the paper's attention model favours (paper
3.1, Table 2, Figure 2), so the synthetic clips must show them. Each fold is a quadratic Bezier curve placed relative to the moved
landmarks (face units, see :mod:`fer_kit.datasets.synthetic.action_units`), drawn as a dark line
(the furrow's shadow) with a lighter line beside it (the bulging skin's highlight),
tapered at its ends, blurred, and multiplied into the image with a depth that follows
the AU intensities. Forehead lines are left out: hair and hats often cover the forehead
and the paper's attention model ignores it (age-sensitive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fer_kit.datasets.synthetic.action_units import SIDES, split_side

MIRROR = {17: 26, 21: 22, 31: 35, 36: 45, 39: 42, 40: 47, 41: 46, 48: 54, 2: 14}
"""Right-side landmark -> its left-side partner, for the folds defined on the subject's right."""


@dataclass(frozen=True)
class Fold:
    """One fold: AU weights of its depth, three control points ``(landmark, (outward, down))``."""

    name: str
    weights: dict[str, float]
    controls: tuple[tuple[int | tuple[int, ...], tuple[float, float]], ...]
    width: float = 0.022
    highlight: float = 0.03
    mirrored: bool = True
    light_side: tuple[float, float] = (1.0, 0.0)
    """Where the highlight lies beside the furrow, as ``(outward, down)``."""


FOLDS: tuple[Fold, ...] = (
    Fold("nasolabial", {"AU12": 0.9, "AU9": 0.6, "AU10": 0.6, "AU6": 0.2},
         ((31, (0.07, -0.04)), (48, (0.17, -0.18)), (48, (0.09, 0.13))), width=0.028, highlight=0.035),
    Fold("mouth_corner", {"AU12": 0.8, "AU14": 0.8, "AU20": 0.4},
         ((48, (0.035, -0.05)), (48, (0.075, 0.0)), (48, (0.035, 0.06))), width=0.018, highlight=0.025),
    Fold("marionette", {"AU15": 0.9},
         ((48, (0.02, 0.03)), (48, (0.06, 0.12)), (48, (0.06, 0.22))), width=0.02, highlight=0.025),
    Fold("lower_lid", {"AU6": 0.8, "AU7": 0.5},
         ((36, (0.0, 0.09)), ((40, 41), (0.0, 0.13)), (39, (0.0, 0.08))), width=0.016, highlight=0.02,
         light_side=(0.0, -1.0)),
    Fold("crows_feet_upper", {"AU6": 0.7}, ((36, (0.07, -0.05)), (36, (0.13, -0.08)), (36, (0.19, -0.12))),
         width=0.012, highlight=0.016),
    Fold("crows_feet_middle", {"AU6": 0.7}, ((36, (0.07, 0.0)), (36, (0.14, 0.0)), (36, (0.21, 0.01))),
         width=0.012, highlight=0.016),
    Fold("crows_feet_lower", {"AU6": 0.7}, ((36, (0.07, 0.05)), (36, (0.13, 0.09)), (36, (0.18, 0.14))),
         width=0.012, highlight=0.016),
    Fold("glabella", {"AU4": 0.9, "AU9": 0.4},
         ((21, (-0.06, -0.09)), (21, (-0.05, 0.0)), (21, (-0.07, 0.09))), width=0.016, highlight=0.02),
    Fold("nose_side", {"AU9": 1.0}, ((39, (-0.08, 0.02)), (31, (0.02, -0.22)), (31, (0.02, -0.08))),
         width=0.018, highlight=0.022),
    Fold("nose_bridge_upper", {"AU9": 1.0}, ((27, (-0.09, 0.06)), (27, (0.0, 0.09)), (27, (0.09, 0.06))),
         width=0.014, highlight=0.02, mirrored=False, light_side=(0.0, 1.0)),
    Fold("nose_bridge_lower", {"AU9": 0.9}, ((28, (-0.1, 0.03)), (28, (0.0, 0.06)), (28, (0.1, 0.03))),
         width=0.014, highlight=0.02, mirrored=False, light_side=(0.0, 1.0)),
)
"""The folds drawn, each defined on the subject's right side (image left) and mirrored."""

DARK_DEPTH = 0.42
"""Luminance lost at the centre of a fold at full depth."""
LIGHT_GAIN = 0.14
"""Luminance gained along the highlight at full depth."""


def fold_depth(fold: Fold, activations: Mapping[str, float], side: float | None = None) -> float:
    """Depth in [0, 1.2] of ``fold`` for ``{AU: intensity}`` on ``side`` (a sign of :data:`SIDES`).

    A unilateral AU (``"AU14:R"``) deepens the fold of its own side only, and a fold on the
    midline (``side`` ``None``) half as much as a bilateral one.
    """
    total = 0.0
    for key, level in activations.items():
        name, only = split_side(key)
        weight = fold.weights.get(name, 0.0)
        if weight:
            share = 1.0 if only is None else 0.5 if side is None else float(only == side)
            total += weight * max(level, 0.0) * share
    return float(min(1.2, total))


def _anchor(points: np.ndarray, index: int | tuple[int, ...], mirror: bool) -> np.ndarray:
    indices = index if isinstance(index, tuple) else (index,)
    if mirror:
        indices = tuple(MIRROR.get(i, i) for i in indices)
    return points[list(indices)].mean(axis=0)


def fold_curves(fold: Fold, face_units: np.ndarray, samples: int = 14) -> list[np.ndarray]:
    """The curve(s) ``[samples, 2]`` of ``fold`` in face units, given moved landmarks in face units."""
    curves = []
    for mirror in (False, True) if fold.mirrored else (False,):
        side = 1.0 if mirror else -1.0  # outward on the subject's right is -x
        if not fold.mirrored:
            side = 1.0
        controls = np.array(
            [_anchor(face_units, index, mirror) + (outward * side, down) for index, (outward, down) in fold.controls]
        )
        t = np.linspace(0.0, 1.0, samples)[:, None]
        curves.append((1 - t) ** 2 * controls[0] + 2 * (1 - t) * t * controls[1] + t**2 * controls[2])
    return curves


def _normal(curve: np.ndarray) -> np.ndarray:
    tangent = np.gradient(curve, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _draw(canvas: np.ndarray, curve_px: np.ndarray, width_px: float, value: float) -> None:
    """Draw a curve tapered at its ends: the middle 60% at ``value``, the end fifths at half of it."""
    import cv2

    n = len(curve_px)
    thickness = max(1, int(round(width_px)))
    pts = np.round(curve_px * 16).astype(np.int32)
    a, b = max(1, round(0.2 * (n - 1))), min(n - 2, round(0.8 * (n - 1)))
    level = int(round(255 * value))
    if level <= 0:
        return
    ends = [pts[: a + 1], pts[b:]]
    cv2.polylines(canvas, ends, False, level // 2, thickness, cv2.LINE_AA, shift=4)
    cv2.polylines(canvas, [pts[a : b + 1]], False, level, thickness, cv2.LINE_AA, shift=4)


def render_folds(
    image: np.ndarray,
    face_units: np.ndarray,
    to_pixels: Callable[[np.ndarray], np.ndarray],
    pixels_per_unit: float,
    activations: Mapping[str, float],
    strength: float = 1.0,
) -> np.ndarray:
    """Shade the folds of ``activations`` into ``image`` (RGB uint8, returned as a new array).

    ``face_units`` are the moved landmarks in face units; ``to_pixels`` maps face units to
    image pixels; ``pixels_per_unit`` is the IOD in pixels. ``strength`` scales every fold
    (a per-face skin factor).
    """
    import cv2

    curves = []
    for fold in FOLDS:
        fold_sides = (SIDES["R"], SIDES["L"]) if fold.mirrored else (None,)  # the order of fold_curves
        depths = [fold_depth(fold, activations, side) * strength for side in fold_sides]
        if max(depths) <= 0.02:
            continue
        for depth, curve in zip(depths, fold_curves(fold, face_units), strict=True):
            if depth <= 0.02:
                continue
            side = np.sign(curve[:, 0].mean() + 1e-9) if fold.mirrored else 1.0
            reference = np.array([fold.light_side[0] * side, fold.light_side[1]])
            normal = _normal(curve)
            direction = normal * np.sign((normal @ reference).mean() + 1e-9)
            curves.append((fold, min(depth, 1.0), to_pixels(curve), to_pixels(curve + direction * fold.highlight)))
    if not curves:
        return image
    # shade only the folds' bounding box
    sigma = max(0.6, 0.02 * pixels_per_unit)
    every = np.concatenate([np.concatenate([c[2], c[3]]) for c in curves])
    margin = 3 * sigma + 0.05 * pixels_per_unit + 2
    lo = np.maximum(np.floor(every.min(axis=0) - margin), 0).astype(int)
    hi = np.minimum(np.ceil(every.max(axis=0) + margin), image.shape[1::-1]).astype(int)
    if np.any(hi <= lo):
        return image
    shape = (hi[1] - lo[1], hi[0] - lo[0])
    dark = np.zeros(shape, np.uint8)
    light = np.zeros(shape, np.uint8)
    for fold, depth, line, highlight in curves:
        _draw(dark, line - lo, fold.width * pixels_per_unit, depth)
        _draw(light, highlight - lo, fold.width * pixels_per_unit * 1.4, depth)
    dark_f = cv2.GaussianBlur(dark, (0, 0), sigma).astype(np.float32) / 255.0
    light_f = cv2.GaussianBlur(light, (0, 0), sigma * 1.5).astype(np.float32) / 255.0
    gain = 1.0 - DARK_DEPTH * dark_f + LIGHT_GAIN * light_f * (1.0 - dark_f)
    out = image.copy()
    region = out[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32) * gain[..., None]
    out[lo[1] : hi[1], lo[0] : hi[0]] = np.clip(region, 0, 255).astype(np.uint8)
    return out
