"""Flip (with landmark mirroring) and small rotations, identical for both streams (paper 2.4)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from fer_kit.align import align_face, eye_angle
from fer_kit.augment import MIRROR_68, ROTATION_ANGLES, augmentations, flip_clip, random_augment, rotate_clip
from fer_kit.landmarks import face_landmarks
from fer_kit.wrinkles import local_feature_map


@pytest.fixture(scope="module")
def clip():
    image = skimage.data.astronaut()
    aligned = align_face(image, face_landmarks(image), 64)
    faces = np.stack([aligned.image] * 3)
    local = np.stack([local_feature_map(aligned.image, aligned.landmarks)[:, :, None]] * 3)
    landmarks = np.stack([aligned.landmarks] * 3)
    return faces, local, landmarks


def test_mirror_permutation_is_an_involution() -> None:
    assert sorted(MIRROR_68) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    assert MIRROR_68[36] == 45 and MIRROR_68[48] == 54 and MIRROR_68[8] == 8 and MIRROR_68[30] == 30


def test_flip_twice_is_identity(clip) -> None:
    faces, local, landmarks = clip
    once = flip_clip(faces, local, landmarks)
    twice = flip_clip(*once)
    np.testing.assert_array_equal(twice[0], faces)
    np.testing.assert_array_equal(twice[1], local)
    np.testing.assert_allclose(twice[2], landmarks, atol=1e-4)
    assert not np.array_equal(once[0], faces)


def test_flip_keeps_left_points_on_the_left(clip) -> None:
    faces, local, landmarks = clip
    f_faces, f_local, f_lm = flip_clip(faces, local, landmarks)
    # After the flip, point 36 (outer corner of the image-left eye) is still on the left of point 45.
    assert (f_lm[:, 36, 0] < f_lm[:, 45, 0]).all()
    assert (f_lm[:, 48, 0] < f_lm[:, 54, 0]).all()
    # Each point sits on the mirrored pixel of its mirror partner.
    x, y = np.round(f_lm[0, 36]).astype(int)
    ox, oy = np.round(landmarks[0, 45]).astype(int)
    assert x == 63 - ox and y == oy
    np.testing.assert_array_equal(f_local[0, :, ::-1], local[0])


def test_rotation_turns_both_streams_and_landmarks(clip) -> None:
    faces, local, landmarks = clip
    for angle in ROTATION_ANGLES:
        r_faces, r_local, r_lm = rotate_clip(faces, local, landmarks, angle)
        assert r_faces.shape == faces.shape and r_local.shape == local.shape and r_lm.shape == landmarks.shape
        # OpenCV angles are counter-clockwise on screen; image y points down, so the eye line tilts by -angle.
        assert eye_angle(r_lm[0]) == pytest.approx(eye_angle(landmarks[0]) - angle, abs=0.2)
    r_faces, r_local, r_lm = rotate_clip(faces, local, landmarks, 9)
    back = rotate_clip(r_faces, r_local, r_lm, -9)
    np.testing.assert_allclose(back[2], landmarks, atol=1e-3)
    centre = slice(20, 44)
    assert np.abs(back[0][:, centre, centre].astype(int) - faces[:, centre, centre]).mean() < 12


def test_augmentations_and_random_augment(clip) -> None:
    faces, local, landmarks = clip
    names = [name for name, _ in augmentations(faces, local, landmarks)]
    assert names == ["flip", "rotate-9", "rotate-6", "rotate-3", "rotate+3", "rotate+6", "rotate+9"]
    rng = np.random.default_rng(0)
    outputs = [random_augment(faces, local, landmarks, rng) for _ in range(20)]
    changed = sum(not np.array_equal(o[2], landmarks) for o in outputs)
    assert 5 < changed <= 20
