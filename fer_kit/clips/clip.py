"""The Clip record: what every video becomes (DESIGN "Data contracts"; paper 3.2.1, eq. 3).

A Clip holds the two inputs of MC-DCN for one video: the aligned face crops ``X`` and
the local feature maps ``X^`` (eq. 3), plus the landmarks they were made from.
It is stored as one compressed ``.npz`` file, written atomically (temp file + rename).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.errors import InputFileError


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
            with np.load(path, allow_pickle=False) as data:
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
