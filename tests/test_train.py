"""The input pipeline and training: augmentation, class weights, loss going down, resume, determinism."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from toyclips import write_toy_cache

from fer_kit.errors import DatasetLayoutError, ModelFileError
from fer_kit.training.clipset import class_weights, select_clips
from fer_kit.training.config import TrainConfig
from fer_kit.training.data import augment_batch, make_dataset
from fer_kit.training.runfolder import read_history
from fer_kit.training.train import train

CLASSES = ("anger", "happiness", "surprise")


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory) -> Path:
    """24 toy clips (tiny preset size): 3 classes x 2 clips x 4 subjects."""
    return write_toy_cache(tmp_path_factory.mktemp("cache"), classes=CLASSES, per_class=2, subjects=("a", "b", "c", "d"))


def _config(cache: Path, out: Path, **overrides) -> TrainConfig:
    values = {"cache": cache, "out": out, "preset": "tiny", "epochs": 3, "batch_size": 6, "tensorboard": False,
              "recipe": "paper"}
    return TrainConfig(**{**values, **overrides})


def test_select_clips_orders_classes_and_drops_unusable_rows(toy_cache, tmp_path) -> None:
    index = pd.read_csv(toy_cache / "index.csv", dtype=str, keep_default_na=False)
    index.loc[0, "label"] = ""
    index.loc[1, "valid_fraction"] = "0.1"
    index.loc[2, "label"] = "boredom"
    clips = select_clips(toy_cache, index=index)
    assert clips.classes == CLASSES  # kit order, not file order
    assert len(clips) == 21
    assert clips.dropped == {"unlabelled": 1, "few_faces": 1, "unknown_label": 1}
    assert select_clips(toy_cache, classes=("surprise", "anger")).labels.max() == 1
    with pytest.raises(DatasetLayoutError, match="index.csv"):
        select_clips(tmp_path)


def test_memory_and_stream_pipelines_give_the_same_batches(toy_cache) -> None:
    clips = select_clips(toy_cache)
    batches = {}
    for mode in ("memory", "stream"):
        dataset, info = make_dataset(clips, outputs=("fused", "global"), batch_size=5, mode=mode)
        assert info.mode == mode and info.batches == 5
        batches[mode] = list(dataset)
    x, y = batches["memory"][0]
    assert x["faces"].shape == (5, 16, 32, 32, 3) and x["local_maps"].shape == (5, 16, 32, 32, 1)
    assert x["faces"].dtype == tf.float32 and float(tf.reduce_max(x["faces"])) > 1.0  # raw 0..255
    np.testing.assert_array_equal(y["fused"].numpy(), clips.labels[:5])
    for (xm, ym), (xs, ys) in zip(batches["memory"], batches["stream"], strict=True):
        np.testing.assert_array_equal(xm["faces"].numpy(), xs["faces"].numpy())
        np.testing.assert_array_equal(ym["global"].numpy(), ys["global"].numpy())


def test_training_batches_are_shuffled_augmented_and_weighted(toy_cache) -> None:
    clips = select_clips(toy_cache)
    weights = np.array([1.0, 2.0, 3.0], np.float32)
    dataset, _ = make_dataset(clips, inputs=("faces",), batch_size=24, training=True, weights=weights, seed=3)
    x, y, w = next(iter(dataset))
    assert set(x) == {"faces"}
    labels = y["fused"].numpy()
    assert sorted(labels) == sorted(clips.labels) and not np.array_equal(labels, clips.labels)
    np.testing.assert_allclose(w.numpy(), weights[labels])
    x2, y2, _ = next(iter(dataset))  # a new epoch: a new order
    assert not np.array_equal(y2["fused"].numpy(), labels)


def test_augmentation_moves_both_streams_identically() -> None:
    rng = np.random.default_rng(0)
    faces = tf.constant(rng.uniform(0, 255, (6, 4, 24, 24, 3)).astype(np.float32))
    local = faces[..., :1]  # the local map equals the face's red channel
    out_faces, out_local = augment_batch(faces, local, tf.constant([1, 2], tf.int64))
    np.testing.assert_allclose(out_local.numpy(), out_faces.numpy()[..., :1], atol=1e-4)
    assert not np.allclose(out_faces.numpy(), faces.numpy())
    # flip only: every clip is either unchanged or mirrored left-right, all frames alike
    flipped, _ = augment_batch(faces, local, tf.constant([5, 6], tf.int64), rotations=())
    for i in range(6):
        same = np.allclose(flipped[i].numpy(), faces[i].numpy())
        mirrored = np.allclose(flipped[i].numpy(), faces[i].numpy()[:, :, ::-1])
        assert same or mirrored
    # rotation only: +-9 degrees at most, so the centre pixel stays put
    rotated, _ = augment_batch(faces, local, tf.constant([7, 8], tf.int64), flip=False)
    centre = faces.numpy()[:, :, 11:13, 11:13]
    np.testing.assert_allclose(rotated.numpy()[:, :, 11:13, 11:13].mean(), centre.mean(), rtol=0.05)


def test_balanced_class_weights() -> None:
    weights = class_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    np.testing.assert_allclose(weights, [6 / 9, 2.0, 1.0, 1.0])


@pytest.mark.slow
def test_tiny_training_lowers_the_loss_and_writes_the_run_folder(toy_cache, tmp_path) -> None:
    from fer_kit.cli import main

    out = tmp_path / "run"
    code = main(["train", "--cache", str(toy_cache), "--out", str(out), "--preset", "tiny", "--epochs", "3",
                 "--batch-size", "4", "--recipe", "paper", "--json"])
    assert code == 0
    for name in ("config.json", "split.json", "model.keras", "history.csv", "history.json", "summary.json"):
        assert (out / name).is_file(), name
    history = read_history(out)
    assert list(history["epoch"]) == [0, 1, 2]
    assert (out / "logs").is_dir()  # TensorBoard
    # the trained model fits its training clips better than chance (cross-entropy ln 3 of a uniform guess)
    from fer_kit.training.clipset import load_clip_arrays
    from fer_kit.training.runfolder import clips_from_record
    from fer_kit.training.runs import load_run, predict_probabilities

    clips = clips_from_record(json.loads((out / "split.json").read_text()), "train")
    probabilities = predict_probabilities(load_run(out), *load_clip_arrays(clips.paths))
    cross_entropy = -np.log(probabilities[np.arange(len(clips)), clips.labels]).mean()
    assert cross_entropy < np.log(3)
    assert (probabilities.argmax(axis=1) == clips.labels).mean() > 1 / 3
    assert history["learning_rate"].iloc[-1] == pytest.approx(1e-4, rel=1e-3)  # 0.01 -> 0.0001 (paper 4.1)
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train_subjects"]) & set(split["test_subjects"])
    assert not set(split["val_subjects"]) & set(split["test_subjects"])
    assert split["validation_from"] == "train"  # 3 subjects left after the test split: one validates
    assert len(split["val_subjects"]) == 1 and not set(split["val_subjects"]) & set(split["train_subjects"])
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == list(CLASSES) and config["train"]["lambda_global"] == 0.5
    # a finished run is not retrained; a different configuration in the same folder is refused
    same = _config(toy_cache, out, epochs=3, batch_size=4, tensorboard=True)
    assert train(same) == out
    with pytest.raises(ModelFileError, match="different configuration"):
        train(_config(toy_cache, out, epochs=5))


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)


def test_an_interrupted_run_resumes_after_its_last_epoch(toy_cache, tmp_path) -> None:
    config = _config(toy_cache, tmp_path / "run", model="cnn", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[_Interrupt()], verbose=0)
    assert list(read_history(config.out)["epoch"]) == [0]
    assert not (Path(config.out) / "model.keras").exists()
    epochs = _Epochs()
    train(config, callbacks=[epochs], verbose=0)
    assert epochs.begun == [1, 2]
    history = read_history(config.out)
    assert list(history["epoch"]) == [0, 1, 2]
    assert history["learning_rate"].is_monotonic_decreasing  # the schedule continued, it did not restart
    assert not (Path(config.out) / "backup").exists()
    summary = json.loads((Path(config.out) / "summary.json").read_text())
    assert summary["epochs_run"] == 3


def test_same_seed_same_run(toy_cache, tmp_path) -> None:
    histories = []
    for name in ("a", "b"):
        run = train(_config(toy_cache, tmp_path / name, epochs=1, model="cnn", seed=7), verbose=0)
        histories.append(read_history(run)[["loss", "accuracy", "val_loss"]].to_numpy())
    np.testing.assert_array_equal(histories[0], histories[1])  # shuffling, augmentation, init: all seeded


def test_a_run_moved_with_its_cache_is_reused_not_retrained(toy_cache, tmp_path) -> None:
    """Run and cache moved together: the same settings return the finished run, others are still refused."""
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.runfolder import clips_from_record

    work = tmp_path / "work"
    shutil.copytree(toy_cache, work / "cache")
    train(_config(work / "cache", work / "runs" / "r", model="cnn", epochs=1), verbose=0)
    moved = Path(shutil.move(work, tmp_path / "elsewhere" / "work"))
    run, cache = moved / "runs" / "r", moved / "cache"
    stamp = (run / "model.keras").stat().st_mtime_ns

    assert train(_config(cache, run, model="cnn", epochs=1), verbose=0) == run
    assert (run / "model.keras").stat().st_mtime_ns == stamp  # returned at once: nothing retrained
    with pytest.raises(ModelFileError, match="different configuration"):
        train(_config(cache, run, model="cnn", epochs=2), verbose=0)
    with pytest.raises(ModelFileError, match="different configuration"):
        train(_config(toy_cache, run, model="cnn", epochs=1), verbose=0)  # another cache

    record = json.loads((run / "split.json").read_text())
    assert record["train_cache_relative"] == "../../cache" and not Path(record["train_cache"]).exists()
    test = clips_from_record(record, "test", run_dir=run)
    assert all(Path(p).is_relative_to(cache) for p in test.paths)
    metrics = evaluate_run(run, write=False, plots=False)  # finds the moved cache by itself
    assert metrics["clips"] == len(test) > 0


def test_bad_settings_are_refused(toy_cache, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        _config(toy_cache, tmp_path, model="vgg")
    with pytest.raises(ValueError, match="test_size"):
        _config(toy_cache, tmp_path, test_size=0)
    with pytest.raises(DatasetLayoutError, match="preset 'lite'"):
        train(_config(toy_cache, tmp_path / "r", preset="lite"))
    with pytest.raises(ValueError, match="loss weights of eq. 8"):  # MC-DCN with nothing to learn from
        _config(toy_cache, tmp_path, fused_weight=0.0, lambda_global=0.0, lambda_local=0.0)
    with pytest.raises(ValueError, match="loss weights of eq. 8"):
        _config(toy_cache, tmp_path, lambda_local=-1.0)


def test_eq8_weights_apply_to_mcdcn_and_a_baseline_keeps_its_one_loss(toy_cache, tmp_path) -> None:
    from fer_kit.training.optim import loss_weights

    paper = _config(toy_cache, tmp_path, fused_weight=0.0, lambda_global=1.0, lambda_local=0.5)
    assert loss_weights(paper) == {"fused": 0.0, "global": 1.0, "local": 0.5}
    for kind in ("cnn", "c3d", "landmarks"):  # a fused weight of 0 must not leave a baseline without a loss
        assert loss_weights(_config(toy_cache, tmp_path, model=kind, fused_weight=0.0)) == {"fused": 1.0}


def test_label_smoothing_is_the_cross_entropy_against_smoothed_one_hot_targets(toy_cache, tmp_path) -> None:
    from fer_kit.training.optim import SmoothedSparseCategoricalCrossentropy, output_loss

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    smoothed = SmoothedSparseCategoricalCrossentropy(0.2)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(5)[labels], probabilities)
    assert float(smoothed(labels, probabilities)) == pytest.approx(float(reference), rel=1e-5)
    plain = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert float(SmoothedSparseCategoricalCrossentropy(0.0)(labels, probabilities)) == pytest.approx(plain, rel=1e-5)
    confident = np.eye(5, dtype=np.float32)[labels] * 0.999 + 0.001 / 5  # a model that fits every clip
    assert float(smoothed(labels, confident)) > 10 * float(keras.losses.SparseCategoricalCrossentropy()(labels, confident))
    assert isinstance(output_loss(_config(toy_cache, tmp_path)), keras.losses.SparseCategoricalCrossentropy)
    assert output_loss(_config(toy_cache, tmp_path, label_smoothing=0.1)).label_smoothing == pytest.approx(0.1)
    restored = keras.losses.deserialize(keras.losses.serialize(smoothed))
    assert restored.label_smoothing == pytest.approx(0.2)
    with pytest.raises(ValueError, match="label_smoothing"):
        _config(toy_cache, tmp_path, label_smoothing=1.0)


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train
    run = train(TrainConfig(cache=sys.argv[1], out=sys.argv[2], preset="tiny", epochs=1, batch_size=6,
                            distribute="mirrored", tensorboard=False), verbose=0)
    print(json.dumps(json.loads((run / "summary.json").read_text())))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(toy_cache, tmp_path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(toy_cache), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["devices"] == 2
    assert np.isfinite(read_history(tmp_path / "run")["loss"]).all()


# ---------------------------------------------------------------- stronger augmentation and mixup (our options)
def test_zoom_and_shift_move_faces_local_maps_and_landmarks_together() -> None:
    """A dot under every landmark: after zoom and shift the moved landmarks still sit on the dot, in both streams."""
    rng = np.random.default_rng(3)
    size, batch = 32, 8
    spot = rng.uniform(10, 22, (batch, 1, 1, 2)).astype(np.float32)
    points = np.broadcast_to(spot, (batch, 2, 68, 2)).copy()
    faces = np.zeros((batch, 2, size, size, 3), np.uint8)
    for b in range(batch):
        x, y = np.round(spot[b, 0, 0]).astype(int)
        faces[b, :, y - 1 : y + 2, x - 1 : x + 2] = 255
    local = faces[..., :1].copy()
    seed = tf.constant([4, 2], tf.int64)
    plain = augment_batch(tf.constant(faces), tf.constant(local), seed, landmarks=tf.constant(points))
    moved = augment_batch(tf.constant(faces), tf.constant(local), seed, landmarks=tf.constant(points),
                          zoom=0.2, shift=0.15)
    out_faces, out_local, out_points = (t.numpy() for t in moved)
    np.testing.assert_allclose(out_local, out_faces[..., :1], atol=1e-4)  # one resampling for both streams
    at = [out_faces[b, 0, int(round(out_points[b, 0, 0, 1])), int(round(out_points[b, 0, 0, 0])), 0]
          for b in range(batch)]
    assert np.mean(at) > 200  # the landmarks followed the dot
    distance = np.linalg.norm(out_points[:, 0, 0] - plain[2].numpy()[:, 0, 0], axis=-1)
    assert distance.max() > 1.5  # zoom and shift moved it beyond what flips and rotations did
    assert distance.max() <= np.sqrt(2) * 0.15 * size + 0.2 * size  # but no further than the limits allow


def test_mixup_blends_clips_targets_and_weights_with_one_share_per_clip() -> None:
    from fer_kit.training.data import mix_batch

    batch = 6
    values = np.arange(batch, dtype=np.float32)  # clip i is all i, of class i, with weight 10 + i
    streams = {"faces": tf.constant(np.broadcast_to(values[:, None, None], (batch, 4, 5)).copy()),
               "landmarks": tf.constant(np.broadcast_to(values[:, None], (batch, 3)).copy())}
    targets = tf.one_hot(np.arange(batch), batch)
    mixed, mixed_targets, mixed_weights = mix_batch(streams, targets, tf.constant(10 + values), tf.constant([1, 5], tf.int64),
                                                    alpha=0.4)
    rows = mixed_targets.numpy()
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)
    assert (np.count_nonzero(rows > 1e-6, axis=1) <= 2).all() and (rows.max(axis=1) < 0.999).any()
    expected_value = rows @ values  # the share of clip j in row i is the share of class j
    np.testing.assert_allclose(mixed["faces"].numpy()[:, 0, 0], expected_value, atol=1e-4)
    np.testing.assert_allclose(mixed["faces"].numpy(), np.broadcast_to(expected_value[:, None, None], (batch, 4, 5)),
                               atol=1e-4)  # one share for the whole clip
    np.testing.assert_allclose(mixed["landmarks"].numpy()[:, 0], expected_value, atol=1e-4)
    np.testing.assert_allclose(mixed_weights.numpy(), 10 + expected_value, atol=1e-4)


def test_mixup_trains_on_one_hot_targets_in_either_input_pipeline(toy_cache, tmp_path) -> None:
    from fer_kit.training.feed import make_feed
    from fer_kit.training.optim import output_loss

    clips = select_clips(toy_cache)
    for make in (make_dataset, make_feed):
        dataset, _ = make(clips, inputs=("faces",), batch_size=12, training=True, seed=1, mixup=0.4, num_classes=3,
                          zoom=0.1, shift=0.05, weights=np.ones(3, np.float32))
        batch = dataset[0] if make is make_feed else next(iter(dataset))
        rows = np.asarray(batch[1]["fused"])
        assert rows.shape == (12, 3)
        np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-5)
        assert (rows.max(axis=1) < 0.999).any()  # some clips are blends
    with pytest.raises(ValueError, match="num_classes"):
        make_dataset(clips, training=True, mixup=0.2)
    assert isinstance(output_loss(_config(toy_cache, tmp_path, mixup=0.2)), keras.losses.CategoricalCrossentropy)
    run = train(_config(toy_cache, tmp_path / "mixup", model="cnn", epochs=2, mixup=0.2, zoom=0.1, shift=0.05),
                verbose=0)
    history = read_history(run)
    assert history["val_accuracy"].notna().all() and np.isfinite(history["loss"]).all()
    for bad in ({"mixup": -0.1}, {"zoom": 1.0}, {"shift": 0.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            _config(toy_cache, tmp_path, **bad)


def test_batch_norm_statistics_are_calibrated_on_unblended_clips(toy_cache) -> None:
    """Mixup's blends are not clips a test meets: precise BN re-estimates the statistics on the clips themselves."""
    from fer_kit.training.train import _datasets

    clips = select_clips(toy_cache)
    config = TrainConfig(cache=toy_cache, out="unused", preset="tiny", model="cnn", batch_size=12, augment=False,
                         mixup=0.4, tensorboard=False, pipeline="memory")
    train_ds, _, calibration, _ = _datasets(config, len(clips.classes), clips, clips.subset(clips.rows.iloc[:0]))
    blended, plain = (np.asarray(next(iter(ds))[0]["faces"], np.float64) for ds in (train_ds, calibration))
    assert not np.allclose(blended, np.round(blended))  # blends of two clips' pixels
    np.testing.assert_array_equal(plain, np.round(plain))  # whole pixel values: the clips as cached


@pytest.mark.slow
def test_an_ensemble_averages_members_trained_on_one_split_with_their_own_seeds(toy_cache, tmp_path) -> None:
    from fer_kit.evaluate import evaluate_run
    from fer_kit.training.clipset import load_clip_arrays
    from fer_kit.training.ensemble import member_folder
    from fer_kit.training.runfolder import clips_from_record
    from fer_kit.training.runs import load_run, predict_probabilities

    config = _config(toy_cache, tmp_path / "ensemble", model="mcdcn", epochs=1, members=2, recipe="kit")
    run = train(config, verbose=0)
    members = [member_folder(run, i) for i in range(2)]
    record = json.loads((run / "split.json").read_text())
    for number, member in enumerate(members):
        saved = json.loads((member / "config.json").read_text())["train"]
        assert saved["seed"] == number and saved["members"] == 1
        assert json.loads((member / "split.json").read_text())["train_paths"] == record["train_paths"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["members"] == 2 and summary["member_seeds"] == [0, 1]

    test = clips_from_record(record, "test")
    faces, local, points = load_clip_arrays(test.paths, landmarks=True)
    joined = predict_probabilities(load_run(run), faces, local, landmarks=points)
    each = [predict_probabilities(load_run(m), faces, local, landmarks=points) for m in members]
    assert not np.allclose(each[0], each[1])  # two seeds, two different networks
    np.testing.assert_allclose(joined, (each[0] + each[1]) / 2, atol=1e-5)
    outputs = load_run(run).model.predict({"faces": faces.astype(np.float32), "local_maps": local.astype(np.float32)},
                                           verbose=0)
    assert set(outputs) == {"fused", "global", "local"}  # MC-DCN's three outputs, each averaged
    assert evaluate_run(run, plots=False, write=False)["clips"] == len(test)

    stamp = (run / "model.keras").stat().st_mtime_ns
    assert train(config, verbose=0) == run and (run / "model.keras").stat().st_mtime_ns == stamp  # finished: kept
    with pytest.raises(ValueError, match="members"):
        _config(toy_cache, tmp_path, members=0)
