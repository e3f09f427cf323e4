"""Wrinkle energy, contour raster and the local feature map (paper 3.1)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from fer_kit.face.align import align_face
from fer_kit.face.landmarks import face_landmarks
from fer_kit.face.regions import region_mask
from fer_kit.face.wrinkles import contour_raster, local_feature_map, region_wrinkle_energy, wrinkle_energy


@pytest.fixture(scope="module")
def aligned():
    image = skimage.data.astronaut()
    return align_face(image, face_landmarks(image), 112)


@pytest.mark.parametrize("method", ["ridge", "gabor"])
def test_dark_line_gives_energy_flat_skin_none(method) -> None:
    skin = np.full((112, 112), 180, np.uint8)
    assert wrinkle_energy(skin, method).max() < 1e-3
    lined = skin.copy()
    lined[50:52, 20:90] = 90  # a dark horizontal crease
    energy = wrinkle_energy(lined, method)
    assert energy.dtype == np.float32 and energy.min() >= 0.0 and energy.max() <= 1.0
    assert energy[48:54, 30:80].max(axis=0).min() > 0.8  # strong all along the crease
    assert energy[10:30, :].max() < 0.05  # far from the crease
    bright = skin.copy()
    bright[50:52, 20:90] = 255  # a bright line is not a wrinkle
    assert wrinkle_energy(bright, method)[50:52, 30:80].mean() < 0.2


def test_wrinkle_energy_finds_oriented_lines_of_every_angle() -> None:
    import cv2

    for angle in (0, 30, 60, 90, 135):
        canvas = np.full((112, 112), 180, np.uint8)
        direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        a, b = (56 - 40 * direction).astype(int), (56 + 40 * direction).astype(int)
        cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), 90, 2)
        energy = wrinkle_energy(canvas)
        assert energy[54:59, 54:59].max() > 0.5, angle


def test_contour_raster_draws_the_shape(aligned) -> None:
    raster = contour_raster(aligned.landmarks, 112)
    assert raster.shape == (112, 112) and raster.max() == pytest.approx(1.0, abs=0.01)
    x, y = np.round(aligned.landmarks[8]).astype(int)  # chin point is on the jaw line
    assert raster[y - 1 : y + 2, x - 1 : x + 2].max() > 0.3
    assert raster[:5].max() == 0.0  # nothing above the forehead


def test_local_map_components_switch(aligned) -> None:
    face, lm = aligned.image, aligned.landmarks
    full = local_feature_map(face, lm)
    assert full.dtype == np.uint8 and full.shape == (112, 112)
    forehead = region_mask(lm, "forehead", 112)
    contour_only = local_feature_map(face, lm, wrinkles=False, attention=False)
    no_contour = local_feature_map(face, lm, contour=False)
    nothing = local_feature_map(face, lm, wrinkles=False, attention=False, contour=False)
    assert nothing.max() == 0
    np.testing.assert_array_equal(contour_only > 0, contour_raster(lm, 112) > 0)
    # Attention excludes the forehead: no wrinkle energy there, only in the weighted regions.
    assert no_contour[forehead].max() == 0
    assert no_contour[region_mask(lm, "mouth_corners", 112)].mean() > 0
    unweighted = local_feature_map(face, lm, attention=False, contour=False)
    assert unweighted[forehead].mean() > no_contour[forehead].mean()
    assert full.astype(int).sum() > no_contour.astype(int).sum()


def test_region_wrinkle_energy_reports_every_region(aligned) -> None:
    energies = region_wrinkle_energy(aligned.image, aligned.landmarks)
    assert set(energies) >= {"mouth_corners", "nasolabial_folds", "forehead", "crows_feet"}
    assert all(0.0 <= v <= 1.0 for v in energies.values())
    assert energies["mouth"] > 0.05  # lips and teeth edges
