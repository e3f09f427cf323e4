"""Face detection, the 68-point ERT predictor and tracking on video (paper 3.1)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from fer_kit.errors import ModelFileError
from fer_kit.face.landmarks import (
    as_rgb_uint8,
    default_predictor_path,
    detect_faces,
    face_landmarks,
    inter_ocular,
    load_predictor,
    predict_landmarks,
    track_landmarks,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def test_pretrained_model_is_found_without_importing_its_package() -> None:
    path = default_predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.is_file()
    assert load_predictor() is load_predictor(path)  # loaded once


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as error:
        load_predictor(tmp_path / "nope.dat")
    assert "nope.dat" in str(error.value) and "not found" in str(error.value)
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="not a dlib shape predictor"):
        load_predictor(bad)


def test_astronaut_landmarks_fall_inside_her_face_box(astronaut) -> None:
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1
    left, top, right, bottom = boxes[0]
    assert 150 < (left + right) / 2 < 300 and 50 < (top + bottom) / 2 < 200  # her face, not the flag or helmet
    points = predict_landmarks(astronaut, boxes[0])
    assert points.shape == (68, 2) and points.dtype == np.float32
    margin = 0.15 * (right - left)
    assert (points[:, 0] > left - margin).all() and (points[:, 0] < right + margin).all()
    assert (points[:, 1] > top - margin).all() and (points[:, 1] < bottom + margin).all()
    # Anatomy: eyes above the nose tip above the mouth; left eye left of the right eye.
    assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()
    assert points[36:42, 0].mean() < points[42:48, 0].mean()
    np.testing.assert_allclose(face_landmarks(astronaut), points)


def test_upsampling_duplicates_are_merged(astronaut) -> None:
    boxes = detect_faces(astronaut, upsample=1)
    left, top, right, bottom = boxes[0]
    assert 150 < (left + right) / 2 < 300  # the best box is her face, not a weak false alarm


def test_no_face_gives_none() -> None:
    assert face_landmarks(np.full((200, 200, 3), 128, np.uint8)) is None


def test_grayscale_16bit_and_rgba_inputs(astronaut) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    reference = face_landmarks(astronaut)
    for image in (gray, gray.astype(np.uint16) * 257, np.dstack([astronaut, np.full(gray.shape, 255, np.uint8)])):
        points = face_landmarks(image)
        assert points is not None
        assert np.abs(points - reference).mean() < 0.05 * inter_ocular(reference)
    assert as_rgb_uint8(np.ones((4, 4), np.float64)).max() == 255
    with pytest.raises(Exception, match="not an image"):
        as_rgb_uint8(np.zeros((4, 4, 7)))


def test_huge_frame_is_shrunk_for_detection(astronaut) -> None:
    huge = cv2.resize(astronaut, (3072, 3072), interpolation=cv2.INTER_LINEAR)
    boxes = detect_faces(huge)
    assert boxes, "the face in a 3072 px frame is found"
    small = detect_faces(astronaut)[0]
    np.testing.assert_allclose(np.array(boxes[0]) / 6, small, atol=12)


def moving_face_frames(image: np.ndarray, n: int = 30, blank: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The astronaut panning slowly right; frames in ``blank`` (start, stop) are flat grey (no face)."""
    frames = []
    for i in range(n):
        matrix = np.float32([[1, 0, 2 * i], [0, 1, i]])
        frame = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)
        if blank and blank[0] <= i < blank[1]:
            frame = np.full_like(frame, 120)
        frames.append(frame)
    return frames


def test_tracking_follows_a_moving_face_with_few_detections(astronaut) -> None:
    frames = moving_face_frames(astronaut[:320, 80:400])
    every = track_landmarks(frames, detect_every=1)
    tracked = track_landmarks(frames, detect_every=5)
    assert every.valid.all() and tracked.valid.all()
    assert every.detections == len(frames)
    assert tracked.detections <= len(frames) // 5 + 2
    iod = inter_ocular(every.landmarks)
    difference = np.linalg.norm(tracked.landmarks - every.landmarks, axis=2).mean(axis=1) / iod
    assert difference.mean() < 0.03
    # The track moves with the face: 2 px right and 1 px down per frame.
    shift = tracked.landmarks[-1].mean(axis=0) - tracked.landmarks[0].mean(axis=0)
    np.testing.assert_allclose(shift, [2 * 29, 29], atol=4)


def test_frames_without_face_are_invalid_and_keep_neighbour_landmarks(astronaut) -> None:
    frames = moving_face_frames(astronaut[:320, 80:400], n=24, blank=(10, 17))
    track = track_landmarks(frames, detect_every=5)
    assert track.valid[:10].all() and track.valid[17:].all()
    assert not track.valid[10:17].any()
    np.testing.assert_array_equal(track.landmarks[10], track.landmarks[9])  # nearest valid frame
    np.testing.assert_array_equal(track.landmarks[16], track.landmarks[17])
    assert (track.boxes[10:17] == -1).all()


def test_tracking_matches_detection_on_real_video(cremad_dir: Path) -> None:
    from fer_kit.clips.video import read_video

    video = read_video(sorted(cremad_dir.glob("*.flv"))[3])
    every = track_landmarks(video.frames, detect_every=1)
    tracked = track_landmarks(video.frames, detect_every=5)
    assert every.valid.all() and tracked.valid.all()
    assert tracked.detections < len(video) / 3
    difference = np.linalg.norm(tracked.landmarks - every.landmarks, axis=2).mean(axis=1)
    assert difference.mean() / inter_ocular(every.landmarks).mean() < 0.03


def test_face_leaving_the_picture(pexels_dir: Path) -> None:
    from fer_kit.clips.video import read_video

    video = read_video(pexels_dir / "face_noface.mov", range(0, 169, 4))
    track = track_landmarks(video.frames, detect_every=5)
    assert track.valid[:5].all()  # the face is there at the start
    assert not track.valid[-5:].any()  # and gone at the end
    assert 0.2 < track.valid.mean() < 0.8
    # Once gone it does not come back: one contiguous valid run.
    assert np.count_nonzero(np.diff(track.valid.astype(int))) == 1
