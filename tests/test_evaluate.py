"""Metrics, confusion matrices (paper Figures 7-9), training curves (Figure 6) and `fer-kit evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from fer_kit.errors import ModelFileError
from fer_kit.evaluate import classification_metrics, confusion_matrix, evaluate_run, row_percent
from fer_kit.viz.plots import plot_confusion_matrix, plot_training_curves, save_figure

matplotlib.use("Agg")


def test_a_known_prediction_set_gives_the_known_confusion_matrix() -> None:
    classes = ("anger", "happiness", "surprise")
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 1, 0]
    metrics = classification_metrics(y_true, y_pred, classes)
    assert metrics["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    np.testing.assert_allclose(metrics["confusion_percent"], [[66.67, 33.33, 0], [0, 100, 0], [100, 0, 0]], atol=0.01)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert metrics["per_class_recall"] == {"anger": pytest.approx(2 / 3, abs=1e-4), "happiness": 1.0, "surprise": 0.0}
    assert metrics["per_class"]["happiness"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["per_class"]["surprise"]["precision"] is None  # never predicted
    # F1: anger 2/3, happiness 0.8, surprise 0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3, abs=1e-4)
    assert metrics["clips"] == 6


def test_rows_without_clips_and_absent_classes() -> None:
    counts = confusion_matrix([0, 0, 1], [0, 1, 1], 3)
    percent = row_percent(counts)
    np.testing.assert_allclose(percent.sum(axis=1), [100, 100, 0])
    metrics = classification_metrics([0, 0, 1], [0, 1, 1], ("a", "b", "c"))
    assert metrics["per_class_recall"]["c"] is None
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2, abs=1e-4)  # c takes no part
    with pytest.raises(ValueError, match="differ in length"):
        confusion_matrix([0, 1], [0], 2)


def test_confusion_heatmap_shows_the_percentages(tmp_path) -> None:
    percent = np.array([[86.7, 13.3], [0.0, 100.0]])
    fig = plot_confusion_matrix(percent, ["anger", "disgust"], title="SAVEE-like")
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["0.0", "100.0", "13.3", "86.7"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["anger", "disgust"]
    assert ax.get_ylabel() == "True label"
    path = save_figure(fig, tmp_path / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curves_overlay_runs() -> None:
    a = {"loss": [2.0, 1.5, 1.0], "val_loss": [2.1, 1.8, 1.6], "fused_accuracy": [0.3, 0.5, 0.7]}  # mcdcn names
    b = pd.DataFrame({"epoch": [0, 1], "loss": [2.2, 1.9], "val_loss": [2.3, 2.0]})
    fig = plot_training_curves({"C3D": b, "MC-DCN": a})
    loss_ax, acc_ax = fig.axes
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["C3D training", "C3D validation", "MC-DCN training", "MC-DCN validation"]
    np.testing.assert_allclose(loss_ax.lines[2].get_ydata(), [2.0, 1.5, 1.0])
    assert len(acc_ax.lines) == 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    from toyclips import write_toy_cache

    from fer_kit.training.config import TrainConfig
    from fer_kit.training.train import train

    base = tmp_path_factory.mktemp("evaluate")
    cache = write_toy_cache(base / "cache", classes=("fear", "neutral", "sadness"), per_class=2, subjects=("a", "b", "c"))
    config = TrainConfig(cache=cache, out=base / "run", model="cnn", preset="tiny", epochs=2, batch_size=6,
                         tensorboard=False)
    return train(config, verbose=0)


def test_evaluate_run_writes_metrics_figures_and_predictions(trained_run) -> None:
    metrics = evaluate_run(trained_run)
    out = trained_run / "evaluation"
    for name in ("metrics.json", "confusion.json", "confusion.png", "curves.png", "predictions.csv"):
        assert (out / name).is_file(), name
    split = json.loads((trained_run / "split.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions["path"]) == split["test_paths"]
    assert set(predictions["subject"]) == set(split["test_subjects"])
    accuracy = (predictions["label"] == predictions["predicted"]).mean()
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    probabilities = predictions[[f"p_{c}" for c in ("fear", "neutral", "sadness")]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    saved = json.loads((out / "confusion.json").read_text())
    assert np.asarray(saved["confusion"]).sum() == len(predictions)
    assert metrics["classes"] == ["fear", "neutral", "sadness"]


def test_evaluate_command(trained_run, capsys, tmp_path) -> None:
    from fer_kit.cli import main

    assert main(["evaluate", str(trained_run), "--json", "--no-plots"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class_recall", "confusion_percent"} <= set(metrics)
    assert main(["evaluate", str(trained_run), "--split", "train", "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "confusion matrix" in text and "sadness" in text
    assert (trained_run / "evaluation-train" / "metrics.json").is_file()
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "split.json" in capsys.readouterr().err
    with pytest.raises(ModelFileError):
        evaluate_run(Path(tmp_path))


def test_mirror_averaging_is_the_mean_of_a_clip_and_its_mirror_image(trained_run, capsys) -> None:
    from fer_kit.cli import main
    from fer_kit.training.clipset import load_clip_arrays
    from fer_kit.training.runfolder import clips_from_record
    from fer_kit.training.runs import load_run, predict_probabilities

    run = load_run(trained_run)
    clips = clips_from_record(json.loads((trained_run / "split.json").read_text()), "test")
    faces, local = load_clip_arrays(clips.paths)
    plain = predict_probabilities(run, faces, local)
    mirrored = predict_probabilities(run, faces[:, :, :, ::-1], local[:, :, :, ::-1])
    assert not np.allclose(plain, mirrored, atol=1e-4)  # toy clips are not symmetric: mirroring matters
    averaged = predict_probabilities(run, faces, local, mirror=True)
    np.testing.assert_allclose(averaged, (plain + mirrored) / 2, atol=1e-5)

    assert main(["evaluate", str(trained_run), "--mirror", "--no-plots"]) == 0
    assert "mirror image" in capsys.readouterr().out
    saved = pd.read_csv(trained_run / "evaluation-mirror" / "predictions.csv")
    np.testing.assert_allclose(saved[[f"p_{c}" for c in run.classes]].to_numpy(), averaged, atol=1e-5)
