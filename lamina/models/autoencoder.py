"""``lamina.models.Autoencoder``: learn a code ``z = encode(x)`` from which ``decode(z)`` rebuilds
``x``.

Seven kinds share one class, picked by ``kind``:

* ``"linear"``: one linear map each way, no activation, on inputs centred by a learned mean;
  trained by gradient descent, its code spans PCA's principal subspace (Baldi & Hornik, 1989);
* ``"deep"``: an MLP encoder (``units``, then ``code_size``) and the mirrored MLP decoder;
* ``"stacked"``: the deep MLP, pretrained greedily one layer at a time (each layer an autoencoder of
  the codes of the layers below; Bengio et al., 2007), then trained end to end, all in one ``fit``;
* ``"convolutional"``: strided ``Conv2d`` blocks down to the code, ``ConvTranspose2d`` blocks back
  up;
* ``"recurrent"``: a GRU/LSTM reads ``(N, T, F)`` into a code; a second one, fed the code at each of
  the ``T`` steps, writes the sequence back;
* ``"denoising"``: the deep MLP rebuilding clean inputs from corrupted ones (Vincent et al., 2008);
* ``"sparse"``: the deep MLP with a sparsity penalty on the code (KL to a target activation, or L1).

``noise`` and ``sparsity`` apply to every kind; corruption happens in ``train_step`` only.
``fit(x)`` needs no targets; ``predict``/``reconstruct`` give reconstructions shaped like the input,
``evaluate`` the loss. The layers of each kind are made in ``lamina.models.autoencoder_layers``, the
pictures drawn in ``lamina.models.autoencoder_plots``.

>>> x = np.random.default_rng(0).random((64, 8, 8), dtype=np.float32)
>>> model = Autoencoder(kind="deep", code_size=4, units=(16,)).compile(optimizer="adam", loss="mse")
>>> history = model.fit(x, epochs=2, verbose=0, seed=0)
>>> model.encode(x).shape, model.reconstruct(x).shape
((64, 4), (64, 8, 8))
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.config import resolve
from lamina.core.errors import ConfigError, ShapeError, message
from lamina.models.autoencoder_layers import (
    DEFAULT_UNITS,
    DEFAULT_WEIGHT,
    RecurrentDecoder,
    RecurrentEncoder,
    check_options,
    make_layers,
    positive_int,
)
from lamina.models.autoencoder_plots import AutoencoderPlotsMixin
from lamina.models.base import Model
from lamina.models.sequential import Sequential
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Activation, Dense
from lamina.train.callbacks import History
from lamina.train.engine import seed_everything

__all__ = ["Autoencoder", "RecurrentDecoder", "RecurrentEncoder"]


class Autoencoder(AutoencoderPlotsMixin, Model):
    """An autoencoder: ``forward(x) = decode(encode(x))``, trained to rebuild its input.

    Args:
        kind: one of the seven kinds of the module docstring.
        code_size: size of the code ``z``.
        units: encoder hidden sizes, input side first, mirrored by the decoder (dense layers after
            the convolutions; the one hidden size of ``"recurrent"``). None: ``()`` for linear and
            convolutional, ``(256,)`` deep/denoising/sparse, ``(256, 128)`` stacked, ``(64,)``
            recurrent.
        activation: activation of the hidden layers (not used by ``"linear"``).
        noise: training-input corruption, ``"gaussian"``, ``"masking"``, ``"salt_pepper"`` or None
            (``"gaussian"`` for ``"denoising"``); see :meth:`corrupt`.
        noise_level: the Gaussian deviation, or the fraction of entries masked or salted.
        sparsity: ``"kl"`` (sigmoid code), ``"l1"`` (ReLU code) or None (``"kl"`` for ``"sparse"``).
        sparsity_weight: the :meth:`sparsity_penalty` weight; None: 0.01 for ``"kl"``, 1e-4 for
            ``"l1"``.
        sparsity_target: the target mean activation ``rho`` of each code unit (``"kl"``).
        output_activation: activation of the reconstruction, e.g. ``"sigmoid"`` for data in [0, 1].
        filters: channels of the stride-2 3x3 conv blocks (``"convolutional"``).
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (``"recurrent"``).
        pretrain_epochs: epochs per layer of the greedy pretraining (``"stacked"``; 0 skips it).

    Input ``(N, ...)``: ``(N, C, H, W)`` or ``(N, H, W)`` images for ``"convolutional"``,
    ``(N, T, F)`` or ``(N, T)`` for ``"recurrent"``. Output: the reconstruction, shaped like the
    input. The layers are made on the first batch: ``encoder`` (inputs to ``(N, code_size)``;
    centred ``x - mean_`` for ``"linear"``) and ``decoder``.

    >>> model = Autoencoder(kind="convolutional", code_size=8, filters=(4, 8))
    >>> model(torch.ones(2, 1, 28, 28)).shape
    torch.Size([2, 1, 28, 28])
    """

    _lamina_name = "lamina.models.Autoencoder"
    encoder: nn.Sequential  # None until the first batch
    decoder: nn.Sequential
    mean_: torch.Tensor
    count_: torch.Tensor
    pretrained_: torch.Tensor

    def __init__(
        self,
        kind: str = "deep",
        code_size: int = 32,
        units: Sequence[int] | None = None,
        activation: str = "relu",
        noise: str | None = None,
        noise_level: float = 0.3,
        sparsity: str | None = None,
        *,
        sparsity_weight: float | None = None,
        sparsity_target: float = 0.05,
        output_activation: str | None = None,
        filters: Sequence[int] = (16, 32),
        cell: str = "gru",
        pretrain_epochs: int = 1,
    ) -> None:
        super().__init__()
        check_options(
            kind,
            code_size,
            units,
            noise,
            noise_level,
            sparsity,
            sparsity_weight,
            sparsity_target,
            output_activation,
            filters,
            cell,
            pretrain_epochs,
        )
        for name in filter(None, (activation, output_activation)):
            Activation(name)  # an unknown name fails now, not at the first batch
        self.kind, self.code_size, self.units = kind, code_size, units
        self.activation, self.noise, self.noise_level = activation, noise, noise_level
        self.sparsity, self.sparsity_weight = sparsity, sparsity_weight
        self.sparsity_target, self.output_activation = sparsity_target, output_activation
        self.filters, self.cell, self.pretrain_epochs = filters, cell, pretrain_epochs
        self._units = tuple(DEFAULT_UNITS[kind] if units is None else units)
        self._noise = noise or ("gaussian" if kind == "denoising" else None)
        self._sparsity = sparsity or ("kl" if kind == "sparse" else None)
        default_weight = DEFAULT_WEIGHT.get(self._sparsity, 0.0)
        self._weight = default_weight if sparsity_weight is None else sparsity_weight
        self._code_activation = {"kl": "sigmoid", "l1": "relu"}.get(self._sparsity or "")
        # the layers are made on the first batch, when the input shape is known
        self.register_module("encoder", None)
        self.register_module("decoder", None)
        self._shape: tuple[int, ...] = ()
        self._pretraining: int | None = None
        # saved: a loaded model never pretrains again
        self.register_buffer("pretrained_", torch.tensor(False))

    # ------------------------------------------------------------------ layers
    def _make(self, x: torch.Tensor) -> None:
        """Make the encoder and decoder for inputs shaped like ``x``."""
        self.encoder, self.decoder = make_layers(
            x,
            self.kind,
            code_size=self.code_size,
            units=self._units,
            activation=self.activation,
            code_activation=self._code_activation,
            output_activation=self.output_activation,
            filters=self.filters,
            cell=self.cell,
        )
        if self.kind == "linear":
            features = math.prod(x.shape[1:])
            self.register_buffer("mean_", torch.zeros(features, device=x.device))
            self.register_buffer("count_", torch.zeros((), dtype=torch.int64, device=x.device))
        self._shape = tuple(x.shape[1:])

    def is_built(self) -> bool:
        """True once the layers are made (after the first batch or a load)."""
        return self.encoder is not None and super().is_built()

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, *input shape)`` -> codes ``(N, code_size)``."""
        if self.encoder is None:
            self._make(x)
        if tuple(x.shape[1:]) != self._shape:
            raise ShapeError(
                message(
                    "The autoencoder was built for another input shape.",
                    tuple(x.shape),
                    f"(N, *{self._shape})",
                    "Pass inputs shaped like the training data.",
                )
            )
        if self.kind == "linear":
            x = x.reshape(len(x), -1) - self.mean_  # (N, features), centred
        return self.encoder(x)  # type: ignore[no-any-return]

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, code_size)`` -> reconstructions ``(N, *input shape)``."""
        out = self.decoder(z)
        return (out + self.mean_ if self.kind == "linear" else out).reshape(len(z), *self._shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._decode(self._encode(x))

    # ------------------------------------------------------------------ training
    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the ``noise`` applied (``train_step`` calls it); returns a tensor shaped like
        ``x``.

        ``"gaussian"``: ``x + noise_level * N(0, 1)``; ``"masking"``: each entry set to 0 with
        probability ``noise_level``; ``"salt_pepper"``: each entry, with probability
        ``noise_level``, set to 0 or 1.
        """
        if self._noise is None:
            return x
        if self._noise == "gaussian":
            return x + self.noise_level * torch.randn_like(x)
        hit = torch.rand_like(x) < self.noise_level
        if self._noise == "masking":
            return x.masked_fill(hit, 0.0)
        return torch.where(hit, (torch.rand_like(x) < 0.5).to(x.dtype), x)

    def sparsity_penalty(self, code: torch.Tensor) -> torch.Tensor:
        """The unweighted sparsity penalty of codes ``(N, code_size)``; a 0-d tensor (0 without
        sparsity).

        ``"kl"``: ``sum_j rho log(rho / q_j) + (1 - rho) log((1 - rho) / (1 - q_j))`` with ``rho``
        the ``sparsity_target`` and ``q_j`` unit ``j``'s mean activation over the rows (clamped to
        ``[1e-6, 1 - 1e-6]``); ``"l1"``: the mean over rows of ``sum_j |z_j|``.
        """
        if self._sparsity is None:
            return code.new_zeros(())
        if self._sparsity == "l1":
            return code.abs().sum(1).mean()
        rho, q = self.sparsity_target, code.mean(0).clamp(1e-6, 1 - 1e-6)
        return (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()

    def _losses(
        self,
        out: torch.Tensor,
        target: torch.Tensor,
        code: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        reconstruction = self.compute_loss(out, target, weight)
        if self._sparsity is None:
            return {"loss": reconstruction}
        penalty = self.sparsity_penalty(code)
        return {
            "loss": reconstruction + self._weight * penalty,
            "reconstruction": reconstruction,
            "sparsity": penalty,
        }

    @staticmethod
    def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, weight)`` -> (inputs, targets (default x),
        weights)."""
        batch = batch if isinstance(batch, (tuple, list)) else (batch,)
        return (
            batch[0],
            batch[1] if len(batch) > 1 else batch[0],
            batch[2] if len(batch) > 2 else None,
        )

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One step on corrupted inputs against clean targets. Logs ``loss`` (penalty included)
        and, with a sparsity penalty, ``reconstruction`` and ``sparsity`` (unweighted)."""
        x, target, weight = self._unpack(batch)
        if self._pretraining is not None:
            return self._pretrain_step(x, self._pretraining)
        if self.kind == "linear":
            # mean_: the running mean of every training row so far (exact after an epoch)
            with torch.no_grad():
                rows = x.reshape(len(x), -1)  # (N, features)
                self.count_ += len(rows)
                self.mean_ += (rows.sum(0) - len(rows) * self.mean_) / self.count_
        engine = self.engine
        with engine.autocast():
            code = self._encode(self.corrupt(x))
            out = self._decode(code)
            logs = self._losses(out, target, code, weight)
        engine.optimize(self, logs["loss"])
        self.update_metrics(out.detach(), target)
        return {key: value.detach() for key, value in logs.items()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The losses of :meth:`train_step` on the inputs as they are (no noise)."""
        x, target, _ = self._unpack(batch)
        code = self._encode(x)
        out = self._decode(code)
        self.update_metrics(out, target)
        return self._losses(out, target, code)

    def _pretrain_step(self, x: torch.Tensor, layer: int) -> dict[str, torch.Tensor]:
        encoder, decoder = self.encoder, self.decoder
        with torch.no_grad():
            codes = encoder[: 1 + layer](x)  # flatten + the layers below: (N, inputs of this layer)
        with self.engine.autocast():
            out = decoder[len(decoder) - 1 - layer](encoder[1 + layer](self.corrupt(codes)))
            loss = self.compute_loss(out, codes) if layer == 0 else F.mse_loss(out, codes)
        self.engine.optimize(self, loss)
        return {"loss": loss.detach()}

    def pretrain(self, x: Any, *, epochs: int = 1, **fit_options: Any) -> list[History]:
        """Greedy layer-wise pretraining (``kind="stacked"``); ``fit`` runs it once, before
        end-to-end training.

        Layer ``k`` and its mirror in the decoder train alone (a fresh compiled optimizer) to
        rebuild the codes of the layers below (corrupted when ``noise`` is set); compiled loss
        first, then ``mse``.

        Args:
            x: inputs, as for ``fit`` (targets are not used).
            epochs: epochs per layer.
            **fit_options: passed to each ``fit`` (``batch_size``, ``seed``, ``verbose``, ...).

        Returns:
            One ``History`` per layer, input side first.
        """
        if self.kind != "stacked":
            raise ConfigError(
                message(
                    "pretrain() is the greedy pretraining of a stacked autoencoder.",
                    f"kind={self.kind!r}",
                    "kind='stacked'",
                    "Use kind='stacked', or just fit().",
                )
            )
        factory = self._compiled_or_raise("pretrain")["factory"]
        if isinstance(factory, torch.optim.Optimizer):
            # bound to all parameters: a fresh one of the same class and settings per layer
            factory = functools.partial(type(factory), **factory.defaults)
        if not self.is_built():  # seeded as fit(seed=...) seeds before it builds
            seed_everything(resolve(seed=fit_options.get("seed")).seed, torch.device("cpu"))
            first = next(iter(self._eval_loader(x, None, 2, self._engine())))
            self.build(first[0] if isinstance(first, (tuple, list)) else first)
        encoder, decoder = self.encoder, self.decoder
        histories = []
        try:
            for layer in range(len(decoder)):
                self._pretraining = layer
                self.optimizer = factory(
                    [
                        *encoder[1 + layer].parameters(),
                        *decoder[len(decoder) - 1 - layer].parameters(),
                    ]
                )
                histories.append(super().fit(x, epochs=epochs, **fit_options))
        finally:
            # the end-to-end fit makes a fresh optimizer
            self._pretraining, self.optimizer = None, None
        self.pretrained_.fill_(True)
        return histories

    def fit(self, x: Any, y: Any = None, **options: Any) -> History:  # type: ignore[override]
        """Train to rebuild ``x`` (or ``y``), with ``lamina.Model.fit``'s options.

        A stacked autoencoder first runs :meth:`pretrain` once in its life (with the same batch
        size, seed, verbosity and device)."""
        if y is None and options.get("sample_weight") is not None and data_lib.is_in_memory(x):
            y = x  # batches (x, x, weight): a weight column must not be read as the targets
        if self.kind == "stacked" and self.pretrain_epochs and not bool(self.pretrained_):
            shared = ("batch_size", "shuffle", "seed", "verbose", "device", "precision")
            self.pretrain(
                x, epochs=self.pretrain_epochs, **{k: options[k] for k in shared if k in options}
            )
        return super().fit(x, y, **options)

    # ------------------------------------------------------------------ encode / decode / transfer
    def _batched(
        self, fn: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor, batch_size: int
    ) -> np.ndarray:
        device, was_training = self._engine().device, self.training
        self.eval()
        with torch.inference_mode():
            parts = [
                fn(tensor[i : i + batch_size].to(device)).cpu()
                for i in range(0, len(tensor), batch_size)
            ]
        self.train(was_training)
        return torch.cat(parts).numpy()  # type: ignore[no-any-return]

    def encode(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """The codes of ``x`` (array in, eval mode, in batches). Returns ``(N, code_size)``."""
        self._require_built("encode")
        return self._batched(self._encode, self._tensors(x, None, "encode")[0], batch_size)

    def decode(self, z: Any, *, batch_size: int = 256) -> np.ndarray:
        """Reconstructions from codes ``z`` of shape ``(N, code_size)``. Returns
        ``(N, *input shape)``."""
        self._require_built("decode")
        codes = data_lib.to_tensor(z, name="z").float()
        if codes.dim() != 2 or codes.shape[1] != self.code_size or len(codes) == 0:
            raise ShapeError(
                message(
                    "decode() takes codes.",
                    f"shape {tuple(codes.shape)}",
                    f"(N, {self.code_size}) with N >= 1",
                    "Pass the output of encode().",
                )
            )
        data_lib.check_finite(codes, "z")
        return self._batched(self._decode, codes, batch_size)

    def reconstruct(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """``decode(encode(x))`` without noise, as ``predict``. Returns the input's shape."""
        return self.predict(x, batch_size=batch_size)

    def classifier(self, outputs: int) -> Sequential:
        """A classifier on a copy of the trained encoder: ``Sequential([encoder, Dense(outputs)])``.

        Args:
            outputs: size of the new output layer (the number of classes).

        Returns:
            An uncompiled ``lamina.Sequential``, output ``(N, outputs)``, whose ``Dense`` is the
            head for ``freeze``/``fine_tune`` (for ``"linear"`` the centring is folded into the
            first bias).
        """
        self._require_built("classifier")
        if not positive_int(outputs):
            raise ConfigError(
                message(
                    "classifier() needs a positive number of outputs.",
                    f"outputs={outputs!r}",
                    "an int >= 1",
                    "Pass e.g. classifier(10) for ten classes.",
                )
            )
        encoder = copy.deepcopy(self.encoder)
        if self.kind == "linear":  # W (x - mean) + b == W x + (b - W mean)
            with torch.no_grad():
                encoder[1][0].bias -= encoder[1][0].weight @ self.mean_  # type: ignore[index]
        return Sequential([encoder, Dense(outputs)])
