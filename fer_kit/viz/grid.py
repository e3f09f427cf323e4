"""A grid of images with titles: the one helper behind every "show these side by side" of the notebooks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int | None = None,
    size: float = 2.2,
    cmap: str = "gray",
    suptitle: str | None = None,
):
    """Draw ``images`` in a grid (``columns`` wide; all in one row by default) and return the figure.

    Colour images (``[H, W, 3]``, uint8 or float in [0, 1]) are shown as they are; one-channel
    ones (``[H, W]`` or ``[H, W, 1]``) with ``cmap``. Empty cells are hidden.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    columns = max(1, min(columns or len(images), len(images)))
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = np.asarray(images[i])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
