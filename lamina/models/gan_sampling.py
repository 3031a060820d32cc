"""Sampling for ``lamina.models.GAN``: :meth:`~GANSamplingMixin.sample` and a grid of samples.

The generator runs in eval mode on seeded noise; images come back in ``[0, 1]`` whatever the
generator's output activation. :class:`GANSamplingMixin` is one of ``GAN``'s bases, so both
methods are called on the model, e.g. ``gan.sample(16, seed=0)``.
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

__all__ = ["GANSamplingMixin"]


class GANSamplingMixin:
    """``sample`` and ``plot_samples`` for ``lamina.models.GAN``."""

    latent: int
    output: str
    conditional_classes: int | None
    generator: Any
    training: bool
    _labels: Any
    parameters: Any
    eval: Any
    train: Any

    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> np.ndarray:
        """Generate ``n`` images with the generator in eval mode.

        Args:
            n: number of images.
            labels: class ids for a conditional GAN: one int for all, or ``n`` ints; default
                ``0, 1, ..., classes - 1, 0, 1, ...``. Must be None for an unconditional GAN.
            seed: seeds the noise (same seed and weights, same images); None uses torch's global
                RNG.

        Returns:
            ``(n, C, H, W)`` float32 images in ``[0, 1]``.
        """
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            raise ConfigError(
                message(
                    "sample() needs a positive number of images.",
                    f"n={n!r}",
                    "an int >= 1",
                    "Pass e.g. sample(64).",
                )
            )
        if labels is None and self.conditional_classes is not None:
            labels = np.arange(n) % self.conditional_classes
        label_ids = self._labels(labels, n)
        device = next(self.parameters()).device
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent, generator=generator).to(device)
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            images = self.generator(z, None if label_ids is None else label_ids.to(device))
        self.train(was_training)
        images = (images + 1) / 2 if self.output == "tanh" else images
        return images.float().cpu().numpy()  # type: ignore[no-any-return]

    def plot_samples(
        self,
        path: str | os.PathLike[str] | None = None,
        n: int = 64,
        labels: Any = None,
        seed: int | None = 0,
    ) -> Figure:
        """Draw ``sample(n, labels, seed)`` as one grid image; write a PNG to ``path`` if given.

        Returns:
            The ``matplotlib.figure.Figure``.
        """
        from lamina.train.plot import new_figure, save_figure

        images = self.sample(n, labels, seed).transpose(0, 2, 3, 1)  # (n, H, W, C)
        height, width, channels = images.shape[1:]
        columns = math.ceil(math.sqrt(n))
        rows = math.ceil(n / columns)
        grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.float32)
        for i, image in enumerate(images):
            top, left = 1 + (i // columns) * (height + 1), 1 + (i % columns) * (width + 1)
            grid[top : top + height, left : left + width] = image
        figure = new_figure(max(2.0, columns * 0.5), max(2.0, rows * 0.5))
        axes = figure.add_subplot()
        axes.imshow(
            grid[..., 0] if channels == 1 else grid,
            cmap="gray" if channels == 1 else None,
            vmin=0,
            vmax=1,
        )
        axes.set_axis_off()
        return save_figure(figure, path)
