"""Face detection and 68-point ERT landmarks, on images and on video (paper 3.1, eq. 2, Algorithm 1).

Faces are found by dlib's HOG + linear SVM frontal face detector. Inside a face box the
68 landmarks come from dlib's ``shape_predictor``: an ensemble of regression trees
(Kazemi & Sullivan 2014) that starts from the mean shape placed in the box and adds the
shape increments stored in the leaves of every tree it passes, cascade after cascade,
``S(t+1) = S(t) + r_t(I, S(t))`` (paper eq. 2). The pretrained 68-point model (iBUG 300-W
mark-up) ships in the PyPI package ``face_recognition_models``; it is found on disk
without importing that package (whose ``__init__`` needs the retired ``pkg_resources``).

On video (:func:`track_landmarks`) the detector (about 11 ms per 480x360 frame) runs
every ``detect_every`` frames; in between the face box is derived from the previous
frame's landmarks and only the predictor (a few milliseconds) runs. The box-from-landmarks rule
is calibrated on every detection, so a tracked box looks like the detector's box to the
predictor. The track is re-detected as soon as it degrades: the face box changes size or
jumps too far, the shape leaves the frame, or the shape deforms more than an expression
can between two frames. Frames without a face copy the nearest valid landmarks and are
marked ``valid=False``.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_kit.errors import ModelFileError
from fer_kit.face.groups import LEFT_OUTER_EYE_CORNER, RIGHT_OUTER_EYE_CORNER
from fer_kit.images import as_rgb_uint8

Box = tuple[int, int, int, int]
"""A face box ``(left, top, right, bottom)`` in pixels (right/bottom exclusive, as dlib)."""

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DETECT_MAX_SIDE = 1280
"""Frames with a longer side are shrunk for detection (boxes are mapped back)."""



# ---------------------------------------------------------------- model file
def default_predictor_path() -> Path:
    """Where the pretrained 68-point model of ``face_recognition_models`` lies (the package is not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            "the package face_recognition_models is not installed (pip install face_recognition_models); "
            "or pass the path of a 68-point shape predictor .dat file",
            PREDICTOR_FILE,
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE


@functools.lru_cache(maxsize=4)
def _load_predictor_cached(path: str):
    import dlib

    try:
        return dlib.shape_predictor(path)
    except RuntimeError as error:
        raise ModelFileError(f"not a dlib shape predictor model ({error})", path) from error


def load_predictor(path: str | Path | None = None):
    """The dlib ``shape_predictor`` at ``path`` (default: the pretrained 68-point model), loaded once.

    ``ModelFileError`` names the file that was looked for when it is missing or unreadable.
    """
    path = default_predictor_path() if path is None else Path(path)
    if not path.is_file():
        raise ModelFileError("landmark model file not found", path)
    return _load_predictor_cached(str(path.resolve()))


@functools.lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


# ---------------------------------------------------------------- detection
def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1)


def detect_faces_scored(
    image: np.ndarray, upsample: int = 0, max_side: int = DETECT_MAX_SIDE
) -> list[tuple[Box, float]]:
    """Faces with their detector scores, largest (weighted by score) first; duplicate boxes of a face merged.

    dlib's HOG detector scans an image pyramid with a sliding window of 80x80 px
    (``upsample`` doubles the image first, to find faces down to 40 px). Frames whose
    longer side exceeds ``max_side`` are shrunk first and the boxes scaled back.
    """
    import cv2

    image = as_rgb_uint8(image)
    h, w = image.shape[:2]
    scale = 1.0
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    rects, scores, _ = _detector().run(image, upsample, 0.0)
    found: list[tuple[Box, float]] = []
    for rect, score in sorted(zip(rects, scores, strict=True), key=lambda rs: -rs[1]):
        box = (
            round(rect.left() / scale),
            round(rect.top() / scale),
            round((rect.right() + 1) / scale),
            round((rect.bottom() + 1) / scale),
        )
        if all(_overlap(box, kept) < 0.5 for kept, _ in found):  # a second box on the same face
            found.append((box, float(score)))
    # Largest first, weighted by confidence so a weak false alarm of similar size ranks below a real face.
    found.sort(key=lambda bs: -(bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]) * (1.0 + max(bs[1], 0.0)))
    return found


def detect_faces(image: np.ndarray, upsample: int = 0, max_side: int = DETECT_MAX_SIDE) -> list[Box]:
    """Face boxes ``(left, top, right, bottom)`` in ``image`` (RGB), best (largest) first."""
    return [box for box, _ in detect_faces_scored(image, upsample, max_side)]


# ---------------------------------------------------------------- landmarks
def predict_landmarks(image: np.ndarray, box: Box, predictor=None) -> np.ndarray:
    """The 68 landmarks ``float32[68, 2]`` (x, y) of the face in ``box``, by the ERT cascade (eq. 2)."""
    import dlib

    predictor = load_predictor() if predictor is None else predictor
    left, top, right, bottom = (int(v) for v in box)
    shape = predictor(as_rgb_uint8(image), dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_landmarks(image: np.ndarray, upsample: int | None = None, predictor=None) -> np.ndarray | None:
    """Landmarks ``float32[68, 2]`` of the largest face in ``image``, or ``None`` when there is no face.

    With ``upsample=None`` the detector runs at its native scale and, only if that finds
    nothing, once more on the image doubled (faces down to about 40 px).
    """
    image = as_rgb_uint8(image)
    for level in (0, 1) if upsample is None else (upsample,):
        boxes = detect_faces(image, level)
        if boxes:
            return predict_landmarks(image, boxes[0], predictor)
    return None


def inter_ocular(landmarks: np.ndarray) -> float | np.ndarray:
    """Distance between the outer eye corners (points 36 and 45): the NME normaliser."""
    landmarks = np.asarray(landmarks)
    return np.linalg.norm(landmarks[..., LEFT_OUTER_EYE_CORNER, :] - landmarks[..., RIGHT_OUTER_EYE_CORNER, :], axis=-1)


# ---------------------------------------------------------------- tracking
@dataclass
class LandmarkTrack:
    """Landmarks of one face through a video.

    landmarks: float32[T, 68, 2] in frame coordinates (frames without a face hold the nearest valid ones).
    valid: bool[T], True where the face was found.
    boxes: int32[T, 4] the face box used for each frame (``-1`` where none).
    detected: bool[T], True where the detector ran on that frame.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray

    @property
    def detections(self) -> int:
        return int(self.detected.sum())


def _shape_frame(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Centre ``(cx, cy)`` and scale (RMS distance from the centre) of a landmark set."""
    centre = landmarks.mean(axis=0)
    scale = float(np.sqrt(((landmarks - centre) ** 2).sum(axis=1).mean()))
    return float(centre[0]), float(centre[1]), max(scale, 1e-6)


# Box of the pretrained detector relative to its landmarks (centre offset and side, in units of
# the landmarks' RMS radius), measured on real faces; replaced by each detection on video.
_DEFAULT_BOX_RELATION = (0.0, -0.09, 2.9)


def _box_relation(box: Box, landmarks: np.ndarray) -> tuple[float, float, float]:
    cx, cy, scale = _shape_frame(landmarks)
    bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = ((box[2] - box[0]) + (box[3] - box[1])) / 2
    return (bx - cx) / scale, (by - cy) / scale, side / scale


def box_from_landmarks(landmarks: np.ndarray, relation: tuple[float, float, float] | None = None) -> Box:
    """The detector-like face box implied by ``landmarks`` (``relation`` from a detection on the same face)."""
    dx, dy, side = _DEFAULT_BOX_RELATION if relation is None else relation
    cx, cy, scale = _shape_frame(landmarks)
    bx, by, half = cx + dx * scale, cy + dy * scale, side * scale / 2
    return (round(bx - half), round(by - half), round(bx + half), round(by + half))


def _procrustes_residual(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between two shapes after the best similarity transform, in units of ``a``'s radius."""
    a0 = a - a.mean(axis=0)
    b0 = b - b.mean(axis=0)
    na, nb = np.linalg.norm(a0), np.linalg.norm(b0)
    if na < 1e-6 or nb < 1e-6:
        return float("inf")
    a0, b0 = a0 / na, b0 / nb
    _, s, _ = np.linalg.svd(a0.T @ b0)
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * s.sum())))


def _inside_fraction(landmarks: np.ndarray, shape: tuple[int, ...]) -> float:
    h, w = shape[:2]
    inside = (landmarks[:, 0] >= 0) & (landmarks[:, 0] < w) & (landmarks[:, 1] >= 0) & (landmarks[:, 1] < h)
    return float(inside.mean())


def _pick(candidates: list[Box], previous: np.ndarray | None) -> Box:
    """The largest face, or with a previous shape, the face nearest to it."""
    if previous is None or len(candidates) == 1:
        return candidates[0]
    cx, cy, _ = _shape_frame(previous)
    return min(candidates, key=lambda b: (b[0] + b[2] - 2 * cx) ** 2 + (b[1] + b[3] - 2 * cy) ** 2)


class _Tracker:
    """One face followed through a video: the result arrays and what carries from frame to frame.

    ``previous`` is the last frame's shape (``None`` once the face is lost), ``relation`` the
    box-from-landmarks rule calibrated on the latest detection (module doc).
    """

    def __init__(self, frames: Sequence[np.ndarray], detect_every: int, predictor, upsample: int,
                 limits: tuple[float, float, float], roi_detection: bool) -> None:
        n = len(frames)
        self.frames, self.detect_every, self.predictor, self.upsample = frames, detect_every, predictor, upsample
        self.limits, self.roi_detection = limits, roi_detection  # max scale change, jump, deformation
        self.landmarks = np.zeros((n, 68, 2), np.float32)
        self.valid = np.zeros(n, bool)
        self.boxes = np.full((n, 4), -1, np.int32)
        self.detected = np.zeros(n, bool)
        self.previous: np.ndarray | None = None
        self.relation: tuple[float, float, float] | None = None
        self.last_detection = -(10**9)
        self.last_good_detection = -1

    def step(self, i: int, image: np.ndarray) -> None:
        """Frame ``i``: follow the previous shape while it holds, else detect; record the shape or the loss."""
        box, shape = self._tracked(i, image)
        if shape is None:
            box, shape = self._detected(i, image)
        if shape is None:
            self.previous = None
            return
        self.landmarks[i], self.valid[i], self.boxes[i], self.previous = shape, True, box, shape

    def _tracked(self, i: int, image: np.ndarray) -> tuple[Box | None, np.ndarray | None]:
        """The shape predicted in the box of the previous shape, unless a detection is due or it degraded."""
        if self.previous is None or i - self.last_detection >= max(self.detect_every, 1):
            return None, None
        box = box_from_landmarks(self.previous, self.relation)
        shape = predict_landmarks(image, box, self.predictor)
        if _degraded(self.previous, shape, image.shape, *self.limits):
            return box, None
        return box, shape

    def _detected(self, i: int, image: np.ndarray) -> tuple[Box | None, np.ndarray | None]:
        """Detect the face (near the previous shape first, with ROI detection) and recalibrate the box rule.

        A face lost here sends the detector back over the frames tracked since the last good detection.
        """
        box = self._detect(i, image)
        self.last_detection = i
        if box is None:
            if self.previous is not None:
                _recheck_backwards(self.frames, i, self.last_good_detection, self.valid, self.boxes, self.detected,
                                   self.upsample)
            return None, None
        shape = predict_landmarks(image, box, self.predictor)
        self.relation = _box_relation(box, shape)
        self.last_good_detection = i
        return box, shape

    def _detect(self, i: int, image: np.ndarray) -> Box | None:
        """The face box in frame ``i`` (the window around the previous shape, then the whole frame), or ``None``."""
        self.detected[i] = True
        around = self.previous
        if around is not None and self.roi_detection:
            box = _detect_near(image, around, self.relation)
            if box is not None:
                return box
        found = detect_faces(image, self.upsample)
        return _pick(found, around) if found else None

    def track(self) -> LandmarkTrack:
        """Every frame in order; frames without a face get the nearest valid landmarks."""
        for i in range(len(self.frames)):
            self.step(i, as_rgb_uint8(self.frames[i], f"frame {i}"))
        _fill_invalid(self.landmarks, self.valid)
        return LandmarkTrack(self.landmarks, self.valid, self.boxes, self.detected)


def track_landmarks(
    frames: Sequence[np.ndarray],
    detect_every: int = 5,
    predictor=None,
    upsample: int = 0,
    max_scale_change: float = 0.15,
    max_jump: float = 0.3,
    max_deformation: float = 0.08,
    roi_detection: bool | None = None,
) -> LandmarkTrack:
    """Landmarks of the main face in every frame: detect every ``detect_every`` frames, track in between.

    ``detect_every=1`` runs the detector on every frame (the reference). Otherwise a
    tracked frame takes its box from the previous landmarks and is re-detected when the
    new shape's scale changes by more than ``max_scale_change``, its centre moves more
    than ``max_jump`` face radii, fewer than 90 % of its points lie in the frame, or it
    deforms (similarity-aligned residual) more than ``max_deformation`` radii. With
    ``roi_detection`` (default: when ``detect_every > 1``) the re-detections of a tracked
    face search only a shrunken window around it (falling back to the whole frame),
    which is several times cheaper.
    When the face is lost, the frames tracked since the last good detection are checked
    again with the detector, so the valid mask ends where the face really left.
    """
    predictor = load_predictor() if predictor is None else predictor
    roi_detection = detect_every > 1 if roi_detection is None else roi_detection
    limits = (max_scale_change, max_jump, max_deformation)
    return _Tracker(frames, detect_every, predictor, upsample, limits, roi_detection).track()


def track_landmarks_any_size(
    frames: Sequence[np.ndarray], detect_every: int = 5, predictor=None, upsample: int = 0,
) -> LandmarkTrack:
    """:func:`track_landmarks`; when no frame has a face at the detector's native scale, once more upsampled.

    dlib's window is 80 x 80 px, so faces under about 80 px (e.g. CK+'s 48 px crops) are found
    only on frames doubled in size (``upsample=1``), four times the pixels to search; the
    second pass runs only when the first found nothing and ``upsample`` was 0.
    """
    predictor = load_predictor() if predictor is None else predictor
    track = track_landmarks(frames, detect_every=detect_every, predictor=predictor, upsample=upsample)
    if not track.valid.any() and upsample == 0:
        track = track_landmarks(frames, detect_every=detect_every, predictor=predictor, upsample=1)
    return track


def _degraded(previous, shape, frame_shape, max_scale_change, max_jump, max_deformation) -> bool:
    px, py, ps = _shape_frame(previous)
    sx, sy, ss = _shape_frame(shape)
    if abs(ss / ps - 1.0) > max_scale_change:
        return True
    if np.hypot(sx - px, sy - py) > max_jump * ps:
        return True
    if _inside_fraction(shape, frame_shape) < 0.9:
        return True
    return _procrustes_residual(previous, shape) > max_deformation


def _detect_near(image: np.ndarray, around: np.ndarray, relation) -> Box | None:
    """Detect in a window of 1.6 face boxes around ``around``, shrunk so the face is about 85 px.

    The HOG window is 80 px, so this is the smallest image in which the face can still be
    found: about 1.5 ms instead of 11 ms for a whole 480x360 frame.
    """
    import cv2

    left, top, right, bottom = box_from_landmarks(around, relation)
    side = max(right - left, bottom - top)
    margin = int(0.3 * side)
    h, w = image.shape[:2]
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(w, right + margin), min(h, bottom + margin)
    scale = min(1.0, 85.0 / max(side, 1))
    if (x1 - x0) * scale < 80 or (y1 - y0) * scale < 80:
        return None
    window = image[y0:y1, x0:x1]
    if scale < 1.0:
        window = cv2.resize(window, (round((x1 - x0) * scale), round((y1 - y0) * scale)), interpolation=cv2.INTER_AREA)
    found = detect_faces(window, 0)
    if not found:
        return None
    b = found[0]
    return (round(b[0] / scale) + x0, round(b[1] / scale) + y0, round(b[2] / scale) + x0, round(b[3] / scale) + y0)


def _recheck_backwards(frames, lost_at: int, last_good: int, valid, boxes, detected, upsample: int) -> None:
    """The face was lost at ``lost_at``: un-validate tracked frames before it in which the detector finds no face."""
    for j in range(lost_at - 1, last_good, -1):
        if not valid[j]:
            continue
        detected[j] = True
        if detect_faces(as_rgb_uint8(frames[j]), upsample):
            break
        valid[j] = False
        boxes[j] = -1


def _fill_invalid(landmarks: np.ndarray, valid: np.ndarray) -> None:
    """Copy the nearest valid frame's landmarks into invalid frames (in place)."""
    if not valid.any() or valid.all():
        return
    good = np.flatnonzero(valid)
    for i in np.flatnonzero(~valid):
        landmarks[i] = landmarks[good[np.argmin(np.abs(good - i))]]
