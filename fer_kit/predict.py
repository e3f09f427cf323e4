"""Recognising the expressions in a video of any length with a trained model (paper 3.2.1, 4.2).

The network sees 16 frames taken over a fixed time window (paper 4.2). A long video
is covered by sliding that window: windows of ``window_seconds`` start every
``stride_seconds`` (half a window by default; the last window ends at the last frame;
a video shorter than one window is one window, its frames repeated as in paper 4.2).
In each window the 16 frames are spread evenly (:func:`fer_kit.clips.video.sample_frame_indices`)
and go through the same face pipeline as the training clips
(:func:`fer_kit.clips.preprocess.process_frames`: landmarks, alignment, local maps) with the
run's preprocessing settings. The fused softmax (eq. 1) of each window is reported;
the video's probabilities are the mean over the windows where a face was found in at
least ``min_valid_fraction`` of the frames, and its label is their arg-max.

The default window is the training clips' settings: ``window_seconds`` if the cache was
built with one, else the median duration of the training clips (recorded at training
time), else :data:`DEFAULT_WINDOW_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_kit.errors import NoFaceError

DEFAULT_WINDOW_SECONDS = 2.0
"""Window length when the run does not say: about the length of one acted expression."""


@dataclass
class WindowPrediction:
    """One window: its frame range, seconds, how many of its frames had a face, its probabilities."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    valid_fraction: float
    probabilities: np.ndarray | None = None

    def to_dict(self, classes: tuple[str, ...]) -> dict:
        probs = None if self.probabilities is None else {c: round(float(p), 4) for c, p in zip(classes, self.probabilities, strict=True)}
        return {
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "valid_fraction": round(self.valid_fraction, 3),
            "label": None if self.probabilities is None else classes[int(np.argmax(self.probabilities))],
            "probabilities": probs,
        }


@dataclass
class VideoPrediction:
    """The windows of a video and the overall result."""

    source: str
    classes: tuple[str, ...]
    fps: float
    n_frames: int
    window_seconds: float
    stride_seconds: float
    windows: list[WindowPrediction] = field(default_factory=list)

    @property
    def used(self) -> list[WindowPrediction]:
        return [w for w in self.windows if w.probabilities is not None]

    @property
    def probabilities(self) -> np.ndarray:
        """Mean fused probabilities over the windows with a face (sums to 1)."""
        return np.mean([w.probabilities for w in self.used], axis=0)

    @property
    def label(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]

    def to_dict(self) -> dict:
        probabilities = self.probabilities
        return {
            "video": self.source,
            "classes": list(self.classes),
            "fps": round(self.fps, 3),
            "n_frames": self.n_frames,
            "window_seconds": round(self.window_seconds, 3),
            "stride_seconds": round(self.stride_seconds, 3),
            "windows": [w.to_dict(self.classes) for w in self.windows],
            "windows_with_face": len(self.used),
            "label": self.label,
            "confidence": round(float(probabilities.max()), 4),
            "probabilities": {c: round(float(p), 4) for c, p in zip(self.classes, probabilities, strict=True)},
        }


def window_starts(n_frames: int, window: int, stride: int) -> list[int]:
    """First frames of the windows: every ``stride`` frames, the last one ending at the last frame."""
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window + 1, max(1, stride)))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def _settings_for(run):
    from fer_kit.clips.preprocess import PreprocessSettings

    frames, size = run.clip_shape
    stored = run.clip_settings or {}
    settings = PreprocessSettings.from_dict(stored) if stored else PreprocessSettings()
    size = size or settings.size  # a landmark model takes any crop size
    if (settings.frames, settings.size) != (frames, size):
        settings = PreprocessSettings.from_dict({**settings.to_dict(), "frames": frames, "size": size})
    return settings


def predict_video(
    model,
    video: str | Path,
    window_seconds: float | None = None,
    stride_seconds: float | None = None,
    min_valid_fraction: float = 0.5,
    batch_size: int = 8,
    predictor=None,
) -> VideoPrediction:
    """Slide the clip window over ``video`` and predict every window (module doc).

    ``model`` is a run folder, a ``.keras`` file or a :class:`fer_kit.training.runs.LoadedRun`.
    Raises ``NoFaceError`` naming the video when no window has enough frames with a face.
    """
    from fer_kit.clips.preprocess import process_frames
    from fer_kit.clips.video import count_frames, read_video, sample_frame_indices, video_info
    from fer_kit.training.runs import LoadedRun, load_run, predict_probabilities

    run = model if isinstance(model, LoadedRun) else load_run(model)
    settings = _settings_for(run)
    video = Path(video)
    n_frames, fps = video_info(video)
    if n_frames <= 0:
        n_frames = count_frames(video)
    window_seconds = float(
        window_seconds or settings.window_seconds or run.clip_seconds or DEFAULT_WINDOW_SECONDS
    )
    window = max(1, int(round(window_seconds * fps)))
    stride = max(1, int(round((stride_seconds or window_seconds / 2) * fps)))
    starts = window_starts(n_frames, window, stride)
    span = min(window, n_frames)
    windows_idx = [s + sample_frame_indices(span, fps, settings.frames) for s in starts]
    wanted = np.unique(np.concatenate(windows_idx))
    decoded = read_video(video, wanted)
    available = np.asarray(decoded.indices, np.int64)
    try:
        features = process_frames(decoded.frames, settings, predictor)
    except NoFaceError as error:
        raise NoFaceError(f"no face found in any of the {len(available)} frames looked at", video) from error

    result = VideoPrediction(
        str(video), run.classes, float(fps), int(n_frames), window_seconds, stride / fps if fps else 0.0
    )
    chosen: list[np.ndarray] = []
    for start, idx in zip(starts, windows_idx, strict=True):
        # nearest decoded frame (a truncated video decodes fewer frames than its header promised)
        pos = np.clip(np.searchsorted(available, idx), 0, len(available) - 1)
        valid_fraction = float(features.valid[pos].mean())
        end = start + span - 1
        result.windows.append(WindowPrediction(start, end, start / fps, (end + 1) / fps, valid_fraction))
        chosen.append(pos if valid_fraction >= min_valid_fraction else None)
    usable = [i for i, pos in enumerate(chosen) if pos is not None]
    if not usable:
        raise NoFaceError(
            f"a face was found in too few frames (needs {min_valid_fraction:.0%} of a window's frames)", video
        )
    faces = np.stack([features.faces[chosen[i]] for i in usable])
    local = np.stack([features.local[chosen[i]] for i in usable])
    landmarks = np.stack([features.landmarks[chosen[i]] for i in usable])
    probabilities = predict_probabilities(run, faces, local, batch_size=batch_size, landmarks=landmarks)
    for i, probs in zip(usable, probabilities, strict=True):
        result.windows[i].probabilities = probs
    return result
