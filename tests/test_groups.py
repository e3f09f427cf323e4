"""The named 68-point groups, defined once, and the flip that mirrors their indices (paper 2.4, 3.1)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from fer_kit.face.groups import LANDMARK_GROUPS, MIRROR_68, eye_centres, flip_landmarks, named_landmarks
from fer_kit.face.landmarks import face_landmarks
from fer_kit.face.wrinkles import CONTOUR_PATHS


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return face_landmarks(skimage.data.astronaut())


def test_groups_cover_the_68_points_once() -> None:
    covered = np.concatenate([np.arange(68)[part] for part in LANDMARK_GROUPS.values()])
    np.testing.assert_array_equal(covered, np.arange(68))


def test_named_landmarks_hand_back_each_group(points) -> None:
    named = named_landmarks(points)
    assert list(named) == list(LANDMARK_GROUPS)
    assert named["left_eye"].shape == (6, 2) and named["chin"].shape == (17, 2)
    np.testing.assert_array_equal(named["outer_lips"][0], points[48])
    left, right = eye_centres(points)
    np.testing.assert_allclose(left, named["left_eye"].mean(axis=0))
    assert left[0] < right[0]  # "left" is the image's left
    with pytest.raises(ValueError, match="68 landmarks"):
        named_landmarks(points[:60])


def test_mirror_permutation_is_an_involution() -> None:
    assert sorted(MIRROR_68) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    assert MIRROR_68[36] == 45 and MIRROR_68[48] == 54 and MIRROR_68[8] == 8 and MIRROR_68[30] == 30


def test_flip_keeps_left_points_on_the_left(points) -> None:
    width = 512
    flipped = flip_landmarks(points, width)
    assert flipped[36, 0] < flipped[45, 0] and flipped[48, 0] < flipped[54, 0]
    np.testing.assert_allclose(flipped[36], [width - 1 - points[45, 0], points[45, 1]], atol=1e-4)
    np.testing.assert_allclose(flip_landmarks(flipped, width), points, atol=1e-3)


def test_the_contour_map_draws_the_named_groups() -> None:
    assert CONTOUR_PATHS == ((0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (30, 36, False),
                             (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True))


def test_the_student_api_is_lazy_and_complete() -> None:
    import subprocess
    import sys

    code = ("import sys, fer_kit; assert 'tensorflow' not in sys.modules and 'dlib' not in sys.modules; "
            "[getattr(fer_kit, name) for name in fer_kit.STUDENT_API]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
