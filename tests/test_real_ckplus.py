"""On real faces: the shared CK+ sequences, people held out by subject (skipped without the shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_kit.clips.cache import build_cache
from fer_kit.clips.preprocess import PreprocessSettings
from fer_kit.crossval import cross_validate, cross_validate_logistic
from fer_kit.datasets import index_dataset
from fer_kit.training.clipset import select_clips
from fer_kit.training.config import TrainConfig


@pytest.fixture(scope="module")
def ckplus_cache(ckplus_dir: Path, tmp_path_factory) -> Path:
    """Every shared CK+ sequence as a ``tiny`` clip (about 3 s on two cores)."""
    out = tmp_path_factory.mktemp("ckplus") / "cache"
    report = build_cache(index_dataset(ckplus_dir, "ckplus"), out, PreprocessSettings.from_preset("tiny"),
                         workers=2, progress=False)
    assert report.failed == [], report.failed[:3]
    return out


def test_every_ckplus_sequence_becomes_a_clip_with_a_face(ckplus_cache) -> None:
    clips = select_clips(ckplus_cache)
    assert len(clips) == 202 and len(clips.subjects) == 77
    assert set(clips.classes) == {"anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"}
    valid = clips.rows["valid_fraction"].astype(float)
    assert (valid == 1.0).mean() > 0.95  # faces found in the 48 px frames (after the detector's upsampling)


def test_landmarks_of_real_faces_recognise_expressions_of_unseen_people(ckplus_cache) -> None:
    """The geometry baseline on 10 folds by subject: far above chance (1/7); 0.88 measured on the lite cache."""
    result = cross_validate_logistic(ckplus_cache, folds=10)
    assert result["accuracy_mean"] > 0.75 and result["macro_f1_mean"] > 0.6
    assert result["clips"] == 202 and np.sum(result["confusion"]) == 202


@pytest.mark.slow
def test_landmark_network_learns_real_expressions(ckplus_cache, tmp_path) -> None:
    """The landmark-trajectory network, trained by the kit's own training code, 3 folds by subject."""
    config = TrainConfig(cache=ckplus_cache, out=tmp_path / "cv", model="landmarks", preset="tiny",
                         tensorboard=False)
    result = cross_validate(config, folds=3, plots=False)
    assert result["accuracy_mean"] > 0.7, result["per_fold"]


@pytest.mark.slow
def test_course_opens_on_ckplus_from_a_relative_data_dir(ckplus_dir: Path, tmp_path, monkeypatch) -> None:
    """``fer-kit course run --dataset ckplus --data-dir <relative>``: 00 indexes the corpus, 01 explores a 48 px sequence."""
    import json
    import os

    from fer_kit.cli import main

    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(ckplus_dir, tmp_path)
    status = main(["course", "run", "--dataset", "ckplus", "--data-dir", relative, "--only", "00_setup", "01_ert_landmarks",
                   "--out", "course", "--json"])
    assert status == 0
    summary = json.loads((tmp_path / "course" / "summary.json").read_text())
    assert [run["status"] for run in summary["runs"]] == ["ok", "ok"]
    explorer = json.loads((tmp_path / "course" / "01_ert_landmarks" / "results.json").read_text())["explorer_reading"]
    assert explorer  # the explorer found the face in a CK+ sequence and read its selected region
