"""Training and inference speed of a network on one accelerator, on any Keras 3 backend.

Needs only ``keras``, one backend (JAX, PyTorch or TensorFlow) and NumPy: no dlib, no OpenCV,
so it runs on a GPU machine that has JAX or PyTorch and nothing else of the kit's stack (carry
the ``keras`` wheel and this repository). Random clips of the preset's shape, raw 0..255 as the
cache stores them, go through:

* training: ``model.train_on_batch`` with the loss of eq. 8 and the paper's SGD recipe
  (``fer_kit.training.optim.compile_model``), after ``--warmup`` steps that compile it;
* inference: ``model.predict_on_batch``.

It reports clips/s for both, the forward GFLOP per clip (counted from the model's Conv3D and
Dense layers on one clip: ``2 * kernel volume * C_in * C_out * output voxels``), peak device
memory, and the achieved fraction of the chip's dense bf16 rate (training counts three times
the forward FLOPs: forward, and the two products of the backward pass). The chip's rate comes
from :data:`PEAK_BF16_TFLOPS` by device name, or ``--peak-tflops``.

    python benchmarks/gpu.py --preset paper --backend jax --mixed-precision --batch-size 32 --json
    python benchmarks/gpu.py --preset lite --backend tensorflow --json      # this CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "RTX 4090": 165.0, "RTX 3090": 71.0}
"""Dense bf16 tensor-core peak (TFLOP/s, no sparsity) of common chips, from their makers' data sheets."""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", help="paper, lite or tiny (default paper)")
    parser.add_argument("--model", default="mcdcn", help="mcdcn, c3d or cnn (default mcdcn)")
    parser.add_argument("--backend", choices=("jax", "torch", "tensorflow"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16 compute, float32 variables")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per step (default: 32 paper, 8 else)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each kind (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first, that compile (default 3)")
    parser.add_argument("--classes", type=int, default=7)
    parser.add_argument("--peak-tflops", type=float, default=None, help="the chip's dense bf16 TFLOP/s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def device_description(backend: str) -> tuple[str, str]:
    """``(kind, name)`` of the device the backend computes on: ``("gpu", "NVIDIA H200")`` or ``("cpu", ...)``."""
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return device.platform, getattr(device, "device_kind", str(device))
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", torch.cuda.get_device_name(0)
        return "cpu", platform.processor() or platform.machine()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "gpu", details.get("device_name", gpus[0].name)
    return "cpu", platform.processor() or platform.machine()


def peak_device_memory(backend: str, kind: str) -> int | None:
    """Peak bytes allocated on the accelerator so far (None on a CPU: see ``peak_host_rss_bytes``)."""
    if kind == "cpu":
        return None
    try:
        if backend == "jax":
            import jax

            return int(jax.devices()[0].memory_stats()["peak_bytes_in_use"])
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated())
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:  # a backend or driver without memory statistics
        return None


def forward_gflop_per_clip(model, inputs: dict) -> float:
    """Forward GFLOP of one clip, from the shapes seen by every Conv3D and Dense layer (module doc)."""
    import keras
    import numpy as np

    counted: list[float] = []
    originals = {cls: cls.call for cls in (keras.layers.Conv3D, keras.layers.Dense)}

    def conv_call(self, x, *args, **kwargs):
        out = originals[keras.layers.Conv3D](self, x, *args, **kwargs)
        channels_in = x.shape[-1]
        counted.append(2.0 * float(np.prod(self.kernel_size)) * channels_in * float(np.prod(out.shape[1:])))
        return out

    def dense_call(self, x, *args, **kwargs):
        out = originals[keras.layers.Dense](self, x, *args, **kwargs)
        counted.append(2.0 * x.shape[-1] * float(np.prod(out.shape[1:])))
        return out

    keras.layers.Conv3D.call, keras.layers.Dense.call = conv_call, dense_call
    try:
        model({name: value[:1] for name, value in inputs.items()}, training=False)
    finally:
        for cls, call in originals.items():
            cls.call = call
    return sum(counted) / 1e9


def timed(step, count: int) -> float:
    """Seconds for ``count`` calls of ``step`` (each returns host values, so the device has finished)."""
    start = time.perf_counter()
    for _ in range(count):
        step()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from fer_kit.model import build_model, model_inputs, model_outputs
    from fer_kit.presets import get_preset
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.optim import compile_model

    backend = keras.config.backend()
    kind, name = device_description(backend)
    preset = get_preset(args.preset)
    batch = args.batch_size or (32 if args.preset == "paper" else 8)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model = build_model(args.model, preset, args.classes)
    config = TrainConfig(cache="", out="", model=args.model, preset=args.preset, recipe="paper")
    compile_model(model, config, total_steps=args.warmup + args.steps)
    rng = np.random.default_rng(0)
    channels = {"faces": 3, "local_maps": 1}
    x = {name_: rng.integers(0, 256, (batch, preset.frames, preset.size, preset.size, channels[name_]))
         .astype(np.float32) for name_ in model_inputs(args.model)}
    labels = rng.integers(0, args.classes, batch)
    y = {output: labels for output in model_outputs(args.model)}
    gflop = forward_gflop_per_clip(model, x)

    start = time.perf_counter()
    timed(lambda: model.train_on_batch(x, y), args.warmup)
    compile_train = time.perf_counter() - start
    train_seconds = timed(lambda: model.train_on_batch(x, y), args.steps)
    start = time.perf_counter()
    timed(lambda: model.predict_on_batch(x), args.warmup)
    compile_infer = time.perf_counter() - start
    infer_seconds = timed(lambda: model.predict_on_batch(x), args.steps)

    train_rate = args.steps * batch / train_seconds
    infer_rate = args.steps * batch / infer_seconds
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k.lower() in name.lower()), None)
    result = {
        "backend": backend, "device_kind": kind, "device": name, "preset": args.preset, "model": args.model,
        "batch_size": batch, "mixed_precision": args.mixed_precision, "steps": args.steps,
        "parameters": int(model.count_params()),
        "gflop_per_clip_forward": round(gflop, 3),
        "train_clips_per_s": round(train_rate, 2),
        "inference_clips_per_s": round(infer_rate, 2),
        "train_step_ms": round(1000 * train_seconds / args.steps, 2),
        "compile_seconds": {"train": round(compile_train, 2), "inference": round(compile_infer, 2)},
        "peak_device_memory_bytes": peak_device_memory(backend, kind),
        "peak_host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_bf16_tflops": peak,
        "achieved_fraction_of_bf16_peak": None if not peak else {
            "train": round(3 * gflop * 1e9 * train_rate / (peak * 1e12), 4),
            "inference": round(gflop * 1e9 * infer_rate / (peak * 1e12), 4),
        },
        "versions": {"keras": keras.__version__, "python": platform.python_version(),
                     backend: __import__({"torch": "torch", "jax": "jax"}.get(backend, "tensorflow")).__version__},
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    return result


if __name__ == "__main__":
    main()
