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
    """Output shape ``(frames, height, width, channels)`` after the stem and every pooling stage of a stream.

    Reads the layer names of :func:`fer_kit.model.mcdcn.conv_stream` (``<stream>_stem``,
    ``<stream>_pool1`` ...), i.e. the feature maps of paper Figure 4 for one of the two streams.
    """
    rows = []
    for layer in model.layers:
        name = layer.name
        if name == f"{stream}_stem" or (name.startswith(f"{stream}_pool") and name[len(stream) + 5:].isdigit()):
            frames, height, width, channels = (int(v) for v in layer.output.shape[1:])
            stage = 0 if name.endswith("stem") else int(name[len(stream) + 5:])
            rows.append({"stage": stage, "layer": name, "frames": frames, "height": height, "width": width,
                         "channels": channels, "values": frames * height * width * channels})
    if not rows:
        raise ValueError(f"model {model.name!r} has no stream called {stream!r}")
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
    """Gradient norm at the input of each block, one line per block kind (:mod:`fer_kit.gradient_flow`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for flow in flows:
        ax.plot(np.arange(1, flow.depth + 1), flow.norms, marker="o", ms=3,
                label=f"{flow.kind} (first/last = {flow.ratio:.3g})")
    ax.set_yscale("log")
    ax.set_xlabel("block (1 = nearest the input)")
    ax.set_ylabel("||dL/dx|| at the block's input")
    ax.set_title("Gradient flow through a deep stack at initialisation")
    ax.legend()
    fig.tight_layout()
    return fig
