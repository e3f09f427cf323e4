"""Wrinkle energy and the one-channel local feature map (paper 3.1, Table 2, eq. 3's second input).

Wrinkles and folds are thin dark valleys in the skin, and an oriented filter bank finds
them. :func:`wrinkle_energy` offers two banks:

- ``"ridge"`` (default): the second derivative of a Gaussian steered to angle theta,
  ``d2/dn2 (G_sigma * I) = n^T H n`` with ``H`` the Hessian of the smoothed image. Its
  maximum over *all* orientations is the Hessian's largest eigenvalue
  ``lambda_max = (Ixx + Iyy) / 2 + sqrt(((Ixx - Iyy) / 2)^2 + Ixy^2)``, positive across a
  dark valley (the classic ridge / vesselness filters). Three separable filters, about
  0.15 ms on a 112 x 112 crop.
- ``"gabor"``: a bank of even (cosine) Gabor filters at ``orientations`` angles; a dark
  line of the filter's orientation and width gives a negative response, so the energy is
  ``max_theta max(0, -G_theta * I)``. Slower (notebook 02 times both), for comparison.

Either energy is scaled to ``[0, 1]`` by its 99th percentile (with a floor, so a flat
image stays dark). Scales follow the image size (Gaussian sigma = side / 90, Gabor
wavelength = side / 18), so the filters see the same facial structures at every preset.

The **local feature map** (the second MC-DCN stream's input, paper 3.1 and Figure 1) is
``clip(A * E + c * C, 0, 1)``: the wrinkle energy ``E`` weighted by the attention heatmap
``A`` of :mod:`fer_kit.face.regions` (mouth corners and nasolabial folds highest; forehead and
crow's feet excluded), plus the raster ``C`` of the landmark contour (the ERT shape) at
intensity ``c``. Each component can be switched off for ablations: without wrinkles the
attention map itself is used, without attention the energy counts everywhere, without
the contour it is left out.
"""

from __future__ import annotations

import functools

import numpy as np

from fer_kit.errors import UsageError
from fer_kit.face.groups import CLOSED_GROUPS, LANDMARK_GROUPS
from fer_kit.face.regions import REGION_NAMES, attention_map, region_mask, region_polygons

CONTOUR_PATHS: tuple[tuple[int, int, bool], ...] = tuple(
    # the nose base starts at the tip of the bridge (30), so the nose is drawn as one line
    (part.start - (name == "nose_tip"), part.stop, name in CLOSED_GROUPS) for name, part in LANDMARK_GROUPS.items()
)
"""Landmark index ranges drawn as polylines ``(start, stop, closed)`` by :func:`contour_raster`: the named groups."""

CONTOUR_INTENSITY = 0.7
"""Brightness of the contour lines in the local feature map (wrinkle energy reaches 1.0)."""


@functools.lru_cache(maxsize=16)
def gabor_bank(size: int, orientations: int = 4) -> tuple[np.ndarray, ...]:
    """Zero-mean even Gabor kernels for an image of side ``size``; wavelength about ``size / 18`` px."""
    import cv2

    wavelength = max(3.0, size / 18.0)
    sigma = 0.45 * wavelength
    half = int(np.ceil(2.0 * sigma))
    kernels = []
    for k in range(orientations):
        theta = np.pi * k / orientations
        kernel = cv2.getGaborKernel((2 * half + 1, 2 * half + 1), sigma, theta, wavelength, 0.6, 0, cv2.CV_32F)
        kernel -= kernel.mean()
        kernel /= np.abs(kernel).sum() / 2
        kernels.append(kernel)
    return tuple(kernels)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    image = np.asarray(image)
    gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    return gray.astype(np.float32) / (255.0 if gray.dtype == np.uint8 else max(1.0, float(gray.max())))


def _ridge(gray: np.ndarray) -> np.ndarray:
    import cv2

    sigma = max(0.7, min(gray.shape[:2]) / 90.0)
    smooth = cv2.GaussianBlur(gray, (0, 0), sigma)
    ixx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
    iyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
    ixy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3)
    largest = (ixx + iyy) / 2 + np.sqrt(((ixx - iyy) / 2) ** 2 + ixy**2)
    return np.maximum(largest, 0.0) * (sigma**2 / 4.0)  # scale-normalised; Sobel 2nd derivative has gain 4


def _gabor(gray: np.ndarray, orientations: int) -> np.ndarray:
    import cv2

    energy = np.zeros(gray.shape, np.float32)
    for kernel in gabor_bank(min(gray.shape[:2]), orientations):
        response = cv2.filter2D(gray, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
        np.maximum(energy, -response, out=energy)
    return energy


WRINKLE_METHODS = ("ridge", "gabor")


def wrinkle_energy(image: np.ndarray, method: str = "ridge", orientations: int = 4) -> np.ndarray:
    """Wrinkle / fold energy ``float32[H, W]`` in ``[0, 1]`` from an oriented filter bank (see module doc)."""
    gray = _gray(image)
    if method == "ridge":
        energy, floor = _ridge(gray), 0.01
    elif method == "gabor":
        energy, floor = _gabor(gray, orientations), 0.04
    else:
        raise UsageError(f"unknown wrinkle method {method!r}; choose one of {', '.join(WRINKLE_METHODS)}")
    flat = energy.ravel()
    k = int(0.99 * (flat.size - 1))
    scale = max(float(np.partition(flat, k)[k]), floor)  # the 99th percentile
    return np.clip(energy / scale, 0.0, 1.0).astype(np.float32)


def contour_raster(landmarks: np.ndarray, size: int | tuple[int, int], thickness: int = 1) -> np.ndarray:
    """The ERT shape drawn as anti-aliased polylines (jaw, brows, nose, eyes, lips): ``float32[S, S]`` in [0, 1]."""
    import cv2

    shape = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    canvas = np.zeros(shape, np.uint8)
    points = np.round(np.asarray(landmarks, dtype=np.float64) * 16).astype(np.int32)
    lines = [points[start:stop] for start, stop, _ in CONTOUR_PATHS]
    closed = [c for _, _, c in CONTOUR_PATHS]
    for line, is_closed in zip(lines, closed, strict=True):
        cv2.polylines(canvas, [line], is_closed, 255, thickness, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def local_feature_map(
    face: np.ndarray,
    landmarks: np.ndarray,
    wrinkles: bool = True,
    attention: bool = True,
    contour: bool = True,
    weights: dict[str, float] | None = None,
    method: str = "ridge",
) -> np.ndarray:
    """The one-channel local feature map ``uint8[S, S]`` of an aligned face: ``clip(A * E + c * C, 0, 1) * 255``."""
    size = face.shape[:2]
    texture = None
    if wrinkles:
        texture = wrinkle_energy(face, method)
    if attention:
        heat = attention_map(landmarks, size, weights)
        texture = heat if texture is None else texture * heat
    value = np.zeros(size, np.float32) if texture is None else texture
    if contour:
        value = value + CONTOUR_INTENSITY * contour_raster(landmarks, size)
    return (np.clip(value, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def region_wrinkle_energy(face: np.ndarray, landmarks: np.ndarray, method: str = "ridge") -> dict[str, float]:
    """Mean wrinkle energy inside each region of :data:`fer_kit.face.regions.REGION_NAMES` (0.0 for an empty region)."""
    energy = wrinkle_energy(face, method)
    polygons = region_polygons(landmarks)
    result = {}
    for name in REGION_NAMES:
        mask = region_mask(landmarks, name, energy.shape, polygons)
        result[name] = float(energy[mask].mean()) if mask.any() else 0.0
    return result
