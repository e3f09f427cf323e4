"""Two small experiments of the course: ERT cascade depth, and how much each facial region changes.

:func:`compare_cascades` (chapter 01, paper eq. 2 and Algorithm 1). dlib does not expose the
intermediate shapes ``S(t)`` of a trained cascade, so the effect of the cascade is shown by
training one predictor per number of levels ``T`` on the same faces (same trees per level)
and measuring each one's NME on held-out faces, beside the pretrained 68-point model.

:func:`region_change` (chapter 02, paper 3.1 "the influence of different facial organs"):
for a video, the first frame is the neutral face and the apex is the frame whose aligned
landmarks are farthest from it. For every region of :data:`fer_kit.face.regions.REGION_NAMES`
it measures, between the two aligned crops,

- ``motion``: mean displacement of the region polygon's vertices, in eye-centre distances
  (the polygons are built from the landmarks, so this is the landmarks' motion there);
- ``texture``: mean absolute change of the wrinkle energy inside the region;
- ``appearance``: mean absolute change of the grey level inside the region (0-1 scale).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from fer_kit.face.regions import REGION_NAMES, REGION_PARTS

# ----------------------------------------------------------------------------- 01: ERT cascades


def landmark_samples(
    folder: str | Path, limit: int | None = None, test_fraction: float = 0.2, seed: int = 0, workers: int = 2
) -> tuple[list, list]:
    """Training and test faces (:class:`fer_kit.face.ert.ERTSample`) from a folder of image + ``.pts`` pairs.

    The first ``limit`` pairs (sorted by path) are used; they are split by
    :func:`fer_kit.face.ert.holdout_split` (a hash of each photo's name and ``seed``: reproducible,
    independent of the folder's order, faces cropped from one photo on the same side). Every face's box comes from the face detector
    (:func:`fer_kit.face.ert.build_samples`); training faces the detector misses keep a box derived
    from their points, test faces it misses are left out (as :func:`fer_kit.face.ert.evaluate_ert` does).
    """
    from fer_kit.face.ert import build_samples, find_annotated_images, holdout_split

    pairs = find_annotated_images(folder)[:limit]
    held_out = {image for image, _ in holdout_split(pairs, test_fraction, seed)[1]}
    is_test = [image in held_out for image, _ in pairs]
    samples = build_samples(pairs, workers=workers)
    train = [s for s, test in zip(samples, is_test, strict=True) if not test]
    test = [s for s, test in zip(samples, is_test, strict=True) if test and s.detected]
    return train, test


def predict_samples(samples: Sequence, predictor) -> np.ndarray:
    """Predicted landmarks ``float32[N, 68, 2]`` of each sample's face box (:class:`fer_kit.face.ert.ERTSample`)."""
    from fer_kit.face.landmarks import predict_landmarks
    from fer_kit.images import read_image

    return np.stack([predict_landmarks(read_image(s.image), s.box, predictor) for s in samples])


def sample_errors(samples: Sequence, predicted: np.ndarray) -> np.ndarray:
    """Per-face NME (inter-ocular normalised mean error, :func:`fer_kit.face.ert.nme`) of predictions."""
    from fer_kit.face.ert import nme

    return np.array([nme(p, s.points) for p, s in zip(predicted, samples, strict=True)])


def compare_cascades(
    train: Sequence,
    test: Sequence,
    levels: Iterable[int] = (1, 3, 10),
    out_dir: str | Path | None = None,
    pretrained: bool = True,
    **options,
) -> list[dict]:
    """Train one ERT per cascade depth in ``levels`` on ``train`` samples; evaluate all on ``test``.

    ``options`` go to :class:`fer_kit.face.ert.ERTOptions` (trees per level, tree depth, ...).
    Returns one row per model: ``name``, ``levels`` (0 for the pretrained model),
    ``nme_mean``, ``nme_median``, ``failure_rate`` (NME > 0.08), ``train_seconds``,
    ``errors`` (per test face) and ``predicted`` (``[N, 68, 2]``). With ``out_dir`` each
    model is saved as ``ert_<levels>.dat``.
    """
    from fer_kit.face.ert import FAILURE_NME, ERTOptions, train_on_samples
    from fer_kit.face.landmarks import load_predictor

    test = [s for s in test if s.detected]
    if not train or not test:
        raise ValueError(f"need training and test faces, got {len(train)} and {len(test)}")
    rows = []
    models = [("pretrained", 0, None)] if pretrained else []
    models += [(f"{n} level{'s' if n > 1 else ''}", int(n), n) for n in levels]
    for name, n_levels, depth in models:
        started = time.perf_counter()
        if depth is None:
            predictor, seconds = load_predictor(), 0.0
        else:
            predictor = train_on_samples(list(train), ERTOptions(cascade_depth=depth, **options))
            seconds = time.perf_counter() - started
            if out_dir is not None:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                predictor.save(str(Path(out_dir) / f"ert_{depth}.dat"))
        predicted = predict_samples(test, predictor)
        errors = sample_errors(test, predicted)
        rows.append({
            "name": name,
            "levels": n_levels,
            "nme_mean": float(errors.mean()),
            "nme_median": float(np.median(errors)),
            "failure_rate": float((errors > FAILURE_NME).mean()),
            "train_seconds": round(seconds, 2),
            "errors": errors,
            "predicted": predicted,
        })
    return rows


# ----------------------------------------------------------------------------- 02: region change


def _polygon_motion(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """Mean vertex displacement per region, in eye-centre distances of the neutral face."""
    from fer_kit.face.groups import eye_centres
    from fer_kit.face.regions import region_polygons

    first, last = region_polygons(before), region_polygons(after)
    left, right = eye_centres(before)
    d = max(float(np.linalg.norm(right - left)), 1e-6)
    return {region: float(np.mean([np.linalg.norm(last[p] - first[p], axis=1).mean() for p in REGION_PARTS[region]]))
            / d for region in REGION_NAMES}


def apex_frame(landmarks: np.ndarray, valid: np.ndarray | None = None) -> int:
    """Index of the frame whose (aligned) landmarks are farthest from the first frame's."""
    distance = np.linalg.norm(landmarks - landmarks[:1], axis=2).mean(axis=1)
    if valid is not None:
        distance = np.where(valid, distance, -1.0)
    return int(np.argmax(distance))


def region_change(
    faces: np.ndarray, landmarks: np.ndarray, valid: np.ndarray | None = None, apex: int | None = None
) -> dict:
    """How much each region changes from the first (neutral) frame to the apex (module doc).

    ``faces`` uint8[T, S, S, 3] aligned crops with their ``landmarks`` [T, 68, 2] (e.g. a
    :class:`fer_kit.clips.clip.Clip` or :func:`fer_kit.clips.preprocess.process_frames` output).
    Returns ``{"apex": index, "motion": {region: v}, "texture": {...}, "appearance": {...}}``.
    """
    from fer_kit.face.regions import region_mask
    from fer_kit.face.wrinkles import wrinkle_energy

    apex = apex_frame(landmarks, valid) if apex is None else int(apex)
    size = faces.shape[1:3]
    energy0, energy1 = wrinkle_energy(faces[0]), wrinkle_energy(faces[apex])
    gray0, gray1 = (faces[i].astype(np.float32).mean(axis=2) / 255.0 for i in (0, apex))
    texture, appearance = {}, {}
    for region in REGION_NAMES:
        mask = region_mask(landmarks[0], region, size) | region_mask(landmarks[apex], region, size)
        texture[region] = float(np.abs(energy1 - energy0)[mask].mean()) if mask.any() else 0.0
        appearance[region] = float(np.abs(gray1 - gray0)[mask].mean()) if mask.any() else 0.0
    return {"apex": apex, "motion": _polygon_motion(landmarks[0], landmarks[apex]), "texture": texture,
            "appearance": appearance}


def region_change_table(videos: Sequence[tuple[str | Path, str]], size: int = 112, frames: int = 16,
                        progress: bool = False):
    """:func:`region_change` for every ``(video, label)``: a long pandas table (video, label, measure, region, value).

    Each video is read in full (at most ``frames`` frames spread over it) and run through the
    face pipeline (:func:`fer_kit.clips.preprocess.process_frames`) at crop ``size``. Videos without
    a face are skipped and listed in ``table.attrs["skipped"]``.
    """
    import pandas as pd

    from fer_kit.clips.preprocess import PreprocessSettings, process_frames
    from fer_kit.clips.video import count_frames, read_video, sample_frame_indices
    from fer_kit.errors import FerKitError

    settings = PreprocessSettings(size=size, frames=frames, detect_every=1)
    rows, skipped = [], []
    iterator = videos
    if progress:
        from fer_kit.progress import progress_bar

        iterator = progress_bar(videos, desc="region change", unit="video")
    for path, label in iterator:
        try:
            n = count_frames(path)
            video = read_video(path, np.unique(sample_frame_indices(n, 0.0, frames=min(frames, n))))
            features = process_frames(video.frames, settings)
        except FerKitError as error:
            skipped.append(f"{path}: {error.problem}")
            continue
        change = region_change(features.faces, features.landmarks, features.valid)
        for measure in ("motion", "texture", "appearance"):
            rows.extend({"video": str(path), "label": label, "measure": measure, "region": region, "value": value}
                        for region, value in change[measure].items())
    table = pd.DataFrame(rows, columns=["video", "label", "measure", "region", "value"])
    table.attrs["skipped"] = skipped
    return table
