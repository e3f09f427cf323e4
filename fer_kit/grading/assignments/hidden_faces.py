"""Hidden inputs made of faces, for the hidden tests of notebooks 01 and 02 (drawn with the test's generator).

The faces are the kit's built-in photos (:func:`fer_kit.datasets.synthetic.faces.builtin_faces`),
moved so no student has seen them: landmarks under a random similarity transform with per-point
jitter (:func:`hidden_landmarks`); aligned crops shifted by a few pixels, their landmarks jittered,
their pixels under a random gain, offset and noise (:func:`hidden_aligned_face`).
"""

from __future__ import annotations

from typing import Any

from fer_kit.grading.checks import reference


@reference
def _faces() -> tuple:
    from fer_kit.datasets.synthetic.faces import builtin_faces

    return tuple((face.image, face.landmarks) for face in builtin_faces())


@reference
def _aligned(index: int, size: int) -> tuple:
    from fer_kit.face.align import align_face

    image, landmarks = _faces()[index]
    face = align_face(image, landmarks, size)
    return face.image, face.landmarks


def hidden_landmarks(rng: Any, jitter: float = 1.0) -> Any:
    """68 points of a built-in face, rotated (up to 15 degrees), scaled (0.5-1.5), moved and jittered (``float64``)."""
    import numpy as np

    _, points = _faces()[int(rng.integers(len(_faces())))]
    points = np.asarray(points, dtype=np.float64)
    angle = np.radians(rng.uniform(-15, 15))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = points.mean(axis=0)
    moved = (points - centre) @ rotation.T * rng.uniform(0.5, 1.5) + centre + rng.uniform(-40, 40, 2)
    return moved + rng.normal(0.0, jitter, moved.shape)


def hidden_aligned_face(rng: Any, size: int) -> tuple[Any, Any]:
    """(``uint8[size, size, 3]`` image, ``float64[68, 2]`` landmarks): a built-in face aligned at ``size``, then
    shifted by up to 4 px, its points jittered by about 0.7 px and its pixels under a gain, an offset and noise."""
    import cv2
    import numpy as np

    image, landmarks = _aligned(int(rng.integers(len(_faces()))), int(size))
    shift = rng.uniform(-4, 4, 2)
    matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    moved = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
    pixels = moved.astype(np.float64) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    pixels += rng.normal(0.0, rng.uniform(1.0, 6.0), pixels.shape)
    points = np.asarray(landmarks, dtype=np.float64) + shift + rng.normal(0.0, 0.7, (68, 2))
    return np.clip(pixels, 0, 255).astype(np.uint8), np.clip(points, 0, size - 1)
