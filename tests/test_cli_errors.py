"""Every command, given bad arguments or bad files, says what is wrong in one line: no traceback, non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from toyclips import write_toy_cache

ROOT = Path(__file__).resolve().parent.parent


def fer_kit(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL",)}
    return subprocess.run([sys.executable, "-m", "fer_kit.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad inputs of every kind, made once."""
    import cv2

    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    (root / "a_file.txt").write_text("not a folder\n")
    (root / "text.keras").write_text("not a model\n")
    (root / "broken.mp4").write_bytes(b"\x00" * 64)
    cv2.imwrite(str(root / "blank.png"), np.full((120, 160, 3), 200, np.uint8))
    write_toy_cache(root / "one-subject", classes=("happiness", "surprise"), per_class=3, subjects=("s1",))
    write_toy_cache(root / "toy", classes=("happiness", "surprise"), per_class=2)
    return {"root": root, "empty": root / "empty", "file": root / "a_file.txt", "keras": root / "text.keras",
            "video": root / "broken.mp4", "blank": root / "blank.png", "one": root / "one-subject",
            "toy": root / "toy"}


CASES = {
    "no command arguments": (["train"], "the following arguments are required"),
    "unknown command": (["nosuch"], "invalid choice"),
    "unknown dataset": (["preprocess", "{empty}", "--dataset", "nosuch", "--out", "{root}/c1"], "unknown dataset"),
    "unknown preset": (["preprocess", "{empty}", "--dataset", "cremad", "--preset", "huge", "--out", "{root}/c2"],
                       "unknown preset"),
    "cache onto a file": (["preprocess", "{empty}", "--dataset", "cremad", "--out", "{file}"], "names a file"),
    "dataset folder of another layout": (["preprocess", "{empty}", "--dataset", "cremad", "--out", "{root}/c3"],
                                         "{empty}"),
    "index: unknown dataset": (["data", "index", "{empty}", "--dataset", "nosuch"], "unknown dataset"),
    "index: no such folder": (["data", "index", "{root}/missing", "--dataset", "ckplus"], "missing"),
    "train: not a cache": (["train", "--cache", "{empty}", "--out", "{root}/r1"], "not a clip cache"),
    "train: cache of unknown preset": (["train", "--cache", "{toy}", "--out", "{root}/r2"], "give --preset"),
    "train: one subject": (["train", "--cache", "{one}", "--preset", "tiny", "--out", "{root}/r3", "--epochs", "1"],
                           "at least 2 subjects"),
    "cv: one fold": (["cv", "--cache", "{toy}", "--preset", "tiny", "--folds", "1", "--out", "{root}/cv"],
                     "--folds must be at least 2"),
    "evaluate: no such run": (["evaluate", "{root}/no-run"], "no-run"),
    "predict: no such run": (["predict", "{root}/no-run", "{video}"], "no such run folder"),
    "predict: a text file named .keras": (["predict", "{keras}", "{video}"], "not a Keras model"),
    "landmarks: no such image": (["landmarks", "show", "{root}/none.png"], "none.png"),
    "landmarks: no face": (["landmarks", "show", "{blank}", "--out", "{root}/l.png"], "no face found"),
    "course: unknown dataset": (["course", "run", "--dataset", "nosuch", "--out", "{root}/co"], "unknown dataset"),
    "course: bad parameter": (["course", "run", "--param", "oops", "--out", "{root}/co"], "NAME=VALUE"),
    "models: unknown preset": (["models", "--preset", "huge"], "unknown preset"),
    "grade: no such submissions": (["grade", "{root}/none", "--assignment", "01_ert_landmarks", "--out",
                                    "{root}/g.csv"], "none"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_command_says_what_is_wrong_in_one_line(case, files) -> None:
    args, expected = CASES[case]
    args = [arg.format(**files) for arg in args]
    out = fer_kit(*args, cwd=files["root"])
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("fer-kit: error:")]
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert len(errors) == 1, lines
    assert expected.format(**files) in errors[0], errors[0]
    assert not [line for line in lines if line.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))], lines


def test_info_prints_only_its_table(tmp_path) -> None:
    out = fer_kit("info", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stderr.strip() == "", out.stderr
    assert all(": " in line for line in out.stdout.splitlines()), out.stdout


def test_an_internal_error_says_it_is_a_bug_and_debug_shows_the_traceback(monkeypatch, capsys) -> None:
    import fer_kit.model
    from fer_kit.cli import BUG_STATUS, main

    def broken(*args, **kwargs):
        raise RuntimeError("something the kit did not expect")

    monkeypatch.setattr(fer_kit.model, "parameter_table", broken)
    assert main(["models", "--preset", "tiny"]) == BUG_STATUS
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: something the kit did not expect" in err and "bug" in err
    assert "Traceback" not in err
    assert main(["models", "--preset", "tiny", "--debug"]) == BUG_STATUS
    assert "Traceback" in capsys.readouterr().err


def test_sigterm_stops_the_workers_and_a_rerun_resumes(tmp_path) -> None:
    """``kill -TERM`` of ``preprocess --workers 2``: the command and its workers stop, no temporary file stays."""
    import signal
    import time

    import psutil

    out = fer_kit("data", "synth", str(tmp_path / "synth"), "--per-class", "5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    cache = tmp_path / "cache"
    process = subprocess.Popen([sys.executable, "-m", "fer_kit.cli", "preprocess", str(tmp_path / "synth"),
                                "--dataset", "synthetic", "--out", str(cache), "--workers", "2", "--preset", "paper"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (len(parent.children()) >= 1 and list(cache.glob("clips/*.npz"))):
        time.sleep(0.2)
    workers = parent.children(recursive=True)
    assert workers, "the pool never started"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "interrupted" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers still running after SIGTERM: {alive}"
    assert not list(cache.glob("clips/.tmp-*"))
    made = len(list(cache.glob("clips/*.npz")))
    rerun = fer_kit("preprocess", str(tmp_path / "synth"), "--dataset", "synthetic", "--out", str(cache),
                    "--preset", "paper", "--json", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f'"skipped": {made}' in rerun.stdout or made == 0
