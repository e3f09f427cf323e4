"""Alignment: eye centres level at fixed positions, landmarks carried with the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from fer_kit.face.align import LEFT_EYE_POSITION, RIGHT_EYE_POSITION, align_face, eye_angle, eye_centres
from fer_kit.face.landmarks import face_landmarks


@pytest.fixture(scope="module")
def astronaut():
    image = skimage.data.astronaut()
    landmarks = face_landmarks(image)
    assert landmarks is not None
    return image, landmarks


def test_eyes_land_on_fixed_positions(astronaut) -> None:
    image, landmarks = astronaut
    aligned = align_face(image, landmarks, size=112)
    assert aligned.image.shape == (112, 112, 3) and aligned.image.dtype == np.uint8
    left, right = eye_centres(aligned.landmarks)
    np.testing.assert_allclose(left, np.array(LEFT_EYE_POSITION) * 112, atol=0.05)
    np.testing.assert_allclose(right, np.array(RIGHT_EYE_POSITION) * 112, atol=0.05)
    # The whole face (jaw, brows, mouth) lies inside the crop.
    assert aligned.landmarks.min() > 0 and aligned.landmarks.max() < 112


def test_rotated_face_realigns_level(astronaut) -> None:
    image, _ = astronaut
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    rotated = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    landmarks = face_landmarks(rotated, upsample=1)
    assert landmarks is not None
    assert abs(eye_angle(landmarks)) > 12  # the input really is tilted
    aligned = align_face(rotated, landmarks, 96)
    assert abs(eye_angle(aligned.landmarks)) < 0.5
    # The aligned crop is a face the detector finds again, level.
    again = face_landmarks(cv2.resize(aligned.image, (300, 300)), upsample=1)
    assert again is not None and abs(eye_angle(again)) < 5


def test_landmarks_follow_the_image(astronaut) -> None:
    """A landmark's pixel in the crop shows the same content as in the source image."""
    image, landmarks = astronaut
    aligned = align_face(image, landmarks, 112)
    for i in (30, 36, 48, 54):
        x, y = aligned.landmarks[i]
        sx, sy = landmarks[i]
        crop_patch = aligned.image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2].mean(axis=(0, 1))
        source_patch = image[int(sy) - 1 : int(sy) + 2, int(sx) - 1 : int(sx) + 2].mean(axis=(0, 1))
        assert np.abs(crop_patch - source_patch).max() < 40


def test_coincident_eyes_are_rejected() -> None:
    with pytest.raises(ValueError, match="eye"):
        align_face(np.zeros((50, 50, 3), np.uint8), np.zeros((68, 2), np.float32))
