"""Named facial regions and the attention heatmap (paper 3.1, Table 2)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from fer_kit.face.align import align_face
from fer_kit.face.landmarks import face_landmarks
from fer_kit.face.regions import (
    ATTENTION_WEIGHTS,
    REGION_NAMES,
    REGION_PARTS,
    attention_map,
    region_mask,
    region_polygons,
)


@pytest.fixture(scope="module")
def aligned():
    image = skimage.data.astronaut()
    return align_face(image, face_landmarks(image), 112)


def test_every_region_has_a_nonempty_mask_inside_the_crop(aligned) -> None:
    polygons = region_polygons(aligned.landmarks)
    assert set(polygons) == {part for parts in REGION_PARTS.values() for part in parts}
    for name in REGION_NAMES:
        mask = region_mask(aligned.landmarks, name, 112)
        assert mask.shape == (112, 112) and mask.dtype == bool
        assert 10 < mask.sum() < 0.3 * 112 * 112, name


def test_regions_sit_where_anatomy_says(aligned) -> None:
    lm = aligned.landmarks

    def centre(name):
        ys, xs = np.nonzero(region_mask(lm, name, 112))
        return xs.mean(), ys.mean()

    assert centre("forehead")[1] < centre("brows")[1] < centre("eyes")[1] < centre("nose")[1] < centre("mouth")[1]
    # Mouth corners straddle the mouth; crow's feet lie outside the eye corners.
    left = region_mask(lm, "mouth_corner_left", 112)
    right = region_mask(lm, "mouth_corner_right", 112)
    assert np.nonzero(left)[1].mean() < lm[51, 0] < np.nonzero(right)[1].mean()
    crows = np.nonzero(region_mask(lm, "crows_feet_left", 112))[1]
    assert crows.mean() < lm[36, 0]
    # Nasolabial folds run between the nose wing and the mouth corner, beside the mouth.
    fold_y = np.nonzero(region_mask(lm, "nasolabial_fold_left", 112))[0].mean()
    assert lm[31, 1] - 5 < fold_y < lm[48, 1] + 10


def test_attention_favours_mouth_corners_and_folds_and_excludes_forehead(aligned) -> None:
    lm = aligned.landmarks
    heat = attention_map(lm, 112)
    assert heat.dtype == np.float32 and heat.shape == (112, 112)
    assert heat.min() >= 0.0 and heat.max() <= 1.0

    def mean_in(name):
        return heat[region_mask(lm, name, 112)].mean()

    assert mean_in("forehead") == 0.0 and mean_in("crows_feet") == 0.0
    strongest = min(mean_in("mouth_corners"), mean_in("nasolabial_folds"))
    for other in ("eyes", "brows", "nose"):
        assert strongest > mean_in(other)


def test_attention_weights_can_be_overridden(aligned) -> None:
    lm = aligned.landmarks
    heat = attention_map(lm, 112, weights={"forehead": 1.0, "mouth_corners": 0.0})
    assert heat[region_mask(lm, "forehead", 112)].mean() > 0.5
    assert heat[region_mask(lm, "mouth_corners", 112)].mean() == 0.0
    with pytest.raises(ValueError, match="unknown region"):
        attention_map(lm, 112, weights={"chin": 1.0})
    assert ATTENTION_WEIGHTS["forehead"] == 0.0 and ATTENTION_WEIGHTS["crows_feet"] == 0.0


def test_regions_follow_a_scaled_face(aligned) -> None:
    small = region_mask(aligned.landmarks, "mouth", 112).sum()
    big = region_mask(aligned.landmarks * 2, "mouth", 224).sum()
    assert big == pytest.approx(4 * small, rel=0.15)
