"""Shared fixtures: the real data beside the project, temporary folders, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from fer_kit.config import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real data folder (``$FER_KIT_SHARED_DATA``, default ``../shared/data``); skip if absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared real data not found at {path} (set FER_KIT_SHARED_DATA to use it)")
    return path


def _shared_subdir(shared: Path, *parts: str) -> Path:
    path = shared.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data")
    return path


@pytest.fixture(scope="session")
def landmarks68_dir(shared_data: Path) -> Path:
    """300-W annotated faces (HELEN train, AFW)."""
    return _shared_subdir(shared_data, "landmarks68")


@pytest.fixture(scope="session")
def cremad_dir(shared_data: Path) -> Path:
    """Six real CREMA-D clips of actor 1001."""
    return _shared_subdir(shared_data, "videos", "crema-d")


@pytest.fixture(scope="session")
def pexels_dir(shared_data: Path) -> Path:
    """Real unlabelled face videos (one face, no face, face appearing / leaving)."""
    return _shared_subdir(shared_data, "videos", "pexels")


@pytest.fixture(scope="session")
def expression_photos_dir(shared_data: Path) -> Path:
    """Real labelled expression photos, one folder per emotion."""
    return _shared_subdir(shared_data, "expression-photos")


@pytest.fixture(scope="session")
def ckplus_dir(shared_data: Path) -> Path:
    """Real CK+ sequences (neutral frame + last three frames, 48 px grey) in CK+'s own layout."""
    return _shared_subdir(shared_data, "ckplus")
