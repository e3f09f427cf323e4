"""Images in, as the whole kit wants them: RGB ``uint8[H, W, 3]``, from a file or from any array.

Every stage that takes a picture (the face detector, the ERT, the video reader, the
widgets) goes through :func:`as_rgb_uint8`, so grayscale, 16-bit, float and RGBA inputs
all work, and anything else fails with one message naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_kit.errors import InputFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
"""The image files the kit reads (OpenCV decodes them)."""


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has an image file's suffix (:data:`IMAGE_SUFFIXES`)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def as_rgb_uint8(image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """Normalise an image array to contiguous RGB ``uint8[H, W, 3]``.

    Grayscale (``[H, W]`` or ``[H, W, 1]``) is repeated to three channels, RGBA loses its
    alpha, 16-bit and other integer images are scaled by their type's range, floats in
    ``[0, 1]`` are scaled by 255 (other floats are clipped to ``[0, 255]``). Anything else
    raises ``InputFileError`` naming ``source``.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 2 or image.shape[1] < 2:
        raise InputFileError(f"not an image: expected [H, W], [H, W, 3] or [H, W, 4], got shape {image.shape}", source)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype == np.uint8:
        pass
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        if info.min < 0:
            image = np.clip(image, 0, info.max)
        image = (image.astype(np.float64) * (255.0 / info.max) + 0.5).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        finite = np.nan_to_num(image.astype(np.float64))
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        image = (np.clip(finite * scale, 0, 255) + 0.5).astype(np.uint8)
    else:
        raise InputFileError(f"unsupported image type {image.dtype}", source)
    return np.ascontiguousarray(image)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB ``uint8[H, W, 3]`` (grayscale, 16-bit and alpha images are converted)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputFileError("no such image file", path)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputFileError("cannot decode image (unsupported format or corrupt file)", path)
    if image.ndim == 3 and image.shape[2] >= 3:
        image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]  # BGR(A) -> RGB(A)
    return as_rgb_uint8(image, path)
