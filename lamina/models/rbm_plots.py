"""Image mosaics of RBM and DBN weights and fantasies (needs matplotlib).

:func:`draw_filters` shows first-layer weights, each filter on its own symmetric grey scale;
:func:`draw_samples` shows a model's ``sample`` fantasies. Each visible vector is drawn in the
input's ``(H, W)`` shape, else as a square. ``RBM`` and ``DBN`` call these from their
``plot_filters`` and ``plot_samples`` methods.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, message

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_filters", "draw_samples"]


def _tiles(
    images: np.ndarray, path: str | os.PathLike[str] | None, title: str, symmetric: bool
) -> Figure:
    """Images ``(n, H, W)`` as one mosaic, one pixel apart; weights on a symmetric scale each."""
    from lamina.train.plot import new_figure, save_figure

    n, height, width = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    if symmetric:  # each filter scaled to [-1, 1] by its own largest weight, drawn around grey 0
        images = images / np.maximum(np.abs(images).reshape(n, -1).max(1), 1e-12)[:, None, None]
    mosaic = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for i, image in enumerate(images):
        top, left = 1 + (i // columns) * (height + 1), 1 + (i % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = image
    figure = new_figure(1.0 + 0.5 * columns, 1.3 + 0.5 * rows)
    axes = figure.add_subplot(title=title)
    axes.imshow(
        mosaic, cmap="gray", vmin=-1.0 if symmetric else 0.0, vmax=1.0, interpolation="nearest"
    )
    axes.axis("off")
    return save_figure(figure, path)


def _tile_shape(model: Any, visible: int) -> tuple[int, int]:
    """The image shape of one visible vector: the input's (H, W), else a square side."""
    shape = [n for n in (model.input_spec_ or {}).get("shape", [None])[1:] if n != 1]
    if len(shape) == 2 and shape[0] * shape[1] == visible:
        return shape[0], shape[1]
    side = math.isqrt(visible)
    if side * side != visible:
        raise ConfigError(
            message(
                "Cannot draw visible vectors as images.",
                f"{visible} visible units",
                "inputs of shape (N, H, W) or a square number of units (784 = 28 x 28)",
                "Fit on (N, H, W) images, or inspect model.weight directly.",
            )
        )
    return side, side


def draw_filters(
    model: Any, weight: torch.Tensor, path: str | os.PathLike[str] | None, count: int
) -> Figure:
    """Draw the first ``count`` rows of ``weight`` ``(hidden, visible)`` as image tiles.

    Args:
        model: the fitted ``RBM`` or ``DBN`` (its input shape gives the tile shape).
        weight: first-layer weights ``(hidden, visible)``.
        path: where to write the PNG, or None.
        count: how many hidden units to draw.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    model._require_built("plot_filters")
    weights = weight.detach()[:count].cpu().numpy()  # (count, visible)
    return _tiles(
        weights.reshape(len(weights), *_tile_shape(model, weights.shape[1])),
        path,
        f"first-layer filters ({len(weights)} of {len(weight)})",
        symmetric=True,
    )


def draw_samples(
    model: Any, path: str | os.PathLike[str] | None, n: int, steps: int, seed: int, title: str
) -> Figure:
    """Draw ``model.sample(n, steps, seed=seed)`` as image tiles under ``title``.

    Args:
        model: a fitted ``RBM`` or a pretrained ``DBN``.
        path: where to write the PNG, or None.
        n, steps, seed: passed to ``model.sample``.
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    images = model.sample(n, steps, seed=seed).reshape(n, -1)  # (n, visible)
    return _tiles(
        images.reshape(n, *_tile_shape(model, images.shape[1])),
        path,
        title,
        symmetric=model.visible == "gaussian",
    )
