"""The batch jobs on a Dask cluster: two workers on 127.0.0.1, the same results as this machine's pool."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="Dask is not installed (pip install 'fer-kit[distributed]')")

from fer_kit.clips.cache import build_cache, load_cache_index  # noqa: E402
from fer_kit.clips.preprocess import PreprocessSettings  # noqa: E402
from fer_kit.datasets import index_dataset  # noqa: E402

pytestmark = pytest.mark.slow
SETTINGS = PreprocessSettings(size=32, frames=8)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as local:
        yield local


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from fer_kit.datasets.synthetic.generate import generate_synthetic

    root = tmp_path_factory.mktemp("synth")
    generate_synthetic(root, per_class=2, seed=0, workers=1, progress=False)
    return index_dataset(root, "synthetic")


def _digests(cache: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(cache.glob("clips/*.npz"))}


def test_a_cache_made_on_the_cluster_is_the_one_made_here(cluster, videos, tmp_path) -> None:
    local = build_cache(videos, tmp_path / "local", SETTINGS, workers=1, progress=False)
    remote = build_cache(videos, tmp_path / "cluster", SETTINGS, progress=False, scheduler=cluster.scheduler_address)
    assert local.built == remote.built == len(videos)
    assert _digests(tmp_path / "local") == _digests(tmp_path / "cluster")
    a, b = load_cache_index(tmp_path / "local"), load_cache_index(tmp_path / "cluster")
    assert a.drop(columns=["path"]).equals(b.drop(columns=["path"])) and list(a.path) == list(b.path)


def test_a_worker_killed_mid_run_loses_nothing(cluster, videos, tmp_path) -> None:
    """One worker is killed outright while clips are being made: its tasks run again, the job finishes."""
    import psutil

    local = build_cache(videos, tmp_path / "local", SETTINGS, workers=1, progress=False)
    cache = tmp_path / "cluster"
    result: dict = {}

    def run() -> None:
        result["report"] = build_cache(videos, cache, SETTINGS, progress=False, scheduler=cluster.scheduler_address)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(cache.glob("clips/*.npz")):
        time.sleep(0.05)
    import os

    with distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
    psutil.Process(pids[0]).kill()
    thread.join(timeout=600)
    assert not thread.is_alive()
    report = result["report"]
    assert report.built + report.skipped == len(videos) and not report.failed
    assert _digests(cache) == _digests(tmp_path / "local")
    assert not list(cache.rglob(".tmp-*")), "a half-written file stayed"
    assert local.built == len(videos)


def test_cross_validation_runs_one_fold_per_task(cluster, tmp_path) -> None:
    from toyclips import write_toy_cache

    from fer_kit.crossval import cross_validate
    from fer_kit.training.config import TrainConfig

    cache = write_toy_cache(tmp_path / "cache", classes=("happiness", "surprise"), per_class=2)
    config = TrainConfig(cache=str(cache), out=str(tmp_path / "cv"), model="landmarks", preset="tiny", epochs=2,
                         batch_size=4, tensorboard=False)
    seen: list[int] = []
    result = cross_validate(config, folds=2, plots=False, on_fold=lambda number, _: seen.append(number),
                            scheduler=cluster.scheduler_address)
    assert sorted(seen) == [0, 1] and [fold["fold"] for fold in result["per_fold"]] == [0, 1]
    assert result["clips"] == 16 and (tmp_path / "cv" / "fold-01" / "model.keras").is_file()
