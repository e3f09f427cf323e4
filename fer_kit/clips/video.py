"""Reading videos, frame folders and images; choosing the 16 frames of a clip (paper 4.2).

Paper 4.2 feeds the network 16 frames taken over a *fixed time* rather than a fixed
number of frames, and pads videos shorter than 16 frames with neighbouring frames.
:func:`sample_frame_indices` implements both: evenly spaced indices over the whole
video (default) or over a window of ``window_seconds`` around ``center_seconds``;
when the window holds fewer than ``frames`` frames, rounding evenly spaced positions
repeats neighbouring frames, which is the padding.

Videos are decoded with OpenCV (FFmpeg backend) and returned as RGB ``uint8`` arrays.
Only the frames asked for are kept in memory; the others are skipped with ``grab()``.
A still photo reads as a video of one frame, so sampling it repeats that frame: a
*static clip* (our choice, used to pretrain on expression photos, see
:mod:`fer_kit.datasets.photos`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_kit.errors import InputFileError
from fer_kit.images import IMAGE_SUFFIXES, is_image_file, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".flv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".3gp")
DEFAULT_FPS = 30.0
"""Frame rate assumed for folders of frames and for videos that do not state one."""


@dataclass
class VideoFrames:
    """Decoded frames of one video.

    frames: RGB ``uint8[H, W, 3]`` arrays, in order. indices: their positions in the
    source (all frames unless only some were requested). n_frames: how many frames the
    source has.
    """

    frames: list[np.ndarray]
    fps: float
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_frames: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.indices) == 0 and self.frames:
            self.indices = np.arange(len(self.frames))
        self.n_frames = self.n_frames or len(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a folder of frames, in natural order (``frame2`` before ``frame10``)."""
    folder = Path(folder)
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=_natural_key)


def video_info(path: str | Path) -> tuple[int, float]:
    """``(n_frames, fps)`` of a video file or frame folder as its container states them (may be approximate)."""
    import cv2

    path = _existing(path)
    if path.is_dir():
        return len(frame_files(path)), DEFAULT_FPS
    if is_image_file(path):
        return 1, DEFAULT_FPS
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputFileError("cannot open video (unsupported format or corrupt file)", path)
        n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    return max(n, 0), fps if fps and np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError("no such video file or frame folder", path)
    return path


def read_video(path: str | Path, indices: Iterable[int] | None = None, fps: float | None = None) -> VideoFrames:
    """Decode a video file, a folder of frame images or a still photo (one frame) into RGB frames.

    ``indices`` keeps only those frames (sorted, repeats allowed: a repeated index gives
    the same frame twice); the rest are skipped without colour conversion. ``fps``
    overrides the container's frame rate (a folder of frames assumes 30 fps).
    ``InputFileError`` names the file when it is missing, cannot be opened or holds no
    decodable frame; a truncated video returns the frames that could be decoded.
    """
    path = _existing(path)
    wanted = None if indices is None else np.asarray(list(indices), dtype=np.int64)
    if path.is_dir():
        return _read_folder(path, wanted, fps)
    if is_image_file(path):  # a still photo: a video of one frame
        chosen = np.zeros(1, np.int64) if wanted is None else wanted[wanted == 0]
        image = read_image(path)
        return VideoFrames([image] * len(chosen), fps or DEFAULT_FPS, chosen, 1, str(path))
    return _read_file(path, wanted, fps)


def _read_folder(path: Path, wanted: np.ndarray | None, fps: float | None) -> VideoFrames:
    files = frame_files(path)
    if not files:
        raise InputFileError(f"folder holds no frame images ({', '.join(IMAGE_SUFFIXES)})", path)
    chosen = np.arange(len(files)) if wanted is None else wanted[(wanted >= 0) & (wanted < len(files))]
    cache: dict[int, np.ndarray] = {}
    frames = []
    for i in chosen:
        if int(i) not in cache:
            cache[int(i)] = read_image(files[int(i)])
        frames.append(cache[int(i)])
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise InputFileError(f"frames differ in size ({sorted(shapes)[:3]})", path)
    return VideoFrames(frames, fps or DEFAULT_FPS, np.asarray(chosen), len(files), str(path))


def _read_file(path: Path, wanted: np.ndarray | None, fps: float | None) -> VideoFrames:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputFileError("cannot open video (unsupported format, corrupt or not a video)", path)
        stated_fps = capture.get(cv2.CAP_PROP_FPS)
        frames: list[np.ndarray] = []
        kept: list[int] = []
        targets = None if wanted is None else np.sort(wanted)
        last = None if targets is None else (int(targets.max()) if targets.size else -1)
        position = 0
        cursor = 0  # next position in targets
        while last is None or position <= last:
            needed = targets is None or (cursor < len(targets) and targets[cursor] == position)
            if needed:
                ok, bgr = capture.read()
                if not ok or bgr is None:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
                while targets is None or (cursor < len(targets) and targets[cursor] == position):
                    frames.append(rgb)
                    kept.append(position)
                    cursor += 1
                    if targets is None:
                        break
            elif not capture.grab():
                break
            position += 1
        n_stated = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if not frames:
        raise InputFileError("no frame could be decoded (empty, truncated or not a video)", path)
    n_frames = position if (last is None or position <= last) else max(n_stated, position)
    rate = fps or (stated_fps if stated_fps and np.isfinite(stated_fps) and 0 < stated_fps < 1000 else DEFAULT_FPS)
    return VideoFrames(frames, float(rate), np.asarray(kept, np.int64), int(n_frames), str(path))


def count_frames(path: str | Path) -> int:
    """The number of frames that really decode (walks the video with ``grab()``; exact, unlike the header)."""
    import cv2

    path = _existing(path)
    if path.is_dir():
        return len(frame_files(path))
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputFileError("cannot open video (unsupported format, corrupt or not a video)", path)
        n = 0
        while capture.grab():
            n += 1
    finally:
        capture.release()
    return n


def sample_frame_indices(
    n_frames: int,
    fps: float,
    frames: int = 16,
    window_seconds: float | None = None,
    center_seconds: float | None = None,
) -> np.ndarray:
    """``frames`` frame indices spread evenly over a fixed time window (paper 4.2).

    Without ``window_seconds`` the window is the whole video. Otherwise it spans
    ``window_seconds`` centred on ``center_seconds`` (default: the middle of the
    video), shifted to stay inside the video. Positions are rounded to the nearest
    frame, so a window of fewer than ``frames`` frames repeats neighbouring frames
    (``n_frames=5`` gives ``0 0 0 0 1 1 1 2 2 2 3 3 3 4 4 4``).
    """
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got n_frames={n_frames}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    first, last = 0.0, float(n_frames - 1)
    if window_seconds is not None and fps > 0:
        span = min(window_seconds * fps, n_frames) - 1
        centre = (n_frames - 1) / 2 if center_seconds is None else center_seconds * fps
        first = min(max(0.0, centre - span / 2), max(0.0, n_frames - 1 - span))
        last = first + max(span, 0.0)
    if frames == 1:
        return np.array([round((first + last) / 2)], np.int64)
    # Evenly spaced bins, each represented by its centre: a short window repeats each frame equally.
    edges = np.linspace(first - 0.5, last + 0.5, frames + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return np.clip(np.floor(centres + 0.5), 0, n_frames - 1).astype(np.int64)
