"""What the kit runs on: package versions, CPU/GPU, the landmark model, the shared data."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from fer_kit import __version__
from fer_kit.config import shared_data_dir

_PACKAGES = ("tensorflow", "keras", "dlib-bin", "opencv-python-headless", "numpy", "scikit-image", "papermill")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_report(with_tensorflow: bool = True) -> dict:
    """A dict of facts a student or instructor checks first (notebook 00)."""
    report: dict = {
        "fer_kit": __version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    report.update({name: _version(name) for name in _PACKAGES})
    try:
        from fer_kit.face.landmarks import default_predictor_path

        report["landmark_model"] = str(default_predictor_path())
    except Exception as error:  # the report must show the problem, not stop on it
        report["landmark_model"] = f"missing: {error}"
    data = shared_data_dir()
    report["shared_data"] = str(data) if data.is_dir() else f"absent ({data})"
    if with_tensorflow:
        import tensorflow as tf

        report["gpus"] = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    return report
