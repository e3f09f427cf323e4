"""Pictures of the face pipeline: landmarks, regions, attention and local feature maps, side by side.

Everything returns RGB ``uint8`` arrays (OpenCV drawing underneath), so the same panels
serve ``fer-kit landmarks show``, the notebooks (``plt.imshow``) and the widgets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_kit.atomic import write_bytes_atomic
from fer_kit.face.regions import PART_REGION, REGION_NAMES, attention_map, region_polygons

REGION_COLORS: dict[str, tuple[int, int, int]] = {
    "mouth_corners": (230, 25, 75),
    "nasolabial_folds": (245, 130, 48),
    "mouth": (255, 225, 25),
    "eyes": (60, 180, 75),
    "brows": (70, 240, 240),
    "nose": (0, 130, 200),
    "forehead": (145, 30, 180),
    "crows_feet": (240, 50, 230),
}
"""One RGB colour per region (a colour-blind-friendly qualitative palette)."""


def _scale(image: np.ndarray) -> float:
    return max(1.0, min(image.shape[:2]) / 200.0)


def draw_box(image: np.ndarray, box, color=(255, 200, 0), thickness: int | None = None) -> np.ndarray:
    """A copy of ``image`` with the face box ``(left, top, right, bottom)`` drawn."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    t = thickness or max(1, round(_scale(out)))
    cv2.rectangle(out, (int(box[0]), int(box[1])), (int(box[2]) - 1, int(box[3]) - 1), color, t, cv2.LINE_AA)
    return out


def draw_landmarks(
    image: np.ndarray,
    landmarks: np.ndarray,
    color=(0, 255, 0),
    radius: int | None = None,
    numbers: bool = False,
    lines: bool = True,
) -> np.ndarray:
    """A copy of ``image`` (RGB) with the 68 points (and their contour lines, optionally their indices)."""
    import cv2

    from fer_kit.face.wrinkles import CONTOUR_PATHS

    out = np.ascontiguousarray(image).copy()
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    s = _scale(out)
    r = radius or max(1, round(1.2 * s))
    pts = np.round(np.asarray(landmarks, dtype=np.float64) * 16).astype(np.int32)
    if lines:
        for start, stop, closed in CONTOUR_PATHS:
            cv2.polylines(out, [pts[start:stop]], closed, color, 1, cv2.LINE_AA, shift=4)
    for i, p in enumerate(pts):
        cv2.circle(out, (int(p[0]), int(p[1])), r * 16, color, -1, cv2.LINE_AA, shift=4)
        if numbers:
            cv2.putText(
                out, str(i), (int(p[0] / 16) + r, int(p[1] / 16) - r), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * s, color, 1
            )
    return out


def draw_regions(
    image: np.ndarray, landmarks: np.ndarray, regions: tuple[str, ...] | None = None, alpha: float = 0.35
) -> np.ndarray:
    """A copy of ``image`` with the named regions filled translucently and outlined in their colours."""
    import cv2

    regions = REGION_NAMES if regions is None else tuple(regions)
    out = np.ascontiguousarray(image).copy()
    overlay = out.copy()
    polygons = region_polygons(landmarks)
    outlines = []
    for part, poly in polygons.items():
        region = PART_REGION[part]
        if region not in regions:
            continue
        pts = np.round(poly * 16).astype(np.int32)
        cv2.fillPoly(overlay, [pts], REGION_COLORS[region], cv2.LINE_AA, shift=4)
        outlines.append((pts, REGION_COLORS[region]))
    out = cv2.addWeighted(overlay, alpha, out, 1 - alpha, 0)
    for pts, color in outlines:
        cv2.polylines(out, [pts], True, color, 1, cv2.LINE_AA, shift=4)
    return out


def gray_panel(values: np.ndarray, colormap: str | None = None) -> np.ndarray:
    """A one-channel map (``uint8`` or float in [0, 1]) as an RGB panel, optionally through a matplotlib colormap."""
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[..., 0]
    unit = values.astype(np.float32) / 255.0 if values.dtype == np.uint8 else np.clip(values.astype(np.float32), 0, 1)
    if colormap:
        from matplotlib import colormaps

        return (colormaps[colormap](unit)[..., :3] * 255 + 0.5).astype(np.uint8)
    gray = (unit * 255 + 0.5).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def label_panel(panel: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``panel`` with ``text`` written in its top-left corner."""
    import cv2

    out = np.ascontiguousarray(panel).copy()
    scale = max(0.35, out.shape[0] / 600)
    thick = max(1, round(scale * 2))
    org = (4, int(16 * scale / 0.45))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


def side_by_side(panels: list[np.ndarray], height: int = 320, gap: int = 4) -> np.ndarray:
    """Panels resized to a common ``height`` and joined horizontally on a white background."""
    import cv2

    resized = []
    for panel in panels:
        panel = np.asarray(panel)
        if panel.ndim == 2:
            panel = np.repeat(panel[:, :, None], 3, axis=2)
        width = max(1, round(panel.shape[1] * height / panel.shape[0]))
        interpolation = cv2.INTER_NEAREST if panel.shape[0] < height / 2 else cv2.INTER_AREA
        resized.append(cv2.resize(np.ascontiguousarray(panel), (width, height), interpolation=interpolation))
    total = sum(p.shape[1] for p in resized) + gap * (len(resized) - 1)
    canvas = np.full((height, total, 3), 255, np.uint8)
    x = 0
    for panel in resized:
        canvas[:, x : x + panel.shape[1]] = panel
        x += panel.shape[1] + gap
    return canvas


def pipeline_panels(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: int = 112,
    box=None,
    wrinkles: bool = True,
    attention: bool = True,
    contour: bool = True,
) -> dict[str, np.ndarray]:
    """The stages of the face pipeline for one image: input with landmarks, aligned crop with regions,
    wrinkle energy, attention heatmap and the local feature map (all RGB)."""
    from fer_kit.face.align import align_face
    from fer_kit.face.wrinkles import local_feature_map, wrinkle_energy

    shown = draw_landmarks(image, landmarks)
    if box is not None:
        shown = draw_box(shown, box)
    aligned = align_face(image, landmarks, size)
    return {
        "landmarks": shown,
        "regions": draw_regions(aligned.image, aligned.landmarks),
        "wrinkles": gray_panel(wrinkle_energy(aligned.image)),
        "attention": gray_panel(attention_map(aligned.landmarks, size), "magma"),
        "local map": gray_panel(
            local_feature_map(aligned.image, aligned.landmarks, wrinkles=wrinkles, attention=attention, contour=contour)
        ),
    }


def pipeline_figure(
    image: np.ndarray, landmarks: np.ndarray, size: int = 112, box=None, height: int = 320
) -> np.ndarray:
    """:func:`pipeline_panels` labelled and joined side by side into one RGB image."""
    panels = pipeline_panels(image, landmarks, size, box)
    return side_by_side([label_panel(_fit(p, height), name) for name, p in panels.items()], height)


def _fit(panel: np.ndarray, height: int) -> np.ndarray:
    import cv2

    width = max(1, round(panel.shape[1] * height / panel.shape[0]))
    interpolation = cv2.INTER_NEAREST if panel.shape[0] < height / 2 else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(panel), (width, height), interpolation=interpolation)


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB image (format from the suffix, e.g. ``.png``) atomically."""
    import cv2

    from fer_kit.errors import InputFileError

    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    array = np.ascontiguousarray(image)
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, data = cv2.imencode(suffix, bgr)
    if not ok:
        raise InputFileError(f"cannot encode an image as {suffix}", path)
    write_bytes_atomic(path, data.tobytes())
    return path
