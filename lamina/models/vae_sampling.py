"""Sampling from ``lamina.models.VAE``: encode, decode, draw, and the importance-weighted bound.

:func:`reparameterize` is the differentiable draw ``z = mu + exp(logvar / 2) * eps`` used in
training and here. :class:`VAESamplingMixin` is one of ``VAE``'s bases: ``encode`` gives the
posterior ``q(z|x)``, ``decode`` the mean of ``p(x|z)`` (or a draw), ``sample`` decodes
``z ~ N(0, I)``, and ``importance_weighted_nll`` scores data in nats per example.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, DataError, NotBuiltError, ShapeError, message
from lamina.nn import tensors as data_lib

__all__ = ["VAESamplingMixin", "check_labels", "reparameterize"]


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A differentiable draw ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``.

    So ``z ~ N(mu, diag(e^logvar))``, and gradients flow to ``mu`` and ``logvar``.

    Args:
        mu, logvar: tensors of one shape, e.g. ``(N, latent)``.
        generator: draws ``eps`` from this generator; None uses torch's global one.

    Returns:
        ``z`` with the shape of ``mu``.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    """Raise ``DataError`` unless ``y`` holds one class id in ``0..num_classes - 1`` per row.

    Args:
        y: labels, ``(N,)`` or ``(N, 1)``, ints or integral floats.
        num_classes: the number of classes.

    Returns:
        None.

    >>> check_labels(torch.tensor([0, 2, 1]), 3)
    """
    flat = y.reshape(len(y), -1) if y.dim() else y.reshape(1, 1)
    valid = flat.shape[1] == 1 and (not y.is_floating_point() or bool((y == y.round()).all()))
    if not valid or bool((y < 0).any() or (y >= num_classes).any()):
        raise DataError(
            message(
                "Labels must be class ids.",
                f"y with shape {tuple(y.shape)}, values {y.reshape(-1)[:5].tolist()}...",
                f"one int in 0..{num_classes - 1} per row",
                "Encode the labels as ids, e.g. np.unique(y, return_inverse=True)[1].",
            )
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class VAESamplingMixin:
    """``encode``, ``decode``, ``sample`` and ``importance_weighted_nll`` of a VAE."""

    latent: int
    num_classes: int | None
    output: Any
    input_spec_: Any
    _encode: Any
    _decode: Any
    _nll: Any
    _observe: Any
    _tensors: Any

    def _device(self) -> torch.device:
        if self.output is None:
            raise NotBuiltError(
                message(
                    "The VAE has not seen data yet.",
                    "an unbuilt VAE",
                    "a fitted VAE",
                    "Call fit() (or model.build(x) with a few rows) first.",
                )
            )
        return self.output.weight.device  # type: ignore[no-any-return]

    def _labels(self, y: Any, rows: int) -> torch.Tensor | None:
        if not self.num_classes:
            if y is not None:
                raise ConfigError(
                    message(
                        "An unconditional VAE takes no labels.",
                        f"y={y!r}"[:80],
                        "y=None",
                        "Drop y, or use a VAE built with num_classes.",
                    )
                )
            return None
        if y is None:
            raise ConfigError(
                message(
                    "A conditional VAE needs labels to decode.",
                    "y=None",
                    f"a class id or {rows} ids in 0..{self.num_classes - 1}",
                    "Pass e.g. y=3.",
                )
            )
        labels = data_lib.to_tensor(y, name="y").reshape(-1)
        labels = labels.expand(rows) if len(labels) == 1 else labels
        if len(labels) != rows:
            raise ShapeError(
                message(
                    "One label per row is needed.",
                    f"{len(labels)} labels for {rows} rows",
                    f"1 or {rows} labels",
                    "Pass one id for all rows, or one per row.",
                )
            )
        check_labels(labels, self.num_classes)
        return labels.to(self._device())

    def _shape(self) -> list[int]:
        self._device()
        return list(
            (self.input_spec_ or {"shape": [None, self.output.weight.shape[0]]})["shape"][1:]
        )

    def encode(self, x: Any, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """The posterior ``q(z|x)``: ``(mu, logvar)``, two arrays ``(N, latent)``."""
        tensor = self._tensors(x, None, "encode")[0].to(self._device())
        with torch.inference_mode():
            parts = [self._encode(chunk) for chunk in tensor.split(batch_size)]
        return tuple(torch.cat(p).cpu().numpy() for p in zip(*parts))  # type: ignore[return-value]

    def decode(
        self, z: Any, y: Any = None, *, mean: bool = True, seed: int | None = None
    ) -> np.ndarray:
        """The mean of ``p(x|z)`` (Bernoulli: probabilities), or a draw from it with ``mean=False``.

        Args:
            z: codes ``(N, latent)``.
            y: conditional VAE: one class id, or ``N`` of them.
            mean: return the mean; False draws ``x ~ p(x|z)`` (binary for Bernoulli).
            seed: seeds the draw (``mean=False``).

        Returns:
            ``(N, *input_shape)``.
        """
        codes = data_lib.to_tensor(z, name="z")
        if codes.dim() != 2 or codes.shape[1] != self.latent:
            raise ShapeError(
                message(
                    "decode() takes codes of the latent size.",
                    f"shape {tuple(codes.shape)}",
                    f"(N, {self.latent})",
                    "Pass rows of z, e.g. encode(x)[0].",
                )
            )
        data_lib.check_finite(codes, "z")
        device = self._device()
        generator = None if seed is None else torch.Generator(device).manual_seed(seed)
        with torch.inference_mode():
            output = self._decode(codes.to(device), self._labels(y, len(codes)))
            return (
                self._observe(output, mean, generator)
                .reshape(len(codes), *self._shape())
                .cpu()
                .numpy()
            )

    def sample(
        self, n: int, y: Any = None, *, mean: bool = True, seed: int | None = None
    ) -> np.ndarray:
        """Draw ``n`` examples: ``z ~ N(0, I)``, then the decoder (see :meth:`decode`).

        Args:
            n: how many.
            y: conditional VAE: the class id of all ``n`` rows, or ``n`` ids.
            mean: Bernoulli: probabilities in ``[0, 1]`` (True) or binary draws (False).
            seed: seeds ``z`` (and the draw), leaving torch's global generator untouched.

        Returns:
            ``(n, *input_shape)``.
        """
        if not _positive_int(n):
            raise ConfigError(
                message("sample() needs a positive count.", f"n={n!r}", "an int >= 1", "Pass n=64.")
            )
        generator = None if seed is None else torch.Generator(self._device()).manual_seed(seed)
        z = torch.randn(n, self.latent, generator=generator, device=self._device())
        return self.decode(z, y, mean=mean, seed=None if seed is None else seed + 1)

    def importance_weighted_nll(
        self, x: Any, y: Any = None, *, samples: int = 100, seed: int = 0, batch_size: int = 100
    ) -> float:
        """The importance-weighted bound on ``-log p(x)`` (Burda et al., 2016), mean nats per row.

        ``-log mean_k p(x, z_k) / q(z_k|x)`` with ``z_1..z_samples ~ q(z|x)``: ``samples=1`` is the
        negative ELBO, and the bound tightens towards ``-log p(x)`` as ``samples`` grows.
        """
        if not _positive_int(samples):
            raise ConfigError(
                message(
                    "samples must be a positive int.",
                    f"samples={samples!r}",
                    "an int >= 1",
                    "Pass samples=100 (1 gives the ELBO).",
                )
            )
        tensors = self._tensors(x, y, "evaluate" if self.num_classes else "encode")
        generator = torch.Generator(self._device()).manual_seed(seed)
        total = 0.0
        with torch.inference_mode():
            for chunk in zip(*(t.to(self._device()).split(batch_size) for t in tensors)):
                flat = chunk[0].reshape(len(chunk[0]), -1)  # (B, features)
                mu, logvar = self._encode(flat)
                z = reparameterize(
                    mu.expand(samples, *mu.shape), logvar.expand(samples, *mu.shape), generator
                )
                labels = chunk[1].reshape(-1).repeat(samples) if self.num_classes else None
                output = self._decode(z.reshape(-1, self.latent), labels)  # (samples * B, features)
                log_likelihood = -self._nll(output, flat.repeat(samples, 1)).reshape(
                    samples, -1
                )  # (samples, B)
                log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
                log_posterior = -0.5 * (
                    (z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)
                ).sum(-1)
                bound = torch.logsumexp(log_likelihood + log_prior - log_posterior, 0) - math.log(
                    samples
                )
                total -= float(bound.sum())
        return total / len(tensors[0])
