"""Quiet by default: the native libraries' start-up chatter off, unless the user asks for it.

On a CPU machine, importing TensorFlow prints eight to ten lines from its C++ core before
any Python code can stop it (``oneDNN custom operations are on``, ``Could not find cuda
drivers``, ``failed call to cuInit``, ...): they are printed before absl's logging is set
up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. :func:`quiet_native_logs` sets the
environment variables that do work (TensorFlow's C++ log level, OpenCV's and FFmpeg's)
and installs an import hook that runs the first ``import tensorflow`` with file
descriptor 2 sent to a temporary file; afterwards the lines that are not start-up noise
(:data:`NOISE`) are written to stderr, so a real error still shows. TensorFlow's Python-side warnings
are raised to errors only, too. ``--verbose`` skips all of it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] "
    r"|To enable the following instructions:"
    r"|This TensorFlow binary is optimized)"
)
"""Lines of native start-up logging (absl / glog prefixes and TensorFlow's CPU-feature notice)."""

QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow C++ logs after start-up (cuInit, ...)
    "GRPC_VERBOSITY": "ERROR",
    "OPENCV_LOG_LEVEL": "ERROR",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET: no "moov atom not found" before the kit's own message
}


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the block; then replay its lines that are not :data:`NOISE`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines() if not NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's ``exec_module`` inside :func:`filtered_stderr`."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with filtered_stderr():
            self.loader.exec_module(module)
        with contextlib.suppress(Exception):
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        # TensorFlow's own Python warnings (e.g. "triggered tf.function retracing" each time a fold's or an
        # ensemble member's new model predicts) go to the "tensorflow" logger, not to absl's.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, the normal way, and hands back its spec with a :class:`_QuietLoader`."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_native_logs(verbose: bool = False) -> None:
    """Silence TensorFlow's, absl's, OpenCV's and FFmpeg's logs for this process and its children (module doc).

    With ``verbose`` nothing is changed. Values the user set in the environment are kept.
    """
    if verbose:
        return
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
