"""Animating one neutral face photo: the clip's random plan and the rendering of its frames.

:class:`AnimatedFace` prepares a photo once: its landmarks in face units (see
:mod:`fer_kit.datasets.synthetic.action_units`), a neutralising displacement (a photo that smiles
or shows its teeth is turned neutral first, otherwise its "neutral" clips would smile),
fixed control points around the face (forehead, cheeks, under the chin, a ring and an
outer frame that move rigidly with the head) and their Delaunay triangulation.

:func:`plan_clip` draws everything random about a clip from one seed: the apex intensity
of the emotion's action units (each jittered), the onset time and rise duration
(neutral -> apex over the clip, then held), blinks, occasional talking-like jaw motion, a
weak unrelated AU, head motion (a similarity transform: roll, drift, zoom) and a lighting
change (gain, left-right and top-bottom gradients, colour cast, sensor noise).

:meth:`AnimatedFace.render` draws one frame: landmarks moved by the summed AU
displacements, mapped to the output frame by the head pose, the photo warped
piecewise-affinely onto them (:mod:`fer_kit.datasets.synthetic.warp`), folds shaded
(:mod:`fer_kit.datasets.synthetic.folds`), the opened mouth painted (:mod:`fer_kit.datasets.synthetic.mouth`),
then the lighting applied. Frames and their exact landmarks come back in output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_kit.datasets.synthetic.action_units import (
    EMOTION_PROTOTYPES,
    au_displacement,
    blink_displacement,
    face_frame,
    is_unilateral,
    mirror_activations,
    mouth_opening,
    neutralising_displacement,
    to_face_units,
)
from fer_kit.datasets.synthetic.faces import FaceSource
from fer_kit.datasets.synthetic.folds import render_folds
from fer_kit.datasets.synthetic.mouth import paint_mouth
from fer_kit.datasets.synthetic.warp import PiecewiseAffineWarp

IDLE_AUS = ("AU1", "AU2", "AU4", "AU7", "AU10", "AU12", "AU15")
"""Action units a clip may show weakly whatever its emotion (idle facial activity)."""


@dataclass(frozen=True)
class Pose:
    """Where the face lies in the output frame: centre (px), IOD in px, roll (radians)."""

    cx: float
    cy: float
    scale: float
    roll: float


@dataclass(frozen=True)
class Light:
    """Lighting of one frame: overall gain, horizontal / vertical gradients, RGB cast, noise sigma."""

    gain: float = 1.0
    grad_x: float = 0.0
    grad_y: float = 0.0
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 0.0


@dataclass
class FramePlan:
    """Everything needed to draw one frame."""

    activations: dict[str, float]
    blink: float
    pose: Pose
    light: Light


@dataclass
class ClipPlan:
    """A whole clip's random draws; ``info`` holds what the label table records."""

    emotion: str
    seed: int
    frames: list[FramePlan]
    info: dict = field(default_factory=dict)


APEX_INTENSITY: tuple[float, float] = (0.9, 1.4)
"""Range of the apex intensity drawn per clip (1 = the action-unit tables' clearly posed apex).

Posed corpora (CK+, MMI) ask for the fullest expression, and at the ``lite`` crop (64 px,
18 px between the eyes) an apex of 0.55-1.0 moved the mouth corners of a smile by
under 2 px, less than the landmarks' own frame-to-frame noise plus idle motion can
hide; 0.9-1.4 keeps every emotion visible at that size while leaving a 1.5x spread.
"""


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class _Expression:
    """The emotion's time course: neutral until ``onset``, a smooth rise over ``rise`` frames, held at ``apex``."""

    apex: float
    onset: float  # frames
    rise: float  # frames
    weights: dict[str, float]  # the prototype's action units, each jittered

    @classmethod
    def draw(cls, rng: np.random.Generator, emotion: str, intensity: tuple[float, float], last: int) -> _Expression:
        apex = float(rng.uniform(*intensity)) if emotion != "neutral" else 0.0
        onset = float(rng.uniform(0.05, 0.35) * last)
        rise = float(rng.uniform(0.3, 0.5) * last)
        weights = {au: w * float(rng.uniform(0.8, 1.2)) for au, w in EMOTION_PROTOTYPES[emotion].items()}
        # a one-sided expression (contempt) is shown on either side; the extra draw is made only for
        # such prototypes, so the clips of the bilateral ones are the same as before it existed
        if is_unilateral(weights) and rng.random() < 0.5:
            weights = mirror_activations(weights)
        return cls(apex, onset, rise, weights)

    def activations(self, length: int) -> list[dict[str, float]]:
        """Each frame's action-unit activations: the weights times the smoothstep course."""
        course = self.apex * _smoothstep((np.arange(length, dtype=np.float64) - self.onset) / self.rise)
        return [{au: w * course[i] for au, w in self.weights.items()} for i in range(length)]


@dataclass(frozen=True)
class _Idle:
    """Idle activity whatever the emotion: a weak unrelated AU, talking-like jaw motion (AU26), blinks."""

    au: str
    level: float
    phase: float
    talk: float
    talk_freq: float
    talk_phase: float
    blink_times: np.ndarray
    blink_half: float  # frames

    @classmethod
    def draw(cls, rng: np.random.Generator, length: int, fps: float, last: int) -> _Idle:
        idle_au = str(rng.choice(IDLE_AUS))
        idle_level = float(rng.uniform(0.05, 0.2)) if rng.random() < 0.5 else 0.0
        idle_phase = float(rng.uniform(0, 2 * np.pi))
        talk = float(rng.uniform(0.06, 0.18)) if rng.random() < 0.35 else 0.0
        talk_freq = float(rng.uniform(2.5, 4.5))
        talk_phase = float(rng.uniform(0, 2 * np.pi))
        n_blinks = int(rng.poisson(0.35 * length / fps + 0.15))
        blink_times = rng.uniform(0, last, size=n_blinks)
        blink_half = float(rng.uniform(1.5, 2.5)) * fps / 25.0
        return cls(idle_au, idle_level, idle_phase, talk, talk_freq, talk_phase, blink_times, blink_half)

    def add_to(self, activations: dict[str, float], i: int, fps: float) -> None:
        """Add frame ``i``'s idle AU and jaw motion to its ``activations`` (in place)."""
        if self.level:
            activations[self.au] = activations.get(self.au, 0.0) + self.level * (
                0.5 - 0.5 * np.cos(2 * np.pi * 0.7 * i / fps + self.phase)
            )
        if self.talk:
            activations["AU26"] = activations.get("AU26", 0.0) + self.talk * (
                0.5 - 0.5 * np.cos(2 * np.pi * self.talk_freq * i / fps + self.talk_phase)
            )

    def blink(self, i: int) -> float:
        """Eyelid closure at frame ``i``: a triangle of half-width ``blink_half`` around each blink."""
        return float(max([0.0] + [1.0 - abs(i - b) / self.blink_half for b in self.blink_times]))


@dataclass(frozen=True)
class _HeadMotion:
    """Roll, drift and zoom of the head, smooth over the clip."""

    scale0: float
    zoom: float
    roll0: float
    roll_amp: float
    roll_phase: float
    cx0: float
    cy0: float
    drift: np.ndarray
    sway_amp: float
    sway_phase: float

    @classmethod
    def draw(
        cls, rng: np.random.Generator, size: tuple[int, int], face_width: tuple[float, float], jaw_units: float
    ) -> _HeadMotion:
        width, height = size
        scale0 = float(rng.uniform(*face_width)) / jaw_units
        zoom = float(rng.uniform(-0.03, 0.03))
        roll0 = float(np.clip(rng.normal(0.0, np.radians(3.0)), -np.radians(7), np.radians(7)))
        roll_amp = float(rng.uniform(0.0, np.radians(3.0)))
        roll_phase = float(rng.uniform(0, 2 * np.pi))
        cx0, cy0 = width / 2 + float(rng.uniform(-10, 10)), height / 2 + float(rng.uniform(-8, 8))
        drift = rng.uniform(-6, 6, size=2)
        sway_amp, sway_phase = float(rng.uniform(0, 3)), float(rng.uniform(0, 2 * np.pi))
        return cls(scale0, zoom, roll0, roll_amp, roll_phase, cx0, cy0, drift, sway_amp, sway_phase)

    def pose(self, s: float) -> Pose:
        """The pose at clip time ``s`` (0 at the first frame, 1 at the last)."""
        return Pose(
            cx=self.cx0 + self.drift[0] * s + self.sway_amp * np.sin(2 * np.pi * s + self.sway_phase),
            cy=self.cy0 + self.drift[1] * s,
            scale=self.scale0 * (1.0 + self.zoom * s),
            roll=self.roll0 + self.roll_amp * np.sin(np.pi * s + self.roll_phase),
        )


@dataclass(frozen=True)
class _Lighting:
    """A lighting change over the clip: gain and horizontal gradient drift, fixed vertical gradient, cast, noise."""

    gain0: float
    gain1: float
    gx0: float
    gx1: float
    gy: float
    colour: tuple[float, float, float]
    noise: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Lighting:
        gain0 = float(rng.uniform(0.85, 1.1))
        gain1 = gain0 + float(rng.uniform(-0.12, 0.12))
        gx0 = float(rng.uniform(-0.25, 0.25))
        gx1 = gx0 + float(rng.uniform(-0.12, 0.12))
        gy = float(rng.uniform(-0.1, 0.1))
        colour = tuple(float(c) for c in rng.uniform(0.95, 1.05, size=3))
        noise = float(rng.uniform(0.5, 2.5))
        return cls(gain0, gain1, gx0, gx1, gy, colour, noise)

    def light(self, s: float) -> Light:
        """The lighting at clip time ``s`` (0 at the first frame, 1 at the last)."""
        return Light(self.gain0 + (self.gain1 - self.gain0) * s, self.gx0 + (self.gx1 - self.gx0) * s, self.gy,
                     self.colour, self.noise)


def plan_clip(
    emotion: str,
    seed: int,
    length: int = 24,
    fps: float = 25.0,
    size: tuple[int, int] = (256, 256),
    face_width: tuple[float, float] = (135.0, 165.0),
    intensity: tuple[float, float] = APEX_INTENSITY,
    jaw_units: float = 2.0,
) -> ClipPlan:
    """Draw the clip's random plan from ``seed`` (same seed, same plan).

    ``face_width`` is the range of the jaw width in output pixels; ``jaw_units`` the
    face's jaw width in IOD (to convert it into a scale). The draws come in a fixed order
    from one generator: the expression's course, the idle activity, the head motion, the lighting.
    """
    if emotion not in EMOTION_PROTOTYPES:
        raise ValueError(f"no action-unit prototype for {emotion!r}; choose from {', '.join(EMOTION_PROTOTYPES)}")
    rng = np.random.default_rng(seed)
    last = max(length - 1, 1)
    expression = _Expression.draw(rng, emotion, intensity, last)
    idle = _Idle.draw(rng, length, fps, last)
    head = _HeadMotion.draw(rng, size, face_width, jaw_units)
    lighting = _Lighting.draw(rng)

    frames = []
    for i, activations in enumerate(expression.activations(length)):
        s = i / last
        idle.add_to(activations, i, fps)
        frames.append(FramePlan(activations, idle.blink(i), head.pose(s), lighting.light(s)))
    info = {
        "intensity": round(expression.apex, 4),
        "onset": round(expression.onset / fps, 4),
        "apex": round((expression.onset + expression.rise) / fps, 4),
        "blinks": len(idle.blink_times),
        "talking": bool(idle.talk),
    }
    return ClipPlan(emotion, int(seed), frames, info)


class AnimatedFace:
    """A neutral face photo ready to be animated (see the module docstring)."""

    def __init__(self, face: FaceSource) -> None:
        self.face = face
        photo_units = to_face_units(face.landmarks)
        neutralise, self.neutralised = neutralising_displacement(photo_units)
        self.photo_units = photo_units
        self.teeth_squeezed = self.neutralised["closed"] > 0.02
        self.neutral = photo_units + neutralise
        self.jaw_units = float(np.linalg.norm(self.neutral[16] - self.neutral[0]))
        lo, hi = self.neutral.min(axis=0), self.neutral.max(axis=0)
        self.centre = (lo + hi) / 2.0
        extra, self._extra_weights = self._extra_points(self.neutral, lo, hi)
        origin, axes = face_frame(face.landmarks)
        control_units = np.concatenate([photo_units, extra])
        self._extra_units = extra
        self.warp = PiecewiseAffineWarp(face.image, origin + control_units @ axes)

    @staticmethod
    def _extra_points(neutral: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Control points beyond the landmarks and how each follows the landmark displacements."""
        points, weights = [], []

        def add(point: np.ndarray, follow: dict[int, float]) -> None:
            points.append(point)
            w = np.zeros(68)
            for i, v in follow.items():
                w[i] = v
            weights.append(w)

        for b in (17, 19, 21, 22, 24, 26):  # forehead above the brows follows them halfway
            add(neutral[b] + (0.0, -0.45), {b: 0.5})
        for corner, wing, jaw in ((48, 31, 2), (54, 35, 14)):  # cheeks bulge with the mouth corners
            add((neutral[wing] + neutral[jaw]) / 2, {corner: 0.35, jaw: 0.3, wing: 0.1})
        add(neutral[8] + (0.0, 0.28), {8: 0.6})  # soft tissue under the chin follows the jaw
        centre = (lo + hi) / 2.0
        half = (hi - lo) / 2.0
        for angle in np.linspace(0, 2 * np.pi, 20, endpoint=False):  # rigid ring around the face
            add(centre + np.array([np.cos(angle) * half[0] * 1.5, np.sin(angle) * half[1] * 1.55 - 0.1]), {})
        for x in (-6.0, 0.0, 6.0):  # rigid outer frame
            for y in (-6.0, 0.0, 6.0):
                if x or y:
                    add(centre + (x, y), {})
        return np.array(points), np.array(weights)

    def moved_units(self, activations: dict[str, float], blink: float = 0.0) -> np.ndarray:
        """The 68 landmarks (face units) of the neutral face with ``activations`` and ``blink`` applied."""
        moved = self.neutral + au_displacement(activations, self.neutral)
        if blink > 0:
            moved = moved + blink_displacement(moved, blink)
        return moved

    def to_pixels(self, pose: Pose):
        """Function mapping face units to output pixels for ``pose``."""
        c, s = np.cos(pose.roll), np.sin(pose.roll)
        rotation = np.array([[c, s], [-s, c]]) * pose.scale
        offset = np.array([pose.cx, pose.cy]) - self.centre @ rotation

        def transform(units: np.ndarray) -> np.ndarray:
            return units @ rotation + offset

        return transform

    def render(self, frame: FramePlan, size: tuple[int, int], noise: np.ndarray | None = None,
               folds: bool = True, fold_strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """One RGB frame ``uint8[H, W, 3]`` and its 68 landmarks ``float32[68, 2]`` (output pixels)."""
        moved = self.moved_units(frame.activations, frame.blink)
        extra = self._extra_units + self._extra_weights @ (moved - self.photo_units)
        to_px = self.to_pixels(frame.pose)
        dst = to_px(np.concatenate([moved, extra]))
        image = self.warp.warp(dst, size)
        if folds:
            image = render_folds(image, moved, to_px, frame.pose.scale, frame.activations, fold_strength)
        image = paint_mouth(image, dst[:68], mouth_opening(moved), frame.pose.scale, seam=self.teeth_squeezed)
        image = apply_light(image, frame.light, noise)
        return image, dst[:68].astype(np.float32)


def apply_light(image: np.ndarray, light: Light, noise: np.ndarray | None = None) -> np.ndarray:
    """Multiply by gain x (1 + gradients) x colour cast, add ``light.noise`` x ``noise`` (unit luminance noise)."""
    height, width = image.shape[:2]
    xs = np.linspace(-0.5 * light.grad_x, 0.5 * light.grad_x, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5 * light.grad_y, 0.5 * light.grad_y, height, dtype=np.float32)[:, None]
    field = (xs + ys + np.float32(1.0)) * np.float32(light.gain)
    out = image.astype(np.float32)
    out *= field[..., None]
    out *= np.asarray(light.colour, np.float32)
    if noise is not None and light.noise > 0:
        out += (noise * np.float32(light.noise))[..., None]
    out += 0.5
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


class NoiseBank:
    """Sensor noise for a clip: a few unit-variance fields, cut at random offsets per frame (cheap)."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], fields: int = 3, pad: int = 32) -> None:
        width, height = size
        self.rng = rng
        self.size = size
        self.pad = pad
        self.fields = rng.standard_normal((fields, height + pad, width + pad), dtype=np.float32)

    def next(self) -> np.ndarray:
        width, height = self.size
        k = int(self.rng.integers(len(self.fields)))
        dy, dx = (int(v) for v in self.rng.integers(0, self.pad, size=2))
        return self.fields[k, dy : dy + height, dx : dx + width]
