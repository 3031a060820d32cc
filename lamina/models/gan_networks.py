"""The DCGAN parts of ``lamina.models.GAN``: the two networks and the two adversarial losses.

Plain modules and functions, usable in a torch loop of your own (Radford et al., 2016):

* :class:`Generator`: ``z (N, latent) [+ label embedding] -> Linear -> BatchNorm -> ReLU ->
  (2F, H/4, W/4) -> ConvTranspose(4, stride 2) -> BatchNorm -> ReLU -> ConvTranspose(4, stride 2)
  -> Tanh or Sigmoid``, ``F = filters``;
* :class:`Discriminator`: ``Conv(4, stride 2) -> LeakyReLU(0.2) -> Conv(4, stride 2) ->
  LeakyReLU(0.2) -> Flatten -> Linear(1)`` logits, each layer optionally spectral-normalised
  (Miyato et al., 2018); with labels it adds a projection term ``<embed(y), features(x)>``
  (Miyato & Koyama, 2018);
* :func:`discriminator_loss` and :func:`generator_loss` on the discriminator's logits.

>>> from lamina.models.gan_networks import Discriminator, Generator
>>> Discriminator((1, 8, 8), filters=4)(Generator(8, (1, 8, 8), filters=4)(torch.randn(2, 8))).shape
torch.Size([2, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from lamina.core.errors import ConfigError, message

__all__ = ["LOSSES", "Discriminator", "Generator", "discriminator_loss", "generator_loss"]

LOSSES = ("non_saturating", "standard")


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """The discriminator's loss, with one-sided label smoothing ``s`` (Salimans et al., 2016).

    ``-mean[(1 - s) log D(x) + s log(1 - D(x))] - mean[log(1 - D(G(z)))]`` with ``D =
    sigmoid(logits)``: binary cross-entropy with target ``1 - s`` for real images and ``0`` (never
    smoothed) for fakes.

    Args:
        real_logits: discriminator logits on real images, ``(N, 1)``.
        fake_logits: discriminator logits on generated images, ``(M, 1)``.
        label_smoothing: ``s`` in ``[0, 1)``.

    Returns:
        A 0-d tensor.

    >>> zeros = torch.zeros(4, 1)  # D = 1/2 everywhere: the loss is 2 log 2
    >>> float(discriminator_loss(zeros, zeros))
    1.386...
    """
    real = F.binary_cross_entropy_with_logits(
        real_logits, torch.full_like(real_logits, 1.0 - label_smoothing)
    )
    return real + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor, loss: str = "non_saturating") -> torch.Tensor:
    """The generator's loss on discriminator logits of generated images ``(N, 1)``.

    ``"standard"`` (the minimax game): ``mean log(1 - D(G(z))) = -mean softplus(logits)``, to
    minimise; its gradient vanishes while the discriminator rejects the fakes. ``"non_saturating"``:
    ``-mean log D(G(z)) = mean softplus(-logits)``, the same fixed point with strong early
    gradients.

    Returns:
        A 0-d tensor.

    >>> zeros = torch.zeros(3, 1)
    >>> float(generator_loss(zeros, "standard")), float(generator_loss(zeros))
    (-0.693..., 0.693...)
    """
    if loss not in LOSSES:
        raise ConfigError(
            message(
                "Unknown GAN loss.",
                repr(loss),
                f"one of {', '.join(map(repr, LOSSES))}",
                "Pass loss='non_saturating' (the usual choice) or loss='standard'.",
            )
        )
    return (
        -F.softplus(fake_logits).mean() if loss == "standard" else F.softplus(-fake_logits).mean()
    )


def _dcgan_init(*modules: nn.Module) -> None:
    """Weights from N(0, 0.02), BatchNorm scales from N(1, 0.02), zero biases (Radford et al.)."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
                nn.init.normal_(layer.weight, 0.0, 0.02)
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.normal_(layer.weight, 1.0, 0.02)
            bias = getattr(layer, "bias", None)
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)


class Generator(nn.Module):
    """DCGAN generator: noise ``(N, latent)`` (and labels ``(N,)``) -> images ``(N, C, H, W)``.

    Args:
        latent: size of the noise vector.
        image_shape: ``(C, H, W)``, ``H`` and ``W`` divisible by 4.
        classes: number of label classes (a label embedding of size ``latent`` is concatenated to
            the noise), or None.
        filters: channels of the last hidden layer (the first has ``2 * filters``).
        output: ``"tanh"`` (values in ``[-1, 1]``) or ``"sigmoid"`` (``[0, 1]``).
        depth: extra 3x3 convolutions (BatchNorm, ReLU) on the ``2F`` maps at a quarter of the size.

    >>> generator = Generator(16, (3, 8, 12), classes=4, filters=8)
    >>> generator(torch.randn(2, 16), torch.tensor([0, 3])).shape
    torch.Size([2, 3, 8, 12])
    """

    def __init__(
        self,
        latent: int,
        image_shape: Sequence[int],
        classes: int | None = None,
        filters: int = 64,
        output: str = "tanh",
        depth: int = 0,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.start = (2 * filters, height // 4, width // 4)
        units = math.prod(self.start)
        self.embedding = nn.Embedding(classes, latent) if classes else None
        self.project = nn.Sequential(
            nn.Linear(latent * (2 if classes else 1), units, bias=False),
            nn.BatchNorm1d(units),
            nn.ReLU(),
        )
        extra = [
            part
            for _ in range(depth)
            for part in (
                nn.Conv2d(2 * filters, 2 * filters, 3, 1, 1, bias=False),
                nn.BatchNorm2d(2 * filters),
                nn.ReLU(),
            )
        ]
        self.body = nn.Sequential(
            *extra,
            nn.ConvTranspose2d(2 * filters, filters, 4, 2, 1, bias=False),
            nn.BatchNorm2d(filters),
            nn.ReLU(),
            nn.ConvTranspose2d(filters, channels, 4, 2, 1),
            nn.Tanh() if output == "tanh" else nn.Sigmoid(),
        )
        _dcgan_init(self.project, self.body)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embedding is not None:
            z = torch.cat([z, self.embedding(labels)], 1)  # (N, 2 * latent)
        return self.body(
            self.project(z).reshape(len(z), *self.start)
        )  # (N, 2F, H/4, W/4) -> (N, C, H, W)


class Discriminator(nn.Module):
    """DCGAN discriminator: images ``(N, C, H, W)`` -> real/fake logits.

    Args:
        image_shape: ``(C, H, W)``, ``H`` and ``W`` divisible by 4.
        classes: number of label classes for the projection term, or None.
        filters: channels of the first convolution (the second has ``2 * filters``).
        spectral_norm: divide each weight by its largest singular value (one power iteration per
            step).

    Output: ``(N, 1)`` logits; a conditional discriminator called without labels gives the logits of
    every class, ``(N, classes)``.

    >>> Discriminator((1, 8, 8), classes=3, filters=4)(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        classes: int | None = None,
        filters: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        units = 2 * filters * (height // 4) * (width // 4)
        layers = [
            nn.Conv2d(channels, filters, 4, 2, 1),
            nn.Conv2d(filters, 2 * filters, 4, 2, 1),
            nn.Linear(units, 1),
        ]
        embedding = nn.Embedding(classes, units) if classes else None
        _dcgan_init(*layers, *([embedding] if embedding is not None else []))

        def norm(layer: nn.Module) -> nn.Module:
            return parametrizations.spectral_norm(layer) if spectral_norm else layer

        conv1, conv2, head = map(norm, layers)
        self.features = nn.Sequential(
            conv1, nn.LeakyReLU(0.2), conv2, nn.LeakyReLU(0.2), nn.Flatten()
        )
        self.head = head
        self.embedding = norm(embedding) if embedding is not None else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.features(x)  # (N, 2F * H/4 * W/4)
        logits = self.head(features)  # (N, 1)
        if self.embedding is None:
            return logits  # type: ignore[no-any-return]
        scores = (
            logits + features @ self.embedding.weight.T
        )  # (N, classes): the projection term of each class
        return scores if labels is None else scores.gather(1, labels.long()[:, None])
