"""Training across machines: ``tf.distribute.MultiWorkerMirroredStrategy`` driven by ``TF_CONFIG``.

Every machine runs the same ``fer-kit train --distribute multiworker`` command; the
``TF_CONFIG`` environment variable tells each one the cluster and its own place in it::

    {"cluster": {"worker": ["node0:12345", "node1:12345"]}, "task": {"type": "worker", "index": 0}}

The design follows TensorFlow's multi-worker guide:

* the strategy is made before any other TensorFlow op (its collective ops are set up when the
  runtime starts), so :func:`fer_kit.training.train.train` makes it first;
* every worker reads the whole cache and keeps its share of each global batch
  (``tf.data`` sharding by data, :func:`fer_kit.training.data.make_dataset`), so the in-memory
  pipeline needs no file per worker;
* only the chief (task ``chief``, or ``worker`` 0 when the cluster has no chief) writes the
  run folder; every other worker writes the same files to a temporary folder of its own
  (:func:`worker_folder`), removed at the end. That folder starts as a copy of the chief's
  resume state (split, best-epoch checkpoint, the ``BackupAndRestore`` backup), so after an
  interruption every worker resumes at the same epoch with the same early-stopping counters;
* workers meet at a barrier (:func:`barrier`) after that copy and again once the chief's run
  folder is complete (:func:`finish`), so every worker's command ends with the run written.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fer_kit.errors import UsageError

RESUME_STATE = ("split.json", "history.csv", "checkpoints", "backup")
"""What a non-chief worker copies from the chief's run folder before training (read only)."""

EXAMPLE = '{"cluster": {"worker": ["node0:12345", "node1:12345"]}, "task": {"type": "worker", "index": 0}}'


def read_tf_config(environ: dict[str, str] | None = None) -> dict:
    """``TF_CONFIG`` parsed and checked: a ``cluster`` of ``host:port`` lists and this machine's ``task``.

    Raises :class:`~fer_kit.errors.UsageError` (one line naming the problem) when it is
    missing, not JSON, or names a task that is not in the cluster.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        raise UsageError(f"--distribute multiworker needs the TF_CONFIG environment variable, e.g. {EXAMPLE}")
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON ({error})") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster.get("worker") and not cluster.get("chief"):
        raise UsageError(f"TF_CONFIG needs a cluster with a list of workers, e.g. {EXAMPLE}")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise UsageError(f"TF_CONFIG cluster.{kind} must be a list of host:port addresses, got {addresses!r}")
    task = spec.get("task")
    if not isinstance(task, dict) or "type" not in task or not isinstance(task.get("index", 0), int):
        raise UsageError('TF_CONFIG needs this machine\'s task, e.g. "task": {"type": "worker", "index": 0}')
    kind, index = task["type"], task.get("index", 0)
    if kind not in cluster or not 0 <= index < len(cluster[kind]):
        raise UsageError(f"TF_CONFIG task {kind} {index} is not in the cluster ({json.dumps(cluster)})")
    return spec


@functools.cache
def multiworker_strategy() -> Any:
    """A ``MultiWorkerMirroredStrategy`` for the cluster in ``TF_CONFIG`` (checked by :func:`read_tf_config`).

    One per process (TensorFlow sets the collectives up once), so every run of the process shares it.
    """
    read_tf_config()
    import tensorflow as tf

    class KerasReadyStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """``reduce`` as Keras 3's ``fit`` calls it (keras-team/keras#20585, #20329): it reduces a whole
        ``(x, y, w)`` batch to build the model, which the collective strategy does only leaf by leaf,
        and each scalar metric over ``axis=0``, which for a scalar means across the replicas alone."""

        def reduce(self, reduce_op: Any, value: Any, axis: int | None = None) -> Any:
            parent = super()

            def one(leaf: Any) -> Any:
                scalar = getattr(self.experimental_local_results(leaf)[0], "shape", None) == ()
                return parent.reduce(reduce_op, leaf, None if scalar else axis)

            return tf.nest.map_structure(one, value)

    try:
        return KerasReadyStrategy()
    except (ValueError, RuntimeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"cannot start multi-worker training ({message}); it must start before TensorFlow runs "
                         "anything else in the process") from None


def is_multiworker(strategy: Any) -> bool:
    """Whether ``strategy`` spans several workers (a ``MultiWorkerMirroredStrategy`` with a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and bool(resolver.cluster_spec().as_dict())


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the run folder: task ``chief``, or ``worker`` 0 in a cluster without one."""
    if not is_multiworker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def worker_folder(run: Path, strategy: Any) -> Path:
    """Where this process writes the run's files: ``run`` on the chief (and off a cluster).

    On any other worker: a new temporary folder holding a copy of the chief's resume state
    (:data:`RESUME_STATE`), removed by :func:`finish` (or at exit, should training fail).
    All workers then meet at a :func:`barrier`, so the chief changes nothing before the copy is made.
    """
    if is_chief(strategy):
        folder = run
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"fer-kit-worker-{strategy.cluster_resolver.task_id}-"))
        atexit.register(shutil.rmtree, folder, True)
        for name in RESUME_STATE:
            source = run / name
            if source.is_dir():
                shutil.copytree(source, folder / name)
            elif source.is_file():
                shutil.copy2(source, folder / name)
    if is_multiworker(strategy):
        barrier(strategy)
    return folder


def barrier(strategy: Any) -> None:
    """Wait until every worker gets here: one all-reduce of a scalar across the cluster."""
    import tensorflow as tf

    @tf.function
    def meet() -> tf.Tensor:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None)

    meet()


def finish(run: Path, folder: Path, strategy: Any) -> Path:
    """End a run on every worker: wait for the chief's run folder to be complete, drop a worker's temporary folder.

    Returns ``run``, the run folder the chief wrote.
    """
    if is_multiworker(strategy):
        barrier(strategy)
    if folder != run:
        shutil.rmtree(folder, ignore_errors=True)
    return run
