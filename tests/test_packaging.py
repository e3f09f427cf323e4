"""The kit as a user installs it: a wheel (not editable) that carries the notebooks and writes beside the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fer_kit.config import PROJECT_ROOT
from fer_kit.course import NOTEBOOKS

pytestmark = pytest.mark.slow


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """``pip wheel .`` then ``pip install --target`` of that wheel: the kit as installed, away from the clone."""
    build = tmp_path_factory.mktemp("wheel")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(build), str(PROJECT_ROOT)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "Could not find a version" in out.stderr + out.stdout:
        pytest.skip("building a wheel needs setuptools from PyPI, which is not reachable here")
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = build.glob("fer_kit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"fer_kit/notebooks/{stem}.ipynb" for stem in NOTEBOOKS} <= set(names)
    assert not [name for name in names if "toyclips" in name or name.startswith("tests/")]
    site = build / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return site


def _kit(site: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("FER_KIT_COURSE_OUT", None)
    return subprocess.run([sys.executable, "-m", "fer_kit.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_releases_and_runs_the_course_from_any_folder(wheel_site, tmp_path) -> None:
    before = _files(wheel_site)
    where = subprocess.run([sys.executable, "-c", "import fer_kit; print(fer_kit.__file__)"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(wheel_site)}, cwd=tmp_path, check=True)
    assert Path(where.stdout.strip()).is_relative_to(wheel_site)

    released = _kit(wheel_site, tmp_path, "course", "release", "--out", "student", "--json")
    assert released.returncode == 0, released.stderr[-3000:]
    assert sorted(Path(p).name for p in json.loads(released.stdout)["notebooks"]) == [f"{s}.ipynb" for s in NOTEBOOKS]
    assert (tmp_path / "student" / f"{NOTEBOOKS[0]}.ipynb").is_file()

    ran = _kit(wheel_site, tmp_path, "course", "run", "--only", NOTEBOOKS[0], "--param", "per_class=4", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout)
    assert Path(report["out"]) == tmp_path / "course-output"
    assert (tmp_path / "course-output" / f"{NOTEBOOKS[0]}.ipynb").is_file()
    assert _files(wheel_site) == before, "the run wrote into the installed package"
