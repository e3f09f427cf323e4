"""Face alignment: a similarity transform that puts the eye centres level at fixed places (paper 3.2.1).

The paper "first aligns faces in videos and performs size normalization on each face".
Here the centres of the two eyes (means of landmarks 36-41 and 42-47) are mapped by a
rotation + uniform scale + translation onto two fixed points of an ``S x S`` crop, the
image is warped with that matrix (bilinear, edges replicated) and the landmarks are
transformed with the same matrix, so they stay in register with the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_kit.face.groups import eye_centres

LEFT_EYE_POSITION = (0.36, 0.36)
"""Where the centre of the eye on the image's left lands, as fractions of the crop (x, y)."""
RIGHT_EYE_POSITION = (0.64, 0.36)
"""Where the centre of the eye on the image's right lands, as fractions of the crop (x, y)."""


@dataclass
class AlignedFace:
    """An aligned crop: image uint8[S, S, 3], landmarks float32[68, 2] in crop coordinates,
    matrix float32[2, 3] mapping source pixels to crop pixels."""

    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray


def alignment_matrix(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 similarity matrix taking the eye centres to their fixed crop positions."""
    left, right = eye_centres(landmarks)
    target_left = np.array(LEFT_EYE_POSITION) * size
    target_right = np.array(RIGHT_EYE_POSITION) * size
    src = right - left
    dst = target_right - target_left
    norm = float(src @ src)
    if norm < 1e-9:
        raise ValueError("the two eye centres coincide: cannot align")
    # Complex-number form of the similarity: z -> a*z + t with a = dst/src.
    a = (dst[0] * src[0] + dst[1] * src[1]) / norm
    b = (dst[1] * src[0] - dst[0] * src[1]) / norm
    rotation = np.array([[a, -b], [b, a]])
    translation = target_left - rotation @ left
    return np.hstack([rotation, translation[:, None]]).astype(np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``[..., 2]`` points."""
    points = np.asarray(points, dtype=np.float32)
    matrix = np.asarray(matrix, dtype=np.float32)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> AlignedFace:
    """Rotate and scale ``image`` so the eyes are level at fixed positions; crop ``size x size``."""
    import cv2

    matrix = alignment_matrix(landmarks, size)
    crop = cv2.warpAffine(
        np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return AlignedFace(crop, transform_points(landmarks, matrix), matrix)


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle in degrees of the line from the left to the right eye centre (0 = level)."""
    left, right = eye_centres(landmarks)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
