"""The networks and their training on every Keras 3 backend: TensorFlow (the default), JAX, PyTorch.

The same weights give the same fused, global and local outputs on each backend; a run trained
on JAX reloads on TensorFlow; the NumPy feed of the JAX / PyTorch path augments exactly as the
``tf.data`` path does. A backend that is not installed is skipped with a reason (CPU JAX comes
with the ``dev`` extra; PyTorch from PyPI brings gigabytes of CUDA libraries, so CI has none).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from toyclips import write_toy_cache

from fer_kit.training.feed import clip_transforms, move_landmarks, transform_frames

TESTS = Path(__file__).resolve().parent
OTHER_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(module) is None,
                                                reason=f"{name} is not installed here (pip install {package})"))
    for name, module, package in (("jax", "jax", "'jax[cpu]'"), ("torch", "torch", "torch"))
]

RUN_OUTPUTS = """
import json, sys
import numpy as np
import keras
from fer_kit.training.runs import load_run
loaded = load_run(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
out = loaded.model(inputs, training=False)
np.savez(sys.argv[3], **{k: keras.ops.convert_to_numpy(v) for k, v in out.items()})
print(json.dumps({"backend": keras.config.backend()}))
"""


def on_backend(backend: str, code: str, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A tiny MC-DCN with trained-looking (random, seeded) weights, its inputs and TensorFlow's outputs."""
    import keras

    from fer_kit.model import build_model
    from fer_kit.training.runs import export_model

    folder = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(3)
    model = build_model("mcdcn", "tiny", 7)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # moving statistics away from 0 / 1, so inference really uses them
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, weight.shape).astype("float32"))
        elif "moving_mean" in weight.path:
            weight.assign(rng.normal(0, 0.1, weight.shape).astype("float32"))
    from fer_kit.labels import EMOTIONS

    run = export_model(model, folder / "run", classes=EMOTIONS)
    inputs = {"faces": rng.integers(0, 256, (2, 16, 32, 32, 3)).astype("float32"),
              "local_maps": rng.integers(0, 256, (2, 16, 32, 32, 1)).astype("float32")}
    np.savez(folder / "inputs.npz", **inputs)
    reference = {k: keras.ops.convert_to_numpy(v) for k, v in model(inputs, training=False).items()}
    return run, folder / "inputs.npz", reference


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_same_weights_give_the_same_outputs_on_every_backend(backend, tiny_run, tmp_path) -> None:
    run, inputs, reference = tiny_run
    out = on_backend(backend, RUN_OUTPUTS, str(run), str(inputs), str(tmp_path / "out.npz"), cwd=tmp_path)
    assert json.loads(out.stdout.strip().splitlines()[-1])["backend"] == backend
    got = dict(np.load(tmp_path / "out.npz"))
    assert set(got) == {"fused", "global", "local"}
    for name, expected in reference.items():
        np.testing.assert_allclose(got[name], expected, atol=1e-4, err_msg=f"{name} output on {backend}")


TRAIN_ON_BACKEND = """
import json, sys
from toyclips import write_toy_cache
import keras
from fer_kit.training.config import TrainConfig
from fer_kit.training.train import train
write_toy_cache("cache", classes=("happiness", "surprise"), per_class=3)
run = train(TrainConfig(cache="cache", out="run", model="mcdcn", preset="tiny", epochs=2, recipe="paper",
                        batch_size=4, tensorboard=False), verbose=0)
summary = json.loads((run / "summary.json").read_text())
print(json.dumps({"backend": keras.config.backend(), "epochs": summary["epochs_run"]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_run_trained_on_another_backend_reloads_on_tensorflow(backend, tmp_path) -> None:
    out = on_backend(backend, TRAIN_ON_BACKEND, cwd=tmp_path)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"backend": backend, "epochs": 2}
    from fer_kit.evaluate import evaluate_run

    metrics = evaluate_run(tmp_path / "run", plots=False)
    assert metrics["clips"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "loss" in history[0]


def test_the_numpy_feed_augments_as_the_tf_pipeline_does(tmp_path) -> None:
    """Same matrices, same resampling (bilinear, reflected border), same landmark motion and mirroring."""
    import tensorflow as tf

    from fer_kit.training.data import _transforms, transform_landmarks

    angles = np.deg2rad(np.array([0.0, 9.0, -6.0, 3.0]))
    flips = np.array([False, True, False, True])
    expected = _transforms(tf.constant(angles, tf.float32), tf.constant(flips), 32).numpy()
    got = clip_transforms(angles, flips, 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    scales = np.array([1.0, 0.9, 1.1, 1.05])  # the zoom and shift options too
    shifts = np.array([[0.0, 0.0], [2.0, -1.5], [-3.0, 0.5], [1.0, 1.0]])
    expected = _transforms(tf.constant(angles, tf.float32), tf.constant(flips), 32, tf.constant(scales, tf.float32),
                           tf.constant(shifts, tf.float32)).numpy()
    got = np.concatenate([got, clip_transforms(angles, flips, 32, scales, shifts)])
    np.testing.assert_allclose(got[4:], expected, atol=1e-4)
    flips = np.concatenate([flips, flips])

    write_toy_cache(tmp_path / "c", classes=("happiness",), per_class=1, subjects=("s1",))
    with np.load(next((tmp_path / "c").rglob("*.npz"))) as clip:
        stacked = np.concatenate([clip["faces"], clip["local"]], axis=-1)[:4]
        points = clip["landmarks"][:4].astype(np.float32)
    for transform, flipped in zip(got, flips, strict=True):
        tf_frames = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.constant(stacked), transforms=tf.constant(np.repeat(transform[None], len(stacked), 0)),
            output_shape=[32, 32], fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT").numpy()
        np_frames = transform_frames(stacked, transform)
        assert np.abs(np_frames.astype(int) - tf_frames.astype(int)).mean() < 1.0
        tf_points = transform_landmarks(tf.constant(points[None]), tf.constant(transform[None]),
                                        tf.constant([flipped])).numpy()[0]
        np.testing.assert_allclose(move_landmarks(points, transform, flipped), tf_points, atol=1e-3)


@pytest.mark.slow
def test_the_gpu_benchmark_runs_and_counts_the_work(tmp_path) -> None:
    """``benchmarks/gpu.py`` on the CPU: one JSON object, FLOPs counted from the model, rates measured.

    On TensorFlow, the fastest backend here; the script has no backend-specific code besides the
    device and memory queries, and the JAX path of the model is covered by the tests above.
    """
    backend = "tensorflow"
    script = TESTS.parent / "benchmarks" / "gpu.py"
    out = subprocess.run([sys.executable, str(script), "--preset", "tiny", "--backend", backend, "--steps", "2",
                          "--warmup", "1", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["backend"] == backend and result["device_kind"] == "cpu"
    # tiny MC-DCN: the two stems at 16x32x32 alone are 2 * 27 * (3 + 1) * 8 * 16384 = 28.3 MFLOP
    assert 0.05 < result["gflop_per_clip_forward"] < 1.0
    assert result["train_clips_per_s"] > 0 and result["inference_clips_per_s"] > result["train_clips_per_s"] / 10
    assert result["achieved_fraction_of_bf16_peak"] is None  # no chip rate known for a CPU
