"""Checks of notebook 02 (regions, wrinkle energy, attention; paper 3.1, Table 2, Figure 2).

Exercises 1 and 2 are recomputed with the kit on the built-in faces aligned at the grading
``crop_size`` (:func:`fer_kit.face.regions.attention_map`, :func:`fer_kit.face.regions.region_mask`,
:func:`fer_kit.face.wrinkles.wrinkle_energy`). Exercise 3 is derived from the region motion table the
notebook's own section 4 recorded (``region_change``), falling back on the solution run's. Exercise 4
(attention on the age regions) is recomputed with :func:`fer_kit.face.wrinkles.local_feature_map` under the
default weights and under :func:`fer_kit.face.regions.attention_weights` with ``age_regions=True``.
"""

from __future__ import annotations

from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import (
    Check,
    CheckContext,
    CheckFailed,
    expect_close,
    expect_mapping_close,
    expect_mapping_equal,
    reference,
)

FOCUS_REGIONS = ("mouth_corners", "nasolabial_folds")


@reference
def _aligned_faces(crop_size: int) -> dict:
    from fer_kit.datasets.synthetic.faces import builtin_faces
    from fer_kit.face.align import align_face

    return {face.face_id: align_face(face.image, face.landmarks, crop_size) for face in builtin_faces()}


@reference
def _attention_share(crop_size: int) -> float:
    from fer_kit.face.regions import attention_map, region_mask

    astronaut = _aligned_faces(crop_size)["astronaut"]
    heat = attention_map(astronaut.landmarks, crop_size)
    inside = region_mask(astronaut.landmarks, FOCUS_REGIONS[0], crop_size)
    for name in FOCUS_REGIONS[1:]:
        inside = inside | region_mask(astronaut.landmarks, name, crop_size)
    return float(heat[inside].sum() / heat.sum())


@reference
def _kept_energy(crop_size: int) -> dict[str, float]:
    from fer_kit.face.regions import attention_map
    from fer_kit.face.wrinkles import wrinkle_energy

    kept = {}
    for name, face in _aligned_faces(crop_size).items():
        energy = wrinkle_energy(face.image)
        kept[name] = float((attention_map(face.landmarks, crop_size) * energy).sum() / energy.sum())
    return kept


@reference
def _map_shares(crop_size: int) -> dict[str, dict[str, dict[str, float]]]:
    import numpy as np

    from fer_kit.face.regions import attention_weights, region_mask
    from fer_kit.face.wrinkles import local_feature_map

    shares: dict[str, dict[str, dict[str, float]]] = {}
    for name, face in _aligned_faces(crop_size).items():
        age = region_mask(face.landmarks, "forehead", crop_size) | region_mask(face.landmarks, "crows_feet", crop_size)
        corners = region_mask(face.landmarks, "mouth_corners", crop_size)
        shares[name] = {}
        for label, weights in (("default", None), ("age_regions", attention_weights(age_regions=True))):
            local = local_feature_map(face.image, face.landmarks, weights=weights).astype(np.float64)
            shares[name][label] = {"age": float(local[age].sum() / local.sum()),
                                   "mouth_corners": float(local[corners].sum() / local.sum())}
    return shares


def most_changed(motion: dict[str, dict[str, float]]) -> dict[str, str]:
    """Per emotion (not neutral), the region whose motion exceeds the neutral baseline the most."""
    labels = list(motion)
    regions = list(next(iter(motion.values())))
    if "neutral" in motion:
        baseline = motion["neutral"]
    else:
        baseline = {region: sum(motion[label][region] for label in labels) / len(labels) for region in regions}
    return {label: max(regions, key=lambda region: motion[label][region] - baseline[region])
            for label in labels if label != "neutral"}


def _motion(ctx: CheckContext) -> dict[str, Any]:
    for source in (ctx.results, ctx.reference):
        change = source.get("region_change")
        motion = change.get("motion") if isinstance(change, dict) else None
        if isinstance(motion, dict) and motion and all(isinstance(row, dict) and row for row in motion.values()):
            return motion
    raise CheckFailed("the region motion table of section 4 (`region_change`) was not recorded")


def check_attention_share(ctx: CheckContext) -> str:
    return expect_close(ctx.number("exercise_1_attention_share"), _attention_share(int(ctx.parameters["crop_size"])),
                        "exercise_1_attention_share", rtol=1e-3)


def check_kept_energy(ctx: CheckContext) -> str:
    return expect_mapping_close(ctx.value("exercise_2_kept_energy"), _kept_energy(int(ctx.parameters["crop_size"])),
                                "exercise_2_kept_energy", rtol=1e-3)


def check_most_changed(ctx: CheckContext) -> str:
    answer = ctx.value("exercise_3_most_changed")
    return expect_mapping_equal(answer, most_changed(_motion(ctx)), "exercise_3_most_changed")


def check_age_regions(ctx: CheckContext) -> str:
    return expect_mapping_close(ctx.value("exercise_4_age_regions"), _map_shares(int(ctx.parameters["crop_size"])),
                                "exercise_4_age_regions", rtol=1e-3, atol=1e-6)


ASSIGNMENT = Assignment(
    name="02_wrinkle_regions",
    title="Regions, wrinkles, attention: the local feature map",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "seed": 0, "per_class": 10,
                "videos_per_class": 2, "crop_size": 112},
    solution_run=True,
    checks=(
        Check("ex1_attention_share", 2, "share of the attention on the mouth corners and nasolabial folds",
              check_attention_share, ("exercise_1_attention_share",)),
        Check("ex2_kept_energy", 2, "fraction of each face's wrinkle energy the attention keeps",
              check_kept_energy, ("exercise_2_kept_energy",)),
        Check("ex3_most_changed", 4, "the region moving most beyond neutral, per emotion",
              check_most_changed, ("exercise_3_most_changed",)),
        Check("ex4_age_regions", 2, "share of the local map on the age regions and mouth corners, "
              "default weights vs age regions included", check_age_regions, ("exercise_4_age_regions",)),
    ),
)
