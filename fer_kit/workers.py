"""Worker processes that stop with the kit: on Ctrl-C, on ``kill -TERM`` and when their parent dies.

The kit's process pools (the clip cache, the synthetic data, the ERT's face detection)
start their processes with :func:`become_worker`: a worker ignores Ctrl-C (the parent
decides), answers SIGTERM by removing its half-written files
(:func:`fer_kit.atomic.remove_in_flight`) and exiting at once, and, on Linux, asks the kernel to send
it SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so even ``kill -9`` of the
command leaves no worker running. The parent calls :func:`stop_pool` when it is
interrupted; :func:`raise_on_termination` makes SIGTERM reach it as :class:`Interrupted`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal a process receives when its parent exits (Linux)."""


class Interrupted(KeyboardInterrupt):
    """The command was asked to stop (Ctrl-C or SIGTERM); ``signum`` says which signal."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def raise_on_termination() -> None:
    """In the main process: SIGTERM (a job scheduler, ``timeout``) raises :class:`Interrupted` like Ctrl-C."""
    with contextlib.suppress(ValueError):  # not the main thread: leave the signals alone
        signal.signal(signal.SIGTERM, _raise_interrupted)


def _exit_on_signal(signum: int, frame: Any) -> None:
    """Remove the half-written files, then exit at once (an exception would be caught by the pool's task loop)."""
    from fer_kit.atomic import remove_in_flight

    remove_in_flight()
    os._exit(128 + signum)


def become_worker() -> None:
    """Initialiser of a worker process: ignore SIGINT, exit cleanly on SIGTERM, die with the parent (module doc)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(128 + signal.SIGTERM)


def stop_pool(pool: Any) -> None:
    """Cancel what is queued and terminate the processes of ``pool`` now.

    Works for a ``concurrent.futures.ProcessPoolExecutor`` and a ``multiprocessing.Pool``.
    The workers receive SIGTERM, so each removes its temporary file (see :func:`become_worker`).
    """
    if hasattr(pool, "terminate"):  # multiprocessing.Pool
        pool.terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=10)
