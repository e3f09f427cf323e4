"""`fer-kit predict`: sliding the 16-frame window over a whole video (paper 4.2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_kit.errors import ModelFileError
from fer_kit.labels import EMOTIONS
from fer_kit.predict import predict_video, window_starts


def test_window_starts_cover_the_whole_video() -> None:
    assert window_starts(10, window=60, stride=30) == [0]  # shorter than a window: one window
    assert window_starts(60, window=60, stride=30) == [0]
    assert window_starts(100, window=60, stride=30) == [0, 30, 40]  # the last window ends at the last frame
    assert window_starts(120, window=60, stride=30) == [0, 30, 60]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """An (untrained) tiny MC-DCN exported with its class names and preprocessing settings."""
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.model import build_model
    from fer_kit.training.runs import export_model

    model = build_model("mcdcn", "tiny", len(EMOTIONS))
    settings = PreprocessSettings.from_preset("tiny").to_dict()
    return export_model(model, tmp_path_factory.mktemp("model"), EMOTIONS, settings, preset="tiny")


def test_predict_on_a_real_cremad_clip_gives_probabilities(model_dir, cremad_dir) -> None:
    video = cremad_dir / "1001_DFA_HAP_XX.flv"
    result = predict_video(model_dir, video, window_seconds=1.0)
    assert result.n_frames > 50 and result.fps == pytest.approx(29.97, abs=0.1)
    assert len(result.windows) >= 3  # about 2 s of video in 1 s windows, half a window apart
    assert all(w.valid_fraction > 0.9 for w in result.windows)  # dlib finds the actor in every frame
    for window in result.windows:
        assert window.probabilities.shape == (7,)
        assert window.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.label in EMOTIONS
    report = result.to_dict()
    assert report["windows"][-1]["end_frame"] == result.n_frames - 1
    assert sum(report["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


def test_predict_command_prints_windows_and_label(model_dir, cremad_dir, capsys) -> None:
    from fer_kit.cli import main

    video = cremad_dir / "1001_DFA_ANG_XX.flv"
    assert main(["predict", str(model_dir / "model.keras"), str(video), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["label"] in EMOTIONS and report["windows_with_face"] >= 1
    assert report["classes"] == list(EMOTIONS)
    assert main(["predict", str(model_dir), str(video)]) == 0
    text = capsys.readouterr().out
    assert "label:" in text and "overall" in text


def test_a_video_without_a_face_says_so(model_dir, pexels_dir, capsys) -> None:
    from fer_kit.cli import main

    video = pexels_dir / "no_face.mp4"  # about 4 s: one 5 s window, 16 frames
    assert main(["predict", str(model_dir), str(video), "--window-seconds", "5"]) == 2
    err = capsys.readouterr().err
    assert "no_face.mp4" in err and "no face" in err


def test_bad_model_paths_are_named(tmp_path) -> None:
    from fer_kit.model import build_model
    from fer_kit.training.runs import load_run

    with pytest.raises(ModelFileError, match="no such run folder"):
        load_run(tmp_path / "missing")
    with pytest.raises(ModelFileError, match="no model.keras"):
        load_run(tmp_path)
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a Keras model"):
        load_run(tmp_path / "junk.keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("nothing.txt", "a zip, but no model in it")
    with pytest.raises(ModelFileError, match="cannot load"):
        load_run(tmp_path / "empty.keras")
    build_model("c3d", "tiny", 3).save(tmp_path / "three.keras")
    with pytest.raises(ModelFileError, match="3 classes but no config.json"):
        load_run(tmp_path / "three.keras")
    build_model("c3d", "tiny", 7).save(tmp_path / "seven.keras")
    run = load_run(tmp_path / "seven.keras")  # seven outputs and no config: the kit's seven emotions
    assert run.classes == EMOTIONS and run.input_names == ("faces",) and run.clip_shape == (16, 32)
    assert np.isclose(
        run.model.predict_on_batch({"faces": np.zeros((1, 16, 32, 32, 3), np.float32)})["fused"].sum(), 1.0
    )
