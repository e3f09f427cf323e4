"""Training across machines: two CPU workers on 127.0.0.1 with ``TF_CONFIG``, one run folder written by the chief."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from toyclips import write_toy_cache

from fer_kit.errors import UsageError
from fer_kit.training import devices
from fer_kit.training.multiworker import read_tf_config

EPOCHS = 2

AUDITED_TRAIN = textwrap.dedent(
    """
    import atexit, json, os, sys
    watched = os.path.abspath(sys.argv.pop(1))
    writes = set()

    def note(path):
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(path))
            if path == watched or path.startswith(watched + os.sep):
                writes.add(path)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (mode is not None and any(c in mode for c in "wax+")) or (
                    mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                note(path)
        elif event == "os.rename":
            note(args[1])
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"):
            note(args[0])

    sys.addaudithook(hook)
    atexit.register(lambda: print("WRITES " + json.dumps(sorted(writes)), file=sys.stderr))
    from fer_kit.cli import main
    sys.exit(main())
    """
)
"""``fer-kit`` with an audit hook that lists every file it writes, moves or removes under the folder in argv[1]."""


def _collectives_available() -> str | None:
    """Why TensorFlow cannot run multi-worker collectives here (None: it can)."""
    try:
        import tensorflow as tf
    except ImportError:
        return "TensorFlow is not installed"
    if not hasattr(tf.distribute, "MultiWorkerMirroredStrategy") or not hasattr(tf.raw_ops, "CollectiveReduceV2"):
        return "this TensorFlow build has no collective ops (MultiWorkerMirroredStrategy)"
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _writes(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.startswith("WRITES ")]
    assert lines, stderr[-3000:]
    return json.loads(lines[-1].removeprefix("WRITES "))


@pytest.mark.slow
def test_two_workers_train_one_run_written_by_the_chief(tmp_path) -> None:
    reason = _collectives_available()
    if reason:
        pytest.skip(reason)
    cache = write_toy_cache(tmp_path / "cache", classes=("happiness", "surprise"), per_class=2, subjects=("a", "b", "c"))
    run = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    command = [sys.executable, "-c", AUDITED_TRAIN, str(run), "train", "--cache", str(cache), "--out", str(run),
               "--preset", "tiny", "--model", "landmarks", "--epochs", str(EPOCHS), "--batch-size", "4",
               "--distribute", "multiworker", "--no-tensorboard", "--json"]
    workers = []
    for index in range(2):
        scratch = tmp_path / f"tmp-{index}"
        scratch.mkdir()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch), "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]

    summaries = [json.loads(stdout) for stdout, _ in outputs]
    assert [s["run"] for s in summaries] == [str(run)] * 2  # both print the chief's run
    assert summaries[0]["devices"] == 2 and summaries[0]["epochs_run"] == EPOCHS
    assert (run / "model.keras").is_file()
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == list(range(EPOCHS))
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints", "config.json", "history.csv", "history.json", "model.keras", "split.json", "summary.json"]

    chief_writes, worker_writes = (_writes(stderr) for _, stderr in outputs)
    assert str(run / "model.keras") in chief_writes
    assert worker_writes == [], "the worker wrote into the chief's run folder"
    assert not list((tmp_path / "tmp-1").iterdir()), "the worker's temporary folder stayed"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{not json", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "needs a cluster"),
        ('{"cluster": {"worker": "node0:1"}, "task": {"type": "worker", "index": 0}}', "list of host:port"),
        ('{"cluster": {"worker": ["node0:1"]}}', "this machine's task"),
        ('{"cluster": {"worker": ["node0:1"]}, "task": {"type": "worker", "index": 1}}', "worker 1 is not in"),
    ],
)
def test_a_missing_or_malformed_tf_config_is_one_line(value, problem) -> None:
    environ = {} if value is None else {"TF_CONFIG": value}
    with pytest.raises(UsageError, match=problem) as error:
        read_tf_config(environ)
    assert "\n" not in str(error.value)


def test_multiworker_is_tensorflow_only(monkeypatch) -> None:
    monkeypatch.setattr(devices, "backend", lambda: "jax")
    with pytest.raises(UsageError, match="TensorFlow-only"):
        devices.choose_strategy("multiworker")


def test_a_good_tf_config_is_read() -> None:
    spec = {"cluster": {"worker": ["node0:12345", "node1:12345"]}, "task": {"type": "worker", "index": 1}}
    assert read_tf_config({"TF_CONFIG": json.dumps(spec)}) == spec
