"""Atomic file writes: a temp file in the same folder, then ``os.replace``; never a half-written file.

Every file the kit writes (clips, checkpoints, figures, JSON, CSV, notebooks) goes through
:func:`atomic_path`, so a reader sees either the old file or the whole new one, and a
killed writer leaves at most a ``.tmp-*`` file behind (the clip cache removes old ones
when it resumes). The written file gets the permissions of a plain ``open()``:
``0o666 & ~umask`` (``-rw-r--r--`` under the usual umask 022), not the ``0o600`` of
``tempfile.mkstemp``, so shared gradebooks, notebooks and results stay readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"
"""Name prefix of the temporary files (cleaners such as the clip cache's glob ``.tmp-*``)."""

_IN_FLIGHT: set[Path] = set()
"""Temporary files of the writes now under way in this process (:func:`remove_in_flight`)."""


def current_umask() -> int:
    """The process umask, read without changing it where possible.

    On Linux it is parsed from the ``Umask:`` line of ``/proc/self/status``; elsewhere (or if
    that line is missing) it is read by ``os.umask(0)`` immediately followed by restoring
    the old value (a brief window in which another thread creating files would use umask 0).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split(":", 1)[1].strip(), 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0)
    os.umask(old)
    return old


def _remove(path: Path) -> None:
    """Remove a leftover temporary file (or folder, should a writer have made one); never raise."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path to write ``path`` through: the whole new file appears at once, or nothing changes.

    Algorithm:

    1. create ``path``'s parent folder (``parents=True``);
    2. yield ``parent / ".tmp-<random hex><suffix>"`` (``suffix`` defaults to ``path.suffix``,
       because writers such as ``np.save``, ``cv2.imwrite``, ``keras.Model.save`` and
       ``fig.savefig`` choose or check the format from the extension). The file is not
       created; the caller's writer creates it;
    3. on normal exit: ``OSError`` naming ``path`` if the writer produced no regular file,
       else set its permissions to ``0o666 & ~umask`` (what ``open()`` gives a new file) and
       ``os.replace`` it onto ``path`` (atomic on one filesystem, replacing any old file whole);
    4. on any exception (``BaseException``, including ``KeyboardInterrupt``), in the body or
       in step 3: remove the temporary file and re-raise; ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"
    while os.path.lexists(tmp):  # 64 random bits: practically never
        tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"
    _IN_FLIGHT.add(tmp)
    try:
        yield tmp
        if not tmp.is_file():
            raise OSError(f"{path}: the writer produced no file (expected the temporary {tmp.name})")
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _IN_FLIGHT.discard(tmp)


def remove_in_flight() -> None:
    """Remove the temporary files of every write under way: for a process about to exit on a signal."""
    for tmp in list(_IN_FLIGHT):
        _remove(tmp)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path` (old file or the whole new one, mode ``0o666 & ~umask``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` through :func:`atomic_path`.

    Readers see the old file or the whole new one, nothing between.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_json_atomic(
    path: str | Path, obj: object, default: Callable[[object], object] | None = None, indent: int | None = 2
) -> None:
    """Write ``json.dumps(obj, indent=indent, default=default)`` plus a final newline to ``path``, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, default=default) + "\n")
