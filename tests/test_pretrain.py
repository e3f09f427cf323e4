"""Pretraining on photos: still photos as static clips, the photos adapter, starting a run from another's weights."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import skimage.data
from toyclips import write_toy_cache

from fer_kit.clips.preprocess import PreprocessSettings, preprocess_video
from fer_kit.datasets import index_dataset
from fer_kit.errors import DatasetLayoutError, ModelFileError, UsageError
from fer_kit.model import build_model
from fer_kit.training.config import TrainConfig
from fer_kit.training.runfolder import same_run
from fer_kit.training.train import train
from fer_kit.training.transfer import transfer_weights

CK_PLUS_SIX = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The six emotions of CK+ that the synthetic generator animates by default, in the kit's class order."""


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[:320, 80:400])


def write_photo(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_a_photo_becomes_a_static_clip(tmp_path, face) -> None:
    photo = write_photo(tmp_path / "astronaut.jpg", face)
    clip = preprocess_video(photo, PreprocessSettings(size=64), label="happiness", subject="eileen")
    assert clip.faces.shape == (16, 64, 64, 3)
    assert clip.valid.all()
    assert all(np.array_equal(clip.faces[0], frame) for frame in clip.faces)  # one frame, repeated
    assert all(np.array_equal(clip.landmarks[0], points) for points in clip.landmarks)
    assert clip.meta["frame_indices"] == [0] * 16


def test_the_photos_adapter_finds_labels_and_people(tmp_path, face) -> None:
    root = tmp_path / "photos"
    for name in ("happy/Al_Gore_0001.jpg", "happy/Al_Gore_0002.jpg", "Angry/bob_7.png", "sad/carol/1.jpg",
                 "sad/carol/2.jpg", "surprise/x.jpg", "holiday/beach.jpg"):
        write_photo(root / name, face[::4, ::4])
    (root / "labels.csv").write_text("image,emotion,person\nsurprise/x.jpg,surprise,dora\n")
    index = index_dataset(root, "photos")
    people = dict(zip((Path(s).relative_to(root.resolve()).as_posix() for s in index["source"]), index["subject"], strict=True))
    assert people == {"happy/Al_Gore_0001.jpg": "Al_Gore", "happy/Al_Gore_0002.jpg": "Al_Gore",
                      "Angry/bob_7.png": "bob", "sad/carol/1.jpg": "carol", "sad/carol/2.jpg": "carol",
                      "surprise/x.jpg": "dora"}
    assert sorted(index["label"].unique()) == ["anger", "happiness", "sadness", "surprise"]
    assert index.attrs["skipped"] == {"folder 'holiday' is not a label": 1}
    with pytest.raises(DatasetLayoutError, match="class folders of photos"):
        index_dataset(tmp_path / "photos" / "holiday", "photos")


def test_transfer_copies_every_matching_layer_and_keeps_a_new_classifier(tmp_path) -> None:
    keras.utils.set_random_seed(1)
    source = build_model("mcdcn", "tiny", 8)
    source.save(tmp_path / "source.keras")
    keras.utils.set_random_seed(2)
    target = build_model("mcdcn", "tiny", 7)
    report = transfer_weights(target, tmp_path / "source.keras")
    assert set(report.kept) == {"global_logits", "local_logits"}
    assert "shapes differ" in report.kept["global_logits"]
    for name in ("global_stem", "local_block3", "global_fc"):
        for new, old in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(new, old)
    assert target.get_layer("global_logits").get_weights()[0].shape[-1] == 7  # the new classes' own layer
    with pytest.raises(ModelFileError, match="no layer"):
        transfer_weights(build_model("landmarks", "tiny", 7), source)
    with pytest.raises(ModelFileError, match="no such run folder"):
        transfer_weights(target, tmp_path / "missing")


@pytest.mark.slow
def test_a_run_starts_from_the_weights_of_another(tmp_path) -> None:
    photos = write_toy_cache(tmp_path / "photos", classes=("anger", "happiness", "neutral", "surprise"), per_class=2)
    clips = write_toy_cache(tmp_path / "clips", classes=("anger", "happiness", "surprise"), per_class=2, seed=1)
    common = {"preset": "tiny", "epochs": 1, "batch_size": 4, "tensorboard": False, "val_size": 0.0}
    pretrained = train(TrainConfig(cache=photos, out=tmp_path / "pre", **common), verbose=0)
    run = train(TrainConfig(cache=clips, out=tmp_path / "fine", init=str(pretrained), **common), verbose=0)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["init"]["source"] == str(pretrained)
    assert summary["init"]["copied"] > 10 and set(summary["init"]["kept"]) == {"global_logits", "local_logits"}
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["init"] == str(pretrained)


# ---------------------------------------------------------------- the weights the kit ships (init="auto")
def test_shipped_weights_round_trip_and_start_a_run_where_they_exist(tmp_path, monkeypatch) -> None:
    import fer_kit.model.pretrained as pretrained
    from fer_kit.training.transfer import init_source

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "shipped")
    keras.utils.set_random_seed(3)
    source = build_model("c3d", "tiny", 3)
    meta = {"model": "c3d", "preset": "tiny", "classes": ["anger", "happiness", "surprise"]}
    pretrained.save_pretrained(source, pretrained.pretrained_path("c3d", "tiny"), meta)
    loaded, read = pretrained.load_pretrained("c3d", "tiny")
    assert read == meta
    for layer in source.layers:  # float16 storage: the weights to within its precision
        for new, old in zip(loaded.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_allclose(new, old, rtol=2e-3, atol=1e-4)

    assert init_source("none", "c3d", "tiny")[0] is None and init_source(None, "c3d", "tiny")[0] is None
    assert init_source("auto", "mcdcn", "tiny")[0] is None  # none shipped for it: from scratch
    model, classes, described = init_source("auto", "c3d", "tiny")
    assert isinstance(model, keras.Model) and classes == ("anger", "happiness", "surprise") and "c3d-tiny" in described
    with pytest.raises(UsageError, match="ships no pretrained weights"):
        init_source("synthetic", "cnn", "tiny")
    assert init_source(str(tmp_path / "run"), "c3d", "tiny")[0] == str(tmp_path / "run")
    # weights trained on frame-standardized faces do not start a stream fed onset-standardized ones
    onset = {"head": None, "face_standardization": "onset", "local_standardization": None}
    assert init_source("auto", "c3d", "tiny", onset)[0] is None
    with pytest.raises(UsageError, match="face_standardization='frame'"):
        init_source("synthetic", "c3d", "tiny", onset)
    default = {"head": None, "face_standardization": "frame", "local_standardization": None}
    assert isinstance(init_source("auto", "c3d", "tiny", default)[0], keras.Model)

    # other classes, in the same number: the classifier starts fresh, everything else is copied
    target = build_model("c3d", "tiny", 3)
    report = transfer_weights(target, model, classes=("anger", "fear", "surprise"), source_classes=classes)
    assert set(report.kept) == {"global_logits"} and "other classes" in report.kept["global_logits"]
    np.testing.assert_array_equal(target.get_layer("global_fc").get_weights()[0],
                                  model.get_layer("global_fc").get_weights()[0])
    same = build_model("c3d", "tiny", 3)
    assert not transfer_weights(same, model, classes=classes, source_classes=classes).kept  # same classes: all of it

    path = pretrained.pretrained_path("c3d", "tiny")  # a file that does not fit its network is one clear error
    for broken in (b"not an archive", b""):
        path.write_bytes(broken)
        with pytest.raises(ModelFileError, match="cannot read the pretrained weights"):
            pretrained.load_pretrained("c3d", "tiny")
    pretrained.save_pretrained(source, path, {"model": "c3d"})  # a record without its classes
    with pytest.raises(ModelFileError, match="names no classes"):
        pretrained.load_pretrained("c3d", "tiny")


def test_the_kit_recipe_starts_from_shipped_weights_and_the_paper_recipe_from_scratch() -> None:
    assert TrainConfig(cache="c", out="o").init == "auto"
    assert TrainConfig(cache="c", out="o", recipe="paper").init == "none"
    assert TrainConfig(cache="c", out="o", init="none").init == "none"
    saved = TrainConfig(cache="c", out="o")
    assert TrainConfig.from_dict(saved.to_dict()) == saved
    # a run saved before the kit shipped weights (init null) started from scratch: it is not an "auto" run
    old = TrainConfig.from_dict({**saved.to_dict(), "init": None})
    assert old.init == "none" and not same_run(old, saved)
    with pytest.raises(UsageError, match="ships no pretrained weights for mcdcn at preset tiny"):
        TrainConfig(cache="c", out="o", preset="tiny", init="synthetic")


def test_the_shipped_weights_fit_their_networks_and_say_how_they_were_made() -> None:
    """Every file in fer_kit/model/pretrained/ loads into its network and records its data and held-out score."""
    from fer_kit.model.pretrained import PRETRAINED_DIR, load_pretrained

    files = sorted(PRETRAINED_DIR.glob("*.npz"))
    shipped = {path.stem for path in files}
    assert shipped >= {f"{kind}-lite-synthetic" for kind in ("mcdcn", "c3d", "cnn", "landmarks")}, (
        "the kit ships pretrained lite weights for every network (data_scripts/pretrain.py makes them)")
    for path in files:
        kind, preset, _ = path.stem.split("-")
        model, meta = load_pretrained(kind, preset)
        assert (meta["model"], meta["preset"]) == (kind, preset)
        # the six emotions of the generator, and for MC-DCN contempt as well (CK+'s seven classes)
        expected = (*CK_PLUS_SIX, "contempt") if kind == "mcdcn" else CK_PLUS_SIX
        assert tuple(meta["classes"]) == expected and "synthetic clips" in meta["data"]
        assert meta["held_out_faces_accuracy"] > 0.5  # chance is 1/6 or 1/7
        weights = np.concatenate([w.ravel() for w in model.get_weights()])
        assert np.isfinite(weights).all() and weights.std() > 0
        assert path.stat().st_size < 6_000_000  # float16, compressed


def test_the_pretraining_script_gathers_several_face_folders_under_their_names(tmp_path, face) -> None:
    """``pretrain.py helen=A afw=B --landmarks detect``: each photo linked as NAME/PHOTO, no .pts with detect."""
    import importlib.util

    script = Path(__file__).parents[1] / "data_scripts" / "pretrain.py"
    spec = importlib.util.spec_from_file_location("pretrain_script", script)
    pretrain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pretrain)
    first, second = tmp_path / "photos-a", tmp_path / "b"
    write_photo(first / "1.jpg", face)
    (first / "1.pts").write_text("version: 1\n")
    write_photo(second / "sub" / "2.png", face)
    (second / "notes.txt").write_text("not a photo")

    folders = pretrain.face_folders([f"helen={first}", str(second)])
    assert folders == {"helen": first, "b": second}
    gathered = pretrain.gather_faces(folders, tmp_path / "faces", "detect")
    files = sorted(str(p.relative_to(gathered)) for p in gathered.rglob("*") if p.is_file())
    assert files == ["b/sub/2.png", "helen/1.jpg"]
    assert (gathered / "helen" / "1.jpg").resolve() == (first / "1.jpg").resolve()
    with_pts = pretrain.gather_faces(folders, tmp_path / "faces-pts", "pts")
    assert (with_pts / "helen" / "1.pts").is_file()
    with pytest.raises(SystemExit, match="give each folder its own NAME"):
        pretrain.face_folders([f"x={first}", f"x={second}"])
    with pytest.raises(SystemExit, match="no such folder"):
        pretrain.face_folders([str(tmp_path / "missing")])
