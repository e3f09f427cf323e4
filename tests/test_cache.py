"""The clip cache: parallel, atomic, resumable, keyed by source and settings."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from fer_kit.clips.cache import build_cache, load_cache_index, load_cache_settings
from fer_kit.clips.clip import Clip
from fer_kit.clips.preprocess import PreprocessSettings
from fer_kit.errors import DatasetLayoutError

TINY = PreprocessSettings(size=32, frames=8)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> pd.DataFrame:
    """Three short face videos, one without a face and one missing file, as a dataset index."""
    folder = tmp_path_factory.mktemp("videos")
    face = np.ascontiguousarray(skimage.data.astronaut()[:320, 80:400])
    rows = []
    for i, label in enumerate(["happiness", "anger", ""]):
        frames = [np.roll(face, 3 * (t + i), axis=1) for t in range(6)]
        rows.append({"source": str(write_video(folder / f"face{i}.avi", frames)), "label": label, "subject": f"s{i}"})
    rows.append({"source": str(write_video(folder / "blank.avi", [np.full_like(face, 90)] * 6)), "label": "fear"})
    rows.append({"source": str(folder / "missing.avi"), "label": "sadness"})
    table = pd.DataFrame(rows)
    table["dataset"] = "toy"
    return table


def test_build_lists_bad_inputs_and_completes_the_rest(tmp_path: Path, videos) -> None:
    report = build_cache(videos, tmp_path / "cache", TINY, progress=False)
    assert (report.total, report.built, report.skipped) == (5, 3, 0)
    problems = dict(report.failed)
    assert "no face" in problems[videos.source[3]]
    assert "no such" in problems[videos.source[4]]
    index = load_cache_index(tmp_path / "cache")
    assert list(index.columns[:7]) == ["path", "source", "label", "subject", "dataset", "key", "valid_fraction"]
    assert index.label.tolist() == ["happiness", "anger", ""]  # unlabelled stays an empty string
    assert (index.valid_fraction == 1.0).all()
    for row in index.itertuples():
        clip = Clip.load(tmp_path / "cache" / row.path)
        assert clip.faces.shape == (8, 32, 32, 3) and clip.source == row.source
    assert clip.label is None
    assert Clip.load(tmp_path / "cache" / index.path[0]).label == 3  # happiness
    failures = pd.read_csv(tmp_path / "cache" / "failures.csv")
    assert len(failures) == 2
    assert load_cache_settings(tmp_path / "cache") == TINY
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_rerun_skips_done_clips_and_changed_settings_rebuild(tmp_path: Path, videos) -> None:
    good = videos.iloc[:3]
    build_cache(good, tmp_path / "c", TINY, progress=False)
    first = load_cache_index(tmp_path / "c")
    stamps = {p: (tmp_path / "c" / p).stat().st_mtime_ns for p in first.path}
    again = build_cache(good, tmp_path / "c", TINY, progress=False)
    assert (again.built, again.skipped) == (0, 3)
    assert {p: (tmp_path / "c" / p).stat().st_mtime_ns for p in first.path} == stamps
    changed = PreprocessSettings(size=32, frames=8, contour=False)
    rebuilt = build_cache(good, tmp_path / "c", changed, progress=False)
    assert (rebuilt.built, rebuilt.skipped, rebuilt.removed_stale) == (3, 0, 3)
    second = load_cache_index(tmp_path / "c")
    assert set(second.key).isdisjoint(first.key)
    assert len(list((tmp_path / "c" / "clips").glob("*.npz"))) == 3


def _copy_videos(videos: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The rows of ``videos`` with their files copied into ``folder`` (modification times kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    copied = videos.copy()
    copied["source"] = [shutil.copy2(source, folder / Path(source).name) for source in videos.source]
    return copied


def test_changed_video_is_rebuilt_and_interrupted_run_resumes(tmp_path: Path, videos) -> None:
    good = _copy_videos(videos.iloc[:3], tmp_path / "v")
    build_cache(good.iloc[:1], tmp_path / "c", TINY, progress=False)  # "interrupted" after one clip
    (tmp_path / "c" / "clips" / ".tmp-half.npz").write_bytes(b"half")  # a killed worker's leftover
    old = time.time() - 3600
    os.utime(tmp_path / "c" / "clips" / ".tmp-half.npz", (old, old))
    resumed = build_cache(good, tmp_path / "c", TINY, progress=False)
    assert (resumed.built, resumed.skipped) == (2, 1)
    assert not (tmp_path / "c" / "clips" / ".tmp-half.npz").exists()
    source = Path(good.source[0])
    os.utime(source, (time.time() + 5, time.time() + 5))  # only touched: the content is the same
    touched = build_cache(good, tmp_path / "c", TINY, progress=False)
    assert (touched.built, touched.skipped) == (0, 3)
    face = np.ascontiguousarray(skimage.data.astronaut()[:320, 80:400])
    write_video(source, [np.roll(face, -4 * t, axis=1) for t in range(6)])  # a new take under the same name
    changed = build_cache(good, tmp_path / "c", TINY, progress=False)
    assert (changed.built, changed.skipped, changed.removed_stale) == (1, 2, 1)


def test_a_moved_or_copied_dataset_and_cache_are_reused(tmp_path: Path, videos) -> None:
    """Keys hold no absolute path: a work folder moved, or copied without its file times, rebuilds nothing."""
    work = tmp_path / "work"
    good = _copy_videos(videos.iloc[:3], work / "videos")
    build_cache(good, work / "cache", TINY, progress=False)
    first = load_cache_index(work / "cache")
    stamps = {p: (work / "cache" / p).stat().st_mtime_ns for p in first.path}

    moved = shutil.move(work, tmp_path / "elsewhere" / "moved")
    relocated = good.assign(source=[str(Path(moved) / "videos" / Path(s).name) for s in good.source])
    again = build_cache(relocated, Path(moved) / "cache", TINY, progress=False)
    assert (again.built, again.skipped, again.removed_stale) == (0, 3, 0)
    assert {p: (Path(moved) / "cache" / p).stat().st_mtime_ns for p in first.path} == stamps
    index = load_cache_index(Path(moved) / "cache")
    assert list(index.key) == list(first.key) and list(index.source) == list(relocated.source)

    copy = shutil.copytree(moved, tmp_path / "copy", copy_function=shutil.copyfile)  # new file times
    copied = good.assign(source=[str(Path(copy) / "videos" / Path(s).name) for s in good.source])
    assert build_cache(copied, Path(copy) / "cache", TINY, progress=False).built == 0


def test_two_workers_build_the_same_cache(tmp_path: Path, videos) -> None:
    one = build_cache(videos.iloc[:3], tmp_path / "w1", TINY, workers=1, progress=False)
    two = build_cache(videos, tmp_path / "w2", TINY, workers=2, progress=False)
    assert one.built == 3 and two.built == 3 and len(two.failed) == 2
    a, b = load_cache_index(tmp_path / "w1"), load_cache_index(tmp_path / "w2")
    assert a.key.tolist() == b.key.tolist()
    for path in a.path:
        np.testing.assert_array_equal(Clip.load(tmp_path / "w1" / path).faces, Clip.load(tmp_path / "w2" / path).faces)


def test_bad_index_and_missing_cache(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="source"):
        build_cache(pd.DataFrame({"video": ["x.mp4"]}), tmp_path / "c", TINY, progress=False)
    with pytest.raises(DatasetLayoutError, match="index.csv"):
        load_cache_index(tmp_path / "nothing")


def test_clips_load_from_many_threads_at_once_as_numpy_wrote_them(tmp_path: Path) -> None:
    """Parallel np.load hit CPython's AST race (SystemError) at random; read_npz parses headers one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from fer_kit.clips.clip import Clip, read_npz
    from fer_kit.errors import InputFileError

    rng = np.random.default_rng(0)
    clip = Clip(faces=rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8),
                local=rng.integers(0, 256, (4, 8, 8, 1), dtype=np.uint8),
                landmarks=rng.normal(size=(4, 68, 2)).astype(np.float32), valid=np.array([True, False, True, True]),
                label="happiness", subject="s1", dataset="toy", source="v.mp4", fps=25.0)
    path = clip.save(tmp_path / "c.npz")
    with np.load(path, allow_pickle=False) as expected:
        ours = read_npz(path)
        assert sorted(ours) == sorted(expected.files)
        for name in expected.files:
            assert ours[name].dtype == expected[name].dtype and np.array_equal(ours[name], expected[name])
    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(Clip.load, [path] * 400))
    assert all(np.array_equal(c.faces, clip.faces) and np.array_equal(c.valid, clip.valid) for c in loaded)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(InputFileError, match="bad.npz"):
        Clip.load(tmp_path / "bad.npz")
