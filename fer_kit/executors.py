"""Where the kit's parallel tasks run: a process pool on this machine, or a Dask cluster.

One abstraction for every batch job (the clip cache, cross-validation folds): a
``concurrent.futures.Executor``. :func:`task_executor` gives

* without a scheduler: a ``ProcessPoolExecutor`` of spawned processes that stop with the kit
  (:func:`fer_kit.workers.become_worker`);
* with ``scheduler="tcp://HOST:8786"`` (or ``$FER_KIT_SCHEDULER``): the ``concurrent.futures``
  face of a ``distributed.Client`` connected to that Dask scheduler. Tasks are plain functions
  of paths, so the workers must see the same files at the same paths (shared storage), and
  have the kit installed. A worker that dies mid-task loses nothing: Dask runs the task again
  on another worker, and every file is written through :func:`fer_kit.atomic.atomic_path`, so
  no half-written file is ever visible.

Dask is an optional extra (``pip install 'fer-kit[distributed]'``); it is imported only when a
scheduler is given.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

from fer_kit.errors import UsageError

SCHEDULER_ENV = "FER_KIT_SCHEDULER"
"""Environment variable read when no ``--scheduler`` is given."""


def scheduler_address(given: str | None = None) -> str | None:
    """The Dask scheduler to use: ``given``, else ``$FER_KIT_SCHEDULER``, else None (this machine)."""
    return given or os.environ.get(SCHEDULER_ENV) or None


@contextlib.contextmanager
def task_executor(
    workers: int, scheduler: str | None = None, initializer: Callable[[], None] | None = None
) -> Iterator[Executor]:
    """A ``concurrent.futures.Executor`` for the kit's tasks (module doc); closed on leaving the block.

    ``initializer`` (a module-level function) runs once in each local worker process after
    :func:`fer_kit.workers.become_worker`; Dask workers are long-lived and set up by their owner.

    On an exception (Ctrl-C, SIGTERM) a local pool is stopped at once, its workers removing their
    temporary files; a cluster's tasks are cancelled.
    """
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(
                "--scheduler needs Dask: pip install 'fer-kit[distributed]' (on this machine and on the workers)"
            ) from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler} ({error})") from None
        executor = client.get_executor()
        try:
            yield executor
        except BaseException:
            with contextlib.suppress(Exception):
                executor.shutdown(wait=False)
            raise
        finally:
            client.close()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from fer_kit.workers import stop_pool

    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=functools.partial(_start_worker, initializer))
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _start_worker(initializer: Callable[[], None] | None) -> None:
    from fer_kit.workers import become_worker

    become_worker()
    if initializer is not None:
        initializer()
