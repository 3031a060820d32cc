"""``lamina.models.VAE``: a variational autoencoder (Kingma and Welling, 2014) over flattened inputs.

The encoder maps ``x`` to a diagonal Gaussian ``q(z|x) = N(mu, diag(exp(logvar)))``; a ``z`` per row is
drawn by the reparameterisation trick ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, so gradients
flow through the draw; the decoder maps ``z`` to ``p(x|z)``: Bernoulli logits per feature (binary or
``[0, 1]`` data such as pixel intensities), or Gaussian means with a learned log-variance per feature.

The VAE is a system with its own loss, in nats per example (summed over features, mean over rows)::

    loss(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))   (beta = 1: the negative ELBO)

``fit(x)`` takes no targets (nor sample weights) and ``compile`` no loss (its only loss is
``"negative_elbo"``); an unconditional VAE uses only the first item of batches from a ``DataLoader``.
With ``num_classes`` the model is a conditional VAE: the decoder also sees the one-hot label, so
``fit(x, y)`` and ``evaluate(x, y)`` take class ids and ``decode``/``sample`` take labels; the encoder
sees ``x`` only, so ``encode`` and ``predict`` (the posterior means) never need labels.

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
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core import catalog as registry
from lamina.core.errors import ConfigError, DataError, NotBuiltError, ShapeError, message
from lamina.models.base import Model
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Dense

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["VAE", "bernoulli_nll", "gaussian_nll", "kl_divergence", "reparameterize"]

DECODERS = ("bernoulli", "gaussian")
LOSS = "negative_elbo"
MIN_LOG_VARIANCE = -6.0  # Gaussian decoder: a variance floor (std 0.05); constant features would drive it to 0


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row in nats: ``0.5 * sum(mu^2 + e^logvar - 1 - logvar)``.

    Args:
        mu, logvar: ``(N, latent)`` means and log-variances of ``q(z|x)``.

    Returns:
        ``(N,)``.

    >>> kl_divergence(torch.zeros(3, 2), torch.zeros(3, 2))
    tensor([0., 0., 0.])
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p(x|z)`` per row for independent ``Bernoulli(sigmoid(logits))`` features, ``x`` in ``[0, 1]``.

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
    return 0.5 * (math.log(2 * math.pi) + log_variance + (x - mean).pow(2) * torch.exp(-log_variance)).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A differentiable draw ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``: ``z ~ N(mu, diag(e^logvar))``.

    Args:
        mu, logvar: tensors of one shape, e.g. ``(N, latent)``.
        generator: draws ``eps`` from this generator; None uses torch's global one.

    Returns:
        ``z`` with the shape of ``mu``.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(latent: Any, units: Any, decoder: Any, beta: Any, num_classes: Any, kl_warmup: Any) -> None:
    if not _positive_int(latent):
        raise ConfigError(message("VAE latent must be a positive int.", f"latent={latent!r}", "an int >= 1",
                                  "Pass latent=20 (or latent=2 to plot the codes directly)."))
    if isinstance(units, (str, bytes)) or not isinstance(units, Sequence) or not all(map(_positive_int, units)):
        raise ConfigError(message("VAE units must be a sequence of positive ints.", f"units={units!r}",
                                  "hidden widths of the encoder, e.g. (512, 256); the decoder mirrors them",
                                  "Pass units=(512, 256), or units=() for a linear encoder and decoder."))
    if decoder not in DECODERS:
        raise ConfigError(message("Unknown VAE decoder.", repr(decoder), f"one of {', '.join(map(repr, DECODERS))}",
                                  "Pass decoder='bernoulli' for data in [0, 1], 'gaussian' for real values."))
    if not _number(beta) or beta < 0:
        raise ConfigError(message("VAE beta must be a finite number >= 0.", f"beta={beta!r}", "beta >= 0",
                                  "Pass beta=1.0 for the ELBO (beta > 1: a beta-VAE)."))
    if num_classes is not None and not (_positive_int(num_classes) and num_classes >= 2):
        raise ConfigError(message("VAE num_classes must be None or an int >= 2.", f"num_classes={num_classes!r}",
                                  "None (unconditional) or the number of classes",
                                  "Pass num_classes=10 to condition on digit labels, or None."))
    if not (isinstance(kl_warmup, int) and not isinstance(kl_warmup, bool) and kl_warmup >= 0):
        raise ConfigError(message("VAE kl_warmup must be an int >= 0.", f"kl_warmup={kl_warmup!r}",
                                  "epochs over which the KL weight rises from 0 to beta", "Pass kl_warmup=0 or 10."))


class VAE(Model):
    """A variational autoencoder with a Gaussian latent and MLP encoder and decoder.

    Args:
        latent: size of ``z``.
        units: hidden widths of the encoder, e.g. ``(512, 256)``; the decoder uses them reversed.
        decoder: ``"bernoulli"`` (inputs in ``[0, 1]``; ``decode`` gives probabilities) or
            ``"gaussian"`` (real inputs; ``decode`` gives means; one learned log-variance per feature,
            floored at ``MIN_LOG_VARIANCE``).
        beta: weight of the KL term in the training loss (1: the ELBO; > 1: a beta-VAE).
        num_classes: None, or the number of classes for a conditional VAE (labels ``0..num_classes-1``).
        activation: hidden activation name (``"elu"``, ``"relu"``, ``"tanh"``, ...). ELU is the default: on
            binarised MNIST it scored a validation -ELBO 1 nat lower than ReLU (``benchmarks/quality/vae.py``).
        kl_warmup: the KL weight rises linearly from 0 to ``beta`` over this many epochs (0: none).

    Input ``(N, ...)`` is flattened to ``(N, features)``. ``forward(x, y=None)`` returns
    ``(output, mu, logvar)``: ``output (N, features)`` are the decoder's logits or means for one ``z``
    per row, ``mu, logvar (N, latent)``. ``predict(x)`` returns ``mu`` ``(N, latent)``.

    Logs: ``loss`` (training: reconstruction + weight * kl; ``evaluate``: the negative ELBO, weight 1,
    whatever ``beta``), ``reconstruction`` (``E_q[-log p(x|z)]``, one ``z`` per row) and ``kl``, each in
    nats per example. ``evaluate`` draws ``z`` from torch's global generator: seed it to repeat a score.

    >>> VAE(latent=3, units=(8,))(torch.ones(2, 1, 5, 5))[0].shape
    torch.Size([2, 25])
    """

    _lamina_name = "lamina.models.VAE"

    def __init__(self, latent: int = 20, units: Sequence[int] = (512, 256), decoder: str = "bernoulli",
                 beta: float = 1.0, *, num_classes: int | None = None, activation: str = "elu",
                 kl_warmup: int = 0) -> None:
        super().__init__()
        _check(latent, units, decoder, beta, num_classes, kl_warmup)
        registry.get("activation", activation)  # an unknown name fails here, listing the valid ones
        self.latent, self.units, self.decoder_kind, self.beta = latent, units, decoder, beta
        self.num_classes, self.activation, self.kl_warmup = num_classes, activation, kl_warmup
        self.encoder = nn.Sequential(*[Dense(u, activation) for u in units], Dense(2 * latent))
        self.decoder = nn.Sequential(*[Dense(u, activation) for u in reversed(units)])
        self.output: Any = None  # Dense(features), made at the first batch: the feature count is unknown until then
        self.log_variance: Any = None  # Gaussian decoder: (features,), made with the output layer
        self.register_buffer("kl_steps", torch.zeros((), dtype=torch.long))  # training steps seen, for kl_warmup

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
            condition = torch.zeros(len(z), self.num_classes, device=z.device, dtype=z.dtype) if y is None \
                else F.one_hot(y.reshape(-1).long(), self.num_classes).to(z.dtype)
            z = torch.cat([z, condition], dim=-1)  # (N, latent + num_classes)
        return self.output(self.decoder(z))  # type: ignore[no-any-return]

    def _nll(self, output: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        if self.decoder_kind == "bernoulli":
            return bernoulli_nll(output, flat)
        return gaussian_nll(output, self.log_variance.clamp(min=MIN_LOG_VARIANCE), flat)

    def _observe(self, output: torch.Tensor, mean: bool, generator: torch.Generator | None) -> torch.Tensor:
        """Decoder output (N, features) -> the mean of p(x|z), or a draw from it."""
        if self.decoder_kind == "bernoulli":
            probabilities = torch.sigmoid(output)
            return probabilities if mean else torch.bernoulli(probabilities, generator=generator)
        if mean:
            return output
        std = torch.exp(0.5 * self.log_variance.clamp(min=MIN_LOG_VARIANCE))
        return output + std * torch.randn(output.shape, generator=generator, device=output.device)

    # ------------------------------------------------------------------ the model contract hooks
    def compile(self, optimizer: Any = "adam", loss: Any = LOSS,  # type: ignore[override]
                metrics: Sequence[Any] | None = None, **options: Any) -> Model:
        """As :meth:`lamina.Model.compile` (same options); the loss is the model's own negative ELBO."""
        if loss != LOSS or metrics:
            raise ConfigError(message("A VAE trains on its own loss, the negative ELBO, and takes no metrics.",
                                      f"loss={loss!r}, metrics={metrics!r}", f"loss={LOSS!r} (the default), "
                                      "metrics=None", "Drop loss and metrics; set beta or decoder instead."))
        super().compile(optimizer, _steps_only, None, **options)
        self._compiled["loss"] = LOSS  # type: ignore[index]  # the name is saved; load() recompiles with it
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
        """One step on the loss ``mean(reconstruction + weight * kl)`` (weight: ``beta``, warmed up)."""
        with self.engine.autocast():
            reconstruction, kl = self._terms(batch)
            loss = (reconstruction + self._kl_weight() * kl).mean()
        self.engine.optimize(self, loss)
        return {"loss": loss.detach(), "reconstruction": reconstruction.mean().detach(), "kl": kl.mean().detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The negative ELBO (KL weight 1) and its two parts, per example."""
        reconstruction, kl = self._terms(batch)
        return {"loss": (reconstruction + kl).mean(), "reconstruction": reconstruction.mean(), "kl": kl.mean()}

    def predict_step(self, x: Any) -> torch.Tensor:
        """The posterior means ``mu`` (N, latent)."""
        return self._encode(x)[0]

    def _fit_data(self, x: Any, y: Any, validation_split: float, validation_data: Any, batch_size: int,
                  shuffle: bool, generator: torch.Generator, engine: Any,
                  sample_weight: Any = None) -> tuple[Any, Any, tuple[Any, ...]]:
        if sample_weight is not None:
            raise ConfigError(message("A VAE takes no sample weights.", "sample_weight=...", "sample_weight=None",
                                      "Repeat or drop rows instead (the ELBO is a mean over rows)."))
        return super()._fit_data(x, y, validation_split, validation_data, batch_size, shuffle, generator, engine)

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        if y is not None and not self.num_classes:
            raise ConfigError(message(f"An unconditional VAE learns from x alone: {name}() takes no y.",
                                      f"y of type {type(y).__name__}", f"{name}(x)",
                                      "Drop y, or pass num_classes=K to condition on class ids 0..K-1."))
        if y is None and self.num_classes and name in ("fit", "evaluate"):
            raise ConfigError(message(f"A conditional VAE (num_classes={self.num_classes}) needs labels.",
                                      f"{name}(x) with y=None", f"{name}(x, y) with class ids",
                                      "Pass the class ids as y, or build the VAE with num_classes=None."))
        tensors = super()._tensors(x, y, name)
        self._check_values(*tensors)
        return tensors

    def _check_values(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        if self.decoder_kind == "bernoulli" and x.numel():
            low, high = (float(v) for v in torch.aminmax(x))
            if low < 0 or high > 1:
                raise DataError(message("A Bernoulli decoder models values in [0, 1].",
                                        f"x with values from {low:g} to {high:g}", "x in [0, 1]",
                                        "Scale x to [0, 1] (e.g. pixels / 255), or pass decoder='gaussian'."))
        if y is not None:
            _check_labels(y, self.num_classes or 0)

    # ------------------------------------------------------------------ encode, decode, sample
    def _device(self) -> torch.device:
        if self.output is None:
            raise NotBuiltError(message("The VAE has not seen data yet.", "an unbuilt VAE", "a fitted VAE",
                                        "Call fit() (or model.build(x) with a few rows) first."))
        return self.output.weight.device  # type: ignore[no-any-return]

    def _labels(self, y: Any, rows: int) -> torch.Tensor | None:
        if not self.num_classes:
            if y is not None:
                raise ConfigError(message("An unconditional VAE takes no labels.", f"y={y!r}"[:80], "y=None",
                                          "Drop y, or use a VAE built with num_classes."))
            return None
        if y is None:
            raise ConfigError(message("A conditional VAE needs labels to decode.", "y=None",
                                      f"a class id or {rows} ids in 0..{self.num_classes - 1}", "Pass e.g. y=3."))
        labels = data_lib.to_tensor(y, name="y").reshape(-1)
        labels = labels.expand(rows) if len(labels) == 1 else labels
        if len(labels) != rows:
            raise ShapeError(message("One label per row is needed.", f"{len(labels)} labels for {rows} rows",
                                     f"1 or {rows} labels", "Pass one id for all rows, or one per row."))
        _check_labels(labels, self.num_classes)
        return labels.to(self._device())

    def _shape(self) -> list[int]:
        self._device()
        return list((self.input_spec_ or {"shape": [None, self.output.weight.shape[0]]})["shape"][1:])

    def encode(self, x: Any, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """The posterior ``q(z|x)``: ``(mu, logvar)``, two arrays ``(N, latent)``."""
        tensor = self._tensors(x, None, "encode")[0].to(self._device())
        with torch.inference_mode():
            parts = [self._encode(chunk) for chunk in tensor.split(batch_size)]
        return tuple(torch.cat(p).cpu().numpy() for p in zip(*parts))  # type: ignore[return-value]

    def decode(self, z: Any, y: Any = None, *, mean: bool = True, seed: int | None = None) -> np.ndarray:
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
            raise ShapeError(message("decode() takes codes of the latent size.", f"shape {tuple(codes.shape)}",
                                     f"(N, {self.latent})", "Pass rows of z, e.g. encode(x)[0]."))
        data_lib.check_finite(codes, "z")
        device = self._device()
        generator = None if seed is None else torch.Generator(device).manual_seed(seed)
        with torch.inference_mode():
            output = self._decode(codes.to(device), self._labels(y, len(codes)))
            return self._observe(output, mean, generator).reshape(len(codes), *self._shape()).cpu().numpy()

    def sample(self, n: int, y: Any = None, *, mean: bool = True, seed: int | None = None) -> np.ndarray:
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
            raise ConfigError(message("sample() needs a positive count.", f"n={n!r}", "an int >= 1", "Pass n=64."))
        generator = None if seed is None else torch.Generator(self._device()).manual_seed(seed)
        z = torch.randn(n, self.latent, generator=generator, device=self._device())
        return self.decode(z, y, mean=mean, seed=None if seed is None else seed + 1)

    def importance_weighted_nll(self, x: Any, y: Any = None, *, samples: int = 100, seed: int = 0,
                                batch_size: int = 100) -> float:
        """The importance-weighted bound on ``-log p(x)`` (Burda et al., 2016), mean nats per example.

        ``-log mean_k p(x, z_k) / q(z_k|x)`` with ``z_1..z_samples ~ q(z|x)``: ``samples=1`` is the
        negative ELBO, and the bound tightens towards ``-log p(x)`` as ``samples`` grows.
        """
        if not _positive_int(samples):
            raise ConfigError(message("samples must be a positive int.", f"samples={samples!r}", "an int >= 1",
                                      "Pass samples=100 (1 gives the ELBO)."))
        tensors = self._tensors(x, y, "evaluate" if self.num_classes else "encode")
        generator = torch.Generator(self._device()).manual_seed(seed)
        total = 0.0
        with torch.inference_mode():
            for chunk in zip(*(t.to(self._device()).split(batch_size) for t in tensors)):
                flat = chunk[0].reshape(len(chunk[0]), -1)  # (B, features)
                mu, logvar = self._encode(flat)
                z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *mu.shape), generator)
                labels = chunk[1].reshape(-1).repeat(samples) if self.num_classes else None
                output = self._decode(z.reshape(-1, self.latent), labels)  # (samples * B, features)
                log_likelihood = -self._nll(output, flat.repeat(samples, 1)).reshape(samples, -1)  # (samples, B)
                log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
                log_posterior = -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)
                bound = torch.logsumexp(log_likelihood + log_prior - log_posterior, 0) - math.log(samples)
                total -= float(bound.sum())
        return total / len(tensors[0])

    # ------------------------------------------------------------------ plots
    def plot_samples(self, path: str | os.PathLike[str] | None = None, n: int = 64, y: Any = None, *,
                     seed: int | None = 0) -> Figure:
        """A grid of ``n`` decoder means for ``z ~ N(0, I)``, saved as PNG at ``path`` (if given)."""
        return _image_grid(self.sample(n, y, seed=seed), math.ceil(math.sqrt(n)), path, "samples")

    def plot_reconstructions(self, x: Any, path: str | os.PathLike[str] | None = None, y: Any = None, *,
                             n: int = 8) -> Figure:
        """The first ``n`` rows of ``x`` (top) above their reconstructions ``decode(mu)`` (bottom)."""
        originals = self._tensors(x, None, "encode")[0][:n].cpu().numpy()
        labels = None if y is None else data_lib.to_tensor(y, name="y").reshape(-1)[:n]
        again = self.decode(self.encode(originals)[0], labels)
        return _image_grid(np.concatenate([originals, again]), len(originals), path, "inputs (top), reconstructions")

    def plot_latent(self, x: Any, y: Any = None, path: str | os.PathLike[str] | None = None) -> Figure:
        """A scatter of the codes ``mu`` coloured by ``y``; with ``latent > 2``, their first two principal axes."""
        from lamina.train.plot import new_figure, save_figure

        codes = torch.from_numpy(self.encode(x)[0])
        axis_names = ["z1", "z2"]
        if self.latent > 2:
            centred = codes - codes.mean(0)
            codes = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:2].T  # (N, 2) PCA scores
            axis_names = ["principal axis 1", "principal axis 2"]
        elif self.latent == 1:
            codes = torch.cat([codes, torch.zeros_like(codes)], 1)
        figure = new_figure(5.5, 4.5)
        axes = figure.subplots()
        colours = None if y is None else np.asarray(y).reshape(-1)
        if colours is not None and len(colours) != len(codes):
            raise ShapeError(message("plot_latent() needs one y per row of x.", f"{len(colours)} labels, "
                                     f"{len(codes)} rows", "len(y) == len(x)", "Pass the labels of these rows."))
        points = axes.scatter(codes[:, 0], codes[:, 1], c=colours, s=4, cmap="tab10" if y is not None else None)
        if y is not None:
            figure.colorbar(points, ax=axes, label="y")
        axes.set_xlabel(axis_names[0])
        axes.set_ylabel(axis_names[1])
        axes.set_title("latent codes (posterior means)")
        return save_figure(figure, path)


def _steps_only(y_pred: torch.Tensor, y: torch.Tensor, **options: Any) -> torch.Tensor:
    raise ConfigError(message("The VAE loss needs the encoder's outputs, so it is computed in the steps.",
                              "a call to compute_loss()", "model.train_step(batch) or model.evaluate(x)",
                              "Use those, or kl_divergence/bernoulli_nll from lamina.models.vae."))


def _check_labels(y: torch.Tensor, num_classes: int) -> None:
    flat = y.reshape(len(y), -1) if y.dim() else y.reshape(1, 1)
    valid = flat.shape[1] == 1 and (not y.is_floating_point() or bool((y == y.round()).all()))
    if not valid or bool((y < 0).any() or (y >= num_classes).any()):
        raise DataError(message("Labels must be class ids.", f"y with shape {tuple(y.shape)}, values "
                                f"{y.reshape(-1)[:5].tolist()}...", f"one int in 0..{num_classes - 1} per row",
                                "Encode the labels as ids, e.g. np.unique(y, return_inverse=True)[1]."))


def _image_grid(images: np.ndarray, columns: int, path: str | os.PathLike[str] | None, title: str) -> Figure:
    """Tile ``(n, H, W)``, ``(n, 1 or 3, H, W)`` or ``(n, square)`` arrays into one image and draw it."""
    from lamina.train.plot import new_figure, save_figure

    n, shape = len(images), images.shape[1:]
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    if len(shape) == 1 and side * side == shape[0]:
        images = images.reshape(n, side, side)
    elif len(shape) == 3 and shape[0] in (1, 3):
        images = images.transpose(0, 2, 3, 1).squeeze(-1) if shape[0] == 1 else images.transpose(0, 2, 3, 1)
    elif len(shape) != 2:
        raise ShapeError(message("Only images can be drawn as a grid.", f"examples of shape {tuple(shape)}",
                                 "(H, W), (1 or 3, H, W) or a square number of features",
                                 "Use plot_latent, or reshape the data to images before fit()."))
    rows = math.ceil(n / columns)
    height, width = images.shape[1:3]
    canvas = np.zeros((rows * (height + 1), columns * (width + 1), *images.shape[3:]), dtype=np.float32)
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        canvas[top:top + height, left:left + width] = image
    figure = new_figure(max(2.0, 0.6 * columns), max(2.0, 0.6 * rows) + 0.3)
    axes = figure.subplots()
    axes.imshow(np.clip(canvas, 0.0, 1.0), cmap="gray_r" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0)
    axes.set_axis_off()
    axes.set_title(title)
    return save_figure(figure, path)

