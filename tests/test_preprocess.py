"""From a video to a Clip: sampling, landmarks, alignment, local maps (paper 3.1, 4.2)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from fer_kit.clips.clip import Clip
from fer_kit.clips.preprocess import PreprocessSettings, preprocess_video, process_frames
from fer_kit.errors import InputFileError, NoFaceError
from fer_kit.face.align import eye_angle
from fer_kit.labels import EMOTIONS


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[:320, 80:400])


def shifted(face: np.ndarray, n: int) -> list[np.ndarray]:
    return [np.roll(face, 2 * i, axis=1) for i in range(n)]


def test_five_frame_video_is_padded_to_sixteen(tmp_path: Path, face) -> None:
    path = write_video(tmp_path / "short.avi", shifted(face, 5))
    clip = preprocess_video(path, PreprocessSettings(size=64), label="happiness", subject="s1", dataset="toy")
    assert isinstance(clip, Clip)
    assert clip.faces.shape == (16, 64, 64, 3) and clip.local.shape == (16, 64, 64, 1)
    assert clip.landmarks.shape == (16, 68, 2) and clip.valid.all()
    assert clip.label == EMOTIONS.index("happiness") and clip.subject == "s1" and clip.dataset == "toy"
    indices = clip.meta["frame_indices"]
    assert sorted(set(indices)) == [0, 1, 2, 3, 4] and indices == sorted(indices)
    # Padding repeats neighbouring frames: consecutive equal indices give identical crops.
    assert np.array_equal(clip.faces[0], clip.faces[1])
    assert clip.fps == pytest.approx(25.0)
    # Crops are aligned: eyes level, face inside the crop.
    assert abs(eye_angle(clip.landmarks[0])) < 1.0
    assert clip.landmarks.min() > 0 and clip.landmarks.max() < 64
    # The clip survives a save/load round trip.
    loaded = Clip.load(clip.save(tmp_path / "c.npz"))
    np.testing.assert_array_equal(loaded.local, clip.local)


def test_one_frame_video_and_faceless_video_are_clear_errors(tmp_path: Path, face) -> None:
    one = write_video(tmp_path / "one.avi", [face])
    with pytest.raises(InputFileError, match="only 1 frame") as error:
        preprocess_video(one)
    assert "one.avi" in str(error.value)
    grey = write_video(tmp_path / "grey.avi", [np.full_like(face, 110)] * 6)
    with pytest.raises(NoFaceError, match="no face") as error:
        preprocess_video(grey)
    assert "grey.avi" in str(error.value)
    with pytest.raises(InputFileError, match="no such"):
        preprocess_video(tmp_path / "missing.mp4")


def test_folder_of_frames_and_time_window(tmp_path: Path, face) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(shifted(face, 40)):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    settings = PreprocessSettings(size=48, frames=8, window_seconds=0.5, center_seconds=1.0)
    clip = preprocess_video(folder, settings)
    assert clip.faces.shape == (8, 48, 48, 3)
    indices = np.array(clip.meta["frame_indices"])
    assert indices.min() >= 30 - 8 and indices.max() <= 30 + 8  # 0.5 s around 1.0 s at 30 fps


def test_process_frames_marks_faceless_frames(face) -> None:
    frames = shifted(face, 8)
    frames[3] = np.full_like(face, 100)
    features = process_frames(frames, PreprocessSettings(size=32, detect_every=1))
    assert features.faces.shape == (8, 32, 32, 3) and features.local.shape == (8, 32, 32, 1)
    assert features.valid.tolist() == [True, True, True, False, True, True, True, True]
    with pytest.raises(NoFaceError):
        process_frames([np.full_like(face, 100)] * 3)


def test_small_faces_are_found_by_upsampling(face) -> None:
    small = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)  # the face is now about 45 px wide
    features = process_frames([small] * 3, PreprocessSettings(size=32))
    assert features.valid.all()


def test_settings_presets_and_keys() -> None:
    tiny = PreprocessSettings.from_preset("tiny")
    assert tiny.size == 32 and tiny.frames == 16
    assert PreprocessSettings.from_preset("paper").size == 112
    assert tiny.key() == PreprocessSettings.from_preset("tiny").key()
    assert tiny.key() != PreprocessSettings.from_preset("tiny", contour=False).key()
    assert PreprocessSettings.from_dict(tiny.to_dict()) == tiny
    with pytest.raises(ValueError):
        PreprocessSettings(detect_every=0)


def test_cremad_clips_become_valid_clips(cremad_dir: Path) -> None:
    settings = PreprocessSettings.from_preset("lite")
    for path in sorted(cremad_dir.glob("*.flv"))[:3]:
        clip = preprocess_video(path, settings, dataset="crema-d")
        assert clip.valid.all()
        assert clip.faces.shape == (16, 64, 64, 3)
        assert np.abs(np.array([eye_angle(lm) for lm in clip.landmarks])).max() < 1.0
        assert clip.local.mean() > 5  # a real map, not empty


def test_pexels_no_face_and_face_leaving(pexels_dir: Path) -> None:
    settings = PreprocessSettings(size=48)
    with pytest.raises(NoFaceError) as error:
        preprocess_video(pexels_dir / "no_face.mp4", settings)
    assert "no_face.mp4" in str(error.value)
    clip = preprocess_video(pexels_dir / "face_noface.mov", settings)
    assert clip.valid[0] and not clip.valid[-1]
    assert 0.2 < clip.valid.mean() < 0.8


def test_preprocess_command_builds_a_cache(cremad_dir: Path, tmp_path: Path, capsys) -> None:
    import json

    from fer_kit.cli import main
    from fer_kit.clips.cache import load_cache_index

    args = ["preprocess", str(cremad_dir), "--dataset", "crema-d", "--out", str(tmp_path / "cache")]
    assert main([*args, "--preset", "tiny", "--limit", "2", "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["built"], report["failed"]) == (2, 0)
    index = load_cache_index(tmp_path / "cache")
    assert set(index.label) <= set(EMOTIONS) and (index["size"] == 32).all()
    assert main([*args, "--preset", "tiny", "--limit", "2", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 2
    assert main([*args, "--preset", "no-such-preset"]) == 2
