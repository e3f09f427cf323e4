"""Data augmentation applied identically to both MC-DCN streams (paper 2.4).

Paper 2.4 enlarges the training set by horizontal flips and by rotations of
``+-3, +-6, +-9`` degrees. A flip must also *mirror the landmark indices*: after flipping,
the point that was the left mouth corner (48) sits where the right one (54) was, so the
flipped landmark array is reordered by :data:`MIRROR_68`. Rotations turn every frame
of a clip (faces and local maps alike) about the crop centre with the same matrix, and
the landmarks with it.

Arrays follow the Clip contract: faces ``[T, S, S, 3]``, local ``[T, S, S, 1]``,
landmarks ``[T, 68, 2]``; a single frame (``[S, S, C]`` and ``[68, 2]``) works too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

ROTATION_ANGLES: tuple[int, ...] = (-9, -6, -3, 3, 6, 9)
"""The rotation angles of paper 2.4, in degrees."""


def _mirror_permutation() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(27 + i, 27 + i) for i in range(4)]  # nose bridge (on the axis)
    pairs += [(31 + i, 35 - i) for i in range(5)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48 + i, 54 - i) for i in range(7)]  # upper outer lip
    pairs += [(55 + i, 59 - i) for i in range(5)]  # lower outer lip
    pairs += [(60 + i, 64 - i) for i in range(5)]  # upper inner lip
    pairs += [(65, 67), (66, 66)]  # lower inner lip
    perm = np.full(68, -1)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    assert (np.sort(perm) == np.arange(68)).all()
    return perm


MIRROR_68: np.ndarray = _mirror_permutation()
"""``flipped[i] = mirrored(points)[MIRROR_68[i]]``: the index each point takes after a horizontal flip."""


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks ``[..., 68, 2]`` of the horizontally flipped image (x -> width - 1 - x, indices mirrored)."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    flipped = landmarks.copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    return flipped[..., MIRROR_68, :]


def flip_clip(faces: np.ndarray, local: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror a clip left-right: both image streams and the landmarks (coordinates and indices)."""
    width = faces.shape[-2]
    return (
        np.ascontiguousarray(faces[..., ::-1, :]),
        np.ascontiguousarray(local[..., ::-1, :]),
        flip_landmarks(landmarks, width),
    )


def _rotate_frames(frames: np.ndarray, matrix: np.ndarray, border: int) -> np.ndarray:
    import cv2

    single = frames.ndim == 3
    stack = frames[None] if single else frames
    size = (stack.shape[2], stack.shape[1])
    out = np.empty_like(stack)
    for t, frame in enumerate(stack):
        warped = cv2.warpAffine(np.ascontiguousarray(frame), matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)
        out[t] = warped.reshape(frame.shape)
    return out[0] if single else out


def rotation_matrix(angle: float, size: int) -> np.ndarray:
    """2x3 matrix turning an ``size x size`` crop by ``angle`` degrees (counter-clockwise on screen) about its centre."""
    import cv2

    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    return cv2.getRotationMatrix2D(centre, angle, 1.0).astype(np.float32)


def rotate_clip(
    faces: np.ndarray, local: np.ndarray, landmarks: np.ndarray, angle: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate every frame of both streams, and the landmarks, by ``angle`` degrees about the crop centre.

    Face pixels brought in from outside the crop repeat the border; the local map is
    padded with zeros (no feature there).
    """
    import cv2

    matrix = rotation_matrix(angle, faces.shape[-2])
    landmarks = np.asarray(landmarks, dtype=np.float32)
    rotated = landmarks @ matrix[:, :2].T + matrix[:, 2]
    return (
        _rotate_frames(faces, matrix, cv2.BORDER_REPLICATE),
        _rotate_frames(local, matrix, cv2.BORDER_CONSTANT),
        rotated.astype(np.float32),
    )


def augmentations(
    faces: np.ndarray,
    local: np.ndarray,
    landmarks: np.ndarray,
    flip: bool = True,
    angles: tuple[float, ...] = ROTATION_ANGLES,
) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The augmented copies of paper 2.4: ``("flip", ...)`` then ``("rotate+3", ...)`` etc. (not the original)."""
    if flip:
        yield "flip", flip_clip(faces, local, landmarks)
    for angle in angles:
        yield f"rotate{angle:+g}", rotate_clip(faces, local, landmarks, angle)


def random_augment(
    faces: np.ndarray,
    local: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    flip_probability: float = 0.5,
    angles: tuple[float, ...] = ROTATION_ANGLES,
    rotate_probability: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random augmentation for on-the-fly training: flip with ``flip_probability``, then maybe rotate."""
    if rng.random() < flip_probability:
        faces, local, landmarks = flip_clip(faces, local, landmarks)
    if angles and rng.random() < rotate_probability:
        faces, local, landmarks = rotate_clip(faces, local, landmarks, float(rng.choice(angles)))
    return faces, local, landmarks
