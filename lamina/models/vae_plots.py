"""Plots of ``lamina.models.VAE``: samples, reconstructions and the latent codes (needs matplotlib).

:class:`VAEPlotsMixin` is one of ``VAE``'s bases, so the plots are methods of the model;
:func:`image_grid` tiles image arrays into one figure. Each plot returns the figure and writes a
PNG when given a path.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.core.errors import ShapeError, message
from lamina.nn import tensors as data_lib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["VAEPlotsMixin", "image_grid"]


class VAEPlotsMixin:
    """``plot_samples``, ``plot_reconstructions`` and ``plot_latent`` for ``lamina.models.VAE``."""

    latent: int
    sample: Any
    encode: Any
    decode: Any
    _tensors: Any

    def plot_samples(
        self,
        path: str | os.PathLike[str] | None = None,
        n: int = 64,
        y: Any = None,
        *,
        seed: int | None = 0,
    ) -> Figure:
        """A grid of ``n`` decoder means for ``z ~ N(0, I)``, saved as PNG at ``path`` if given."""
        return image_grid(self.sample(n, y, seed=seed), math.ceil(math.sqrt(n)), path, "samples")

    def plot_reconstructions(
        self, x: Any, path: str | os.PathLike[str] | None = None, y: Any = None, *, n: int = 8
    ) -> Figure:
        """The first ``n`` rows of ``x`` (top) above their reconstructions ``decode(mu)``."""
        originals = self._tensors(x, None, "encode")[0][:n].cpu().numpy()
        labels = None if y is None else data_lib.to_tensor(y, name="y").reshape(-1)[:n]
        again = self.decode(self.encode(originals)[0], labels)
        return image_grid(
            np.concatenate([originals, again]),
            len(originals),
            path,
            "inputs (top), reconstructions",
        )

    def plot_latent(
        self, x: Any, y: Any = None, path: str | os.PathLike[str] | None = None
    ) -> Figure:
        """A scatter of the codes ``mu`` coloured by ``y``.

        With ``latent > 2`` the axes are the codes' first two principal axes.
        """
        from lamina.train.plot import new_figure, save_figure

        codes = torch.from_numpy(self.encode(x)[0])
        axis_names = ["z1", "z2"]
        if self.latent > 2:
            centred = codes - codes.mean(0)
            codes = (
                centred @ torch.linalg.svd(centred, full_matrices=False)[2][:2].T
            )  # (N, 2) PCA scores
            axis_names = ["principal axis 1", "principal axis 2"]
        elif self.latent == 1:
            codes = torch.cat([codes, torch.zeros_like(codes)], 1)
        figure = new_figure(5.5, 4.5)
        axes = figure.subplots()
        colours = None if y is None else np.asarray(y).reshape(-1)
        if colours is not None and len(colours) != len(codes):
            raise ShapeError(
                message(
                    "plot_latent() needs one y per row of x.",
                    f"{len(colours)} labels, {len(codes)} rows",
                    "len(y) == len(x)",
                    "Pass the labels of these rows.",
                )
            )
        points = axes.scatter(
            codes[:, 0], codes[:, 1], c=colours, s=4, cmap="tab10" if y is not None else None
        )
        if y is not None:
            figure.colorbar(points, ax=axes, label="y")
        axes.set_xlabel(axis_names[0])
        axes.set_ylabel(axis_names[1])
        axes.set_title("latent codes (posterior means)")
        return save_figure(figure, path)


def image_grid(
    images: np.ndarray, columns: int, path: str | os.PathLike[str] | None, title: str
) -> Figure:
    """Tile images into one grid and draw it (needs matplotlib).

    Args:
        images: ``(n, H, W)``, ``(n, 1 or 3, H, W)`` or ``(n, square)``, values in ``[0, 1]``.
        columns: images per row of the grid.
        path: where to write the PNG, or None.
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from lamina.train.plot import new_figure, save_figure

    n, shape = len(images), images.shape[1:]
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    if len(shape) == 1 and side * side == shape[0]:
        images = images.reshape(n, side, side)
    elif len(shape) == 3 and shape[0] in (1, 3):
        images = (
            images.transpose(0, 2, 3, 1).squeeze(-1)
            if shape[0] == 1
            else images.transpose(0, 2, 3, 1)
        )
    elif len(shape) != 2:
        raise ShapeError(
            message(
                "Only images can be drawn as a grid.",
                f"examples of shape {tuple(shape)}",
                "(H, W), (1 or 3, H, W) or a square number of features",
                "Use plot_latent, or reshape the data to images before fit().",
            )
        )
    rows = math.ceil(n / columns)
    height, width = images.shape[1:3]
    canvas = np.zeros(
        (rows * (height + 1), columns * (width + 1), *images.shape[3:]), dtype=np.float32
    )
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        canvas[top : top + height, left : left + width] = image
    figure = new_figure(max(2.0, 0.6 * columns), max(2.0, 0.6 * rows) + 0.3)
    axes = figure.subplots()
    axes.imshow(
        np.clip(canvas, 0.0, 1.0), cmap="gray_r" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0
    )
    axes.set_axis_off()
    axes.set_title(title)
    return save_figure(figure, path)
