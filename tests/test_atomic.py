"""Atomic writes: written files follow the umask, a failed write changes nothing, an old file is replaced whole."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from fer_kit.atomic import atomic_path, current_umask, write_bytes_atomic, write_json_atomic, write_text_atomic


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test; the old one comes back afterwards."""
    old = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".tmp-*"))


def _write_text(path: Path) -> None:
    write_text_atomic(path, "héllo\r\nworld\n")


def _write_json(path: Path) -> None:
    write_json_atomic(path, {"accuracy": np.float32(0.5)}, default=lambda value: value.item())


def _write_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_kit.viz.plots import plot_confusion_matrix, save_figure

    fig = plot_confusion_matrix(np.array([[75.0, 25.0], [10.0, 90.0]]), ["happy", "sad"])
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def _write_clip(path: Path) -> None:
    from fer_kit.clips.clip import Clip

    t, s = 2, 8
    Clip(
        faces=np.zeros((t, s, s, 3), np.uint8),
        local=np.zeros((t, s, s, 1), np.uint8),
        landmarks=np.zeros((t, 68, 2), np.float32),
        valid=np.ones(t, bool),
        label=1,
    ).save(path)


WRITERS = {
    "write_text_atomic": ("notes.txt", _write_text),
    "write_json_atomic": ("results.json", _write_json),
    "figure PNG": ("confusion.png", _write_png),
    "clip npz": ("clip.npz", _write_clip),
}


@pytest.mark.parametrize(
    "mask, expected",
    [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
    ids=["umask022-rw-r--r--", "umask077-rw-------", "umask002-rw-rw-r--"],
)
@pytest.mark.parametrize("case", list(WRITERS))
def test_written_files_follow_the_umask(tmp_path: Path, umask, case: str, mask: int, expected: int) -> None:
    name, writer = WRITERS[case]
    umask(mask)
    target = tmp_path / "shared" / name
    writer(target)
    assert target.is_file()
    assert _mode(target) == expected, f"{case}: {oct(_mode(target))} under umask {oct(mask)}"
    assert not _temp_files(tmp_path)


def test_the_written_content_is_what_was_asked(tmp_path: Path) -> None:
    _write_text(tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\r\nworld\n".encode()
    _write_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"accuracy": 0.5}
    assert (tmp_path / "r.json").read_text().endswith("}\n")
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    _write_clip(tmp_path / "c.npz")
    from fer_kit.clips.clip import Clip

    assert Clip.load(tmp_path / "c.npz").label == 1


def test_current_umask_reads_without_changing(umask) -> None:
    umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027  # still the same: reading did not reset it


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "gradebook.csv"
    target.write_text("old contents\n")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old contents\n"
    assert not _temp_files(tmp_path)


def test_an_interrupted_writer_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert not target.exists()
    assert not _temp_files(tmp_path)


def test_a_failing_figure_save_leaves_the_old_png(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.figure

    target = tmp_path / "curves.png"
    _write_png(target)
    before = target.read_bytes()

    def broken_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError("no space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="no space left"):
        _write_png(target)
    assert target.read_bytes() == before
    assert not _temp_files(tmp_path)


def test_a_writer_that_writes_nothing_is_an_error_naming_the_target(tmp_path: Path) -> None:
    target = tmp_path / "weights.h5"
    with pytest.raises(OSError, match="weights.h5"), atomic_path(target):
        pass
    assert not target.exists()
    assert not _temp_files(tmp_path)


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text(json.dumps({"long": "x" * 10_000}))
    write_json_atomic(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'
    write_text_atomic(target, "short")
    assert target.read_text() == "short"


def test_the_temporary_keeps_the_suffix_and_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "best.weights.h5"
    with atomic_path(target, suffix=".weights.h5") as tmp:
        assert tmp.parent == target.parent and target.parent.is_dir()
        assert tmp.name.startswith(".tmp-") and tmp.name.endswith(".weights.h5")
        tmp.write_bytes(b"w")
    with atomic_path(tmp_path / "clip.npz") as tmp:
        assert tmp.suffix == ".npz"
        np.savez(tmp, a=np.zeros(1))  # np.savez would append .npz to a name without it
    with np.load(tmp_path / "clip.npz") as data:
        assert data["a"].shape == (1,)
    assert not _temp_files(tmp_path)
