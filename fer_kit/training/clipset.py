"""The clips a run trains on, without TensorFlow: the labelled rows of a cache, their arrays, class weights.

:func:`select_clips` turns a cache's index into a :class:`ClipSet` (labelled rows and a class
list, in the kit's label order); :func:`load_clip_arrays` decodes clips into ``uint8`` arrays in
parallel threads; :func:`class_weights` gives the balanced weights ``n / (K * n_c)``. Both input
pipelines build on these: ``tf.data`` (:mod:`fer_kit.training.data`) on TensorFlow and a
``keras.utils.PyDataset`` (:mod:`fer_kit.training.feed`) on JAX and PyTorch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_kit.clips.cache import load_cache_index
from fer_kit.clips.clip import Clip
from fer_kit.errors import DatasetLayoutError, InputFileError, UsageError
from fer_kit.labels import EMOTIONS, EXTRA_EMOTIONS


@dataclass
class ClipSet:
    """Labelled clips of one cache: ``rows`` (index rows), their absolute ``paths`` and ``labels``."""

    cache_dir: Path
    rows: pd.DataFrame
    classes: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def paths(self) -> list[str]:
        return [str(self.cache_dir / p) for p in self.rows["path"]]

    @property
    def labels(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.classes)}
        return np.array([lookup[label] for label in self.rows["label"]], np.int32)

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.rows["subject"]))

    def subset(self, rows: pd.DataFrame) -> ClipSet:
        return ClipSet(self.cache_dir, rows.reset_index(drop=True), self.classes)

    def __len__(self) -> int:
        return len(self.rows)


def ordered_classes(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels present, in the kit's order (:data:`EMOTIONS`, then :data:`EXTRA_EMOTIONS`)."""
    present = set(labels)
    return tuple(name for name in (*EMOTIONS, *EXTRA_EMOTIONS) if name in present)


def select_clips(
    cache_dir: str | Path,
    classes: Sequence[str] | None = None,
    min_valid_fraction: float = 0.5,
    index: pd.DataFrame | None = None,
) -> ClipSet:
    """Labelled rows of a cache that are usable for training or evaluation.

    Drops (and counts in ``dropped``) rows without a label, with a label outside ``classes``
    (default: every kit label present), and clips where a face was found in fewer than
    ``min_valid_fraction`` of the frames.
    """
    cache_dir = Path(cache_dir)
    index = load_cache_index(cache_dir) if index is None else index
    dropped: dict[str, int] = {}
    keep = index["label"].astype(str).str.len() > 0
    dropped["unlabelled"] = int((~keep).sum())
    known = index["label"].isin((*EMOTIONS, *EXTRA_EMOTIONS))
    dropped["unknown_label"] = int((keep & ~known).sum())
    keep &= known
    if "valid_fraction" in index.columns:
        valid = pd.to_numeric(index["valid_fraction"], errors="coerce").fillna(0.0)
        low = keep & (valid < min_valid_fraction)
        dropped["few_faces"] = int(low.sum())
        keep &= ~low
    classes = tuple(classes) if classes else ordered_classes(index.loc[keep, "label"])
    outside = keep & ~index["label"].isin(classes)
    dropped["other_class"] = int(outside.sum())
    keep &= ~outside
    rows = index[keep].reset_index(drop=True)
    if len(rows) == 0:
        raise DatasetLayoutError("no labelled clips to use (check the labels and valid_fraction in index.csv)", cache_dir)
    if len(classes) < 2:
        raise DatasetLayoutError(f"need at least two classes, found {list(classes)}", cache_dir)
    return ClipSet(cache_dir, rows, classes, {k: v for k, v in dropped.items() if v})


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (K * n_c)`` (1.0 for absent classes): imbalanced corpora (paper 4.2.2)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_classes, np.float64)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.astype(np.float32)


def read_clip_arrays(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clip = Clip.load(path)
    return clip.faces, clip.local, clip.landmarks


def clip_shape(path: str | Path) -> tuple[int, int]:
    """``(frames, size)`` of the clip stored at ``path``."""
    clip = Clip.load(path)
    return clip.frames, clip.size


def load_clip_arrays(
    paths: Sequence[str], workers: int | None = None, landmarks: bool = False
) -> tuple[np.ndarray, ...]:
    """Decode clips in parallel threads into ``faces uint8[N,T,S,S,3]`` and ``local uint8[N,T,S,S,1]``.

    ``landmarks=True`` adds a third array, the cached landmarks ``float32[N,T,68,2]`` (crop pixels).
    """
    if not paths:
        raise UsageError("no clips to load")
    frames, size = clip_shape(paths[0])
    faces = np.empty((len(paths), frames, size, size, 3), np.uint8)
    local = np.empty((len(paths), frames, size, size, 1), np.uint8)
    points = np.empty((len(paths), frames, 68, 2), np.float32)

    def load(i: int) -> None:
        f, m, p = read_clip_arrays(paths[i])
        if f.shape != faces.shape[1:]:
            raise InputFileError(f"clip is {list(f.shape)}, expected {list(faces.shape[1:])} like the others", paths[i])
        faces[i], local[i], points[i] = f, m, p

    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        list(pool.map(load, range(len(paths))))
    return (faces, local, points) if landmarks else (faces, local)


def clips_nbytes(n: int, frames: int, size: int) -> int:
    """Bytes of ``n`` decoded clips (faces + local maps, ``uint8``)."""
    return n * frames * size * size * 4


@dataclass
class PipelineInfo:
    """How a dataset was made: ``mode`` (``memory`` or ``stream``), clip count, batches per epoch."""

    mode: str
    clips: int
    batches: int
    frames: int
    size: int


def pipeline_mode(clips: ClipSet, memory_limit_mb: float, mode: str = "auto") -> tuple[str, int, int]:
    """``(mode, frames, size)`` of an input pipeline over ``clips``: ``memory`` (decode once) or ``stream``.

    ``auto`` picks ``memory`` when the decoded clips fit in ``memory_limit_mb``; the same rule
    for the ``tf.data`` pipeline and the ``PyDataset`` feed.
    """
    frames, size = clip_shape(clips.paths[0])
    if mode == "auto":
        mode = "memory" if clips_nbytes(len(clips.paths), frames, size) <= memory_limit_mb * 2**20 else "stream"
    if mode not in ("memory", "stream"):
        raise UsageError(f"unknown pipeline mode {mode!r}; choose auto, memory or stream")
    return mode, frames, size
