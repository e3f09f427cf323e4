"""Figures of the kit (matplotlib + seaborn): confusion matrices (paper Figures 7-9), training curves (Figure 6).

Every function returns the matplotlib ``Figure`` (drawn on ``ax`` when given) so a
notebook shows it and a script saves it with :func:`save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from fer_kit.atomic import atomic_path
from fer_kit.training.runfolder import ACCURACY_ALIASES


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix) atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:  # same suffix: savefig picks the format from it
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path


def plot_confusion_matrix(
    percent: np.ndarray,
    classes: Sequence[str],
    title: str | None = None,
    ax=None,
    cmap: str = "Blues",
):
    """Heatmap of a row-normalised confusion matrix in percent (rows: true label), as paper Figures 7-9."""
    import seaborn as sns

    percent = np.asarray(percent, dtype=float)
    if ax is None:
        size = 1.0 + 0.75 * len(classes)
        fig, ax = plt.subplots(figsize=(size + 1.5, size))
    else:
        fig = ax.figure
    sns.heatmap(
        np.nan_to_num(percent),
        annot=True,
        fmt=".1f",
        cmap=cmap,
        vmin=0,
        vmax=100,
        square=True,
        xticklabels=list(classes),
        yticklabels=list(classes),
        cbar_kws={"label": "% of the true class"},
        ax=ax,
    )
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    if title:
        ax.set_title(title)
    return fig


def _as_frame(history) -> pd.DataFrame:
    if isinstance(history, pd.DataFrame):
        frame = history
    elif isinstance(history, (str, Path)):
        path = Path(history)
        frame = pd.read_csv(path / "history.csv" if path.is_dir() else path)
        if "epoch" in frame.columns:
            frame = frame.drop_duplicates("epoch", keep="last")
    else:
        frame = pd.DataFrame(dict(history))
    if "epoch" not in frame.columns:
        frame = frame.assign(epoch=np.arange(len(frame)))
    return frame.rename(columns=ACCURACY_ALIASES)


def plot_training_curves(history, title: str | None = None, axes=None):
    """Loss and accuracy per epoch, training and validation (paper Figure 6).

    ``history``: a ``history.csv`` table, a Keras-style dict of lists, a run folder, or a
    mapping ``{name: history}`` to overlay several runs (e.g. C3D against MC-DCN, as Figure 6).
    """
    runs: Mapping = history if isinstance(history, Mapping) and not _looks_like_history(history) else {"": history}
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig = axes[0].figure
    for name, one in runs.items():
        frame = _as_frame(one)
        epochs = frame["epoch"] + 1 if "epoch" in frame.columns else np.arange(1, len(frame) + 1)
        prefix = f"{name} " if name else ""
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            for split, style in (("", "-"), ("val_", "--")):
                column = f"{split}{metric}"
                if column in frame.columns:
                    label = f"{prefix}{'validation' if split else 'training'}"
                    ax.plot(epochs, frame[column], style, marker="o", markersize=3, label=label)
    for ax, label in zip(axes, ("loss (eq. 8)", "accuracy (fused output)"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _looks_like_history(obj: Mapping) -> bool:
    return any(key in obj for key in ("loss", "epoch", "val_loss"))
