"""Cross-validation by subject, the landmark-trajectory model, recipes and cross-corpus evaluation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from toyclips import write_toy_cache

from fer_kit.crossval import cross_validate, cross_validate_logistic, fold_subjects, late_fusion
from fer_kit.errors import DatasetLayoutError, ModelFileError
from fer_kit.model import build_model, model_inputs
from fer_kit.model.trajectory import trajectory_features
from fer_kit.training.clipset import load_clip_arrays, select_clips
from fer_kit.training.config import TrainConfig
from fer_kit.training.data import augment_batch

CLASSES = ("anger", "happiness", "surprise")
SUBJECTS = ("a", "b", "c", "d", "e", "f")


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory) -> Path:
    """3 classes x 3 clips x 6 subjects, whose landmarks move by class."""
    return write_toy_cache(tmp_path_factory.mktemp("cache"), classes=CLASSES, per_class=3, subjects=SUBJECTS)


def _config(cache: Path, out: Path, **overrides) -> TrainConfig:
    values = {"cache": cache, "out": out, "model": "landmarks", "preset": "tiny", "epochs": 12, "batch_size": 6,
              "tensorboard": False, "val_size": 0.0}
    return TrainConfig(**{**values, **overrides})


# ---------------------------------------------------------------- folds
def test_folds_are_subject_disjoint_and_cover_every_subject_once(toy_cache) -> None:
    rows = select_clips(toy_cache).rows
    folds = fold_subjects(rows, 3, seed=0)
    flat = [s for fold in folds for s in fold]
    assert sorted(flat) == sorted(SUBJECTS) and len(flat) == len(set(flat))
    assert [len(f) for f in folds] == [2, 2, 2]  # equal subjects: the folds are balanced
    assert fold_subjects(rows, 3, seed=0) == folds  # the plan is repeatable


def test_cross_validation_tests_every_clip_once_by_a_model_that_never_saw_its_subject(toy_cache, tmp_path) -> None:
    seen: list[int] = []
    result = cross_validate(_config(toy_cache, tmp_path / "cv"), folds=3, plots=True,
                            on_fold=lambda number, fold: seen.append(number))
    assert seen == [0, 1, 2]
    predictions = pd.read_csv(tmp_path / "cv" / "predictions.csv")
    index = pd.read_csv(toy_cache / "index.csv")
    assert sorted(predictions["path"]) == sorted(index["path"])  # every clip once
    for number in range(3):
        split = json.loads((tmp_path / "cv" / f"fold-{number:02d}" / "split.json").read_text())
        assert not set(split["train_subjects"]) & set(split["test_subjects"])
        assert split["validation_from"] == "none"  # the test fold is not used for early stopping
        tested = set(predictions.loc[predictions["fold"] == number, "subject"])
        assert tested == set(split["test_subjects"])
    assert result["clips"] == len(index) and np.sum(result["confusion"]) == len(index)
    accuracies = [fold["accuracy"] for fold in result["per_fold"]]
    assert result["accuracy_mean"] == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert result["accuracy_std"] == pytest.approx(np.std(accuracies), abs=1e-4)
    assert result["accuracy_mean"] > 0.6  # landmark motion tells the toy classes apart; chance is 1/3
    assert (tmp_path / "cv" / "confusion.png").stat().st_size > 0
    # a re-run reuses every fold; another k in the same folder is refused
    again = cross_validate(_config(toy_cache, tmp_path / "cv"), folds=3, plots=False)
    assert again["per_fold"][0]["accuracy"] == result["per_fold"][0]["accuracy"]
    with pytest.raises(ModelFileError, match="other folds"):
        cross_validate(_config(toy_cache, tmp_path / "cv"), folds=2)


def _predictions(folder: Path, probabilities: list[list[float]], labels: list[str], folds: list[int]) -> Path:
    """A cross-validation folder holding only ``predictions.csv`` (what :func:`late_fusion` reads)."""
    folder.mkdir(parents=True)
    table = pd.DataFrame({"path": [f"clips/{i}.npz" for i in range(len(labels))], "subject": "s", "label": labels,
                          "fold": folds})
    for j, name in enumerate(CLASSES):
        table[f"p_{name}"] = [row[j] for row in probabilities]
    table.sample(frac=1.0, random_state=0).to_csv(folder / "predictions.csv", index=False)  # any clip order
    return folder


def test_late_fusion_averages_probabilities_clip_by_clip(tmp_path) -> None:
    labels, folds = ["anger", "happiness", "surprise", "anger"], [0, 0, 1, 1]
    # each model is confidently wrong on one clip; the other is right there with more confidence
    one = _predictions(tmp_path / "one", [[.9, .1, 0], [.6, .4, 0], [0, .2, .8], [.2, .8, 0]], labels, folds)
    two = _predictions(tmp_path / "two", [[.8, .2, 0], [0, 1, 0], [.1, .1, .8], [.9, .1, 0]], labels, folds)
    assert late_fusion([one])["pooled_accuracy"] == 0.5
    fused = late_fusion([one, two])
    assert fused["pooled_accuracy"] == 1.0 and fused["accuracy_mean"] == 1.0
    assert [f["clips"] for f in fused["per_fold"]] == [2, 2]
    assert np.trace(fused["confusion"]) == 4
    three = _predictions(tmp_path / "three", [[1, 0, 0]] * 3, labels[:3], folds[:3])
    with pytest.raises(ModelFileError, match="differ"):
        late_fusion([one, three])
    with pytest.raises(ModelFileError, match="predictions.csv"):
        late_fusion([one, tmp_path])


def test_fer_kit_fuse_reports_the_fusion_of_two_cross_validations(tmp_path, capsys) -> None:
    from fer_kit.cli import main

    labels, folds = ["anger", "happiness", "surprise", "anger"], [0, 0, 1, 1]
    one = _predictions(tmp_path / "one", [[.9, .1, 0], [.6, .4, 0], [0, .2, .8], [.2, .8, 0]], labels, folds)
    two = _predictions(tmp_path / "two", [[.8, .2, 0], [0, 1, 0], [.1, .1, .8], [.9, .1, 0]], labels, folds)
    assert main(["fuse", str(one), str(two), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pooled_accuracy"] == 1.0 and result["of"] == [str(one), str(two)]
    assert main(["fuse", str(one), str(two)]) == 0
    assert "accuracy 100.0 +- 0.0%" in capsys.readouterr().out
    assert main(["fuse", str(one), str(tmp_path)]) == 2  # not a cross-validation: one line, no traceback
    error = capsys.readouterr().err
    assert "no predictions.csv" in error and "Traceback" not in error


def test_more_folds_than_subjects_is_one_clear_error(toy_cache, tmp_path) -> None:
    with pytest.raises(DatasetLayoutError, match="at least 7 subjects"):
        cross_validate(_config(toy_cache, tmp_path / "cv"), folds=7)


def test_logistic_baseline_uses_the_same_folds(toy_cache) -> None:
    result = cross_validate_logistic(toy_cache, folds=3)
    assert len(result["per_fold"]) == 3 and result["clips"] == 3 * 3 * 6
    assert result["accuracy_mean"] > 0.6


def test_cv_command_prints_one_json_object(toy_cache, tmp_path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "fer_kit.cli", "cv", "--cache", str(toy_cache), "--model", "landmarks", "--preset",
         "tiny", "--folds", "2", "--epochs", "2", "--out", str(tmp_path / "cv"), "--no-tensorboard", "--no-plots",
         "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["k"] == 2 and result["train"]["recipe"] == "kit"
    bad = subprocess.run([sys.executable, "-m", "fer_kit.cli", "cv", "--cache", str(toy_cache), "--preset", "tiny",
                          "--folds", "1", "--out", str(tmp_path / "x")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "folds must be at least 2" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- the landmark model
def test_trajectory_features_ignore_where_and_how_large_the_face_is(toy_cache) -> None:
    _, _, landmarks = load_clip_arrays(select_clips(toy_cache).paths[:4], landmarks=True)
    features = np.asarray(trajectory_features(landmarks))
    moved = np.asarray(trajectory_features(landmarks * 2.5 + np.array([7.0, -3.0], np.float32)))
    assert features.shape == (4, 16, 272)
    np.testing.assert_allclose(features, moved, atol=1e-4)
    np.testing.assert_allclose(features[:, 0, 136:], 0.0, atol=1e-6)  # no motion in the first frame
    assert np.abs(features[:, -1, 136:]).max() > 0.05  # the mouth moved by the last frame


def test_landmark_model_reads_landmarks_only() -> None:
    model = build_model("landmarks", "tiny", num_classes=7)
    assert model_inputs("landmarks") == ("landmarks",)
    assert list(model.input) == ["landmarks"]
    out = model.predict_on_batch({"landmarks": np.random.default_rng(0).uniform(0, 32, (2, 16, 68, 2))})
    np.testing.assert_allclose(out["fused"].sum(axis=1), 1.0, atol=1e-5)
    assert model.count_params() < 200_000


def test_augmentation_moves_the_landmarks_with_the_pixels() -> None:
    """A bright dot drawn at a clip's landmark stays under the landmark after a flip and a rotation."""
    rng = np.random.default_rng(0)
    size, batch = 32, 8
    spot = rng.uniform(4, 28, (batch, 1, 1, 2)).astype(np.float32)  # every landmark of a clip at one spot
    points = np.broadcast_to(spot, (batch, 2, 68, 2)).copy()
    faces = np.zeros((batch, 2, size, size, 3), np.uint8)
    for b in range(batch):
        x, y = np.round(spot[b, 0, 0]).astype(int)
        faces[b, :, y - 1 : y + 2, x - 1 : x + 2] = 255  # a 3 x 3 dot
    local = np.zeros((batch, 2, size, size, 1), np.uint8)

    def brightness(images, where):
        return np.mean([images[b, 0, int(round(where[b, 0, 0, 1])), int(round(where[b, 0, 0, 0])), 0]
                        for b in range(batch)])

    for seed in range(3):
        out_faces, _, out_points = augment_batch(tf.constant(faces), tf.constant(local), tf.constant([seed, 1], tf.int64),
                                                 landmarks=tf.constant(points))
        out_faces, out_points = out_faces.numpy(), out_points.numpy()
        assert brightness(out_faces, out_points) > 200  # under the moved landmark: the dot
        assert brightness(out_faces, points) < brightness(out_faces, out_points) - 60  # where it was: mostly gone


def test_mirrored_landmarks_swap_left_and_right() -> None:
    from fer_kit.face.groups import MIRROR_68
    from fer_kit.training.data import transform_landmarks

    points = np.random.default_rng(1).uniform(0, 31, (1, 1, 68, 2)).astype(np.float32)
    identity_flip = tf.constant([[-1.0, 0.0, 31.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    flipped = transform_landmarks(tf.constant(points), identity_flip, tf.constant([True])).numpy()
    np.testing.assert_allclose(flipped[0, 0, :, 0], 31.0 - points[0, 0, MIRROR_68, 0], atol=1e-5)
    np.testing.assert_allclose(flipped[0, 0, 48], [31.0 - points[0, 0, 54, 0], points[0, 0, 54, 1]], atol=1e-5)


# ---------------------------------------------------------------- recipes
def test_recipes_fill_what_is_not_given() -> None:
    kit = TrainConfig(cache="c", out="o")
    paper = TrainConfig(cache="c", out="o", recipe="paper")
    assert (kit.recipe, kit.optimizer, kit.lr_schedule, kit.val_size) == ("kit", "adam", "cosine", 0.0)
    assert (paper.optimizer, paper.learning_rate, paper.final_learning_rate) == ("sgd", 0.01, 0.0001)
    assert (paper.lr_schedule, paper.weight_decay, paper.val_size) == ("exponential", 0.0005, 0.2)
    assert TrainConfig(cache="c", out="o", recipe="paper", learning_rate=0.05).learning_rate == 0.05
    assert TrainConfig.from_dict(paper.to_dict()) == paper
    with pytest.raises(ValueError, match="unknown recipe"):
        TrainConfig(cache="c", out="o", recipe="fast")


def test_the_kit_recipe_averages_two_seeds_with_the_lite_preset_only() -> None:
    """``lite`` + ``kit``: an ensemble of two (CK+'s seed spread); the course and grading (``tiny``) and ``paper`` train one."""
    lite = TrainConfig(cache="c", out="o", preset="lite")
    assert lite.members == 2
    assert TrainConfig(cache="c", out="o", preset="tiny").members == 1
    assert TrainConfig(cache="c", out="o", preset="paper").members == 1
    assert TrainConfig(cache="c", out="o", preset="lite", recipe="paper").members == 1
    assert TrainConfig(cache="c", out="o", preset="lite", members=1).members == 1  # an explicit value wins
    assert TrainConfig(cache="c", out="o", preset="tiny", members=3).members == 3
    assert TrainConfig(cache="c", out="o", preset="lite", distribute="multiworker").members == 1  # one machine each
    assert TrainConfig.from_dict(lite.to_dict()) == lite
    # a run saved before the kit trained ensembles (members absent) was one network, whatever its preset
    old = {k: v for k, v in lite.to_dict().items() if k != "members"}
    assert TrainConfig.from_dict(old).members == 1


def test_train_command_records_the_recipe(toy_cache, tmp_path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "fer_kit.cli", "train", "--cache", str(toy_cache), "--model", "landmarks",
         "--preset", "tiny", "--recipe", "paper", "--epochs", "1", "--out", str(out), "--no-tensorboard"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["recipe"], saved["optimizer"], saved["learning_rate"], saved["val_size"]) == ("paper", "sgd", 0.01, 0.2)
    assert json.loads((out / "split.json").read_text())["validation_from"] == "train"


# ---------------------------------------------------------------- cross-corpus evaluation
def test_a_run_scores_another_cache_and_counts_the_classes_it_does_not_know(toy_cache, tmp_path) -> None:
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.train import train

    run = train(_config(toy_cache, tmp_path / "run", epochs=2, test_subjects=("a",)), verbose=0)
    other = write_toy_cache(tmp_path / "other", classes=("anger", "happiness", "surprise", "fear"), per_class=2,
                            subjects=("x", "y"), seed=5, dataset="other")
    with pytest.raises(DatasetLayoutError, match="--split all"):
        evaluate_run(run, cache=other)  # the test clips of the run are not in the other cache
    metrics = evaluate_run(run, cache=other, split="all", plots=False)
    assert metrics["clips"] == 3 * 2 * 2  # fear is not a class of the run ...
    assert metrics["left_out"] == {"fear": 4}  # ... and is counted, not silently dropped
    assert metrics["classes"] == list(CLASSES)
    assert Path(metrics["output_dir"]).name == "evaluation-all-other"
    with pytest.raises(ModelFileError, match="needs the cache"):
        evaluate_run(run, split="all")
