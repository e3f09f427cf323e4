"""Where the kit finds things: its own files, the course notebooks, where outputs go, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed ``fer_kit`` package (read-only for the kit: nothing is ever written here)."""
PROJECT_ROOT = PACKAGE_DIR.parent
"""The source checkout in an editable install; ``site-packages`` in a wheel install."""
NOTEBOOKS_DIR = PACKAGE_DIR / "notebooks"
"""The instructor's course notebooks, shipped inside the package (and the wheel)."""
COURSE_OUT_ENV = "FER_KIT_COURSE_OUT"


def is_source_checkout() -> bool:
    """True when the kit runs from a clone (``pyproject.toml`` beside the package), not from a wheel."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "fer_kit").resolve() == PACKAGE_DIR


def default_output_root(name: str = "course-output") -> Path:
    """Where outputs go when no folder is given: beside the user, never into the installed package.

    ``$FER_KIT_COURSE_OUT`` when set; else ``./name`` of the current folder, except when the
    current folder is inside the package (a notebook opened in place): then ``name/`` of the
    clone, or of the home folder for a wheel install.
    """
    env = os.environ.get(COURSE_OUT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path.cwd().resolve()
    if here == PACKAGE_DIR or PACKAGE_DIR in here.parents:
        return (PROJECT_ROOT if is_source_checkout() else Path.home()) / name
    return here / name


def shared_data_dir() -> Path:
    """Real development data: ``$FER_KIT_SHARED_DATA`` or ``../shared/data`` beside the project."""
    env = os.environ.get("FER_KIT_SHARED_DATA")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()
