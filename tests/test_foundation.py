"""The kit's ground: light import, the command line, the two install routes agreeing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import tomllib
import yaml

from fer_kit import __version__
from fer_kit.config import PROJECT_ROOT

# pip name -> conda-forge name where they differ
PIP_TO_CONDA = {"dlib-bin": "dlib", "opencv-python-headless": "opencv"}


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_import_does_not_load_tensorflow_and_is_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import fer_kit, fer_kit.cli; "
        "fer_kit.cli.build_parser(); print(time.perf_counter() - t); "
        "print(any(m.split('.')[0] in {'tensorflow', 'keras'} for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, tf_loaded = float(out[0]), out[1]
    assert tf_loaded == "False", "import fer_kit (and building the CLI parser) must not import TensorFlow"
    assert seconds < 1.0, f"import fer_kit + CLI parser took {seconds:.2f} s"


def test_tensorflow_gets_its_onednn_cpu_kernels_unless_the_user_says_otherwise(monkeypatch):
    """Without oneDNN, TensorFlow's 3D convolutions ran 4x slower on an AMD CPU (fer_kit.CPU_ENVIRONMENT)."""
    import os

    from fer_kit.course.chain import _kernel_env

    code = "import fer_kit, os; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    clean = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean)
    assert run.stdout.strip() == "1"
    chosen = {**clean, "TF_ENABLE_ONEDNN_OPTS": "0"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=chosen)
    assert run.stdout.strip() == "0"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert _kernel_env()["TF_ENABLE_ONEDNN_OPTS"] == "1"  # notebooks import Keras before the kit
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert _kernel_env()["TF_ENABLE_ONEDNN_OPTS"] == "0"


RETRACING = """
import sys
from fer_kit.logs import quiet_native_logs
quiet_native_logs(verbose="--verbose" in sys.argv)
import tensorflow as tf
double = tf.function(lambda x: x * 2)
for n in range(1, 9):  # eight input shapes: eight traces of one function
    double(tf.zeros([n]))
print(int(double(tf.ones([1]))[0]))
"""


def test_quiet_mode_hides_tensorflow_retracing_warnings_and_verbose_shows_them():
    """A 10-fold cross-validation with ensembles builds dozens of models; each new one's first predict used
    to print TensorFlow's "triggered tf.function retracing" paragraph into the benchmark log."""
    quiet = subprocess.run([sys.executable, "-c", RETRACING], capture_output=True, text=True, check=True)
    verbose = subprocess.run([sys.executable, "-c", RETRACING, "--verbose"], capture_output=True, text=True, check=True)
    assert quiet.stdout.strip() == verbose.stdout.strip() == "2"
    assert "retracing" not in quiet.stderr, quiet.stderr[-2000:]
    assert "retracing" in verbose.stderr, "the check itself no longer makes TensorFlow warn"


def test_cli_version_and_help_list_command_groups():
    version = subprocess.run(
        [sys.executable, "-m", "fer_kit.cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.strip() == f"fer-kit {__version__}"
    started = time.perf_counter()
    help_text = subprocess.run(
        [sys.executable, "-m", "fer_kit.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert time.perf_counter() - started < 10
    for group in ("info", "data", "preprocess", "landmarks", "train", "evaluate", "predict", "course", "grade"):
        assert f"    {group} " in help_text or f"    {group}\n" in help_text, f"`fer-kit --help` lacks {group}"


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    pip_names |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    expected = {PIP_TO_CONDA.get(name, name) for name in pip_names}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda_names = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    conda_names -= {"distributed"}  # conda-forge splits dask[distributed] into dask + distributed
    assert conda_names == expected, f"only in environment.yml: {conda_names - expected}; only in pyproject: {expected - conda_names}"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_readme_opens_with_the_two_commands_and_ci_calls_make_test():
    head = "\n".join((PROJECT_ROOT / "README.md").read_text().splitlines()[:40])
    assert "make course" in head and "make test" in head
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_info_json_reports_the_landmark_model(tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "fer_kit.cli", "info", "--json", "--no-tensorflow"],
        capture_output=True, text=True, check=True,
    ).stdout
    import json

    report = json.loads(out)
    assert report["fer_kit"] == __version__
    assert report["landmark_model"].endswith("shape_predictor_68_face_landmarks.dat"), report["landmark_model"]


def test_outputs_go_beside_the_user_never_into_the_package(tmp_path, monkeypatch) -> None:
    from fer_kit.config import NOTEBOOKS_DIR, PACKAGE_DIR, default_output_root, is_source_checkout

    monkeypatch.delenv("FER_KIT_COURSE_OUT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_output_root() == tmp_path.resolve() / "course-output"
    monkeypatch.chdir(NOTEBOOKS_DIR)  # a notebook opened in place, in JupyterLab
    root = default_output_root()
    assert PACKAGE_DIR not in root.parents
    assert root == (PROJECT_ROOT if is_source_checkout() else Path.home()) / "course-output"
    monkeypatch.setenv("FER_KIT_COURSE_OUT", str(tmp_path / "mine"))
    assert default_output_root() == tmp_path / "mine"
