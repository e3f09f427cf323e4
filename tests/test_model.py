"""The CNN block, MC-DCN and the baselines (paper 3.2, eqs. 1, 3-8, Table 3)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from fer_kit.errors import UsageError
from fer_kit.model import (
    CNNBlock,
    build_model,
    count_parameters,
    model_inputs,
    model_outputs,
)
from fer_kit.presets import get_preset
from fer_kit.training.config import TrainConfig

TINY = get_preset("tiny")


def _clips(batch: int = 2, seed: int = 0, preset=TINY) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (batch, preset.frames, preset.size, preset.size)
    return {
        "faces": rng.integers(0, 256, (*shape, 3)).astype(np.float32),
        "local_maps": rng.integers(0, 256, (*shape, 1)).astype(np.float32),
    }


def test_block_keeps_space_and_time_and_changes_width() -> None:
    x = np.random.default_rng(0).normal(size=(2, 4, 8, 8, 6)).astype(np.float32)
    widening = CNNBlock(16)
    assert tuple(widening(x).shape) == (2, 4, 8, 8, 16)
    assert widening.projection is not None and widening.projection.kernel.shape == (1, 1, 1, 6, 16)
    same = CNNBlock(6)
    assert tuple(same(x).shape) == x.shape
    assert same.projection is None
    assert same.conv1.kernel.shape == (3, 3, 3, 6, 6)
    assert CNNBlock(6, kernel_size=(1, 3, 3)).compute_output_shape(x.shape) == x.shape


def test_block_with_zero_residual_weights_is_the_identity() -> None:
    x = np.random.default_rng(1).normal(size=(2, 4, 8, 8, 8)).astype(np.float32)
    block = CNNBlock(8)
    block(x)
    assert not np.allclose(keras.ops.convert_to_numpy(block(x, training=False)), x)
    block.conv2.kernel.assign(np.zeros(block.conv2.kernel.shape, np.float32))
    block.conv2.bias.assign(np.zeros(block.conv2.bias.shape, np.float32))
    for training in (False, True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(block(x, training=training)), x, atol=1e-6)


def test_block_config_round_trip() -> None:
    block = CNNBlock(12, kernel_size=(1, 3, 3), momentum=0.8, name="b")
    config = json.loads(json.dumps(block.get_config()))
    clone = CNNBlock.from_config(config)
    assert (clone.filters, clone.kernel_size, clone.momentum, clone.name) == (12, (1, 3, 3), 0.8, "b")
    registered = keras.saving.get_registered_object("fer_kit>CNNBlock")
    assert registered is CNNBlock


def test_mcdcn_fused_output_is_softmax_of_averaged_stream_logits() -> None:
    model = build_model("mcdcn", TINY, num_classes=5)
    assert set(model.output) == {"fused", "global", "local"}
    x = _clips()
    logits = keras.Model(model.input, [model.get_layer("global_logits").output, model.get_layer("local_logits").output])
    g, loc = (keras.ops.convert_to_numpy(t) for t in logits(x, training=False))
    out = {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(out["fused"], softmax((g + loc) / 2), rtol=1e-5, atol=1e-6)  # eq. 1 / eq. 4
    np.testing.assert_allclose(out["global"], softmax(g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["local"], softmax(loc), rtol=1e-5, atol=1e-6)
    assert out["fused"].shape == (2, 5)
    np.testing.assert_allclose(out["fused"].sum(axis=1), 1.0, atol=1e-5)


def test_streams_are_separate_and_inputs_are_scaled_inside() -> None:
    model = build_model("mcdcn", TINY, num_classes=3)
    x = _clips()
    before = {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}
    changed = dict(x, local_maps=np.zeros_like(x["local_maps"]))
    after = {k: keras.ops.convert_to_numpy(v) for k, v in model(changed, training=False).items()}
    np.testing.assert_allclose(after["global"], before["global"], atol=1e-6)  # the face stream ignores the map
    assert not np.allclose(after["local"], before["local"])
    assert model.get_layer("global_scale").scale == pytest.approx(1 / 255)


@pytest.mark.parametrize("kind", ["mcdcn", "c3d"])
def test_face_stream_ignores_exposure_and_colour_cast(kind) -> None:
    """Each face frame is standardized per colour channel: a per-frame gain and offset change nothing.

    Nothing up to the standardization's epsilon (1e-4 against a pixel variance of about 0.08
    after scaling to [0, 1]: about 1e-3 at the layer, amplified by the random weights), so
    the logits agree to 1% while a mirrored face moves them by more than 5%.
    """
    keras.utils.set_random_seed(7)
    model = build_model(kind, TINY, num_classes=3)
    rng = np.random.default_rng(1)
    x = _clips(seed=1)
    gain = rng.uniform(0.7, 1.3, (2, TINY.frames, 1, 1, 3)).astype(np.float32)
    offset = rng.uniform(-40, 40, (2, TINY.frames, 1, 1, 3)).astype(np.float32)
    logits = keras.Model(model.inputs, model.get_layer("global_logits").output)  # the softmax saturates at init

    def predict(faces):
        return keras.ops.convert_to_numpy(logits(dict(x, faces=faces) if kind == "mcdcn" else {"faces": faces}))

    before = predict(x["faces"])
    scale = np.abs(before).max()
    np.testing.assert_allclose(predict(x["faces"] * gain + offset), before, atol=1e-2 * scale)
    assert np.abs(predict(x["faces"][:, :, :, ::-1]) - before).max() > 0.05 * scale  # a mirrored face is not ignored


def test_a_standardized_local_stream_ignores_how_strong_a_faces_folds_are(tmp_path) -> None:
    """``local_standardization="clip"``: one gain and offset for a whole local-map clip change nothing, a change over time does.

    The local maps' brightness is fold energy, which differs from person to person in every frame;
    standardizing the clip as a whole takes that away but keeps how the frames differ. The model
    saves and reloads with the same outputs.
    """
    keras.utils.set_random_seed(7)
    model = build_model("mcdcn", TINY, num_classes=3, local_standardization="clip")
    assert model.get_layer("local_standardize").__class__.__name__ == "ClipStandardization"
    logits = keras.Model(model.inputs, model.get_layer("local_logits").output)
    x = _clips(seed=2)

    def predict(local):
        return keras.ops.convert_to_numpy(logits(dict(x, local_maps=local)))

    before = predict(x["local_maps"])
    scale = np.abs(before).max()
    np.testing.assert_allclose(predict(x["local_maps"] * 0.8 + 20.0), before, atol=1e-2 * scale)
    ramp = np.linspace(0.7, 1.3, TINY.frames, dtype=np.float32)[None, :, None, None, None]
    assert np.abs(predict(x["local_maps"] * ramp) - before).max() > 0.05 * scale  # brightening over time is seen
    default = build_model("mcdcn", TINY, num_classes=3)
    plain = keras.Model(default.inputs, default.get_layer("local_logits").output)
    plain_before = keras.ops.convert_to_numpy(plain(x))
    assert np.abs(keras.ops.convert_to_numpy(plain(dict(x, local_maps=x["local_maps"] * 0.8 + 20.0)))
                  - plain_before).max() > 0.05 * np.abs(plain_before).max()  # the default stream sees the level
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)["local"]),
                               keras.ops.convert_to_numpy(model(x, training=False)["local"]), atol=1e-6)


def test_an_onset_standardized_local_stream_sees_only_what_changed_since_the_first_frame() -> None:
    """``local_standardization="onset"``: any two clips that never change look alike; a change is seen, at any level."""
    keras.utils.set_random_seed(3)
    model = build_model("mcdcn", TINY, num_classes=3, local_standardization="onset")
    logits = keras.Model(model.inputs, model.get_layer("local_logits").output)
    x = _clips(seed=4)

    def predict(local):
        return keras.ops.convert_to_numpy(logits(dict(x, local_maps=local)))

    rng = np.random.default_rng(5)
    still_a, still_b = (np.repeat(rng.integers(0, 256, (2, 1, TINY.size, TINY.size, 1)), TINY.frames, axis=1)
                        .astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(predict(still_a), predict(still_b), atol=1e-5)  # two faces, no expression
    moving = predict(x["local_maps"])
    scale = np.abs(moving).max()
    assert np.abs(moving - predict(still_a)).max() > 0.05 * scale
    np.testing.assert_allclose(predict(x["local_maps"] * 1.25 + 10.0), moving, atol=1e-2 * scale)
    with pytest.raises(UsageError, match="local_standardization"):
        TrainConfig(cache="c", out="o", local_standardization="frame")
    assert TrainConfig(cache="c", out="o", model="c3d", local_standardization="onset").local_standardization is None


def test_an_onset_standardized_face_stream_does_not_see_whose_face_it_is() -> None:
    """``face_standardization="onset"``: two people who keep still look alike to MC-DCN's and C3D's face stream."""
    rng = np.random.default_rng(6)
    still_a, still_b = (np.repeat(rng.integers(0, 256, (2, 1, TINY.size, TINY.size, 3)), TINY.frames, axis=1)
                        .astype(np.float32) for _ in range(2))
    moving = _clips(seed=8)["faces"]
    for kind, layer in (("mcdcn", "global_logits"), ("c3d", "global_logits")):
        keras.utils.set_random_seed(3)
        model = build_model(kind, TINY, num_classes=3, face_standardization="onset")
        logits = keras.Model(model.inputs, model.get_layer(layer).output)
        x = _clips(seed=4)

        def predict(faces, logits=logits, x=x):
            return keras.ops.convert_to_numpy(logits({k: v for k, v in dict(x, faces=faces).items()
                                                      if k in [i.name for i in logits.inputs]}))

        np.testing.assert_allclose(predict(still_a), predict(still_b), atol=1e-5)
        assert np.abs(predict(moving) - predict(still_a)).max() > 0.05 * np.abs(predict(moving)).max()
    plain = build_model("c3d", TINY, num_classes=3)
    plain_logits = keras.Model(plain.inputs, plain.get_layer("global_logits").output)
    outputs = [keras.ops.convert_to_numpy(plain_logits({"faces": f})) for f in (still_a, still_b)]
    assert np.abs(outputs[0] - outputs[1]).max() > 0.05 * np.abs(outputs[0]).max()  # per-frame standardization keeps the face
    with pytest.raises(UsageError, match="face_standardization"):
        TrainConfig(cache="c", out="o", face_standardization="none")
    for kind in ("cnn", "landmarks"):  # no 3D face stream; the recorded config must read back
        config = TrainConfig(cache="c", out="o", model=kind, face_standardization="onset")
        assert config.face_standardization == "frame"
        assert TrainConfig.from_dict(config.to_dict()).face_standardization == "frame"


def test_baselines_have_one_output_and_the_cnn_averages_frames() -> None:
    x = {"faces": _clips()["faces"]}
    for kind in ("c3d", "cnn"):
        model = build_model(kind, TINY, num_classes=4)
        assert model_inputs(kind) == ("faces",) and model_outputs(kind) == ("fused",)
        out = keras.ops.convert_to_numpy(model(x, training=False)["fused"])
        assert out.shape == (2, 4)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    cnn = build_model("cnn", TINY, num_classes=4)
    frames = keras.Model(cnn.input, cnn.get_layer("frame_softmax").output)
    per_frame = keras.ops.convert_to_numpy(frames(x, training=False))
    assert per_frame.shape == (2, TINY.frames, 4)  # one prediction per frame
    fused = keras.ops.convert_to_numpy(cnn(x, training=False)["fused"])
    np.testing.assert_allclose(fused, per_frame.mean(axis=1), atol=1e-6)
    # frame-level: shuffling the frames of a clip does not change the clip prediction
    shuffled = {"faces": x["faces"][:, ::-1]}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(cnn(shuffled, training=False)["fused"]), fused, atol=1e-5)


def test_loss_weights_follow_eq_8() -> None:
    model = build_model("mcdcn", TINY, num_classes=3)
    x = _clips(batch=4)
    y = np.array([0, 1, 2, 1])
    targets = {name: y for name in ("fused", "global", "local")}
    results = {}
    for weights in ((1.0, 0.0, 0.0), (1.0, 1.0, 0.5), (0.0, 2.0, 0.0)):
        model.compile(
            optimizer="sgd",
            loss={k: keras.losses.SparseCategoricalCrossentropy() for k in targets},
            loss_weights=dict(zip(("fused", "global", "local"), weights, strict=True)),
        )
        results[weights] = model.evaluate(x, targets, verbose=0, return_dict=True)
    parts = results[(1.0, 0.0, 0.0)]
    assert results[(1.0, 0.0, 0.0)]["loss"] == pytest.approx(parts["fused_loss"], rel=1e-5)
    expected = parts["fused_loss"] + parts["global_loss"] + 0.5 * parts["local_loss"]
    assert results[(1.0, 1.0, 0.5)]["loss"] == pytest.approx(expected, rel=1e-5)
    assert results[(0.0, 2.0, 0.0)]["loss"] == pytest.approx(2 * parts["global_loss"], rel=1e-5)


@pytest.mark.parametrize("kind", ["mcdcn", "cnn"])
def test_saved_model_reloads_with_identical_predictions(tmp_path, kind) -> None:
    model = build_model(kind, TINY, num_classes=3)
    x = {k: v for k, v in _clips().items() if k in model_inputs(kind)}
    expected = keras.ops.convert_to_numpy(model(x, training=False)["fused"])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert any(isinstance(layer, CNNBlock) for layer in loaded.layers)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)["fused"]), expected, atol=1e-6)


def test_parameter_counts_follow_the_architecture() -> None:
    c3d = count_parameters("c3d", "tiny", 7)["total"]
    mcdcn = count_parameters("mcdcn", "tiny", 7)["total"]
    # two identical streams; only the stem differs (3 input channels against 1)
    assert mcdcn == 2 * c3d - 27 * 2 * TINY.widths[0]
    assert count_parameters("cnn", "tiny", 7)["total"] < c3d  # 1x3x3 kernels
    lite = count_parameters("mcdcn", "lite", 7)
    assert 0 < lite["trainable"] < lite["total"] < 10_000_000


def test_unknown_model_or_preset_is_named() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", "tiny", 7)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build_model("mcdcn", "huge", 7)


def test_models_command_prints_counts(capsys) -> None:
    from fer_kit.cli import main

    assert main(["models", "--preset", "tiny", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["model"]: row for row in report["models"]}
    assert set(rows) == {"cnn", "c3d", "mcdcn", "landmarks"}
    assert rows["landmarks"]["input"] == "16x68x2 landmarks" and rows["landmarks"]["total"] < 100_000
    assert rows["mcdcn"]["total"] == count_parameters("mcdcn", "tiny", 7)["total"]
    assert rows["mcdcn"]["input"] == "16x32x32" and rows["mcdcn"]["head"] == "flatten"
    assert main(["models", "--preset", "tiny", "--model", "c3d"]) == 0
    assert "c3d" in capsys.readouterr().out


def test_mixed_precision_keeps_float32_outputs(tmp_path) -> None:
    from fer_kit.training.devices import precision_policy

    with precision_policy(True):
        model = build_model("mcdcn", TINY, num_classes=3)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert model.get_layer("global_block1").compute_dtype in ("float16", "bfloat16")
    assert model.get_layer("global_block1").conv1.kernel.dtype == "float32"
    out = model(_clips(), training=False)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in out.values())
    model.save(tmp_path / "mixed.keras")
    loaded = keras.saving.load_model(tmp_path / "mixed.keras", compile=False)
    assert loaded.get_layer("global_block1").conv1.compute_dtype == model.get_layer("global_block1").compute_dtype
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(_clips(), training=False)["fused"]),
        keras.ops.convert_to_numpy(out["fused"]),
        atol=1e-6,
    )


@pytest.mark.slow
def test_paper_preset_runs_a_forward_pass_on_the_cpu() -> None:
    paper = get_preset("paper")
    model = build_model("mcdcn", paper, num_classes=7)
    assert model.count_params() > 100_000_000  # flatten 4x4x512 -> FC 4096 per stream, as the paper
    assert model.get_layer("global_fc").units == 4096
    out = model(_clips(batch=1, preset=paper), training=False)
    fused = keras.ops.convert_to_numpy(out["fused"])
    assert fused.shape == (1, 7)
    assert fused.sum() == pytest.approx(1.0, abs=1e-5)


def test_builders_take_a_preset_name_as_build_model_does() -> None:
    from fer_kit.model import build_c3d, build_mcdcn

    by_name = build_mcdcn("tiny", 7)
    assert by_name.count_params() == build_model("mcdcn", "tiny", num_classes=7).count_params()
    assert build_c3d("tiny", 6).output_shape[-1] == 6
