"""``lamina.models.Autoencoder``: learn a code ``z = encode(x)`` from which ``decode(z)`` rebuilds ``x``.

Seven kinds share one class, picked by ``kind``:

* ``"linear"``: one linear map each way, no activation, on inputs centred by a learned mean; trained by
  gradient descent, its code spans PCA's principal subspace (Baldi & Hornik, 1989);
* ``"deep"``: an MLP encoder (``units``, then ``code_size``) and the mirrored MLP decoder;
* ``"stacked"``: the deep MLP, pretrained greedily one layer at a time (each layer an autoencoder of the
  codes of the layers below; Bengio et al., 2007), then trained end to end, all in one ``fit``;
* ``"convolutional"``: strided ``Conv2d`` blocks down to the code, ``ConvTranspose2d`` blocks back up;
* ``"recurrent"``: a GRU/LSTM reads ``(N, T, F)`` into a code; a second one, fed the code at each of the
  ``T`` steps, writes the sequence back;
* ``"denoising"``: the deep MLP rebuilding clean inputs from corrupted ones (Vincent et al., 2008);
* ``"sparse"``: the deep MLP with a sparsity penalty on the code (KL to a target activation, or L1).

``noise`` and ``sparsity`` apply to every kind; corruption happens in ``train_step`` only. ``fit(x)`` needs
no targets; ``predict``/``reconstruct`` give reconstructions shaped like the input, ``evaluate`` the loss.

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
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.config import resolve
from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models.base import Model
from lamina.models.sequential import Sequential
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Activation, Dense, Layer
from lamina.train.callbacks import History
from lamina.train.engine import seed_everything

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Autoencoder", "RecurrentDecoder", "RecurrentEncoder"]

KINDS = ("linear", "deep", "stacked", "convolutional", "recurrent", "denoising", "sparse")
NOISES = ("gaussian", "masking", "salt_pepper")
SPARSITIES = ("kl", "l1")
CELLS: dict[str, Callable[..., nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}
DEFAULT_UNITS = {"linear": (), "deep": (256,), "stacked": (256, 128), "convolutional": (), "recurrent": (64,),
                 "denoising": (256,), "sparse": (256,)}
DEFAULT_WEIGHT: dict[str | None, float] = {"kl": 0.01, "l1": 1e-4}  # sparsity_weight=None, per penalty


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ints(value: Any) -> bool:
    return not isinstance(value, (str, bytes)) and isinstance(value, Sequence) and all(map(_positive_int, value))


def _check(kind: Any, code_size: Any, units: Any, noise: Any, noise_level: Any, sparsity: Any, weight: Any,
           target: Any, output_activation: Any, filters: Any, cell: Any, pretrain_epochs: Any) -> None:
    gaussian = noise == "gaussian" or (noise is None and kind == "denoising")
    checks = [
        (kind in KINDS, "Unknown kind.", repr(kind), f"one of {KINDS}", "Pass kind='deep' (an MLP autoencoder)."),
        (_positive_int(code_size), "code_size must be a positive int.", repr(code_size), "an int >= 1",
         "Pass e.g. code_size=32."),
        (units is None or (_ints(units) and (kind != "linear" or not units) and (kind != "recurrent"
                                                                              or len(units) == 1)),
         "Bad units for this kind.", f"kind={kind!r}, units={units!r}", "positive ints; none for 'linear', one "
         "(the hidden size) for 'recurrent'", "Pass e.g. units=(256,), or None for the kind's default."),
        (noise in (None, *NOISES), "Unknown noise.", repr(noise), f"None or one of {NOISES}", "Pass noise='gaussian'."),
        (_number(noise_level) and noise_level > 0 and (gaussian or noise_level < 1), "noise_level out of range.",
         f"noise={noise!r}, noise_level={noise_level!r}", "> 0 for 'gaussian' (the deviation); in (0, 1) for "
         "'masking' and 'salt_pepper' (the fraction hit)", "Pass e.g. noise_level=0.3."),
        (sparsity in (None, *SPARSITIES) and (kind != "linear" or (sparsity is None and output_activation is None)),
         "Unknown sparsity, or activations on a linear autoencoder.", f"kind={kind!r}, sparsity={sparsity!r}, "
         f"output_activation={output_activation!r}", "sparsity None, 'kl' or 'l1'; neither with 'linear'",
         "Pass sparsity='kl', or use kind='deep' for activations."),
        ((weight is None or (_number(weight) and weight >= 0)) and _number(target) and 0 < target < 1,
         "Bad sparsity settings.", f"sparsity_weight={weight!r}, sparsity_target={target!r}",
         "a weight >= 0 (or None) and a target in (0, 1)", "Pass e.g. sparsity_weight=0.01, sparsity_target=0.05."),
        (_ints(filters) and len(filters) > 0, "Bad filters.", repr(filters), "positive ints, e.g. (16, 32)",
         "Pass filters=(16, 32)."),
        (cell in tuple(CELLS), "Unknown recurrent cell.", repr(cell), f"one of {tuple(CELLS)}", "Pass cell='gru'."),
        ((_positive_int(pretrain_epochs) or pretrain_epochs == 0) and (kind == "stacked" or pretrain_epochs == 1),
         "pretrain_epochs is for kind='stacked' (epochs per layer).", f"kind={kind!r}, pretrain_epochs="
         f"{pretrain_epochs!r}", "an int >= 0 with 'stacked'", "Pass kind='stacked', or drop pretrain_epochs."),
    ]
    for ok, what, received, expected, fix in checks:
        if not ok:
            raise ConfigError(message(f"Autoencoder: {what}", received, expected, fix))


class RecurrentEncoder(Layer):
    """Read ``(N, T, features)`` with a recurrent layer; a linear map of its last hidden state is the code.

    Args: ``features`` per input step, ``units`` (hidden size), ``code_size``, ``cell`` (gru, lstm, rnn).

    >>> RecurrentEncoder(3, 8, 4)(torch.ones(2, 5, 3)).shape
    torch.Size([2, 4])
    """

    def __init__(self, features: int, units: int, code_size: int, cell: str = "gru") -> None:
        super().__init__()
        self.recurrent = CELLS[cell](features, units, batch_first=True)
        self.code = nn.Linear(units, code_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.recurrent(x)  # (1, N, units), or (h, c) for an LSTM
        return self.code((state[0] if isinstance(state, tuple) else state)[-1])  # (N, code_size)


class RecurrentDecoder(Layer):
    """Write ``steps`` steps from a code: a recurrent layer reads the code at every step, a linear map emits.

    Args: ``code_size``, ``units`` (hidden size), ``features`` per output step, ``steps``, ``cell``.

    >>> RecurrentDecoder(4, 8, 3, steps=5)(torch.ones(2, 4)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, code_size: int, units: int, features: int, steps: int, cell: str = "gru") -> None:
        super().__init__()
        self.steps = steps
        self.recurrent = CELLS[cell](code_size, units, batch_first=True)
        self.output = nn.Linear(units, features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.recurrent(z.unsqueeze(1).expand(-1, self.steps, -1))  # (N, steps, units)
        return self.output(sequence)  # (N, steps, features)


def _block(inputs: int, outputs: int, activation: Any) -> nn.Sequential:
    """``Linear`` and its activation: one layer, the unit of greedy pretraining."""
    return nn.Sequential(nn.Linear(inputs, outputs), *([] if activation is None else [Activation(activation)]))


class Autoencoder(Model):
    """An autoencoder: ``forward(x) = decode(encode(x))``, trained to rebuild its input.

    Args:
        kind: one of the seven kinds of the module docstring.
        code_size: size of the code ``z``.
        units: encoder hidden sizes, input side first, mirrored by the decoder (dense layers after the
            convolutions; the one hidden size of ``"recurrent"``). None: ``()`` for linear and convolutional,
            ``(256,)`` deep/denoising/sparse, ``(256, 128)`` stacked, ``(64,)`` recurrent.
        activation: activation of the hidden layers (not used by ``"linear"``).
        noise: training-input corruption, ``"gaussian"``, ``"masking"``, ``"salt_pepper"`` or None
            (``"gaussian"`` for ``"denoising"``); see :meth:`corrupt`.
        noise_level: the Gaussian deviation, or the fraction of entries masked or salted.
        sparsity: ``"kl"`` (sigmoid code), ``"l1"`` (ReLU code) or None (``"kl"`` for ``"sparse"``).
        sparsity_weight: the :meth:`sparsity_penalty` weight; None: 0.01 for ``"kl"``, 1e-4 for ``"l1"``.
        sparsity_target: the target mean activation ``rho`` of each code unit (``"kl"``).
        output_activation: activation of the reconstruction, e.g. ``"sigmoid"`` for data in [0, 1].
        filters: channels of the stride-2 3x3 conv blocks (``"convolutional"``).
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (``"recurrent"``).
        pretrain_epochs: epochs per layer of the greedy pretraining (``"stacked"``; 0 skips it).

    Input ``(N, ...)``: ``(N, C, H, W)`` or ``(N, H, W)`` images for ``"convolutional"``, ``(N, T, F)`` or
    ``(N, T)`` for ``"recurrent"``. Output: the reconstruction, shaped like the input. The layers are made
    on the first batch: ``encoder`` (inputs to ``(N, code_size)``; centred ``x - mean_`` for ``"linear"``)
    and ``decoder``.

    >>> Autoencoder(kind="convolutional", code_size=8, filters=(4, 8))(torch.ones(2, 1, 28, 28)).shape
    torch.Size([2, 1, 28, 28])
    """

    _lamina_name = "lamina.models.Autoencoder"
    encoder: nn.Sequential  # None until the first batch
    decoder: nn.Sequential
    mean_: torch.Tensor
    count_: torch.Tensor
    pretrained_: torch.Tensor

    def __init__(self, kind: str = "deep", code_size: int = 32, units: Sequence[int] | None = None,
                 activation: str = "relu", noise: str | None = None, noise_level: float = 0.3,
                 sparsity: str | None = None, *, sparsity_weight: float | None = None,
                 sparsity_target: float = 0.05, output_activation: str | None = None,
                 filters: Sequence[int] = (16, 32), cell: str = "gru", pretrain_epochs: int = 1) -> None:
        super().__init__()
        _check(kind, code_size, units, noise, noise_level, sparsity, sparsity_weight, sparsity_target,
               output_activation, filters, cell, pretrain_epochs)
        for name in filter(None, (activation, output_activation)):
            Activation(name)  # an unknown name fails now, not at the first batch
        self.kind, self.code_size, self.units, self.activation, self.noise = kind, code_size, units, activation, noise
        self.noise_level, self.sparsity, self.sparsity_weight = noise_level, sparsity, sparsity_weight
        self.sparsity_target, self.output_activation, self.filters = sparsity_target, output_activation, filters
        self.cell, self.pretrain_epochs = cell, pretrain_epochs
        self._units = tuple(DEFAULT_UNITS[kind] if units is None else units)
        self._noise = noise or ("gaussian" if kind == "denoising" else None)
        self._sparsity = sparsity or ("kl" if kind == "sparse" else None)
        self._weight = sparsity_weight if sparsity_weight is not None else DEFAULT_WEIGHT.get(self._sparsity, 0.0)
        self._code_activation = {"kl": "sigmoid", "l1": "relu"}.get(self._sparsity or "")
        self.register_module("encoder", None)  # made on the first batch, when the input shape is known
        self.register_module("decoder", None)
        self._shape: tuple[int, ...] = ()
        self._pretraining: int | None = None
        self.register_buffer("pretrained_", torch.tensor(False))  # saved: a loaded model never pretrains again

    # ------------------------------------------------------------------ layers
    def _make(self, x: torch.Tensor) -> None:
        """Make the encoder and decoder for inputs shaped like ``x``."""
        shape, hidden = tuple(x.shape[1:]), None if self.kind == "linear" else self.activation
        encoder: list[nn.Module] = []
        decoder: list[nn.Module] = []
        tail: list[nn.Module] = []  # decoder layers after the dense blocks (transposed convolutions)
        expected = {"convolutional": "(N, C, H, W) or (N, H, W) images", "recurrent": "(N, T, F) or (N, T)"}
        if self.kind in expected and x.dim() not in {"convolutional": (3, 4), "recurrent": (2, 3)}[self.kind]:
            raise ShapeError(message(f"A {self.kind} autoencoder got an input of the wrong rank.",
                                     f"inputs of shape (N, {', '.join(map(str, shape))})",
                                     expected[self.kind], "Reshape the input, or use kind='deep' for flat rows."))
        if self.kind == "convolutional":
            encoder += [nn.Unflatten(1, (1, shape[0]))] if x.dim() == 3 else []  # (N, H, W) -> (N, 1, H, W)
            widths, sizes = [1 if x.dim() == 3 else shape[0], *self.filters], [shape[-2:]]
            for i, width in enumerate(self.filters):
                encoder += [nn.Conv2d(widths[i], width, 3, 2, 1), Activation(self.activation)]
                sizes.append(tuple((s - 1) // 2 + 1 for s in sizes[-1]))  # a stride-2 conv halves, rounding up
            encoder.append(nn.Flatten())
            tail.append(nn.Unflatten(1, (widths[-1], *sizes[-1])))
            for i in reversed(range(len(self.filters))):
                padding = cast(tuple[int, int], tuple(a - 2 * b + 1 for a, b in zip(sizes[i], sizes[i + 1])))
                tail += [nn.ConvTranspose2d(widths[i + 1], widths[i], 3, 2, 1, output_padding=padding),
                         Activation(self.activation if i else self.output_activation)]  # type: ignore[arg-type]
            features = widths[-1] * math.prod(sizes[-1])
        elif self.kind == "recurrent":
            steps, features = shape[0], shape[1] if x.dim() == 3 else 1
            encoder += [nn.Unflatten(1, (steps, 1))] if x.dim() == 2 else []  # (N, T) -> (N, T, 1)
            encoder.append(RecurrentEncoder(features, self._units[0], self.code_size, self.cell))
            decoder.append(RecurrentDecoder(self.code_size, self._units[0], features, steps, self.cell))
            encoder += [Activation(self._code_activation)] if self._code_activation else []
            decoder += [Activation(self.output_activation)] if self.output_activation else []
        else:
            encoder.append(nn.Flatten())  # (N, ...) -> (N, features)
            features = math.prod(shape)
        if self.kind != "recurrent":
            sizes_ = [features, *self._units, self.code_size]
            layers = len(sizes_) - 1
            encoder += [_block(sizes_[i], sizes_[i + 1], hidden if i < layers - 1 else self._code_activation)
                        for i in range(layers)]
            decoder += [_block(sizes_[i + 1], sizes_[i], hidden if i or tail else self.output_activation)
                        for i in reversed(range(layers))]
        if self.kind == "linear":
            self.register_buffer("mean_", torch.zeros(features, device=x.device))
            self.register_buffer("count_", torch.zeros((), dtype=torch.int64, device=x.device))
        self.encoder = nn.Sequential(*encoder).to(x.device)
        self.decoder = nn.Sequential(*decoder, *tail).to(x.device)
        self._shape = shape

    def is_built(self) -> bool:
        """True once the layers are made (after the first batch or a load)."""
        return self.encoder is not None and super().is_built()

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, *input shape)`` -> codes ``(N, code_size)``."""
        if self.encoder is None:
            self._make(x)
        if tuple(x.shape[1:]) != self._shape:
            raise ShapeError(message("The autoencoder was built for another input shape.", tuple(x.shape),
                                     f"(N, *{self._shape})", "Pass inputs shaped like the training data."))
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
        """``x`` with the ``noise`` applied (``train_step`` calls it); returns a tensor shaped like ``x``.

        ``"gaussian"``: ``x + noise_level * N(0, 1)``; ``"masking"``: each entry set to 0 with probability
        ``noise_level``; ``"salt_pepper"``: each entry, with probability ``noise_level``, set to 0 or 1.
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
        """The unweighted sparsity penalty of codes ``(N, code_size)``; a 0-d tensor (0 without sparsity).

        ``"kl"``: ``sum_j rho log(rho / q_j) + (1 - rho) log((1 - rho) / (1 - q_j))`` with ``rho`` the
        ``sparsity_target`` and ``q_j`` unit ``j``'s mean activation over the rows (clamped to
        ``[1e-6, 1 - 1e-6]``); ``"l1"``: the mean over rows of ``sum_j |z_j|``.
        """
        if self._sparsity is None:
            return code.new_zeros(())
        if self._sparsity == "l1":
            return code.abs().sum(1).mean()
        rho, q = self.sparsity_target, code.mean(0).clamp(1e-6, 1 - 1e-6)
        return (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()

    def _losses(self, out: torch.Tensor, target: torch.Tensor, code: torch.Tensor,
                weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        reconstruction = self.compute_loss(out, target, weight)
        if self._sparsity is None:
            return {"loss": reconstruction}
        penalty = self.sparsity_penalty(code)
        return {"loss": reconstruction + self._weight * penalty, "reconstruction": reconstruction,
                "sparsity": penalty}

    @staticmethod
    def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, weight)`` -> (inputs, targets (default x), weights)."""
        batch = batch if isinstance(batch, (tuple, list)) else (batch,)
        return batch[0], batch[1] if len(batch) > 1 else batch[0], batch[2] if len(batch) > 2 else None

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One step on corrupted inputs against clean targets. Logs ``loss`` (penalty included) and, with a
        sparsity penalty, ``reconstruction`` and ``sparsity`` (unweighted)."""
        x, target, weight = self._unpack(batch)
        if self._pretraining is not None:
            return self._pretrain_step(x, self._pretraining)
        if self.kind == "linear":
            with torch.no_grad():  # mean_: the running mean of every training row so far (exact after an epoch)
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
            codes = encoder[:1 + layer](x)  # flatten + the layers below: (N, inputs of this layer)
        with self.engine.autocast():
            out = decoder[len(decoder) - 1 - layer](encoder[1 + layer](self.corrupt(codes)))
            loss = self.compute_loss(out, codes) if layer == 0 else F.mse_loss(out, codes)
        self.engine.optimize(self, loss)
        return {"loss": loss.detach()}

    def pretrain(self, x: Any, *, epochs: int = 1, **fit_options: Any) -> list[History]:
        """Greedy layer-wise pretraining (``kind="stacked"``); ``fit`` runs it once, before end-to-end training.

        Layer ``k`` and its mirror in the decoder train alone (a fresh compiled optimizer) to rebuild the
        codes of the layers below (corrupted when ``noise`` is set); compiled loss first, then ``mse``.

        Args:
            x: inputs, as for ``fit`` (targets are not used).
            epochs: epochs per layer.
            **fit_options: passed to each ``fit`` (``batch_size``, ``seed``, ``verbose``, ...).

        Returns:
            One ``History`` per layer, input side first.
        """
        if self.kind != "stacked":
            raise ConfigError(message("pretrain() is the greedy pretraining of a stacked autoencoder.",
                                      f"kind={self.kind!r}", "kind='stacked'", "Use kind='stacked', or just fit()."))
        factory = self._compiled_or_raise("pretrain")["factory"]
        if isinstance(factory, torch.optim.Optimizer):  # bound to all parameters: same class and settings
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
                self.optimizer = factory([*encoder[1 + layer].parameters(),
                                          *decoder[len(decoder) - 1 - layer].parameters()])
                histories.append(super().fit(x, epochs=epochs, **fit_options))
        finally:
            self._pretraining, self.optimizer = None, None  # the end-to-end fit makes a fresh optimizer
        self.pretrained_.fill_(True)
        return histories

    def fit(self, x: Any, y: Any = None, **options: Any) -> History:  # type: ignore[override]
        """Train to rebuild ``x`` (or ``y``), with ``lamina.Model.fit``'s options. A stacked autoencoder first
        runs :meth:`pretrain` once in its life (with the same batch size, seed, verbosity and device)."""
        if y is None and options.get("sample_weight") is not None and data_lib.is_in_memory(x):
            y = x  # batches (x, x, weight): a weight column must not be read as the targets
        if self.kind == "stacked" and self.pretrain_epochs and not bool(self.pretrained_):
            shared = ("batch_size", "shuffle", "seed", "verbose", "device", "precision")
            self.pretrain(x, epochs=self.pretrain_epochs, **{k: options[k] for k in shared if k in options})
        return super().fit(x, y, **options)

    # ------------------------------------------------------------------ encode / decode / transfer
    def _batched(self, fn: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor,
                 batch_size: int) -> np.ndarray:
        device, was_training = self._engine().device, self.training
        self.eval()
        with torch.inference_mode():
            parts = [fn(tensor[i:i + batch_size].to(device)).cpu() for i in range(0, len(tensor), batch_size)]
        self.train(was_training)
        return torch.cat(parts).numpy()  # type: ignore[no-any-return]

    def encode(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """The codes of ``x`` (array in, eval mode, in batches). Returns ``(N, code_size)``."""
        self._require_built("encode")
        return self._batched(self._encode, self._tensors(x, None, "encode")[0], batch_size)

    def decode(self, z: Any, *, batch_size: int = 256) -> np.ndarray:
        """Reconstructions from codes ``z`` of shape ``(N, code_size)``. Returns ``(N, *input shape)``."""
        self._require_built("decode")
        codes = data_lib.to_tensor(z, name="z").float()
        if codes.dim() != 2 or codes.shape[1] != self.code_size or len(codes) == 0:
            raise ShapeError(message("decode() takes codes.", f"shape {tuple(codes.shape)}",
                                     f"(N, {self.code_size}) with N >= 1", "Pass the output of encode()."))
        data_lib.check_finite(codes, "z")
        return self._batched(self._decode, codes, batch_size)

    def reconstruct(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """``decode(encode(x))`` without noise, as ``predict``. Returns the input's shape."""
        return self.predict(x, batch_size=batch_size)

    def classifier(self, outputs: int) -> Sequential:
        """A classifier on a copy of the trained encoder: ``lamina.Sequential([encoder, Dense(outputs)])``.

        Args:
            outputs: size of the new output layer (the number of classes).

        Returns:
            An uncompiled ``lamina.Sequential``, output ``(N, outputs)``, whose ``Dense`` is the head for
            ``freeze``/``fine_tune`` (for ``"linear"`` the centring is folded into the first bias).
        """
        self._require_built("classifier")
        if not _positive_int(outputs):
            raise ConfigError(message("classifier() needs a positive number of outputs.", f"outputs={outputs!r}",
                                      "an int >= 1", "Pass e.g. classifier(10) for ten classes."))
        encoder = copy.deepcopy(self.encoder)
        if self.kind == "linear":  # W (x - mean) + b == W x + (b - W mean)
            with torch.no_grad():
                encoder[1][0].bias -= encoder[1][0].weight @ self.mean_  # type: ignore[index]
        return Sequential([encoder, Dense(outputs)])

    # ------------------------------------------------------------------ pictures
    def plot_reconstructions(self, x: Any, path: str | os.PathLike[str] | None = None, *, count: int = 8) -> Figure:
        """Draw the first ``count`` inputs (top row) over their reconstructions (bottom row).

        Images are drawn as images (a flat square vector is reshaped), sequences as curves. ``path``:
        where to write the PNG (None: only return the figure). Returns the matplotlib ``Figure``.
        """
        from lamina.train.plot import new_figure, save_figure

        originals = data_lib.to_tensor(x, name="x")[:count].numpy()
        figure = new_figure(1.3 * len(originals), 2.8)
        axes = figure.subplots(2, len(originals), squeeze=False)
        for column, pair in enumerate(zip(originals, self.reconstruct(originals))):
            for ax, sample in zip(axes[:, column], pair):
                image = None if self.kind == "recurrent" else _image(sample)
                _ = ax.plot(sample.reshape(len(sample), -1)) if image is None else ax.imshow(image, cmap="gray")
                ax.set(xticks=[], yticks=[])
        axes[0, 0].set_ylabel("input")
        axes[1, 0].set_ylabel("rebuilt")
        return save_figure(figure, path)

    def plot_latent(self, x: Any, y: Any = None, path: str | os.PathLike[str] | None = None) -> Figure:
        """Scatter the codes of ``x`` in 2-D, coloured by the labels ``y`` (None: one colour).

        Codes larger than 2 are projected on their first two principal components. ``path``: where to
        write the PNG (None: only return the figure). Returns the matplotlib ``Figure``.
        """
        from lamina.train.plot import new_figure, save_figure

        codes = self.encode(x)
        labels = None if y is None else np.asarray(y).reshape(-1)
        if labels is not None and len(labels) != len(codes):
            raise DataError(message("plot_latent() needs one label per row.", f"{len(codes)} rows, {len(labels)} "
                                    "labels", "len(y) == len(x)", "Pass the labels of the same rows."))
        names = ("code 1", "code 2")
        if codes.shape[1] > 2:  # the plane of largest variance of the codes
            centred = codes - codes.mean(0)
            codes = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            names = ("principal component 1 of the codes", "principal component 2")
        points = np.column_stack([codes, np.zeros(len(codes))])  # code size 1: on a line
        ax = (figure := new_figure(5.5, 4.5)).subplots()
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=None if labels is None else "tab10", s=5)
        if labels is not None:
            ax.legend(*scatter.legend_elements(), title="y", fontsize=7)
        ax.set(xlabel=names[0], ylabel=names[1], title=f"{self.kind} autoencoder, code size {self.code_size}")
        return save_figure(figure, path)


def _image(sample: np.ndarray) -> np.ndarray | None:
    """A sample as an image ``(H, W)`` or ``(H, W, 3)`` (a flat square vector is reshaped), or None."""
    if sample.ndim == 3 and sample.shape[0] in (1, 3):
        return sample[0] if sample.shape[0] == 1 else np.clip(sample.transpose(1, 2, 0), 0, 1)
    if sample.ndim == 1 and len(sample) >= 16 and math.isqrt(len(sample)) ** 2 == len(sample):
        return sample.reshape(math.isqrt(len(sample)), -1)
    return sample if sample.ndim == 2 else None
