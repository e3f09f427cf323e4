"""Piecewise-affine image warping with OpenCV, fast enough for hundreds of clips.

The control points (68 landmarks plus fixed points around the face) are triangulated once
(Delaunay) in the source photo. For every output frame each triangle gets the affine map
that takes its output corners back to its source corners; a label image says which
triangle covers each output pixel, the per-pixel source coordinates follow from that
triangle's map, and one ``cv2.remap`` samples the photo (bilinear). Only the output frame
is computed, whatever the photo's size: about 2-4 ms for a 256 x 256 frame, against
0.4-0.9 s for scikit-image's ``PiecewiseAffineTransform`` on a whole 512 x 512 photo.
Pixels outside every triangle fall back to the least-squares affine map of all points.
"""

from __future__ import annotations

import numpy as np


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles ``int32[T, 3]`` of ``points`` ``[N, 2]``."""
    from scipy.spatial import Delaunay

    return Delaunay(np.asarray(points, dtype=np.float64)).simplices.astype(np.int32)


def _affines(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``float64[T, 3, 2]`` matrices ``A`` with ``[x, y, 1] @ A`` = source position, one per triangle."""
    d = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1))], axis=2)  # [T, 3, 3]
    s = src[triangles]  # [T, 3, 2]
    det = np.linalg.det(d)
    good = np.abs(det) > 1e-6
    out = np.repeat(fallback[None], len(triangles), axis=0)
    if good.any():
        out[good] = np.linalg.solve(d[good], s[good])
    return out


def affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map ``float64[3, 2]`` taking ``src`` points to ``dst`` (row-vector form)."""
    design = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    return np.linalg.lstsq(design, dst, rcond=None)[0]


class PiecewiseAffineWarp:
    """Warp one source image onto moving control points.

    ``src_points`` ``[N, 2]`` are fixed in the source image; :meth:`warp` takes their
    output positions ``dst_points`` ``[N, 2]`` for one frame.
    """

    def __init__(self, image: np.ndarray, src_points: np.ndarray, triangles: np.ndarray | None = None) -> None:
        self.image = np.ascontiguousarray(image)
        self.src = np.asarray(src_points, dtype=np.float64)
        self.triangles = triangulate(self.src) if triangles is None else np.asarray(triangles, dtype=np.int32)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def _coords(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != (height, width):
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._grid = (xs, ys)
        return self._grid

    def maps(self, dst_points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """``(map_x, map_y)`` ``float32[H, W]``: the source position of every output pixel."""
        import cv2

        width, height = size
        dst = np.asarray(dst_points, dtype=np.float64)
        fallback = affine_fit(dst, self.src)
        affines = _affines(dst, self.src, self.triangles, fallback).astype(np.float32)
        labels = np.full((height, width), len(self.triangles), dtype=np.int32)
        corners = np.round(dst[self.triangles] * 16).astype(np.int32)  # 4 fractional bits
        for index, triangle in enumerate(corners):
            cv2.fillConvexPoly(labels, triangle, int(index), lineType=cv2.LINE_8, shift=4)
        table = np.concatenate([affines, fallback[None].astype(np.float32)], axis=0).reshape(-1, 6)
        xs, ys = self._coords(height, width)
        a = [np.take(table[:, k], labels) for k in range(6)]  # per-pixel coefficients
        map_x = xs * a[0] + ys * a[2] + a[4]
        map_y = xs * a[1] + ys * a[3] + a[5]
        return map_x, map_y

    def warp(self, dst_points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The source image warped so its control points land on ``dst_points``; output ``size = (W, H)``."""
        import cv2

        map_x, map_y = self.maps(dst_points, size)
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
