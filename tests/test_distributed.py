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


def _small_class(root: Path) -> Path:
    """Three hand-ins of the toy assignment: the solution, one whose exercise 2 raises, a truncated file."""
    import nbformat

    toy = Path(__file__).parent / "fixtures" / "grading" / "toy.ipynb"
    subs = root / "submissions"
    subs.mkdir()
    (subs / "alice.ipynb").write_bytes(toy.read_bytes())
    nb = nbformat.read(toy, as_version=4)
    cell = next(cell for cell in nb.cells if "def crop_pixels" in cell.source)
    start, end = cell.source.index("    ### BEGIN SOLUTION"), cell.source.index("### END SOLUTION") + 16
    cell.source = cell.source[:start] + '    raise ValueError("half-way")' + cell.source[end:]
    nbformat.write(nb, subs / "dave.ipynb")
    (subs / "frank.ipynb").write_text('{"cells": [ {"cell_type": "code", "sour')
    return subs


def test_a_class_graded_on_the_cluster_gets_the_local_gradebook(cluster, tmp_path) -> None:
    """One submission per task, each in its own sandbox on a worker: the same gradebook as this machine's."""
    import csv

    from fer_kit.grading import get_assignment
    from fer_kit.grading.runner import grade_class
    from fer_kit.grading.sandbox import bubblewrap_problem

    problem = bubblewrap_problem()
    if problem:
        pytest.skip(f"the grader's sandbox cannot run here: {problem}")
    subs = _small_class(tmp_path)
    assignment = get_assignment(str(Path(__file__).parent / "fixtures" / "grading" / "toy_checks.py"))
    secret = b"the same hidden inputs for both runs"
    books = {}
    for where, scheduler in (("local", None), ("cluster", cluster.scheduler_address)):
        report = grade_class(subs, assignment, tmp_path / where / "toy.csv", timeout=60, workers=2, secret=secret,
                             scheduler=scheduler)
        assert report.graded == 3
        with report.gradebook.open() as handle:
            books[where] = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]
    assert books["cluster"] == books["local"]
    scores = {row["student"]: (row["score"], row["status"]) for row in books["local"]}
    assert scores == {"alice": ("10", "ok"), "dave": ("7", "error"), "frank": ("0", "invalid")}
    with distributed.Client(cluster) as client:
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "grade" in prefixes, prefixes  # the submissions ran as tasks on the workers
    state = tmp_path / "cluster" / "toy_runs"
    assert (state / "executed" / "alice.ipynb").is_file() and not list(state.glob("fer-kit-grading-*"))
