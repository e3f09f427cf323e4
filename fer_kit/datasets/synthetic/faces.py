"""Neutral face photos for the synthetic expression clips: the built-in ones and any folder of faces.

A :class:`FaceSource` is one identity: an RGB photo, its 68 landmarks and an id (the
clip's subject). The built-in faces are four real people: two photographs that already
ship inside installed packages, scikit-image's astronaut (Eileen Collins, NASA, public
domain) and matplotlib's Grace Hopper sample, and two official White House portraits that
ship with the kit (``photos/``, Barack Obama and Joe Biden, public domain; ``photos/SOURCES.md``
says where they come from). Other images in those packages are not usable faces (the
``lfw_subset`` of scikit-image holds 25 x 25 px crops, too small to animate). Four people
let a subject-independent split hold one person out and still train on three: with one
training person the networks learn that person's face, not the expressions
(``benchmarks/course_identity.py``).

Folders (``--faces DIR``) are read recursively; a photo's landmarks come from its 300-W
``.pts`` file when one lies beside it (human annotation, e.g. the HELEN training set),
otherwise from the detector + ERT predictor (:func:`fer_kit.face.landmarks.face_landmarks`).
A photo is skipped, with the reason counted, when no face is found, the face is too
small, turned too far from frontal or has the mouth wide open: none of them can be
animated into a convincing clip. The subject of a photo is its file stem unless a
``labels.csv`` / ``subjects.csv`` with ``image`` and ``person`` (or ``subject``) columns lies in
the folder or its parent.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_kit.datasets.synthetic.action_units import mouth_opening, to_face_units
from fer_kit.errors import DatasetLayoutError, InputFileError, NoFaceError

MIN_IOD_PX = 24.0
"""Eye-centre distance below which a face is too small to animate (it would be upscaled > 2.5x)."""
MAX_YAW_RATIO = 0.45
"""Skip faces whose nose-to-jaw distances differ more than this ratio (min/max): turned away."""
MAX_MOUTH_OPENING = 0.16
"""Skip faces whose inner lips are further apart than this (IOD): not a neutral mouth."""


@dataclass
class FaceSource:
    """One photo to animate: ``image`` RGB uint8, ``landmarks`` float32[68, 2] in its pixels.

    ``face_id`` is the identity (the clips' subject); ``key`` names the photo uniquely
    (several photos may show the same person); it defaults to ``face_id``.
    """

    face_id: str
    image: np.ndarray
    landmarks: np.ndarray
    origin: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.key or self.face_id


def _rgb(image: np.ndarray) -> np.ndarray:
    from fer_kit.face.landmarks import as_rgb_uint8

    return as_rgb_uint8(image)


@functools.lru_cache(maxsize=1)
def _builtin_photos() -> tuple[tuple[str, np.ndarray, str], ...]:
    import matplotlib.cbook
    from skimage import data

    from fer_kit.images import read_image

    hopper = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    shipped = Path(__file__).with_name("photos")
    return (
        ("astronaut", _rgb(data.astronaut()), "skimage.data.astronaut"),
        ("grace_hopper", read_image(hopper), "matplotlib sample_data/grace_hopper.jpg"),
        ("obama", read_image(shipped / "obama.jpg"), "fer_kit datasets/synthetic/photos/obama.jpg"),
        ("biden", read_image(shipped / "biden.jpg"), "fer_kit datasets/synthetic/photos/biden.jpg"),
    )


@functools.lru_cache(maxsize=1)
def _builtin_faces_cached() -> tuple[FaceSource, ...]:
    from fer_kit.face.landmarks import face_landmarks

    faces = []
    for face_id, image, origin in _builtin_photos():
        landmarks = face_landmarks(image)
        if landmarks is None:  # pragma: no cover - the pretrained model finds both
            raise NoFaceError("no face found in a built-in photo", origin)
        image.setflags(write=False)
        faces.append(FaceSource(face_id, image, landmarks.astype(np.float32), origin))
    return tuple(faces)


def builtin_faces() -> list[FaceSource]:
    """The four built-in real face photos (astronaut, Grace Hopper, Obama, Biden), with landmarks."""
    return list(_builtin_faces_cached())


def check_face(landmarks: np.ndarray) -> str | None:
    """Why a face cannot be animated (``"too small"``, ``"turned away"``, ``"mouth open"``) or ``None``."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    iod = np.linalg.norm(landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0))
    if iod < MIN_IOD_PX:
        return "too small"
    to_right, to_left = (np.linalg.norm(landmarks[30] - landmarks[i]) for i in (0, 16))
    if min(to_right, to_left) / max(to_right, to_left, 1e-6) < MAX_YAW_RATIO:
        return "turned away"
    if mouth_opening(to_face_units(landmarks)) > MAX_MOUTH_OPENING:
        return "mouth open"
    return None


def _subject_table(folder: Path) -> dict[Path, str]:
    """``{image path: subject}`` from a labels.csv / subjects.csv in ``folder`` or its parent."""
    table: dict[Path, str] = {}
    for base in (folder, folder.parent):
        for name in ("subjects.csv", "labels.csv"):
            path = base / name
            if not path.is_file():
                continue
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                fields = {f.lower(): f for f in reader.fieldnames or []}
                image_key = next((fields[k] for k in ("image", "file", "path", "source") if k in fields), None)
                person_key = next((fields[k] for k in ("person", "subject", "identity") if k in fields), None)
                if image_key is None or person_key is None:
                    continue
                for row in reader:
                    if row.get(image_key) and row.get(person_key):
                        table[(base / row[image_key]).resolve()] = row[person_key]
    return table


def iter_face_folder(folder: str | Path, use_pts: bool = True) -> Iterator[tuple[FaceSource | None, str, Path]]:
    """Walk the photos of ``folder`` (recursive, sorted): ``(face or None, reason it was skipped, path)``.

    Lazy, so a caller needing only a few faces reads only a few photos.
    ``DatasetLayoutError`` when the folder is missing or holds no image at all.
    """
    from fer_kit.face.ert import read_pts
    from fer_kit.face.landmarks import face_landmarks
    from fer_kit.images import IMAGE_SUFFIXES, read_image

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError("face folder not found", folder)
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetLayoutError(f"no face photos ({', '.join(IMAGE_SUFFIXES)}) in this folder", folder)
    subjects = _subject_table(folder)
    for path in images:
        try:
            image = read_image(path)
        except InputFileError:
            yield None, "unreadable", path
            continue
        pts = path.with_suffix(".pts")
        if use_pts and pts.is_file():
            try:
                landmarks = read_pts(pts, n_points=68)
            except InputFileError:
                landmarks = None
        else:
            landmarks = face_landmarks(image)
        reason = "no face found" if landmarks is None else check_face(landmarks)
        if reason is not None:
            yield None, reason, path
            continue
        key = "-".join(path.relative_to(folder).with_suffix("").parts)
        face_id = subjects.get(path.resolve()) or key
        yield FaceSource(face_id, image, landmarks.astype(np.float32), str(path), key), "", path
