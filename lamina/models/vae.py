"""``lamina.models.VAE``: a variational autoencoder (Kingma and Welling, 2014) over flat inputs.

The encoder maps ``x`` to a diagonal Gaussian ``q(z|x) = N(mu, diag(exp(logvar)))``; a ``z`` per
row is drawn by the reparameterisation trick ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``,
so gradients flow through the draw; the decoder maps ``z`` to ``p(x|z)``: Bernoulli logits per
feature (binary or ``[0, 1]`` data such as pixel intensities), or Gaussian means with a learned
log-variance per feature.

The VAE is a system with its own loss, in nats per example (summed over features, mean over rows)::

    loss(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))   (beta = 1: the negative ELBO)

``fit(x)`` takes no targets (nor sample weights) and ``compile`` no loss (its only loss is
``"negative_elbo"``); an unconditional VAE uses only the first item of batches from a
``DataLoader``. With ``num_classes`` the model is a conditional VAE: the decoder also sees the
one-hot label, so ``fit(x, y)`` and ``evaluate(x, y)`` take class ids and ``decode``/``sample`` take
labels; the encoder sees ``x`` only, so ``encode`` and ``predict`` (the posterior means) never need
labels. Sampling lives in ``lamina.models.vae_sampling``, the plots in ``lamina.models.vae_plots``.

>>> from lamina.models.vae import VAE
>>> x = (torch.rand(64, 4, 4) < 0.3).float()  # 64 binary 4x4 "images"
>>> model = VAE(latent=2, units=(16,)).compile(optimizer="adam", learning_rate=1e-2)
>>> history = model.fit(x, epochs=2, verbose=0, seed=0)
>>> sorted(model.evaluate(x))
['kl', 'loss', 'reconstruction']
>>> model.predict(x).shape, model.sample(5, seed=0).shape
((64, 2), (5, 4, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina.core import catalog as registry
from lamina.core.errors import ConfigError, DataError, message
from lamina.models.base import Model
from lamina.models.vae_plots import VAEPlotsMixin
from lamina.models.vae_sampling import VAESamplingMixin, check_labels, reparameterize
from lamina.nn.layers import Dense

__all__ = ["VAE", "bernoulli_nll", "gaussian_nll", "kl_divergence", "reparameterize"]

DECODERS = ("bernoulli", "gaussian")
LOSS = "negative_elbo"
# Gaussian decoder: a variance floor (std 0.05); constant features would drive it to 0
MIN_LOG_VARIANCE = -6.0


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row in nats.

    ``0.5 * sum(mu^2 + e^logvar - 1 - logvar)`` over the latent axis.

    Args:
        mu, logvar: ``(N, latent)`` means and log-variances of ``q(z|x)``.

    Returns:
        ``(N,)``.

    >>> kl_divergence(torch.zeros(3, 2), torch.zeros(3, 2))
    tensor([0., 0., 0.])
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p(x|z)`` per row for independent ``Bernoulli(sigmoid(logits))`` features.

    ``x`` lies in ``[0, 1]``.

    Args:
        logits, x: ``(N, features)``.

    Returns:
        ``(N,)`` nats, summed over features.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def gaussian_nll(mean: torch.Tensor, log_variance: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log N(x; mean, diag(exp(log_variance)))`` per row.

    Args:
        mean, x: ``(N, features)``; log_variance: ``(features,)`` or ``(N, features)``.

    Returns:
        ``(N,)`` nats, summed over features.
    """
    return 0.5 * (
        math.log(2 * math.pi) + log_variance + (x - mean).pow(2) * torch.exp(-log_variance)
    ).sum(-1)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(
    latent: Any, units: Any, decoder: Any, beta: Any, num_classes: Any, kl_warmup: Any
) -> None:
    if not _positive_int(latent):
        raise ConfigError(
            message(
                "VAE latent must be a positive int.",
                f"latent={latent!r}",
                "an int >= 1",
                "Pass latent=20 (or latent=2 to plot the codes directly).",
            )
        )
    if (
        isinstance(units, (str, bytes))
        or not isinstance(units, Sequence)
        or not all(map(_positive_int, units))
    ):
        raise ConfigError(
            message(
                "VAE units must be a sequence of positive ints.",
                f"units={units!r}",
                "hidden widths of the encoder, e.g. (512, 256); the decoder mirrors them",
                "Pass units=(512, 256), or units=() for a linear encoder and decoder.",
            )
        )
    if decoder not in DECODERS:
        raise ConfigError(
            message(
                "Unknown VAE decoder.",
                repr(decoder),
                f"one of {', '.join(map(repr, DECODERS))}",
                "Pass decoder='bernoulli' for data in [0, 1], 'gaussian' for real values.",
            )
        )
    if not _number(beta) or beta < 0:
        raise ConfigError(
            message(
                "VAE beta must be a finite number >= 0.",
                f"beta={beta!r}",
                "beta >= 0",
                "Pass beta=1.0 for the ELBO (beta > 1: a beta-VAE).",
            )
        )
    if num_classes is not None and not (_positive_int(num_classes) and num_classes >= 2):
        raise ConfigError(
            message(
                "VAE num_classes must be None or an int >= 2.",
                f"num_classes={num_classes!r}",
                "None (unconditional) or the number of classes",
                "Pass num_classes=10 to condition on digit labels, or None.",
            )
        )
    if not (isinstance(kl_warmup, int) and not isinstance(kl_warmup, bool) and kl_warmup >= 0):
        raise ConfigError(
            message(
                "VAE kl_warmup must be an int >= 0.",
                f"kl_warmup={kl_warmup!r}",
                "epochs over which the KL weight rises from 0 to beta",
                "Pass kl_warmup=0 or 10.",
            )
        )


class VAE(VAESamplingMixin, VAEPlotsMixin, Model):
    """A variational autoencoder with a Gaussian latent and MLP encoder and decoder.

    Args:
        latent: size of ``z``.
        units: hidden widths of the encoder, e.g. ``(512, 256)``; the decoder uses them reversed.
        decoder: ``"bernoulli"`` (inputs in ``[0, 1]``; ``decode`` gives probabilities) or
            ``"gaussian"`` (real inputs; ``decode`` gives means; one learned log-variance per
            feature, floored at ``MIN_LOG_VARIANCE``).
        beta: weight of the KL term in the training loss (1: the ELBO; > 1: a beta-VAE).
        num_classes: None, or the number of classes for a conditional VAE (labels
            ``0..num_classes-1``).
        activation: hidden activation name (``"elu"``, ``"relu"``, ``"tanh"``, ...). ELU is the
            default: on binarised MNIST it scored a validation -ELBO 1 nat lower than ReLU
            (``benchmarks/quality/vae.py``).
        kl_warmup: the KL weight rises linearly from 0 to ``beta`` over this many epochs (0: none).

    Input ``(N, ...)`` is flattened to ``(N, features)``. ``forward(x, y=None)`` returns
    ``(output, mu, logvar)``: ``output (N, features)`` are the decoder's logits or means for one
    ``z`` per row, ``mu, logvar (N, latent)``. ``predict(x)`` returns ``mu`` ``(N, latent)``.

    Logs: ``loss`` (training: reconstruction + weight * kl; ``evaluate``: the negative ELBO, weight
    1, whatever ``beta``), ``reconstruction`` (``E_q[-log p(x|z)]``, one ``z`` per row) and ``kl``,
    each in nats per example. ``evaluate`` draws ``z`` from torch's global generator: seed it to
    repeat a score.

    >>> VAE(latent=3, units=(8,))(torch.ones(2, 1, 5, 5))[0].shape
    torch.Size([2, 25])
    """

    _lamina_name = "lamina.models.VAE"

    def __init__(
        self,
        latent: int = 20,
        units: Sequence[int] = (512, 256),
        decoder: str = "bernoulli",
        beta: float = 1.0,
        *,
        num_classes: int | None = None,
        activation: str = "elu",
        kl_warmup: int = 0,
    ) -> None:
        super().__init__()
        _check(latent, units, decoder, beta, num_classes, kl_warmup)
        registry.get("activation", activation)  # an unknown name fails here, listing the valid ones
        self.latent, self.units, self.decoder_kind, self.beta = latent, units, decoder, beta
        self.num_classes, self.activation, self.kl_warmup = num_classes, activation, kl_warmup
        self.encoder = nn.Sequential(*[Dense(u, activation) for u in units], Dense(2 * latent))
        self.decoder = nn.Sequential(*[Dense(u, activation) for u in reversed(units)])
        # Dense(features), made at the first batch: the feature count is unknown until then
        self.output: Any = None
        self.log_variance: Any = None  # Gaussian decoder: (features,), made with the output layer
        # training steps seen, for kl_warmup
        self.register_buffer("kl_steps", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ the network
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        mu, logvar = self._encode(x)  # (N, latent) each
        return self._decode(reparameterize(mu, logvar), y), mu, logvar

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(len(x), -1)  # (N, ...) -> (N, features)
        if self.output is None:
            self.output = Dense(flat.shape[1]).to(flat.device)
            if self.decoder_kind == "gaussian":
                self.log_variance = nn.Parameter(torch.zeros(flat.shape[1], device=flat.device))
        mu, logvar = self.encoder(flat).chunk(2, dim=-1)
        return mu, logvar

    def _decode(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes:  # no labels (only when building): an all-zero condition
            condition = (
                torch.zeros(len(z), self.num_classes, device=z.device, dtype=z.dtype)
                if y is None
                else F.one_hot(y.reshape(-1).long(), self.num_classes).to(z.dtype)
            )
            z = torch.cat([z, condition], dim=-1)  # (N, latent + num_classes)
        return self.output(self.decoder(z))  # type: ignore[no-any-return]

    def _nll(self, output: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        if self.decoder_kind == "bernoulli":
            return bernoulli_nll(output, flat)
        return gaussian_nll(output, self.log_variance.clamp(min=MIN_LOG_VARIANCE), flat)

    def _observe(
        self, output: torch.Tensor, mean: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Decoder output (N, features) -> the mean of p(x|z), or a draw from it."""
        if self.decoder_kind == "bernoulli":
            probabilities = torch.sigmoid(output)
            return probabilities if mean else torch.bernoulli(probabilities, generator=generator)
        if mean:
            return output
        std = torch.exp(0.5 * self.log_variance.clamp(min=MIN_LOG_VARIANCE))
        return output + std * torch.randn(output.shape, generator=generator, device=output.device)

    # ------------------------------------------------------------------ the model contract hooks
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = LOSS,
        metrics: Sequence[Any] | None = None,
        **options: Any,
    ) -> Model:
        """As :meth:`lamina.Model.compile` (same options); the loss is the model's negative ELBO."""
        if loss != LOSS or metrics:
            raise ConfigError(
                message(
                    "A VAE trains on its own loss, the negative ELBO, and takes no metrics.",
                    f"loss={loss!r}, metrics={metrics!r}",
                    f"loss={LOSS!r} (the default), metrics=None",
                    "Drop loss and metrics; set beta or decoder instead.",
                )
            )
        super().compile(optimizer, _steps_only, None, **options)
        # the name is saved; load() recompiles with it
        self._compiled["loss"] = LOSS  # type: ignore[index]
        return self

    def _kl_weight(self) -> torch.Tensor | float:
        if not self.kl_warmup:
            return self.beta
        steps = self.get_buffer("kl_steps")
        steps += 1  # in place: the buffer counts on the device, with no host sync
        total = self.kl_warmup * max(1, int(self.fit_state_.get("steps") or 1))
        return self.beta * torch.clamp(steps / total, max=1.0)

    def _terms(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction NLL and KL per row, (N,) each, for one z per row."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        y = batch[1] if self.num_classes else None
        output, mu, logvar = self(x, y)
        return self._nll(output, x.reshape(len(x), -1)), kl_divergence(mu, logvar)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One step on the loss ``mean(reconstruction + weight * kl)`` (weight: ``beta``, warmed
        up)."""
        with self.engine.autocast():
            reconstruction, kl = self._terms(batch)
            loss = (reconstruction + self._kl_weight() * kl).mean()
        self.engine.optimize(self, loss)
        return {
            "loss": loss.detach(),
            "reconstruction": reconstruction.mean().detach(),
            "kl": kl.mean().detach(),
        }

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The negative ELBO (KL weight 1) and its two parts, per example."""
        reconstruction, kl = self._terms(batch)
        return {
            "loss": (reconstruction + kl).mean(),
            "reconstruction": reconstruction.mean(),
            "kl": kl.mean(),
        }

    def predict_step(self, x: Any) -> torch.Tensor:
        """The posterior means ``mu`` (N, latent)."""
        return self._encode(x)[0]

    def _fit_data(
        self,
        x: Any,
        y: Any,
        validation_split: float,
        validation_data: Any,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator,
        engine: Any,
        sample_weight: Any = None,
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        if sample_weight is not None:
            raise ConfigError(
                message(
                    "A VAE takes no sample weights.",
                    "sample_weight=...",
                    "sample_weight=None",
                    "Repeat or drop rows instead (the ELBO is a mean over rows).",
                )
            )
        return super()._fit_data(
            x, y, validation_split, validation_data, batch_size, shuffle, generator, engine
        )

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        if y is not None and not self.num_classes:
            raise ConfigError(
                message(
                    f"An unconditional VAE learns from x alone: {name}() takes no y.",
                    f"y of type {type(y).__name__}",
                    f"{name}(x)",
                    "Drop y, or pass num_classes=K to condition on class ids 0..K-1.",
                )
            )
        if y is None and self.num_classes and name in ("fit", "evaluate"):
            raise ConfigError(
                message(
                    f"A conditional VAE (num_classes={self.num_classes}) needs labels.",
                    f"{name}(x) with y=None",
                    f"{name}(x, y) with class ids",
                    "Pass the class ids as y, or build the VAE with num_classes=None.",
                )
            )
        tensors = super()._tensors(x, y, name)
        self._check_values(*tensors)
        return tensors

    def _check_values(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        if self.decoder_kind == "bernoulli" and x.numel():
            low, high = (float(v) for v in torch.aminmax(x))
            if low < 0 or high > 1:
                raise DataError(
                    message(
                        "A Bernoulli decoder models values in [0, 1].",
                        f"x with values from {low:g} to {high:g}",
                        "x in [0, 1]",
                        "Scale x to [0, 1] (e.g. pixels / 255), or pass decoder='gaussian'.",
                    )
                )
        if y is not None:
            check_labels(y, self.num_classes or 0)

    # ------------------------------------------------------------------ encode, decode, sample


def _steps_only(y_pred: torch.Tensor, y: torch.Tensor, **options: Any) -> torch.Tensor:
    raise ConfigError(
        message(
            "The VAE loss needs the encoder's outputs, so it is computed in the steps.",
            "a call to compute_loss()",
            "model.train_step(batch) or model.evaluate(x)",
            "Use those, or kl_divergence/bernoulli_nll from lamina.models.vae.",
        )
    )
