"""Is the synthetic data usable? dlib finds the faces, preprocessing accepts the clips, emotions are separable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_kit.datasets.synthetic.generate import generate_synthetic
from fer_kit.labels import EMOTIONS


def face_found_fraction(folder: Path, table) -> float:
    from fer_kit.clips.video import read_video
    from fer_kit.face.landmarks import detect_faces

    found = total = 0
    for source in table.source:
        for frame in read_video(folder / source).frames:
            found += bool(detect_faces(frame, upsample=0))
            total += 1
    return found / total


@pytest.fixture(scope="module")
def builtin_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    return out, generate_synthetic(out, per_class=2, length=8, progress=False)


def test_dlib_finds_the_face_in_the_built_in_clips(builtin_set) -> None:
    out, table = builtin_set
    assert len(table) == 14 and set(table.label) == set(EMOTIONS)
    assert face_found_fraction(out, table) >= 0.95


def test_preprocessing_accepts_the_synthetic_clips(builtin_set) -> None:
    from fer_kit.clips.preprocess import PreprocessSettings, preprocess_video

    out, table = builtin_set
    settings = PreprocessSettings.from_preset("tiny")
    for emotion in ("surprise", "happiness"):
        row = table[table.label == emotion].iloc[0]
        clip = preprocess_video(out / row.source, settings, label=emotion, subject=row.subject, dataset="synthetic")
        assert clip.valid.mean() >= 0.95
        assert clip.faces.shape[0] == settings.frames


@pytest.mark.slow
def test_dlib_finds_animated_helen_faces(landmarks68_dir: Path, tmp_path: Path) -> None:
    table = generate_synthetic(tmp_path, faces=landmarks68_dir / "helen-train", builtin=False, per_class=12,
                               length=8, progress=False)
    assert table.subject.nunique() == 12 and (table.groupby("subject").label.nunique() == 7).all()
    assert face_found_fraction(tmp_path, table) >= 0.95


@pytest.mark.slow
def test_emotions_are_separable_across_identities(landmarks68_dir: Path, tmp_path: Path) -> None:
    """Landmark motion found by dlib (first -> last frame) tells the emotions apart on unseen people."""
    from fer_kit.clips.video import read_video
    from fer_kit.datasets.synthetic.action_units import to_face_units
    from fer_kit.face.landmarks import face_landmarks

    table = generate_synthetic(tmp_path, faces=landmarks68_dir / "helen-train", builtin=False, per_class=24,
                               length=8, progress=False)
    features, labels, subjects = [], [], []
    for source, label, subject in zip(table.source, table.label, table.subject, strict=True):
        video = read_video(tmp_path / source, indices=[0, 7])
        first, last = (face_landmarks(frame, upsample=0) for frame in video.frames)
        if first is None or last is None:
            continue
        features.append((to_face_units(last) - to_face_units(first)).ravel())
        labels.append(label)
        subjects.append(subject)
    features, labels, subjects = np.array(features), np.array(labels), np.array(subjects)
    test = np.isin(subjects, sorted(set(subjects))[:6])  # six people never seen in training
    centroids = {e: features[~test & (labels == e)].mean(axis=0) for e in EMOTIONS}
    predicted = [min(centroids, key=lambda e: np.linalg.norm(f - centroids[e])) for f in features[test]]
    accuracy = float(np.mean(np.array(predicted) == labels[test]))
    assert accuracy >= 0.6, accuracy  # chance is 1/7
