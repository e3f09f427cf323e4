"""Pictures of the face pipeline (used by `fer-kit landmarks show`, the notebooks and the widgets)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from fer_kit.face.align import align_face
from fer_kit.face.landmarks import face_landmarks
from fer_kit.face.regions import REGION_NAMES
from fer_kit.viz.drawing import (
    REGION_COLORS,
    draw_landmarks,
    draw_regions,
    gray_panel,
    pipeline_figure,
    pipeline_panels,
    save_image,
    side_by_side,
)


def test_landmarks_are_drawn_where_they_are() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    points = np.full((68, 2), 50.0, np.float32)
    points[0] = (10, 20)
    drawn = draw_landmarks(image, points, color=(0, 255, 0), lines=False)
    assert drawn[20, 10, 1] == 255 and drawn[50, 50, 1] == 255
    assert drawn[80, 80].max() == 0
    assert image.max() == 0  # the input is not modified


def test_pipeline_panels_and_figure() -> None:
    image = skimage.data.astronaut()
    landmarks = face_landmarks(image)
    panels = pipeline_panels(image, landmarks, size=96)
    assert list(panels) == ["landmarks", "regions", "wrinkles", "attention", "local map"]
    assert panels["regions"].shape == (96, 96, 3) and panels["landmarks"].shape == image.shape
    figure = pipeline_figure(image, landmarks, size=96, height=200)
    assert figure.shape[0] == 200 and figure.dtype == np.uint8
    assert set(REGION_COLORS) == set(REGION_NAMES)
    aligned = align_face(image, landmarks, 96)
    only_mouth = draw_regions(aligned.image, aligned.landmarks, regions=("mouth",))
    changed = np.any(only_mouth != aligned.image, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() > aligned.landmarks[33, 1]  # only the mouth, below the nose, was painted


def test_panels_helpers_and_atomic_save(tmp_path: Path) -> None:
    assert gray_panel(np.array([[0.0, 1.0]])).tolist() == [[[0, 0, 0], [255, 255, 255]]]
    assert gray_panel(np.zeros((4, 4, 1), np.uint8), "magma").shape == (4, 4, 3)
    joined = side_by_side([np.zeros((10, 20, 3), np.uint8), np.zeros((20, 20), np.uint8)], height=40, gap=2)
    assert joined.shape == (40, 80 + 40 + 2, 3)
    path = save_image(
        tmp_path / "out" / "x.png", np.dstack([np.full((8, 8), 200, np.uint8)] + [np.zeros((8, 8), np.uint8)] * 2)
    )
    assert cv2.imread(str(path))[0, 0].tolist() == [0, 0, 200]  # red in RGB is red on disk
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
