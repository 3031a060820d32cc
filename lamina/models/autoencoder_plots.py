"""The pictures of ``lamina.models.Autoencoder``: inputs over their reconstructions, and the codes.

:class:`AutoencoderPlotsMixin` gives the model ``plot_reconstructions`` and ``plot_latent``; both
need matplotlib and return a ``Figure``, written as a PNG when given a path.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.nn import tensors as data_lib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AutoencoderPlotsMixin", "as_image"]


class AutoencoderPlotsMixin:
    """``plot_reconstructions`` and ``plot_latent`` for ``lamina.models.Autoencoder``."""

    kind: str
    code_size: int
    encode: Any
    reconstruct: Any

    def plot_reconstructions(
        self, x: Any, path: str | os.PathLike[str] | None = None, *, count: int = 8
    ) -> Figure:
        """Draw the first ``count`` inputs (top row) over their reconstructions (bottom row).

        Images are drawn as images (a flat square vector is reshaped), sequences as curves.
        ``path``: where to write the PNG (None: only return the figure). Returns the matplotlib
        ``Figure``.
        """
        from lamina.train.plot import new_figure, save_figure

        originals = data_lib.to_tensor(x, name="x")[:count].numpy()
        figure = new_figure(1.3 * len(originals), 2.8)
        axes = figure.subplots(2, len(originals), squeeze=False)
        for column, pair in enumerate(zip(originals, self.reconstruct(originals))):
            for ax, sample in zip(axes[:, column], pair):
                image = None if self.kind == "recurrent" else as_image(sample)
                if image is None:
                    ax.plot(sample.reshape(len(sample), -1))
                else:
                    ax.imshow(image, cmap="gray")
                ax.set(xticks=[], yticks=[])
        axes[0, 0].set_ylabel("input")
        axes[1, 0].set_ylabel("rebuilt")
        return save_figure(figure, path)

    def plot_latent(
        self, x: Any, y: Any = None, path: str | os.PathLike[str] | None = None
    ) -> Figure:
        """Scatter the codes of ``x`` in 2-D, coloured by the labels ``y`` (None: one colour).

        Codes larger than 2 are projected on their first two principal components. ``path``: where
        to write the PNG (None: only return the figure). Returns the matplotlib ``Figure``.
        """
        from lamina.train.plot import new_figure, save_figure

        codes = self.encode(x)
        labels = None if y is None else np.asarray(y).reshape(-1)
        if labels is not None and len(labels) != len(codes):
            raise DataError(
                message(
                    "plot_latent() needs one label per row.",
                    f"{len(codes)} rows, {len(labels)} labels",
                    "len(y) == len(x)",
                    "Pass the labels of the same rows.",
                )
            )
        names = ("code 1", "code 2")
        if codes.shape[1] > 2:  # the plane of largest variance of the codes
            centred = codes - codes.mean(0)
            codes = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            names = ("principal component 1 of the codes", "principal component 2")
        points = np.column_stack([codes, np.zeros(len(codes))])  # code size 1: on a line
        ax = (figure := new_figure(5.5, 4.5)).subplots()
        scatter = ax.scatter(
            points[:, 0], points[:, 1], c=labels, cmap=None if labels is None else "tab10", s=5
        )
        if labels is not None:
            ax.legend(*scatter.legend_elements(), title="y", fontsize=7)
        ax.set(
            xlabel=names[0],
            ylabel=names[1],
            title=f"{self.kind} autoencoder, code size {self.code_size}",
        )
        return save_figure(figure, path)


def as_image(sample: np.ndarray) -> np.ndarray | None:
    """A sample as an image ``(H, W)`` or ``(H, W, 3)``, or None for a sequence.

    Args:
        sample: one input without its batch axis: ``(C, H, W)`` with 1 or 3 channels, ``(H, W)``,
            or a flat vector (reshaped to a square when its length is a square of at least 16).

    Returns:
        The image to draw, or None when ``sample`` is not one.

    >>> as_image(np.zeros(16)).shape
    (4, 4)
    """
    if sample.ndim == 3 and sample.shape[0] in (1, 3):
        return sample[0] if sample.shape[0] == 1 else np.clip(sample.transpose(1, 2, 0), 0, 1)
    if sample.ndim == 1 and len(sample) >= 16 and math.isqrt(len(sample)) ** 2 == len(sample):
        return sample.reshape(math.isqrt(len(sample)), -1)
    return sample if sample.ndim == 2 else None
