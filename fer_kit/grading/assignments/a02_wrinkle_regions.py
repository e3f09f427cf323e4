"""Checks of notebook 02 (regions, wrinkle energy, attention; paper 3.1, Table 2, Figure 2).

Every exercise is a function the hidden tests call in the student's kernel (:mod:`fer_kit.grading.hidden`),
on faces no student has seen: the built-in photos aligned at the grading ``crop_size``, then shifted,
jittered and re-lit (:mod:`.hidden_faces`). References are computed with the kit:

1. ``attention_share(landmarks, size)``: the share of :func:`fer_kit.face.regions.attention_map` inside
   the mouth corners and nasolabial folds (:func:`fer_kit.face.regions.region_mask`), at hidden sizes;
2. ``kept_energy(image, landmarks)``: the fraction of :func:`fer_kit.face.wrinkles.wrinkle_energy` the
   attention keeps;
3. ``most_changed(motion)`` on random region motion tables (with and without neutral clips),
   against :func:`most_changed`;
4. ``map_shares(image, landmarks, weights)``: the shares of :func:`fer_kit.face.wrinkles.local_feature_map`
   on the age regions and the mouth corners, under the default weights, those of
   :func:`fer_kit.face.regions.attention_weights` with ``age_regions=True`` and random ones.
"""

from __future__ import annotations

import functools
from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check
from fer_kit.grading.hidden import Case, HiddenTest, close, equal, mapping

from .hidden_faces import hidden_aligned_face

FOCUS_REGIONS = ("mouth_corners", "nasolabial_folds")
AGE_REGIONS = ("forehead", "crows_feet")


def _union(mask_of: Any, names: tuple[str, ...]) -> Any:
    """The union of the masks ``mask_of(name)`` (a pixel counted once)."""
    inside = mask_of(names[0])
    for name in names[1:]:
        inside = inside | mask_of(name)
    return inside


def attention_share(landmarks: Any, size: int) -> float:
    """Exercise 1's reference: the share of the attention mass on the mouth corners and nasolabial folds."""
    from fer_kit.face.regions import attention_map, region_mask

    heat = attention_map(landmarks, size)
    inside = _union(lambda name: region_mask(landmarks, name, size), FOCUS_REGIONS)
    return float(heat[inside].sum() / heat.sum())


def kept_energy(image: Any, landmarks: Any) -> float:
    """Exercise 2's reference: the fraction of the crop's ridge wrinkle energy the attention keeps."""
    from fer_kit.face.regions import attention_map
    from fer_kit.face.wrinkles import wrinkle_energy

    energy = wrinkle_energy(image)
    return float((attention_map(landmarks, image.shape[0]) * energy).sum() / energy.sum())


def map_shares(image: Any, landmarks: Any, weights: dict | None) -> dict[str, float]:
    """Exercise 4's reference: the local map's shares on the age regions and on the mouth corners."""
    import numpy as np

    from fer_kit.face.regions import region_mask
    from fer_kit.face.wrinkles import local_feature_map

    size = image.shape[0]
    local = local_feature_map(image, landmarks, weights=weights).astype(np.float64)
    age = _union(lambda name: region_mask(landmarks, name, size), AGE_REGIONS)
    corners = region_mask(landmarks, "mouth_corners", size)
    return {"age": float(local[age].sum() / local.sum()), "mouth_corners": float(local[corners].sum() / local.sum())}


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


def _attention_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for size in (int(parameters["crop_size"]), int(rng.choice([80, 96, 128, 144]))):
        _, landmarks = hidden_aligned_face(rng, size)
        cases.append(Case((landmarks, size), label="hidden face"))
    return cases


def _face_cases(rng: Any, parameters: dict) -> list[Case]:
    return [Case(hidden_aligned_face(rng, int(parameters["crop_size"])), label="hidden face") for _ in range(2)]


def _motion_cases(rng: Any, parameters: dict) -> list[Case]:
    import pandas as pd

    from fer_kit.face.regions import REGION_NAMES
    from fer_kit.labels import EMOTIONS

    cases = []
    for with_neutral in (True, bool(rng.integers(2)), False):
        labels = [label for label in EMOTIONS if label != "neutral" and rng.random() < 0.8] or ["happiness"]
        labels = sorted([*labels, "neutral"]) if with_neutral else labels
        values = rng.uniform(0.0, 0.2, (len(labels), len(REGION_NAMES)))
        cases.append(Case((pd.DataFrame(values, index=labels, columns=list(REGION_NAMES)),), label="hidden table"))
    return cases


def _weights_cases(rng: Any, parameters: dict) -> list[Case]:
    from fer_kit.face.regions import REGION_NAMES, attention_weights

    random = {name: round(float(rng.uniform(0.0, 1.0)), 3) for name in REGION_NAMES}
    size = int(parameters["crop_size"])
    return [Case((*hidden_aligned_face(rng, size), weights), label="hidden face")
            for weights in (None, attention_weights(age_regions=True), random)]


def _on(function: Any) -> Any:
    """``function`` as a hidden test's reference (which also receives the check context, unused here)."""
    return functools.partial(_call, function)


def _call(function: Any, ctx: Any, *args: Any) -> Any:
    return function(*args)


def _most_changed_reference(ctx: Any, motion: Any) -> dict[str, str]:
    return most_changed(motion.to_dict("index"))


ASSIGNMENT = Assignment(
    name="02_wrinkle_regions",
    title="Regions, wrinkles, attention: the local feature map",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "seed": 0, "per_class": 10,
                "videos_per_class": 2, "crop_size": 112},
    solution_run=True,
    checks=(
        Check("ex1_attention_share", 2, "attention_share(landmarks, size): the attention on the mouth corners and "
              "nasolabial folds", None, ("exercise_1_attention_share",),
              hidden=HiddenTest("attention_share", _attention_cases, _on(attention_share),
                                close(rtol=1e-4), seconds=20)),
        Check("ex2_kept_energy", 2, "kept_energy(image, landmarks): the wrinkle energy the attention keeps", None,
              ("exercise_2_kept_energy",),
              hidden=HiddenTest("kept_energy", _face_cases, _on(kept_energy), close(rtol=1e-4),
                                seconds=20)),
        Check("ex3_most_changed", 4, "most_changed(motion): the region moving most beyond neutral, per emotion",
              None, ("exercise_3_most_changed",),
              hidden=HiddenTest("most_changed", _motion_cases, _most_changed_reference,
                                mapping(equal()), seconds=10)),
        Check("ex4_age_regions", 2, "map_shares(image, landmarks, weights): the local map's shares on the age regions "
              "and mouth corners", None, ("exercise_4_age_regions",),
              hidden=HiddenTest("map_shares", _weights_cases, _on(map_shares),
                                mapping(close(rtol=1e-4, atol=1e-7)), seconds=20)),
    ),
)
