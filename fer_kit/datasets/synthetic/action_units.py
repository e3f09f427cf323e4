"""FACS action units as displacements of the 68 landmarks, and the emotion prototypes built from them.

An action unit (AU) of the Facial Action Coding System (Ekman & Friesen 1978) is the
visible effect of one facial muscle. Here each AU is a displacement field on the iBUG
68-point mark-up, written in a *face frame*: origin between the eye centres, x along the
line from the subject's right eye to the left eye, y perpendicular to it (downwards),
unit = the distance between the eye centres (IOD). A displacement is given as
``(outward, down)``: ``outward`` points away from the face's midline on either side, so
one entry serves both halves of a symmetric muscle. At intensity 1 the values are about
the apex of a clearly posed expression (e.g. AU26 lowers the chin by a third of the IOD).

The emotion prototypes follow the EMFACS / FACS Investigator's Guide tables (Ekman,
Friesen & Hager 2002): happiness 6+12, sadness 1+4+15, surprise 1+2+5B+26, fear
1+2+4+5+20+26, anger 4+5+7+23, disgust 9+15+16 (plus a little AU10, which the same tables
list as the alternative disgust), and contempt R12A+R14A, the one unilateral prototype: the
lip corner of one side raised a little and tightened (the seventh class of CK+, Lucey et al.
2010). Neutral has no AU; it gets the idle motion every clip gets (blinks, small mouth
movement) in :mod:`fer_kit.datasets.synthetic.generate`.

An activation key is an AU name (both sides) or, for a unilateral AU, the name and the
side as FACS writes it after a colon: ``"AU14:R"`` acts on the subject's right half only
(image left), ``"AU14:L"`` on the left; points on the midline move half as far.

These are the motions the paper's local feature maps are built to see (paper 3.1, Table
2): mouth corners and nasolabial folds (AU12, AU15, AU9, AU10, AU20), brows (AU1, AU2,
AU4) and eyes (AU5, AU6, AU7).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# point indices -> (outward, down), in IOD units at intensity 1
_Table = dict[tuple[int, ...], tuple[float, float]]

ACTION_UNITS: dict[str, _Table] = {
    # inner brow raiser (frontalis, pars medialis)
    "AU1": {(21, 22): (0.0, -0.16), (20, 23): (0.0, -0.11), (19, 24): (0.0, -0.06), (18, 25): (0.0, -0.025)},
    # outer brow raiser (frontalis, pars lateralis)
    "AU2": {
        (17, 26): (0.0, -0.14),
        (18, 25): (0.0, -0.14),
        (19, 24): (0.0, -0.10),
        (20, 23): (0.0, -0.05),
        (21, 22): (0.0, -0.02),
    },
    # brow lowerer (corrugator, depressor supercilii): brows down and together
    "AU4": {
        (21, 22): (-0.06, 0.10),
        (20, 23): (-0.05, 0.085),
        (19, 24): (-0.025, 0.06),
        (18, 25): (0.0, 0.035),
        (17, 26): (0.0, 0.02),
        (37, 38, 43, 44): (0.0, 0.015),
    },
    # upper lid raiser
    "AU5": {(37, 38, 43, 44): (0.0, -0.05), (36, 39, 42, 45): (0.0, -0.008)},
    # cheek raiser (orbicularis oculi, pars orbitalis): lower lids and cheeks up
    "AU6": {
        (40, 41, 46, 47): (0.0, -0.03),
        (36, 45): (0.0, -0.01),
        (1, 15): (0.0, -0.03),
        (2, 14): (0.0, -0.04),
        (3, 13): (0.0, -0.03),
    },
    # lid tightener: lower lids up, upper lids a little down
    "AU7": {(40, 41, 46, 47): (0.0, -0.04), (37, 38, 43, 44): (0.0, 0.015)},
    # nose wrinkler: nose wings and upper lip up, inner brows pulled down
    "AU9": {
        (31, 35): (0.01, -0.06),
        (32, 34): (0.0, -0.06),
        (33,): (0.0, -0.05),
        (30,): (0.0, -0.03),
        (29,): (0.0, -0.015),
        (49, 53): (0.0, -0.04),
        (50, 52): (0.0, -0.05),
        (51,): (0.0, -0.045),
        (61, 63): (0.0, -0.04),
        (62,): (0.0, -0.035),
        (21, 22): (-0.02, 0.04),
        (20, 23): (0.0, 0.02),
        (40, 41, 46, 47): (0.0, -0.015),
    },
    # upper lip raiser
    "AU10": {
        (49, 53): (0.0, -0.05),
        (50, 52): (0.0, -0.07),
        (51,): (0.0, -0.06),
        (61, 63): (0.0, -0.06),
        (62,): (0.0, -0.05),
        (48, 54): (0.0, -0.02),
    },
    # lip corner puller (zygomaticus major): the smile
    "AU12": {
        (48, 54): (0.11, -0.09),
        (60, 64): (0.10, -0.08),
        (49, 53): (0.05, -0.05),
        (59, 55): (0.05, -0.03),
        (50, 52): (0.02, -0.02),
        (58, 56): (0.02, -0.01),
        (61, 63): (0.03, -0.025),
        (67, 65): (0.03, -0.015),
        (3, 13): (0.01, -0.02),
        (4, 12): (0.015, -0.02),
    },
    # dimpler (buccinator): lip corner tightened and drawn back into the cheek, a little up; the lips
    # beside it thin. Our own values, smaller than AU12's: in a frontal view the corner moves mostly sideways.
    "AU14": {
        (48, 54): (0.05, -0.025),
        (60, 64): (0.045, -0.02),
        (49, 53): (0.02, 0.008),
        (59, 55): (0.02, -0.012),
        (61, 63): (0.015, 0.005),
        (67, 65): (0.015, -0.005),
    },
    # lip corner depressor (depressor anguli oris)
    "AU15": {
        (48, 54): (0.0, 0.09),
        (60, 64): (0.0, 0.075),
        (49, 53): (0.0, 0.03),
        (59, 55): (0.0, 0.05),
        (67, 65): (0.0, 0.02),
    },
    # lower lip depressor: lower lip down, lips part a little
    "AU16": {
        (57,): (0.0, 0.07),
        (58, 56): (0.0, 0.065),
        (59, 55): (0.0, 0.04),
        (66,): (0.0, 0.06),
        (67, 65): (0.0, 0.05),
    },
    # lip stretcher (risorius): corners pulled sideways
    "AU20": {
        (48, 54): (0.09, 0.01),
        (60, 64): (0.08, 0.01),
        (49, 53): (0.04, 0.0),
        (59, 55): (0.04, 0.0),
        (50, 52): (0.015, 0.0),
        (58, 56): (0.015, 0.0),
        (5, 11): (0.015, 0.0),
        (4, 12): (0.015, 0.0),
    },
    # lip tightener: lips narrower and thinner
    "AU23": {
        (48, 54): (-0.03, 0.0),
        (60, 64): (-0.025, 0.0),
        (49, 50, 52, 53): (-0.01, 0.02),
        (51,): (0.0, 0.02),
        (55, 56, 58, 59): (-0.01, -0.02),
        (57,): (0.0, -0.02),
    },
    # lips part
    "AU25": {(66,): (0.0, 0.05), (67, 65): (0.0, 0.045), (57,): (0.0, 0.04), (58, 56): (0.0, 0.04), (59, 55): (0.0, 0.03)},
    # jaw drop
    "AU26": {
        (8,): (0.0, 0.34),
        (7, 9): (0.0, 0.32),
        (6, 10): (0.0, 0.26),
        (5, 11): (0.0, 0.18),
        (4, 12): (0.0, 0.10),
        (3, 13): (0.0, 0.045),
        (2, 14): (0.0, 0.01),
        (57,): (0.0, 0.31),
        (58, 56): (0.0, 0.30),
        (59, 55): (0.0, 0.25),
        (66,): (0.0, 0.31),
        (67, 65): (0.0, 0.30),
        (48, 54): (-0.01, 0.14),
        (60, 64): (-0.01, 0.14),
        (49, 53): (0.0, 0.02),
        (50, 52): (0.0, 0.01),
    },
}
"""Displacement tables: ``{AU: {point indices: (outward, down)}}`` in IOD units at intensity 1."""

EMOTION_PROTOTYPES: dict[str, dict[str, float]] = {
    "happiness": {"AU6": 1.0, "AU12": 1.0},
    "sadness": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
    "fear": {"AU1": 1.0, "AU2": 0.7, "AU4": 0.6, "AU5": 1.0, "AU20": 1.0, "AU26": 0.5},
    "anger": {"AU4": 1.0, "AU5": 0.5, "AU7": 1.0, "AU23": 1.0},
    "disgust": {"AU9": 1.0, "AU15": 0.6, "AU16": 0.6, "AU10": 0.4},
    # R12A+R14A: "A" (trace) intensity for AU12, the tightening the more visible of the two
    "contempt": {"AU12:R": 0.5, "AU14:R": 1.0},
    "neutral": {},
}
"""AU weights of each emotion's apex (FACS Investigator's Guide prototypes; ``:R`` one side only)."""

SIDES: dict[str, float] = {"R": -1.0, "L": 1.0}
"""FACS side letter -> the sign :func:`point_sides` gives that half (``R``: the subject's right, image left)."""


def split_side(key: str) -> tuple[str, float | None]:
    """``(AU name, side sign)`` of an activation key; the sign is ``None`` for a bilateral AU.

    ``ValueError`` for an unknown side letter (``"AU14:X"``).
    """
    name, colon, letter = key.partition(":")
    if not colon:
        return name, None
    if letter not in SIDES:
        raise ValueError(f"unknown side {letter!r} in {key!r}; use {' or '.join(SIDES)}")
    return name, SIDES[letter]


def mirror_activations(activations: Mapping[str, float]) -> dict[str, float]:
    """The same activations with the sides of unilateral AUs swapped (``AU14:R`` <-> ``AU14:L``)."""
    letters = {sign: letter for letter, sign in SIDES.items()}
    mirrored = {}
    for key, weight in activations.items():
        name, only = split_side(key)
        mirrored[key if only is None else f"{name}:{letters[-only]}"] = weight
    return mirrored


def is_unilateral(activations: Mapping[str, float]) -> bool:
    """Whether any key names one side only."""
    return any(split_side(key)[1] is not None for key in activations)


EYE_RIGHT = slice(36, 42)
EYE_LEFT = slice(42, 48)


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(origin, axes)`` of the face frame: ``axes`` rows are the x and y unit vectors times the IOD.

    A point ``p`` in face units maps to pixels as ``origin + p @ axes``.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    right = landmarks[EYE_RIGHT].mean(axis=0)
    left = landmarks[EYE_LEFT].mean(axis=0)
    x_axis = left - right
    y_axis = np.array([-x_axis[1], x_axis[0]])
    return (right + left) / 2.0, np.stack([x_axis, y_axis])


def to_face_units(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks in face units (origin between the eyes, IOD = 1, y down)."""
    origin, axes = face_frame(landmarks)
    return (np.asarray(landmarks, dtype=np.float64) - origin) @ np.linalg.inv(axes)


def _au_field(name: str, sides: np.ndarray, only: float | None = None) -> np.ndarray:
    """AU ``name``'s displacement of every point; ``only`` (a side sign) keeps one half, midline points at half."""
    field = np.zeros((68, 2))
    for points, (outward, down) in ACTION_UNITS[name].items():
        for i in points:
            field[i] = (outward * sides[i], down)
    if only is not None:
        field *= np.where(sides == only, 1.0, np.where(sides == 0.0, 0.5, 0.0))[:, None]
    return field


def point_sides(face_units: np.ndarray) -> np.ndarray:
    """+1 for points on the subject's left half (image right), -1 on the right half, 0 on the midline."""
    sides = np.sign(face_units[:, 0])
    sides[np.abs(face_units[:, 0]) < 0.02] = 0.0
    # mirrored pairs must stay mirrored even when the face is slightly turned
    for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        sides[i] = 0.0
    return sides


def au_displacement(activations: Mapping[str, float], face_units: np.ndarray) -> np.ndarray:
    """Sum of AU displacement fields ``float64[68, 2]`` in face units for ``{AU: intensity}``.

    ``face_units`` are the neutral landmarks in face units (:func:`to_face_units`); they
    decide which side "outward" points to. A key ``"AU14:R"`` moves one half only
    (:func:`split_side`). Unknown AU names raise ``KeyError``.
    """
    sides = point_sides(face_units)
    total = np.zeros((68, 2))
    for key, weight in activations.items():
        if weight:
            name, only = split_side(key)
            total += weight * _au_field(name, sides, only)
    return total


def blink_displacement(face_units: np.ndarray, closure: float) -> np.ndarray:
    """Upper lids moved towards the lower lids (AU45): ``closure`` 0 open, 1 shut; face units."""
    d = np.zeros((68, 2))
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        d[upper] = closure * 0.9 * (face_units[lower] - face_units[upper])
    return d


def mouth_opening(face_units: np.ndarray) -> float:
    """Mean gap between the inner lips in IOD (0 for closed lips)."""
    return float(np.mean([face_units[b, 1] - face_units[a, 1] for a, b in ((61, 67), (62, 66), (63, 65))]))


def smile_elevation(face_units: np.ndarray) -> float:
    """How far the mouth corners sit above the middle of the lips, in IOD (a smile is positive)."""
    middle = (face_units[62, 1] + face_units[66, 1]) / 2.0
    return float(middle - (face_units[48, 1] + face_units[54, 1]) / 2.0)


NEUTRAL_ELEVATION = 0.02
"""Median mouth-corner elevation (IOD) of closed-mouth faces in the 300-W HELEN training set."""


def neutralising_displacement(
    face_units: np.ndarray, baseline_elevation: float = NEUTRAL_ELEVATION, max_smile: float = 2.2
) -> tuple[np.ndarray, dict]:
    """Displacement that turns a slightly smiling, lips-apart photo into a neutral face (face units).

    A smile is undone by the inverse of AU12 (+ half as much AU6) scaled to bring the
    mouth corners back to ``baseline_elevation``; parted inner lips are closed on their
    middle line. Returns the displacement and what was done (``{"smile": s, "closed": gap}``).
    """
    sides = point_sides(face_units)
    au12 = _au_field("AU12", sides)
    per_unit = smile_elevation(face_units + au12) - smile_elevation(face_units)
    smile = max(0.0, (smile_elevation(face_units) - baseline_elevation) / per_unit) if per_unit > 0 else 0.0
    smile = min(smile, max_smile)
    d = -smile * au12 - 0.5 * smile * _au_field("AU6", sides)
    moved = face_units + d
    gap = mouth_opening(moved)
    if gap > 0.0:
        for a, b in ((61, 67), (62, 66), (63, 65)):
            middle = (moved[a, 1] + moved[b, 1]) / 2.0
            d[a, 1] += middle - moved[a, 1]
            d[b, 1] += middle - moved[b, 1]
    return d, {"smile": round(smile, 3), "closed": round(max(gap, 0.0), 3)}
