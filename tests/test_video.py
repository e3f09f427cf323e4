"""Reading videos / frame folders and the 16-frame sampling of paper 4.2."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_kit.clips.video import count_frames, read_video, sample_frame_indices, video_info
from fer_kit.errors import InputFileError
from fer_kit.images import read_image


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB frames as an MJPG .avi (what every OpenCV build can encode)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def numbered_frames(n: int, size: int = 64) -> list[np.ndarray]:
    """Frames whose brightness encodes their index (10 * i), so decoded order can be checked."""
    return [np.full((size, size, 3), 10 * i, np.uint8) for i in range(n)]


def test_sampling_covers_whole_clip_evenly() -> None:
    idx = sample_frame_indices(64, 30.0, frames=16)
    assert len(idx) == 16
    assert idx[0] <= 2 and idx[-1] >= 61
    steps = np.diff(idx)
    assert steps.min() >= 3 and steps.max() <= 5


def test_short_video_is_padded_with_neighbouring_frames() -> None:
    idx = sample_frame_indices(5, 30.0, frames=16)
    assert len(idx) == 16
    assert list(idx) == sorted(idx)  # time order kept
    assert set(idx) == {0, 1, 2, 3, 4}  # every frame used
    counts = np.bincount(idx)
    assert counts.min() >= 3 and counts.max() <= 4  # each frame repeated about equally


def test_window_around_a_time() -> None:
    fps = 30.0
    idx = sample_frame_indices(300, fps, frames=16, window_seconds=1.0, center_seconds=5.0)
    assert idx.min() >= 5 * fps - 16 and idx.max() <= 5 * fps + 16
    # A window near the start is shifted to stay inside the video.
    early = sample_frame_indices(300, fps, frames=16, window_seconds=2.0, center_seconds=0.1)
    assert early.min() == 0 or early.min() == 1
    assert early.max() <= 2 * fps


def test_sampling_rejects_empty_video() -> None:
    with pytest.raises(ValueError):
        sample_frame_indices(0, 30.0)


def test_read_video_file_in_order_and_only_wanted_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "count.avi", numbered_frames(12))
    video = read_video(path)
    assert len(video) == 12 and video.n_frames == 12
    assert video.fps == pytest.approx(25.0)
    means = [f.mean() for f in video.frames]
    assert np.all(np.diff(means) > 5)  # decoded in order
    some = read_video(path, [2, 2, 7])
    assert list(some.indices) == [2, 2, 7]
    assert some.frames[0].mean() == pytest.approx(20, abs=3)
    assert some.frames[2].mean() == pytest.approx(70, abs=3)
    assert video_info(path)[0] == 12 and count_frames(path) == 12


def test_read_folder_of_frames_in_natural_order(tmp_path: Path) -> None:
    for i, frame in enumerate(numbered_frames(11)):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), frame)
    video = read_video(tmp_path)
    assert len(video) == 11
    assert [int(f.mean()) for f in video.frames] == [10 * i for i in range(11)]  # frame10 after frame9


def test_missing_and_broken_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such"):
        read_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputFileError) as error:
        read_video(junk)
    assert str(junk) in str(error.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match="no frame images"):
        read_video(empty)


def test_truncated_video_returns_decodable_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "full.avi", numbered_frames(20))
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    try:
        video = read_video(cut)
    except InputFileError:
        return  # some FFmpeg builds refuse the cut file outright: also a clear error
    assert 0 < len(video) < 20


def test_read_image_normalises_grayscale_16bit_and_alpha(tmp_path: Path) -> None:
    gray16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGR(A) order
    rgba[..., 3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    g = read_image(tmp_path / "g16.png")
    assert g.dtype == np.uint8 and g.shape == (64, 64, 3)
    assert g.max() > 200 and (g[..., 0] == g[..., 1]).all()
    r = read_image(tmp_path / "rgba.png")
    assert r.shape == (32, 32, 3) and r[0, 0, 0] == 200 and r[0, 0, 2] == 0  # red stays red in RGB
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(InputFileError, match="cannot decode"):
        read_image(tmp_path / "bad.png")


def test_real_cremad_clip(cremad_dir: Path) -> None:
    path = sorted(cremad_dir.glob("*.flv"))[0]
    n, fps = video_info(path)
    assert 50 <= n <= 80 and fps == pytest.approx(29.97, abs=0.05)
    idx = sample_frame_indices(n, fps)
    video = read_video(path, idx)
    assert len(video) == 16 and video.frames[0].shape == (360, 480, 3)
