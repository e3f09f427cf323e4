"""Figures and small tables the course chapters draw (beyond the library's own plots).

Every function returns a matplotlib ``Figure`` (or plain rows) and never shows or saves
it; the notebooks display them and save a few with :func:`fer_kit.course.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- 03: blocks and shapes
def stage_shapes(model: Any, stream: str = "global") -> list[dict]:
    """Output shape ``(frames, height, width, channels)`` after the stem and after each of the five stages.

    Reads the layer names of :func:`fer_kit.model.mcdcn.conv_stream` (``<stream>_stem``, and
    ``<stream>_pool<i>`` / ``<stream>_block<i>`` for stage ``i``, whichever comes last), i.e. the
    feature maps of paper Figure 4 for one of the two streams.
    """
    import re

    pattern = re.compile(rf"{re.escape(stream)}_(stem|pool(\d+)|block(\d+))$")
    stages: dict[int, tuple[str, tuple[int, ...]]] = {}
    for layer in model.layers:  # in graph order: a stage's last layer overwrites its first
        match = pattern.match(layer.name)
        if match:
            stage = 0 if match.group(1) == "stem" else int(match.group(2) or match.group(3))
            stages[stage] = (layer.name, tuple(int(v) for v in layer.output.shape[1:]))
    if not stages:
        raise ValueError(f"model {model.name!r} has no stream called {stream!r}")
    rows = []
    for stage in sorted(stages):
        name, (frames, height, width, channels) = stages[stage]
        rows.append({"stage": stage, "layer": name, "frames": frames, "height": height, "width": width,
                     "channels": channels, "values": frames * height * width * channels})
    return rows


def plot_stage_shapes(shapes: Mapping[str, Sequence[Mapping]], title: str = "Feature maps through one stream"):
    """Paper Figure 4 as bars: spatial side, frames and channels after each stage, one colour per preset."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    names = list(shapes)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        rows = shapes[name]
        x = np.arange(len(rows)) + i * width
        for ax, key in zip(axes, ("height", "frames", "channels"), strict=True):
            ax.bar(x, [r[key] for r in rows], width, label=name)
    labels = ["stem" if r["stage"] == 0 else f"stage {r['stage']}" for r in next(iter(shapes.values()))]
    for ax, title_part in zip(axes, ("height = width (px)", "frames", "channels"), strict=True):
        ax.set_xticks(np.arange(len(labels)) + width * (len(names) - 1) / 2, labels, rotation=30)
        ax.set_yscale("log", base=2)
        ax.set_title(title_part)
    axes[0].legend(title="preset")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_parameter_counts(rows: Sequence[Mapping]):
    """Trainable parameters of every model kind per preset (log scale), from :func:`fer_kit.model.parameter_table`."""
    plt = _pyplot()
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    kinds = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        values = [next(r["trainable"] for r in rows if r["preset"] == p and r["model"] == kind) for p in presets]
        bars = ax.bar(np.arange(len(presets)) + i * width, values, width, label=kind)
        ax.bar_label(bars, [f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k" for v in values], fontsize=7)
    ax.set_xticks(np.arange(len(presets)) + width * (len(kinds) - 1) / 2, presets)
    ax.set_yscale("log")
    ax.set_ylabel("trainable parameters")
    ax.legend(title="model")
    ax.set_title("Model size per preset")
    fig.tight_layout()
    return fig


def plot_gradient_flow(flows: Sequence[Any]):
    """Gradient norm at the input of each block, one line per block kind (:mod:`fer_kit.model.gradient_flow`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for flow in flows:
        ax.plot(np.arange(1, flow.depth + 1), flow.norms, marker="o", ms=3,
                label=f"{flow.kind} (first/last = {flow.ratio:.3g})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log")
    ax.set_xlabel("block (1 = nearest the input)")
    ax.set_ylabel("||dL/dx|| at the block's input")
    ax.set_title("Gradient flow through a deep stack at initialisation")
    ax.legend()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- 01: detection and ERT
def plot_detections(images: Sequence[tuple[str, np.ndarray, Sequence]], columns: int = 3):
    """Images with their detector boxes and scores: ``[(title, image, [(box, score), ...]), ...]``."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for ax, (title, image, found) in zip(axes.flat, images, strict=False):
        ax.imshow(image)
        for rank, (box, score) in enumerate(found):
            left, top, right, bottom = box
            colour = "gold" if rank == 0 else "cyan"
            ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, lw=2, ec=colour))
            ax.text(left, top - 4, f"{score:+.2f}", color=colour, fontsize=8, weight="bold")
        ax.set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_landmarks_grid(items: Sequence[tuple[str, np.ndarray, np.ndarray]], columns: int = 4, numbers: bool = False):
    """Faces with their 68 points: ``[(title, image, points[68, 2]), ...]`` (points as dots, optional indices)."""
    plt = _pyplot()
    rows = int(np.ceil(len(items) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    for ax, (title, image, points) in zip(axes.flat, items, strict=False):
        ax.imshow(image)
        ax.scatter(points[:, 0], points[:, 1], s=6, c="lime")
        if numbers:
            for k, (x, y) in enumerate(points):
                ax.text(x + 1, y - 1, str(k), fontsize=5, color="yellow")
        ax.set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_ced(rows: Sequence[Mapping], limit: float = 0.15):
    """Cumulative error distribution: fraction of test faces with NME below x, one line per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for row in rows:
        errors = np.sort(np.asarray(row["errors"]))
        fraction = np.arange(1, len(errors) + 1) / len(errors)
        ax.step(errors, fraction, where="post", label=f"{row['name']} (mean NME {row['nme_mean']:.4f})")
    ax.axvline(0.08, color="grey", ls=":", lw=1)
    ax.text(0.081, 0.03, "failure threshold", color="grey", fontsize=8)
    ax.set_xlim(0, limit)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("NME (mean error / outer-eye-corner distance)")
    ax.set_ylabel("fraction of test faces")
    ax.set_title("Cumulative error distribution on held-out faces")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_cascade_predictions(image: np.ndarray, truth: np.ndarray, rows: Sequence[Mapping], index: int,
                             box: Sequence | None = None):
    """One test face: the ground truth and each model's prediction side by side (crop around the face)."""
    plt = _pyplot()
    x0, y0 = np.maximum(truth.min(axis=0) - 25, 0).astype(int)
    x1, y1 = (truth.max(axis=0) + 25).astype(int)
    crop = image[y0:y1, x0:x1]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.6), squeeze=False)
    for ax, row in zip(axes[0], rows, strict=True):
        points = row["predicted"][index]
        ax.imshow(crop)
        ax.scatter(truth[:, 0] - x0, truth[:, 1] - y0, s=8, c="lime", label="truth")
        ax.scatter(points[:, 0] - x0, points[:, 1] - y0, s=8, c="red", marker="x", label="predicted")
        ax.set_title(f"{row['name']}\nNME {row['errors'][index]:.4f}", fontsize=9)
        ax.axis("off")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- 02: regions
def plot_region_change(table, measures: Sequence[str] = ("motion", "texture"), order: Sequence[str] | None = None):
    """Heatmaps emotion x region of the mean change from neutral to apex, one per measure (long table input)."""
    plt = _pyplot()
    import seaborn as sns

    fig, axes = plt.subplots(1, len(measures), figsize=(6.5 * len(measures), 4.2), squeeze=False)
    for ax, measure in zip(axes[0], measures, strict=True):
        pivot = table[table["measure"] == measure].pivot_table(index="label", columns="region", values="value")
        if order is not None:
            pivot = pivot[[r for r in order if r in pivot.columns]]
        sns.heatmap(pivot, annot=True, fmt=".3f", cmap="rocket_r", ax=ax, cbar=False, annot_kws={"fontsize": 7})
        ax.set_title(f"{measure}: mean change neutral -> apex")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=40)
    fig.tight_layout()
    return fig
