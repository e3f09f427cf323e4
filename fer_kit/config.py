"""Where the kit finds things: the project root, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def shared_data_dir() -> Path:
    """Real development data: ``$FER_KIT_SHARED_DATA`` or ``../shared/data`` beside the project."""
    env = os.environ.get("FER_KIT_SHARED_DATA")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()
