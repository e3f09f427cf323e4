"""Training and inference speed of MC-DCN per preset, and the input pipeline's overhead.

For each preset a toy clip cache (``tests/toyclips.py``, the tests' fixture, the cache layout of
``fer_kit.clips.cache``) is written to a temporary folder, then the same compiled model takes
training steps fed three ways:

* ``memory``: one epoch of the pipeline's own batches held in memory as tensors and
  replayed (the reference: same data, no loading, no augmentation work);
* ``cache``: the training pipeline as ``fer-kit train`` uses it (``auto`` mode: clips
  decoded once into memory, shuffled, flipped and rotated in-graph, batched, prefetched);
* ``stream``: the same pipeline reading every clip from disk every epoch.

``pipeline_overhead`` = cache-fed step time / in-memory step time - 1 (target <= 0.10).
Timings alternate between the feeds and keep the median of ``--repeats`` rounds, so
load from other processes hits all feeds alike. Prints one JSON object with ``--json``.

    python benchmarks/train.py --json
    python benchmarks/train.py --presets tiny,lite --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fer_kit.presets import MODEL_KINDS

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULTS = {"tiny": (8, 12), "lite": (8, 6), "paper": (2, 2)}
"""Per preset: (batch size, timed steps per round)."""


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def bench_preset(name: str, model_kind: str, batch: int, steps: int, repeats: int, clips: int, work: Path) -> dict:
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, str(TESTS_DIR))  # the toy cache is a test fixture, not part of the kit
    from toyclips import write_toy_cache

    from fer_kit.model import build_model, model_inputs, model_outputs
    from fer_kit.presets import get_preset
    from fer_kit.training.clipset import class_weights, select_clips
    from fer_kit.training.config import TrainConfig
    from fer_kit.training.data import make_dataset
    from fer_kit.training.optim import compile_model

    preset = get_preset(name)
    classes = ("anger", "happiness", "sadness", "surprise")
    per_class = max(1, clips // (len(classes) * 2))
    cache = write_toy_cache(work / f"cache-{name}", classes=classes, per_class=per_class, subjects=("a", "b"),
                            size=preset.size, frames=preset.frames)
    clipset = select_clips(cache)
    config = TrainConfig(cache=str(cache), out=str(work / "run"), model=model_kind, preset=name, batch_size=batch)
    inputs, outputs = model_inputs(model_kind), model_outputs(model_kind)
    weights = class_weights(clipset.labels, len(clipset.classes))
    common = dict(inputs=inputs, outputs=outputs, batch_size=batch, training=True, weights=weights, seed=0)
    started = time.perf_counter()
    cached, info = make_dataset(clipset, mode="auto", **common)
    load_s = time.perf_counter() - started
    streamed, _ = make_dataset(clipset, mode="stream", **common)
    # the reference: one epoch of the pipeline's own (augmented) batches, held in memory as tensors, replayed
    batches = [b for b in cached if int(tf.shape(b[2])[0]) == batch]
    stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *batches)
    memory = tf.data.Dataset.from_tensor_slices(stacked).repeat()
    x = batches[0][0]
    feeds = {"memory": memory, "cache": cached.repeat(), "stream": streamed.repeat()}

    model = build_model(model_kind, preset, len(clipset.classes))
    compile_model(model, config, total_steps=1000)
    for feed in feeds.values():  # trace, warm caches and prefetch buffers
        model.fit(feed, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    times: dict[str, list[float]] = {k: [] for k in feeds}
    for _ in range(repeats):
        for key, feed in feeds.items():
            t0 = time.perf_counter()
            model.fit(feed, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
            times[key].append((time.perf_counter() - t0) / steps)
    step = {k: statistics.median(v) for k, v in times.items()}
    batch_x = {k: np.asarray(v) for k, v in x.items()}
    model.predict(batch_x, verbose=0)
    t0 = time.perf_counter()
    rounds = max(2, steps // 2)
    for _ in range(rounds):
        model.predict_on_batch(batch_x)
    infer_s = (time.perf_counter() - t0) / rounds
    return {
        "model": model_kind,
        "input": f"{preset.frames}x{preset.size}x{preset.size}",
        "parameters": int(model.count_params()),
        "batch_size": batch,
        "timed_steps": steps * repeats,
        "pipeline_mode": info.mode,
        "cache_load_s": round(load_s, 3),
        "step_s": {k: round(v, 4) for k, v in step.items()},
        "step_s_rounds": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "pipeline_overhead": round(step["cache"] / step["memory"] - 1, 4),
        "stream_overhead": round(step["stream"] / step["memory"] - 1, 4),
        "train_clips_per_s": round(batch / step["cache"], 2),
        "train_clips_per_s_in_memory": round(batch / step["memory"], 2),
        "infer_clips_per_s": round(batch / infer_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,lite,paper", help="comma-separated presets (default: all)")
    parser.add_argument("--model", default="mcdcn", choices=MODEL_KINDS)
    parser.add_argument("--batch-size", type=int, help="override the per-preset batch size")
    parser.add_argument("--steps", type=int, help="override the per-preset timed steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing rounds (median kept)")
    parser.add_argument("--clips", type=int, default=64, help="clips in each toy cache")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import tensorflow as tf


    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="fer-kit-bench-") as tmp:
        for name in [p.strip() for p in args.presets.split(",") if p.strip()]:
            batch, steps = DEFAULTS.get(name, (8, 6))
            print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
            results[name] = bench_preset(
                name, args.model, args.batch_size or batch, args.steps or steps, args.repeats, args.clips, Path(tmp)
            )
            print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
            tf.keras.backend.clear_session()
    report = {
        "pipeline_overhead": max(r["pipeline_overhead"] for r in results.values()),
        "presets": results,
        "train_clips_per_s": {k: r["train_clips_per_s"] for k, r in results.items()},
        "infer_clips_per_s": {k: r["infer_clips_per_s"] for k, r in results.items()},
        "peak_rss_mb": round(_rss_mb(), 1),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "tensorflow": tf.__version__,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
