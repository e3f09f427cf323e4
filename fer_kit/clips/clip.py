"""The Clip record: what every video becomes (DESIGN "Data contracts"; paper 3.2.1, eq. 3).

A Clip holds the two inputs of MC-DCN for one video: the aligned face crops ``X`` and
the local feature maps ``X^`` (eq. 3), plus the landmarks they were made from.
It is stored as one compressed ``.npz`` file, written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.errors import InputFileError

_HEADER_LOCK = threading.Lock()


def read_npz(path: str | Path, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (no pickles; only ``names`` when given), safe to call from many threads at once.

    ``np.load`` parses every member's header with ``ast.literal_eval``; CPython 3.11.7 (and other
    3.11 / 3.12 releases) shares the AST constructor's recursion counter between threads, so
    parallel loads fail at random with ``SystemError: AST constructor recursion depth mismatch``
    (CPython gh-106905). Here the headers are parsed one at a time under a lock, while the members
    are decompressed and copied in parallel. ``ValueError`` for a file that is not such an archive.
    """
    fmt = np.lib.format
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member_name in archive.namelist():
                if names is not None and member_name.removesuffix(".npy") not in names:
                    continue
                with archive.open(member_name) as member:
                    version = fmt.read_magic(member)
                    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                    with _HEADER_LOCK:
                        shape, fortran_order, dtype = read_header(member)
                    if dtype.hasobject:
                        raise ValueError(f"{member_name} holds Python objects")
                    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    data = member.read(size)
                    if len(data) != size:
                        raise ValueError(f"{member_name} is truncated")
                    array = np.frombuffer(bytearray(data), dtype)
                    arrays[member_name.removesuffix(".npy")] = array.reshape(shape, order="F" if fortran_order else "C")
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as error:
        raise ValueError(f"not an npz archive ({error})") from error
    return arrays


@dataclass
class Clip:
    """One preprocessed video.

    faces: uint8[T, S, S, 3] aligned RGB face crops.
    local: uint8[T, S, S, 1] local feature maps (one channel).
    landmarks: float32[T, 68, 2] landmark (x, y) in crop coordinates.
    valid: bool[T], True where a face was found in that frame.
    """

    faces: np.ndarray
    local: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    label: int | None = None
    subject: str = ""
    dataset: str = ""
    source: str = ""
    fps: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.faces)
        s = self.faces.shape[1] if self.faces.ndim == 4 else -1
        expected = {
            "faces": ((t, s, s, 3), np.uint8),
            "local": ((t, s, s, 1), np.uint8),
            "landmarks": ((t, 68, 2), np.float32),
            "valid": ((t,), np.bool_),
        }
        for name, (shape, dtype) in expected.items():
            value = getattr(self, name)
            if value.shape != shape or value.dtype != dtype:
                raise ValueError(
                    f"Clip.{name} must be {np.dtype(dtype).name}{list(shape)}, got {value.dtype.name}{list(value.shape)}"
                )

    @property
    def frames(self) -> int:
        return len(self.faces)

    @property
    def size(self) -> int:
        return self.faces.shape[1]

    def save(self, path: str | Path) -> Path:
        """Write the clip as compressed ``.npz``, atomically: never a half-written file."""
        path = Path(path)
        header = {
            "label": self.label,
            "subject": self.subject,
            "dataset": self.dataset,
            "source": self.source,
            "fps": float(self.fps),
            "meta": self.meta,
        }
        # ".tmp-*.npz" beside the target: the cache removes a killed worker's leftovers on resume
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                faces=self.faces,
                local=self.local,
                landmarks=self.landmarks,
                valid=self.valid,
                header=np.array(json.dumps(header)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Clip:
        """Read a clip written by :meth:`save`; ``InputFileError`` naming the file if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError("no such clip file", path)
        try:
            data = read_npz(path)
            header = json.loads(str(data["header"]))
            return cls(
                faces=data["faces"],
                local=data["local"],
                landmarks=data["landmarks"],
                valid=data["valid"],
                label=header["label"],
                subject=header["subject"],
                dataset=header["dataset"],
                source=header["source"],
                fps=header["fps"],
                meta=header.get("meta", {}),
            )
        except (OSError, ValueError, KeyError) as error:
            raise InputFileError(f"not a valid clip file ({error})", path) from error
