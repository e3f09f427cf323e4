"""Preprocessing throughput on a Dask cluster against this machine's process pool (the engine's overhead).

A synthetic dataset (``--per-class`` clips of each emotion) is preprocessed into a fresh cache
four ways, each timed end to end by ``build_cache``: the local pool with 1 and with 2
processes, and a ``distributed.LocalCluster`` on 127.0.0.1 with 1 and with 2 single-threaded
worker processes (started before the clock runs, as a lab's cluster is). Reported: clips/s of
each, ``speedup_2_workers`` (2 Dask workers / 1), ``overhead_vs_local`` (1 - Dask-2 / local-2),
and whether every cache is byte-identical to the local one.

    python benchmarks/distributed.py --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path


def _digest(cache: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(cache.glob("clips/*.npz")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=12, help="synthetic clips per emotion (default 12: 84 clips)")
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    # this file is called distributed.py: take Dask's package, not this script, for "import distributed"
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.modules.pop("distributed", None)
    import distributed

    from fer_kit.clips.cache import build_cache
    from fer_kit.clips.preprocess import PreprocessSettings
    from fer_kit.datasets import index_dataset
    from fer_kit.datasets.synthetic.generate import generate_synthetic

    settings = PreprocessSettings.from_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_synthetic(root / "synth", per_class=args.per_class, seed=0, workers=2, progress=False)
        index = index_dataset(root / "synth", "synthetic")
        runs: dict[str, dict] = {}

        def timed(name: str, **how) -> None:
            report = build_cache(index, root / name, settings, progress=False, **how)
            runs[name] = {"clips": report.built, "seconds": round(report.seconds, 2),
                          "clips_per_s": round(report.built / report.seconds, 2), "digest": _digest(root / name)}

        timed("local-1", workers=1)
        timed("local-2", workers=2)
        for n in (1, 2):
            with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                          host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
                client.run(lambda: __import__("fer_kit.face.landmarks").face.landmarks.load_predictor())  # warm
                timed(f"dask-{n}", scheduler=cluster.scheduler_address)
    reference = runs["local-1"]["digest"]
    result = {
        "clips": len(index), "preset": args.preset,
        "runs": {name: {k: v for k, v in run.items() if k != "digest"} for name, run in runs.items()},
        "speedup_2_workers": round(runs["dask-2"]["clips_per_s"] / runs["dask-1"]["clips_per_s"], 3),
        "local_speedup_2_processes": round(runs["local-2"]["clips_per_s"] / runs["local-1"]["clips_per_s"], 3),
        "overhead_vs_local": round(1 - runs["dask-2"]["clips_per_s"] / runs["local-2"]["clips_per_s"], 3),
        "identical_caches": all(run["digest"] == reference for run in runs.values()),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2) if args.json else result)
    return result


if __name__ == "__main__":
    main()
