"""The on-disk clip cache: every video of a dataset index preprocessed once, in parallel (DESIGN "Cache").

``build_cache(index, CACHE)`` turns each row (``source, label, subject, dataset``, optional
``start, end``) into ``CACHE/clips/<name>-<key>.npz`` and writes ``CACHE/index.csv``
(``path`` relative to CACHE, ``source, label, subject, dataset, key, valid_fraction, ...``).

- The **key** hashes the source's content (its size and the first and last 64 KiB; for a
  folder of frames its listing), its file name, ``start/end``, the row's label, subject and
  dataset, and the preprocessing settings (with the pipeline version), so a re-run skips
  finished clips, an interrupted run resumes where it stopped, and a changed setting or a
  changed video rebuilds. The key holds no absolute path: a dataset and cache copied or
  moved elsewhere together are reused as they are.
- Clips are written atomically (temp file + rename) by the worker that made them;
  ``index.csv`` and ``failures.csv`` are written atomically at the end. Nothing
  half-written stays: leftover temp files of a killed run are removed on the next one,
  and clips no longer in the index (e.g. built with old settings) are deleted.
- Work runs in ``workers`` processes: this one plus ``workers - 1`` spawned helpers
  (``spawn`` context: safe with dlib and TensorFlow in the parent), each loading the
  landmark model once. Scripts that call this with
  ``workers > 1`` need the usual ``if __name__ == "__main__":`` guard. Bad inputs (missing, unreadable,
  no face ...) are listed in the report and in ``failures.csv``; the rest completes.
- With ``scheduler`` (a Dask scheduler's address) every clip is a task on that cluster
  (:mod:`fer_kit.executors`): the workers read the videos and write the clips by path, so the
  cache must be on storage they share. The clips are the same bytes as a local run's; a task
  whose worker died runs again elsewhere, and the temporary files such a worker left are
  removed when the job ends.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_kit.atomic import write_text_atomic
from fer_kit.clips.clip import read_npz
from fer_kit.clips.preprocess import PreprocessSettings
from fer_kit.errors import DatasetLayoutError, FerKitError

if TYPE_CHECKING:
    import pandas as pd

INDEX_FILE = "index.csv"
FAILURES_FILE = "failures.csv"
SETTINGS_FILE = "settings.json"
CLIPS_DIR = "clips"
INDEX_COLUMNS = ("path", "source", "label", "subject", "dataset", "key", "valid_fraction", "frames", "size")


@dataclass
class CacheReport:
    """What :func:`build_cache` did: counts, failures (source, problem) and where the index is."""

    out_dir: Path
    total: int = 0
    built: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    removed_stale: int = 0
    seconds: float = 0.0
    frames: int = 0

    @property
    def ok(self) -> int:
        return self.built + self.skipped

    @property
    def index_path(self) -> Path:
        return self.out_dir / INDEX_FILE

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "index": str(self.index_path),
            "total": self.total,
            "built": self.built,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "failures": [{"source": s, "problem": p} for s, p in self.failed],
            "removed_stale": self.removed_stale,
            "seconds": round(self.seconds, 3),
            "frames": self.frames,
        }

    def summary(self) -> str:
        lines = [
            f"{self.ok}/{self.total} clips in {self.out_dir} ({self.built} built, {self.skipped} already done, "
            f"{len(self.failed)} failed) in {self.seconds:.1f} s"
        ]
        lines += [f"  failed: {source}: {problem}" for source, problem in self.failed]
        return "\n".join(lines)


def _optional_float(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


FINGERPRINT_BYTES = 1 << 16
"""Bytes read from each end of a source file for its content fingerprint."""


def _file_fingerprint(path: Path) -> list:
    """``[size, sha1 of the first and last FINGERPRINT_BYTES]`` (the whole file when it is small)."""
    size = path.stat().st_size
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            handle.seek(-FINGERPRINT_BYTES, 2)
        digest.update(handle.read(FINGERPRINT_BYTES))
    return [size, digest.hexdigest()]


def source_fingerprint(source: str | Path) -> list | None:
    """What identifies a source's content without its location (``None`` when it cannot be read).

    A file: its size and a hash of its first and last 64 KiB. A folder of frames: its listing
    (names, sizes) and the fingerprints of its first and last file.
    """
    path = Path(source)
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file())
            listing = [(p.name, p.stat().st_size) for p in files]
            ends = [_file_fingerprint(p) for p in files[:1] + files[-1:]]
            return [listing, ends]
        return _file_fingerprint(path)
    except OSError:
        return None


def clip_key(source: str | Path, settings: PreprocessSettings, start=None, end=None, row: dict | None = None) -> str:
    """Hash of the source's name and content, its time span, the row's label/subject/dataset and the settings.

    Location-free (module doc): the same video under another folder gives the same key.
    """
    row = row or {}
    meta = [_text(row.get(column)) for column in ("label", "subject", "dataset")]
    text = json.dumps(
        [Path(source).name, source_fingerprint(source), _optional_float(start), _optional_float(end), meta,
         settings.key()],
        sort_keys=True, default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _clip_name(row: dict, key: str) -> str:
    stem = Path(str(row["source"])).stem or "clip"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:60]
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", _text(row.get("dataset")))[:20]
    return f"{prefix + '-' if prefix else ''}{stem}-{key}.npz"


# ---------------------------------------------------------------- worker side
def _init_worker() -> None:
    """Helper process start: one OpenCV thread (the processes are the parallelism), the model loaded once."""
    import cv2

    cv2.setNumThreads(1)
    from fer_kit.face.landmarks import load_predictor

    load_predictor()


CLUSTER_CHUNK = 4
"""Clips per Dask task: a task costs the scheduler and the network a few milliseconds, a clip about 60 ms
(``lite``, one core), so four clips a task keep that overhead small while a dead worker's task still
redoes at most four clips (our choice, measured by ``benchmarks/distributed.py``)."""


def _build_on_worker(tasks: list[dict]) -> dict:
    """:func:`_build_one` for each task, on a Dask worker: ``{"clips": [result, ...]}``. One OpenCV thread,
    as in the local pool (:func:`_init_worker`): the workers are the parallelism."""
    import cv2

    cv2.setNumThreads(1)
    return {"clips": [_build_one(task) for task in tasks]}


def _build_one(task: dict) -> dict:
    """Preprocess one row into its clip file; returns the index row or ``{"error": ...}``. Runs in a worker."""
    from fer_kit.clips.preprocess import preprocess_video

    settings = PreprocessSettings.from_dict(task["settings"])
    try:
        clip = preprocess_video(
            task["source"],
            settings,
            label=task["label"] or None,
            subject=task["subject"],
            dataset=task["dataset"],
            start=task["start"],
            end=task["end"],
        )
        clip.save(task["target"])
    except FerKitError as error:
        same = error.path is not None and Path(error.path) == Path(task["source"])
        return {"error": error.problem if same else str(error)}
    except Exception as error:  # a decoder or library failure on one file must not stop the batch
        return {"error": f"unexpected {type(error).__name__}: {error}"}
    return {"valid_fraction": float(clip.valid.mean()), "frames": clip.frames}


# ---------------------------------------------------------------- helpers
def _remove_temp_files(folder: Path, older_than: float = 60.0) -> None:
    now = time.time()
    for tmp in folder.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
        except OSError:
            pass


def _valid_fraction(path: Path) -> float | None:
    try:
        return float(read_npz(path, ("valid",))["valid"].mean())
    except (OSError, ValueError, KeyError):
        return None


def _check_index(index: pd.DataFrame) -> None:
    missing = {"source"} - set(index.columns)
    if missing:
        raise DatasetLayoutError(f"the dataset index lacks column(s) {sorted(missing)} (has {list(index.columns)})")


def _progress(total: int, enabled: bool):
    from fer_kit.progress import progress_bar

    return progress_bar(total=total, desc="preprocess", unit="clip", enabled=enabled)


def _index_row(record: dict, settings: PreprocessSettings) -> dict:
    """The cache index row of one dataset row (``valid_fraction`` still unknown); ``start, end`` only when given."""
    start, end = _optional_float(record.get("start")), _optional_float(record.get("end"))
    key = clip_key(record["source"], settings, start, end, record)
    row = {
        "path": f"{CLIPS_DIR}/{_clip_name(record, key)}",
        "source": str(record["source"]),
        "label": _text(record.get("label")),
        "subject": _text(record.get("subject")),
        "dataset": _text(record.get("dataset")),
        "key": key,
        "valid_fraction": None,
        "frames": settings.frames,
        "size": settings.size,
    }
    if start is not None or end is not None:
        row["start"], row["end"] = start, end
    return row


def _task(row: dict, target: Path, settings: PreprocessSettings) -> dict:
    """What a worker needs to build one clip (:func:`_build_one`): plain values, so it pickles anywhere."""
    return {
        "source": row["source"],
        "label": row["label"],
        "subject": row["subject"],
        "dataset": row["dataset"],
        "start": row.get("start"),
        "end": row.get("end"),
        "target": str(target),
        "settings": settings.to_dict(),
    }


def _plan_rows(
    index_df: pd.DataFrame, out_dir: Path, settings: PreprocessSettings, report: CacheReport
) -> tuple[list[dict], list[tuple[int, dict]]]:
    """Every row's index entry, and ``(position, task)`` for the clips not already on disk.

    A readable clip file under the row's key is done (counted as skipped); an unreadable one
    is a leftover and is deleted to be rebuilt.
    """
    rows: list[dict] = []
    todo: list[tuple[int, dict]] = []
    for position, record in enumerate(index_df.to_dict("records")):
        row = _index_row(record, settings)
        rows.append(row)
        target = out_dir / row["path"]
        if target.is_file():
            fraction = _valid_fraction(target)
            if fraction is not None:
                row["valid_fraction"] = fraction
                report.skipped += 1
                continue
            target.unlink()  # unreadable leftover: rebuild it
        todo.append((position, _task(row, target, settings)))
    return rows, todo


def _build_clips(
    rows: list[dict], todo: list[tuple[int, dict]], workers: int, scheduler: str | None, progress: bool,
    report: CacheReport,
) -> set[int]:
    """Build the ``todo`` clips (:func:`_run`), filling in ``rows`` and ``report``; returns the failed positions.

    On an interrupt the finished clips stay and a message says a re-run resumes.
    """
    failed_rows: set[int] = set()
    bar = _progress(len(todo), progress and bool(todo))
    try:
        for position, result in _run(todo, workers, scheduler):
            bar.update(1)
            if "error" in result:
                failed_rows.add(position)
                report.failed.append((rows[position]["source"], result["error"]))
                bar.write(f"skipped {rows[position]['source']}: {result['error']}", file=sys.stderr)
            else:
                rows[position]["valid_fraction"] = result["valid_fraction"]
                report.built += 1
                report.frames += int(result["frames"])
    except KeyboardInterrupt:
        done = report.built + len(failed_rows)
        print(f"preprocess interrupted after {done} of {len(todo)} clips to make; the finished ones are kept "
              "and a re-run resumes", file=sys.stderr, flush=True)
        raise
    finally:
        bar.close()
    return failed_rows


def _write_index(out_dir: Path, done: list[dict], report: CacheReport, settings: PreprocessSettings) -> None:
    """``index.csv`` of the built clips, ``failures.csv`` (only when some failed) and ``settings.json``."""
    import pandas as pd

    columns = list(INDEX_COLUMNS) + [c for c in ("start", "end") if any(c in r for r in done)]
    table = pd.DataFrame(done, columns=columns)
    write_text_atomic(out_dir / INDEX_FILE, table.to_csv(index=False))
    failures = pd.DataFrame(report.failed, columns=["source", "problem"])
    if report.failed:
        write_text_atomic(out_dir / FAILURES_FILE, failures.to_csv(index=False))
    else:
        (out_dir / FAILURES_FILE).unlink(missing_ok=True)
    write_text_atomic(out_dir / SETTINGS_FILE, json.dumps(settings.to_dict(), indent=2) + "\n")


def _remove_stale(clips_dir: Path, done: list[dict]) -> int:
    """Delete the clip files the index does not name (e.g. built with old settings); returns how many."""
    keep = {Path(row["path"]).name for row in done}
    removed = 0
    for clip_file in clips_dir.glob("*.npz"):
        if clip_file.name not in keep:
            clip_file.unlink()
            removed += 1
    return removed


# ---------------------------------------------------------------- main entry
def build_cache(
    index_df: pd.DataFrame,
    out_dir: str | Path,
    settings: PreprocessSettings | None = None,
    workers: int = 1,
    progress: bool = True,
    scheduler: str | None = None,
) -> CacheReport:
    """Preprocess every row of a dataset index into ``out_dir`` (module doc); returns a :class:`CacheReport`."""
    started = time.perf_counter()
    settings = settings or PreprocessSettings()
    _check_index(index_df)
    out_dir = Path(out_dir)
    clips_dir = out_dir / CLIPS_DIR
    clips_dir.mkdir(parents=True, exist_ok=True)
    _remove_temp_files(clips_dir)
    _remove_temp_files(out_dir)
    report = CacheReport(out_dir=out_dir, total=len(index_df))

    rows, todo = _plan_rows(index_df, out_dir, settings, report)
    failed_rows = _build_clips(rows, todo, workers, scheduler, progress, report)
    done = [row for i, row in enumerate(rows) if i not in failed_rows]
    _write_index(out_dir, done, report, settings)
    report.removed_stale += _remove_stale(clips_dir, done)
    _remove_temp_files(clips_dir, older_than=0.0)  # a killed worker's leftovers (its task ran again elsewhere)
    report.seconds = time.perf_counter() - started
    return report


def _run(todo: list[tuple[int, dict]], workers: int, scheduler: str | None = None):
    """Yield ``(position, result)`` as tasks finish.

    On this machine ``workers`` counts this process too: it works through the queue itself
    while ``workers - 1`` spawned processes start up (about a second each: imports and the
    landmark model) and join in, so starting the pool costs no idle time. With a Dask
    ``scheduler`` every task goes to the cluster (:func:`fer_kit.executors.task_executor`);
    a task whose worker died runs again on another.
    """
    if not todo:
        return
    from fer_kit.executors import task_executor

    if scheduler:
        with task_executor(0, scheduler) as executor:
            chunks = [todo[i:i + CLUSTER_CHUNK] for i in range(0, len(todo), CLUSTER_CHUNK)]
            futures = {executor.submit(_build_on_worker, [task for _, task in chunk]): chunk for chunk in chunks}
            for future in as_completed(futures):
                chunk = futures[future]
                results = _result(future)
                for number, (position, _) in enumerate(chunk):
                    yield position, results if "error" in results else results["clips"][number]
        return
    queue = list(todo)
    if workers <= 1 or len(todo) == 1:
        for position, task in queue:
            yield position, _build_one(task)
        return
    import cv2

    helpers = min(workers, len(todo)) - 1
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the processes are the parallelism; OpenCV threads would only compete with them
    try:
        with task_executor(helpers, initializer=_init_worker) as pool:
            pending: dict[Future, int] = {}
            while queue or pending:
                # Keep two tasks per helper queued (so an interrupt stops quickly) ...
                while queue and len(pending) < 2 * helpers:
                    position, task = queue.pop(0)
                    pending[pool.submit(_build_one, task)] = position
                # ... and do the next one here meanwhile.
                if queue:
                    position, task = queue.pop(0)
                    yield position, _build_one(task)
                    finished = [future for future in pending if future.done()]
                else:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield pending.pop(future), _result(future)
    finally:
        cv2.setNumThreads(threads)


def _result(future: Future) -> dict:
    """A task's result, or ``{"error": ...}`` when its worker failed (e.g. ran out of memory)."""
    try:
        return future.result()
    except Exception as error:
        return {"error": f"worker failed: {type(error).__name__}: {error}"}


INDEX_REQUIRED_COLUMNS = ("path", "label", "subject")
"""What every cache index must have: the clip file (relative to the cache), its label and person."""


def load_cache_index(cache_dir: str | Path) -> pd.DataFrame:
    """``CACHE/index.csv`` as a DataFrame (``path`` relative to the cache, ``label`` a string, ``""`` if none).

    The one reader of a cache index: training, evaluation and the notebooks all use it.
    ``DatasetLayoutError`` when the folder holds no cache index or the index lacks
    :data:`INDEX_REQUIRED_COLUMNS`; ``source`` and ``dataset`` may be absent (then ``""``).
    """
    import pandas as pd

    cache_dir = Path(cache_dir)
    path = cache_dir / INDEX_FILE
    if not path.is_file():
        raise DatasetLayoutError(f"no {INDEX_FILE} here: not a clip cache (make one with `fer-kit preprocess`)", cache_dir)
    table = pd.read_csv(
        path, dtype={"label": str, "subject": str, "dataset": str, "source": str, "path": str, "key": str}
    )
    for column in ("label", "subject", "dataset"):
        if column in table:
            table[column] = table[column].fillna("")
    missing = [column for column in INDEX_REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise DatasetLayoutError(f"{INDEX_FILE} lacks column(s) {', '.join(missing)}", path)
    for column in ("source", "dataset"):
        if column not in table:
            table[column] = ""
        table[column] = table[column].fillna("").astype(str)
    return table


def load_cache_settings(cache_dir: str | Path) -> PreprocessSettings | None:
    """The settings a cache was built with (``None`` for a cache without ``settings.json``)."""
    path = Path(cache_dir) / SETTINGS_FILE
    if not path.is_file():
        return None
    return PreprocessSettings.from_dict(json.loads(path.read_text()))
