"""From a video to a Clip: sample, find landmarks, align, build local feature maps (paper 3.1, 4.2).

The chain for one video (DESIGN "The method", steps 1-4):

1. choose ``frames`` (16) frame indices over a fixed time window, padding short videos
   with neighbouring frames (:func:`fer_kit.clips.video.sample_frame_indices`, paper 4.2), and
   decode only those frames;
2. find the face and its 68 ERT landmarks, detecting every ``detect_every`` frames and
   tracking in between (:func:`fer_kit.face.landmarks.track_landmarks`, paper 3.1 / eq. 2);
3. align every frame on the eye centres and crop ``size x size`` (:mod:`fer_kit.face.align`);
4. build the one-channel local feature map of every crop: attention-weighted wrinkle
   energy + the landmark contour (:mod:`fer_kit.face.wrinkles`, paper 3.1 / Table 2).

The two stacks are the two inputs ``X`` and ``X^`` of MC-DCN (eq. 3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from fer_kit.clips.clip import Clip
from fer_kit.errors import InputFileError, NoFaceError, UsageError

PIPELINE_VERSION = 1
"""Bumped whenever the chain changes what it produces, so cached clips are rebuilt."""


@dataclass(frozen=True)
class PreprocessSettings:
    """Everything that decides what a Clip contains (and so goes into its cache key).

    ``wrinkles``, ``attention``, ``contour``: the three parts of the local feature map
    (paper 3.1); ``age_regions`` also attends to the forehead and crow's feet (the ablation
    of paper 3.1's region choice, :func:`fer_kit.face.regions.attention_weights`).
    """

    size: int = 112
    frames: int = 16
    detect_every: int = 5
    window_seconds: float | None = None
    center_seconds: float | None = None
    wrinkles: bool = True
    attention: bool = True
    contour: bool = True
    age_regions: bool = False
    wrinkle_method: str = "ridge"
    upsample: int = 0
    min_frames: int = 2

    def __post_init__(self) -> None:
        if self.size < 16:
            raise UsageError(f"size must be >= 16, got {self.size}")
        if self.frames < 1:
            raise UsageError(f"frames must be >= 1, got {self.frames}")
        if self.detect_every < 1:
            raise UsageError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise UsageError(f"window_seconds must be positive, got {self.window_seconds}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> PreprocessSettings:
        """Crop size and clip length of a model preset (``paper``, ``lite``, ``tiny``), plus ``overrides``."""
        from fer_kit.presets import get_preset

        preset = get_preset(name)
        return cls(**{"size": preset.size, "frames": preset.frames, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PreprocessSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def key(self) -> str:
        """A short stable hash of the settings and the pipeline version."""
        text = json.dumps({"version": PIPELINE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class FrameFeatures:
    """The face pipeline's output for a sequence of frames.

    faces uint8[N, S, S, 3], local uint8[N, S, S, 1], landmarks float32[N, 68, 2] (crop
    coordinates), valid bool[N]; frame_landmarks float32[N, 68, 2] in frame coordinates.
    """

    faces: np.ndarray
    local: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    frame_landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.faces)


def process_frames(
    frames: Sequence[np.ndarray], settings: PreprocessSettings | None = None, predictor=None
) -> FrameFeatures:
    """Run landmarks, alignment and local maps on ALL given RGB frames (steps 2-4 of the module doc).

    Frames without a face reuse the nearest valid landmarks (so their crop shows the
    place where the face was) and are marked invalid. When no frame has a face at the
    detector's native scale (faces under about 80 px), the frames are searched once more
    upsampled; ``NoFaceError`` if still no frame has a face.
    """
    from fer_kit.face.align import align_face
    from fer_kit.face.landmarks import track_landmarks_any_size
    from fer_kit.face.regions import attention_weights
    from fer_kit.face.wrinkles import local_feature_map

    settings = settings or PreprocessSettings()
    n = len(frames)
    if n == 0:
        raise InputFileError("no frames to process")
    track = track_landmarks_any_size(frames, settings.detect_every, predictor, settings.upsample)
    if not track.valid.any():
        raise NoFaceError(f"no face found in any of the {n} frames")
    s = settings.size
    faces = np.empty((n, s, s, 3), np.uint8)
    local = np.empty((n, s, s, 1), np.uint8)
    landmarks = np.empty((n, 68, 2), np.float32)
    for i, frame in enumerate(frames):
        aligned = align_face(frame, track.landmarks[i], s)
        faces[i] = aligned.image
        landmarks[i] = aligned.landmarks
        local[i, :, :, 0] = local_feature_map(
            aligned.image,
            aligned.landmarks,
            wrinkles=settings.wrinkles,
            attention=settings.attention,
            contour=settings.contour,
            weights=attention_weights(settings.age_regions),
            method=settings.wrinkle_method,
        )
    return FrameFeatures(faces, local, landmarks, track.valid.copy(), track.landmarks)


def _label_index(label) -> int | None:
    from fer_kit.labels import EMOTIONS, EXTRA_EMOTIONS, label_to_index

    if label is None or (isinstance(label, float) and np.isnan(label)) or label == "":
        return None
    if isinstance(label, (int, np.integer)):
        return int(label)
    return label_to_index(str(label), EMOTIONS + EXTRA_EMOTIONS)


def _sample(n: int, fps: float, settings: PreprocessSettings, start, end, path) -> np.ndarray:
    from fer_kit.clips.video import sample_frame_indices
    from fer_kit.images import is_image_file

    first = 0 if start is None or not np.isfinite(start) else max(0, int(round(start * fps)))
    last = n - 1 if end is None or not np.isfinite(end) else min(n - 1, int(round(end * fps)))
    span = last - first + 1
    if span < settings.min_frames and not (n == 1 and is_image_file(path)):  # a still photo makes a static clip
        what = "frame" if span == 1 else "frames"
        raise InputFileError(f"has only {max(span, 0)} {what}; a clip needs at least {settings.min_frames}", path)
    return first + sample_frame_indices(span, fps, settings.frames, settings.window_seconds, settings.center_seconds)


def clip_frame_indices(
    path: str | Path, settings: PreprocessSettings, start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, int, float]:
    """``(indices, n_frames, fps)``: the frames of ``path`` a clip is made of (paper 4.2)."""
    from fer_kit.clips.video import count_frames, video_info

    n, fps = video_info(path)
    if n <= 0:
        n = count_frames(path)
    return _sample(n, fps, settings, start, end, path), n, fps


def preprocess_video(
    path: str | Path,
    settings: PreprocessSettings | None = None,
    label: int | str | None = None,
    subject: str = "",
    dataset: str = "",
    start: float | None = None,
    end: float | None = None,
    predictor=None,
) -> Clip:
    """Turn a video file, a folder of frames or a still photo into a :class:`~fer_kit.clips.clip.Clip` (module doc).

    A still photo becomes a static clip: its one frame repeated ``frames`` times (the
    ``min_frames`` rule is for videos).

    ``label`` is an index into :data:`fer_kit.labels.EMOTIONS` (contempt = 7) or a label
    name; ``start`` / ``end`` (seconds) restrict the clip to part of the video. Raises
    ``InputFileError`` (missing, unreadable, too short) or ``NoFaceError`` (no face in any
    sampled frame), naming the file.
    """
    from fer_kit.clips.video import read_video

    settings = settings or PreprocessSettings()
    path = Path(path)
    indices, n_frames, fps = clip_frame_indices(path, settings, start, end)
    unique, inverse = np.unique(indices, return_inverse=True)
    video = read_video(path, unique)
    if len(video) < len(unique):
        # The header promised more frames than decode (a truncated file): sample again from what exists.
        n_frames = video.n_frames
        if n_frames < settings.min_frames:
            raise InputFileError(f"only {n_frames} frame(s) decode; the video is truncated or too short", path)
        indices = _sample(n_frames, fps, settings, start, end, path)
        unique, inverse = np.unique(indices, return_inverse=True)
        video = read_video(path, unique)
    try:
        features = process_frames(video.frames, settings, predictor)
    except NoFaceError as error:
        raise NoFaceError(f"no face found in any of the {len(unique)} sampled frames", path) from error
    except InputFileError as error:
        raise InputFileError(error.problem, path) from error
    order = np.asarray(inverse).reshape(-1)
    valid = features.valid[order]
    meta = {
        "settings": settings.to_dict(),
        "pipeline_version": PIPELINE_VERSION,
        "frame_indices": [int(i) for i in indices],
        "n_frames": int(n_frames),
        "valid_fraction": float(valid.mean()),
    }
    return Clip(
        faces=features.faces[order],
        local=features.local[order],
        landmarks=features.landmarks[order],
        valid=valid,
        label=_label_index(label),
        subject=str(subject),
        dataset=str(dataset),
        source=str(path),
        fps=float(video.fps),
        meta=meta,
    )
