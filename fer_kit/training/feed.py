"""The input pipeline without TensorFlow: a ``keras.utils.PyDataset`` for the JAX and PyTorch backends.

The same batches as :func:`fer_kit.training.data.make_dataset`, ``({input: float32 clip},
{output: label}[, sample_weight])``, made with NumPy and OpenCV, and the same augmentation
(paper 2.4): per clip a horizontal flip with probability 1/2 and a rotation drawn from
``{0, +-3, +-6, +-9}`` degrees, one bilinear resampling of the stacked face and local-map
clips with a reflected border (``cv2.warpAffine`` with the very matrices of
:func:`clip_transforms`, which are the TensorFlow path's), landmarks moved alike and
re-indexed on a flip. Random numbers come from ``numpy.random.default_rng((seed, epoch,
batch))``, so a run is repeatable; the order is reshuffled every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from fer_kit.face.groups import MIRROR_68
from fer_kit.model.mcdcn import FACES, LOCAL_MAPS
from fer_kit.model.trajectory import LANDMARKS
from fer_kit.training.clipset import ClipSet, PipelineInfo, load_clip_arrays, pipeline_mode, read_clip_arrays
from fer_kit.training.config import ROTATION_DEGREES


def clip_transforms(
    angles: np.ndarray, flips: np.ndarray, size: int, scales: np.ndarray | None = None, shifts: np.ndarray | None = None
) -> np.ndarray:
    """Projective transforms ``float32[n, 8]`` (output pixel -> input pixel) for ``size x size`` images.

    Rotation by ``angles`` radians and scaling by ``scales`` about the centre, a move by ``shifts``
    ``[n, 2]`` pixels, and a left-right mirror where ``flips``: the formula of the TensorFlow
    pipeline (``fer_kit.training.data._transforms``).
    """
    angles = np.asarray(angles, np.float64)
    flips = np.asarray(flips, bool)
    cos, sin = np.cos(angles), np.sin(angles)
    if scales is not None:
        cos, sin = cos / np.asarray(scales, np.float64), sin / np.asarray(scales, np.float64)
    extent = float(size - 1)
    x_offset = (extent - (cos * extent - sin * extent)) / 2.0
    y_offset = (extent - (sin * extent + cos * extent)) / 2.0
    if shifts is not None:
        shifts = np.asarray(shifts, np.float64)
        x_offset, y_offset = x_offset - shifts[:, 0], y_offset - shifts[:, 1]
    sign = np.where(flips, -1.0, 1.0)
    x_offset = np.where(flips, extent - x_offset, x_offset)
    zeros = np.zeros_like(angles)
    return np.stack([sign * cos, -sign * sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1).astype(np.float32)


def mix_clips(
    streams: dict[str, np.ndarray], targets: np.ndarray, weights: np.ndarray | None, rng: np.random.Generator,
    alpha: float,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Mixup of a batch, as :func:`fer_kit.training.data.mix_batch`: ``l ~ Beta(alpha, alpha)`` per clip, a permuted partner."""
    share = rng.beta(alpha, alpha, len(targets))
    partner = rng.permutation(len(targets))

    def mix(value: np.ndarray) -> np.ndarray:
        weight = share.reshape((-1,) + (1,) * (value.ndim - 1)).astype(value.dtype)
        return weight * value + (1 - weight) * value[partner]

    return {name: mix(v) for name, v in streams.items()}, mix(targets), None if weights is None else mix(weights)


def transform_frames(frames: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Resample ``frames`` ``[T, S, S, C]`` (C <= 4) by one transform of :func:`clip_transforms` (bilinear, reflect)."""
    import cv2

    size = frames.shape[1]
    matrix = np.asarray(transform[:6], np.float64).reshape(2, 3)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # the matrix maps output pixels to input pixels
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        warped = cv2.warpAffine(frame, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_REFLECT)
        out[t] = warped.reshape(out[t].shape)
    return out


def move_landmarks(landmarks: np.ndarray, transform: np.ndarray, flipped: bool) -> np.ndarray:
    """Landmarks ``[T, 68, 2]`` of a clip resampled by ``transform``: ``x_out = A^-1 (x_in - o)``, mirrored indices."""
    a = np.asarray(transform, np.float64)
    x, y = landmarks[..., 0] - a[2], landmarks[..., 1] - a[5]
    det = a[0] * a[4] - a[1] * a[3]
    moved = np.stack([(a[4] * x - a[1] * y) / det, (-a[3] * x + a[0] * y) / det], axis=-1).astype(np.float32)
    return moved[:, MIRROR_68, :] if flipped else moved


class ClipFeed(keras.utils.PyDataset):
    """Batches of a :class:`~fer_kit.training.clipset.ClipSet` for ``model.fit`` on any Keras backend (module doc)."""

    def __init__(self, clips: ClipSet, inputs: Sequence[str], outputs: Sequence[str], batch_size: int,
                 training: bool, augment: bool, flip: bool, rotations: Sequence[float], weights: np.ndarray | None,
                 seed: int, in_memory: bool, workers: int | None, zoom: float = 0.0, shift: float = 0.0,
                 mixup: float = 0.0, num_classes: int | None = None) -> None:
        super().__init__()
        self.paths, self.labels = clips.paths, np.asarray(clips.labels, np.int64)
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self.batch_size, self.training, self.seed = batch_size, training, seed
        self.flip, self.zoom, self.shift = flip, zoom, shift
        self.mixup, self.num_classes = (mixup if training else 0.0), num_classes
        if self.mixup and not num_classes:
            raise ValueError("mixup needs num_classes (its targets are one-hot rows)")
        self.augmenting = training and augment and bool(flip or rotations or zoom or shift)
        self.choices = np.deg2rad(np.array([0.0, *rotations, *(-r for r in rotations)], np.float64))
        self.weights = None if (weights is None or not training) else np.asarray(weights, np.float32)
        self.arrays = load_clip_arrays(self.paths, workers=workers, landmarks=True) if in_memory else None
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        n = len(self.paths)
        return np.random.default_rng((self.seed, self.epoch)).permutation(n) if self.training else np.arange(n)

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def _clips(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.arrays is not None:
            faces, local, points = self.arrays
            return faces[picks], local[picks], points[picks]
        read = [read_clip_arrays(self.paths[i]) for i in picks]
        return tuple(np.stack([r[k] for r in read]) for k in range(3))

    def __getitem__(self, index: int):
        picks = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        faces, local, points = self._clips(picks)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.augmenting:
            flips = rng.random(len(picks)) < 0.5 if self.flip else np.zeros(len(picks), bool)
            angles = self.choices[rng.integers(0, len(self.choices), len(picks))]
            scales = shifts = None
            if self.zoom or self.shift:
                scales = rng.uniform(1 - self.zoom, 1 + self.zoom, len(picks))
                limit = self.shift * faces.shape[2]
                shifts = rng.uniform(-limit, limit, (len(picks), 2))
            transforms = clip_transforms(angles, flips, faces.shape[2], scales, shifts)
            stacked = np.concatenate([faces, local], axis=-1)
            stacked = np.stack([transform_frames(clip, t) for clip, t in zip(stacked, transforms, strict=True)])
            faces, local = stacked[..., :3], stacked[..., 3:]
            points = np.stack([move_landmarks(p, t, f) for p, t, f in zip(points, transforms, flips, strict=True)])
        streams = {FACES: faces, LOCAL_MAPS: local, LANDMARKS: points}
        x = {name: streams[name].astype(np.float32) for name in self.inputs}
        y = self.labels[picks]
        target = y if not self.num_classes else np.eye(self.num_classes, dtype=np.float32)[y]
        weights = None if self.weights is None else self.weights[y]
        if self.mixup:
            x, target, weights = mix_clips(x, target, weights, rng, self.mixup)
        targets = {name: target for name in self.outputs}
        return (x, targets) if weights is None else (x, targets, weights)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()

    def take(self, count: int):
        """The first ``count`` batches (as ``tf.data.Dataset.take``; for precise BatchNorm statistics)."""
        return (self[i] for i in range(min(count, len(self))))


def make_feed(
    clips: ClipSet,
    inputs: Sequence[str] = (FACES, LOCAL_MAPS),
    outputs: Sequence[str] = ("fused",),
    batch_size: int = 8,
    training: bool = False,
    augment: bool = True,
    flip: bool = True,
    rotations: Sequence[float] = ROTATION_DEGREES,
    weights: np.ndarray | None = None,
    seed: int = 0,
    memory_limit_mb: float = 2048,
    workers: int | None = None,
    mode: str = "auto",
    zoom: float = 0.0,
    shift: float = 0.0,
    mixup: float = 0.0,
    num_classes: int | None = None,
) -> tuple[ClipFeed, PipelineInfo]:
    """:func:`fer_kit.training.data.make_dataset`'s batches as a :class:`ClipFeed` (same arguments, same info)."""
    mode, frames, size = pipeline_mode(clips, memory_limit_mb, mode)
    feed = ClipFeed(clips, inputs, outputs, batch_size, training, augment, flip, rotations, weights, seed,
                    in_memory=mode == "memory", workers=workers, zoom=zoom, shift=shift, mixup=mixup,
                    num_classes=num_classes)
    return feed, PipelineInfo(mode=mode, clips=len(clips.paths), batches=len(feed), frames=frames, size=size)
