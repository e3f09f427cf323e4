"""Toy clips with a learnable, class-dependent motion: a quick stand-in for a real clip cache.

Each clip shows a mirror-symmetric pair of bright blobs (two "brows") over a smooth,
subject-dependent background. Over the clip the pair moves up or down and spreads or
narrows, by an amount and direction set by its class (:data:`MOTIONS`), with random
start, size, colour and noise. Because the pattern is left-right symmetric, the
horizontal flip of paper 2.4 keeps the label, as it does for a face. The local-map
channel holds the blobs alone, as a local feature map holds the moving facial regions,
so both streams carry the label, and the motion over time carries it too.

The cache is written in the layout of :mod:`fer_kit.clips.cache` (``index.csv`` + one
``.npz`` :class:`~fer_kit.clips.clip.Clip` per row), so tests, benchmarks and exercises can
train and evaluate in seconds without preprocessing any video.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_kit.clips.clip import Clip
from fer_kit.labels import EMOTIONS

INDEX_COLUMNS = ("path", "source", "label", "subject", "dataset", "key", "valid_fraction")


MOTIONS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, 1), (0, -1), (-1, 1), (1, -1), (-1, -1), (1, 1))
"""Per class: (vertical direction, spreading direction) of the blob pair; class ``c`` uses ``MOTIONS[c]``."""


def toy_clip(
    label: int,
    rng: np.random.Generator,
    size: int = 32,
    frames: int = 16,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(faces uint8[T,S,S,3], local uint8[T,S,S,1])`` of one toy clip of class ``label`` (< 8)."""
    if not 0 <= label < len(MOTIONS):
        raise ValueError(f"toy clips have {len(MOTIONS)} classes at most, got label {label}")
    rise, spread = MOTIONS[label]
    cx = size / 2 + rng.normal(0, size * 0.02)
    cy = size / 2 + rng.normal(0, size * 0.03)
    separation = size * rng.uniform(0.35, 0.45)
    travel = size * rng.uniform(0.15, 0.22)
    sigma = size * rng.uniform(0.06, 0.08)
    if background is None:
        background = np.full((size, size, 3), 90, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    faces = np.empty((frames, size, size, 3), np.uint8)
    local = np.empty((frames, size, size, 1), np.uint8)
    colour = rng.uniform(170, 230, 3).astype(np.float32)
    for t in range(frames):
        progress = t / max(frames - 1, 1)
        y = cy + rise * travel * progress
        half = (separation + spread * travel * progress) / 2
        blob = np.zeros((size, size), np.float32)
        for x in (cx - half, cx + half):
            blob = np.maximum(blob, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
        image = background * (1 - blob[..., None]) + colour * blob[..., None] + rng.normal(0, 6, (size, size, 3))
        faces[t] = np.clip(image, 0, 255).astype(np.uint8)
        local[t, ..., 0] = np.clip(255 * blob + rng.normal(0, 4, (size, size)), 0, 255).astype(np.uint8)
    return faces, local


def _template(size: int) -> np.ndarray:
    """A rough frontal 68-point layout ``float32[68, 2]`` in a ``size x size`` crop (jaw, brows, nose, eyes, mouth)."""
    def arc(n, cx, cy, rx, ry, a0, a1):
        angles = np.linspace(a0, a1, n)
        return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)

    parts = [
        arc(17, 0.5, 0.45, 0.42, 0.45, np.pi, 0.0),  # jaw
        arc(5, 0.32, 0.32, 0.12, 0.04, np.pi, 2 * np.pi), arc(5, 0.68, 0.32, 0.12, 0.04, np.pi, 2 * np.pi),  # brows
        np.stack([np.full(4, 0.5), np.linspace(0.4, 0.58, 4)], axis=1),  # nose bridge
        np.stack([np.linspace(0.42, 0.58, 5), np.full(5, 0.62)], axis=1),  # nose base
        arc(6, 0.34, 0.42, 0.07, 0.03, np.pi, 3 * np.pi), arc(6, 0.66, 0.42, 0.07, 0.03, np.pi, 3 * np.pi),  # eyes
        arc(12, 0.5, 0.75, 0.14, 0.05, np.pi, 3 * np.pi), arc(8, 0.5, 0.75, 0.09, 0.025, np.pi, 3 * np.pi),  # mouth
    ]
    return (np.concatenate(parts) * size).astype(np.float32)


def toy_landmarks(label: int, rng: np.random.Generator, size: int = 32, frames: int = 16) -> np.ndarray:
    """``float32[T, 68, 2]``: the template, jittered, whose mouth moves as class ``label``'s blobs do."""
    rise, spread = MOTIONS[label]
    points = _template(size) + rng.normal(0, size * 0.005, (68, 2)).astype(np.float32)
    travel = size * rng.uniform(0.08, 0.12)
    out = np.repeat(points[None], frames, axis=0)
    progress = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    mouth = slice(48, 68)
    centre = points[mouth].mean(axis=0)
    offset = points[mouth] - centre
    out[:, mouth, 1] += rise * travel * progress
    out[:, mouth, 0] += spread * 0.5 * travel * progress * np.sign(offset[:, 0])
    return out.astype(np.float32)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random RGB gradient: the 'identity' of a toy subject."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(40, 120, 3)
    slope = rng.uniform(-40, 40, (2, 3))
    return (base + xx[..., None] * slope[0] + yy[..., None] * slope[1]).astype(np.float32)


def write_toy_cache(
    out_dir: str | Path,
    classes: Sequence[str] = EMOTIONS,
    per_class: int = 4,
    subjects: Sequence[str] = ("s1", "s2", "s3", "s4"),
    size: int = 32,
    frames: int = 16,
    seed: int = 0,
    dataset: str = "toy",
) -> Path:
    """Write ``per_class`` toy clips of every class for every subject to ``out_dir``; return it.

    Layout: ``out_dir/index.csv`` (columns path, source, label, subject, dataset, key,
    valid_fraction) and ``out_dir/clips/<subject>/<label>-<n>.npz``.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows = []
    for subject in subjects:
        background = _background(rng, size)
        for label, name in enumerate(classes):
            for n in range(per_class):
                faces, local = toy_clip(label, rng, size=size, frames=frames, background=background)
                relative = Path("clips") / subject / f"{name}-{n:03d}.npz"
                source = f"toy://{dataset}/{subject}/{name}/{n}"
                Clip(
                    faces=faces,
                    local=local,
                    landmarks=toy_landmarks(label, rng, size=size, frames=frames),
                    valid=np.ones(frames, bool),
                    label=label,
                    subject=subject,
                    dataset=dataset,
                    source=source,
                    fps=30.0,
                    meta={"toy": True, "size": size, "frames": frames},
                ).save(out_dir / relative)
                key = hashlib.sha1(f"{source}|{size}|{frames}|{seed}".encode()).hexdigest()[:16]
                rows.append((relative.as_posix(), source, name, subject, dataset, key, 1.0))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=out_dir)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, out_dir / "index.csv")
    return out_dir
