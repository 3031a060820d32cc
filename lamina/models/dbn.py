"""``lamina.models.RBM`` and ``lamina.models.DBN``: restricted Boltzmann machines and their greedy stack.

An :class:`RBM` is trained by its own rule, contrastive divergence (CD-k) or persistent CD, not by
backpropagation: :meth:`RBM.train_step` estimates the log-likelihood gradient from Gibbs sampling and
hands it to the compiled optimizer as ``.grad``, so ``sgd``, ``momentum`` and weight decay all apply.

A :class:`DBN` is a sigmoid MLP whose hidden layers can be pretrained greedily, one RBM per layer, each
trained on the hidden probabilities of the one below (Hinton, Osindero and Teh, 2006), and is then
fine-tuned as a classifier with the normal ``fit``. Without pretraining it is the same network from
random initialisation.

>>> import lamina
>>> x = (torch.rand(64, 6) < 0.3).float()
>>> rbm = RBM(hidden=4).compile(optimizer="sgd", learning_rate=0.1)
>>> history = rbm.fit(x, epochs=2, verbose=0, seed=0)
>>> sorted(history.history), rbm.transform(x).shape, rbm.reconstruct(x).shape
(['loss'], (64, 4), (64, 6))
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parameter import UninitializedParameter

from lamina.core.errors import ConfigError, DataError, NotBuiltError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Dense
from lamina.train.callbacks import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DBN", "RBM"]

VISIBLE = ("bernoulli", "gaussian")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check(hidden: Any, visible: Any, k: Any, where: str) -> None:
    if visible not in VISIBLE:
        raise ConfigError(message(f"Unknown {where} visible layer.", f"visible={visible!r}",
                                  "'bernoulli' (data in [0, 1]) or 'gaussian' (standardised real data)",
                                  "Pass visible='bernoulli' for pixels scaled to [0, 1]."))
    if not _positive_int(k):
        raise ConfigError(message(f"{where} k (Gibbs steps per update) must be a positive int.", f"k={k!r}",
                                  "an int >= 1", "Pass k=1 for CD-1."))
    if where == "RBM" and not _positive_int(hidden):
        raise ConfigError(message("RBM hidden must be a positive int.", f"hidden={hidden!r}", "an int >= 1",
                                  "Pass hidden=500; a stack of layer sizes is a DBN(units=(500, 500))."))
    if where == "DBN" and (isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not hidden
                           or not all(_positive_int(h) for h in hidden)):
        raise ConfigError(message("DBN units must be a non-empty sequence of positive ints.", f"units={hidden!r}",
                                  "layer sizes such as (500, 500, 2000)", f"Pass e.g. hidden=({hidden!r},)."))


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary states with ``P(1) = p``, drawn as ``rand < p`` (so a test can replay the draws)."""
    return (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(p.dtype)


def _tiles(images: np.ndarray, path: str | os.PathLike[str] | None, title: str, symmetric: bool) -> Figure:
    """Images ``(n, H, W)`` as one mosaic, one pixel of padding apart; weights get their own symmetric scale."""
    from lamina.train.plot import new_figure, save_figure

    n, height, width = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    if symmetric:  # each filter scaled to [-1, 1] by its own largest weight, drawn around grey 0
        images = images / np.maximum(np.abs(images).reshape(n, -1).max(1), 1e-12)[:, None, None]
    mosaic = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for i, image in enumerate(images):
        top, left = 1 + (i // columns) * (height + 1), 1 + (i % columns) * (width + 1)
        mosaic[top:top + height, left:left + width] = image
    figure = new_figure(1.0 + 0.5 * columns, 1.3 + 0.5 * rows)
    axes = figure.add_subplot(title=title)
    axes.imshow(mosaic, cmap="gray", vmin=-1.0 if symmetric else 0.0, vmax=1.0, interpolation="nearest")
    axes.axis("off")
    return save_figure(figure, path)


def _tile_shape(model: Model, visible: int) -> tuple[int, int]:
    """The image shape of one visible vector: the input's (H, W), else a square side."""
    shape = [n for n in (model.input_spec_ or {}).get("shape", [None])[1:] if n != 1]
    if len(shape) == 2 and shape[0] * shape[1] == visible:
        return shape[0], shape[1]
    side = math.isqrt(visible)
    if side * side != visible:
        raise ConfigError(message("Cannot draw visible vectors as images.", f"{visible} visible units",
                                  "inputs of shape (N, H, W) or a square number of units (784 = 28 x 28)",
                                  "Fit on (N, H, W) images, or inspect model.weight directly."))
    return side, side


def _plot_filters(model: Model, weight: torch.Tensor, path: str | os.PathLike[str] | None, count: int) -> Figure:
    model._require_built("plot_filters")
    weights = weight.detach()[:count].cpu().numpy()  # (count, visible)
    return _tiles(weights.reshape(len(weights), *_tile_shape(model, weights.shape[1])), path,
                  f"first-layer filters ({len(weights)} of {len(weight)})", symmetric=True)


def _plot_samples(model: Any, path: str | os.PathLike[str] | None, n: int, steps: int, seed: int,
                  title: str) -> Figure:
    images = model.sample(n, steps, seed=seed).reshape(n, -1)  # (n, visible)
    return _tiles(images.reshape(n, *_tile_shape(model, images.shape[1])), path, title,
                  symmetric=model.visible == "gaussian")


class RBM(Model):
    """A restricted Boltzmann machine with binary hidden units, trained by CD-k or persistent CD.

    Args:
        hidden: number of binary hidden units.
        visible: ``"bernoulli"`` (binary visibles; data must lie in ``[0, 1]``, read as probabilities) or
            ``"gaussian"`` (unit-variance Gaussian visibles; standardise the data first).
        k: Gibbs steps per update (CD-k).
        persistent: persistent CD: the negative phase continues fantasy chains (the buffer ``chains_``,
            one chain per row of the first batch, started at that batch) instead of restarting at the data.
        init_scale: standard deviation of the initial weights (biases start at zero).

    Energy ``E(v, h) = -b.v - c.h - h.W v`` (Bernoulli) or ``|v - b|^2 / 2 - c.h - h.W v`` (Gaussian),
    with ``W`` ``(hidden, visible)``. Each training batch gets the CD estimate::

        dW = p(h|v_data).T @ v_data / N - p(h|v_k).T @ v_k / M
        db = mean(v_data) - mean(v_k)        dc = mean(p(h|v_data)) - mean(p(h|v_k))

    where ``v_k`` (``M`` rows) are the visible means after ``k`` Gibbs steps (hidden states sampled,
    intermediate visibles sampled) from the data (CD) or from the chains (PCD, whose chains keep the
    sampled visibles). Each parameter's ``.grad`` is set to ``-d`` and the compiled optimizer steps, so
    plain SGD does ``theta += lr * d``. Randomness comes from torch's global
    generator, seeded by ``fit(seed=...)``. The logged ``loss`` is the reconstruction error: the compiled
    loss (``"mse"``) between the batch and its mean-field reconstruction, before the update.

    Input ``(N, ...)`` is flattened to ``(N, visible)``. ``forward``/``predict``/:meth:`reconstruct` give
    the mean-field reconstruction ``E[v | h = p(h|v)]`` in the input's shape. ``fit(x)`` needs no ``y``;
    a ``y`` given to ``fit`` is ignored, and one given to ``evaluate`` is the reconstruction target
    (so ``check_model(model, x, x, loss="mse")`` checks the contract).

    >>> RBM(hidden=3)(torch.rand(5, 2, 4)).shape
    torch.Size([5, 2, 4])
    """

    _lamina_name = "lamina.models.RBM"
    chains_: torch.Tensor | None

    def __init__(self, hidden: int = 500, visible: str = "bernoulli", k: int = 1, persistent: bool = False, *,
                 init_scale: float = 0.01) -> None:
        super().__init__()
        _check(hidden, visible, k, "RBM")
        if not isinstance(persistent, bool):
            raise ConfigError(message("RBM persistent must be a bool.", f"persistent={persistent!r}",
                                      "True (persistent CD) or False (CD-k)", "Pass persistent=True."))
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not init_scale > 0:
            raise ConfigError(message("RBM init_scale must be a positive number.", f"init_scale={init_scale!r}",
                                      "a float > 0", "Pass init_scale=0.01."))
        self.hidden, self.visible, self.k, self.persistent, self.init_scale = hidden, visible, k, persistent, init_scale
        self.weight = UninitializedParameter()  # (hidden, visible), sized by the first batch
        self.hidden_bias = UninitializedParameter()
        self.visible_bias = UninitializedParameter()
        self.register_buffer("chains_", None, persistent=False)  # PCD fantasy particles (chains, visible)

    # ------------------------------------------------------------------ conditionals and energies
    def _flat(self, x: Any) -> torch.Tensor:
        """Any input -> float ``(N, visible)``, checking the range of Bernoulli data; sizes lazy weights."""
        x = x if isinstance(x, torch.Tensor) else data_lib.to_tensor(x, name="x")
        v = x.reshape(len(x), -1)  # (N, ...) -> (N, visible)
        v = v if v.is_floating_point() else v.to(torch.get_default_dtype())
        if self.visible == "bernoulli" and v.numel():
            low, high = (float(t) for t in torch.aminmax(v))
            if low < 0.0 or high > 1.0:
                raise DataError(message("An RBM with Bernoulli visible units needs data in [0, 1].",
                                        f"values from min {low:.4g} to max {high:.4g}", "every value in [0, 1]",
                                        "Scale the data to [0, 1] (e.g. pixels / 255), or use "
                                        "visible='gaussian' for standardised real-valued data."))
        if isinstance(self.weight, UninitializedParameter):
            with torch.no_grad():
                self.weight.materialize((self.hidden, v.shape[1]), device=v.device, dtype=v.dtype)
                self.weight.normal_(0.0, self.init_scale)
                for bias, size in ((self.hidden_bias, self.hidden), (self.visible_bias, v.shape[1])):
                    bias.materialize((size,), device=v.device, dtype=v.dtype)
                    bias.zero_()
        return v

    def hidden_probabilities(self, v: torch.Tensor) -> torch.Tensor:
        """``p(h = 1 | v) = sigmoid(v W.T + c)``: ``(N, visible)`` -> ``(N, hidden)``."""
        return torch.sigmoid(F.linear(v, self.weight, self.hidden_bias))

    def visible_means(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``, ``(N, hidden)`` -> ``(N, visible)``: ``sigmoid(h W + b)`` (Bernoulli) or ``h W + b``."""
        mean = F.linear(h, self.weight.T, self.visible_bias)
        return torch.sigmoid(mean) if self.visible == "bernoulli" else mean

    def _sample_visible(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.visible == "bernoulli":
            return _bernoulli(mean, generator)
        return mean + torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)

    def gibbs(self, v: torch.Tensor, steps: int = 1,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``steps`` Gibbs steps ``v -> h -> v`` from ``v`` ``(N, visible)``.

        Returns:
            ``(samples, means)``, both ``(N, visible)``: the last sampled visibles and their means.
        """
        if not _positive_int(steps):
            raise ConfigError(message("Gibbs sampling needs a positive number of steps.", f"steps={steps!r}",
                                      "an int >= 1", "Pass e.g. steps=1000."))
        return self._chain(self.hidden_probabilities(v), steps, generator)

    def _chain(self, hidden: torch.Tensor, steps: int,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gibbs steps from the hidden probabilities ``(N, hidden)`` of the starting visibles."""
        for step in range(steps):
            mean = self.visible_means(_bernoulli(hidden, generator))
            v = self._sample_visible(mean, generator)
            if step + 1 < steps:
                hidden = self.hidden_probabilities(v)
        return v, mean

    def _free_energy(self, v: torch.Tensor) -> torch.Tensor:
        hidden_term = F.softplus(F.linear(v, self.weight, self.hidden_bias)).sum(1)  # (N,)
        if self.visible == "bernoulli":
            return -(v @ self.visible_bias) - hidden_term
        return 0.5 * ((v - self.visible_bias) ** 2).sum(1) - hidden_term

    def contrastive_divergence(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """The CD-k (or PCD) estimate of the log-likelihood gradient on a batch ``v`` ``(N, visible)``.

        Returns:
            ``{"weight": (hidden, visible), "hidden_bias": (hidden,), "visible_bias": (visible,)}``: the
            ascent direction (positive minus negative statistics). With ``persistent``, advances ``chains_``.
        """
        v = self._flat(v)
        return self._contrastive_divergence(v, self.hidden_probabilities(v).detach())

    @torch.no_grad()
    def _contrastive_divergence(self, v: torch.Tensor, positive: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.persistent:
            if self.chains_ is None:
                self.chains_ = v.clone()
            self.chains_, v_negative = self.gibbs(self.chains_, self.k)
        else:
            v_negative = self._chain(positive, self.k)[1]  # the data's p(h|v) start the chain
        negative = self.hidden_probabilities(v_negative)  # (M, hidden)
        return {"weight": positive.T @ v / len(v) - negative.T @ v_negative / len(v_negative),
                "hidden_bias": positive.mean(0) - negative.mean(0),
                "visible_bias": v.mean(0) - v_negative.mean(0)}

    # ------------------------------------------------------------------ model hooks
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self._flat(x)
        return self.visible_means(self.hidden_probabilities(v)).reshape(x.shape)  # (N, visible) -> input shape

    def compile(self, optimizer: Any = "sgd", loss: Any = "mse",  # type: ignore[override]
                metrics: Any = None, **options: Any) -> Model:
        """As :meth:`lamina.Model.compile`, with plain SGD and the squared reconstruction error as defaults.

        The optimizer applies the CD estimate; its learning rate is the CD step size (0.01 by default for
        ``sgd``: 0.05-0.1 suits Bernoulli data, 0.001-0.01 Gaussian). The loss only scores reconstructions.
        """
        return super().compile(optimizer, loss, metrics, **options)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One CD-k/PCD update on ``batch[0]`` (any target is ignored); logs the reconstruction error."""
        v = self._flat(batch[0] if isinstance(batch, (tuple, list)) else batch)
        with torch.no_grad():
            positive = self.hidden_probabilities(v)  # (N, hidden)
            loss = self.compute_loss(self.visible_means(positive), v)
        ascent = self._contrastive_divergence(v, positive)
        self.optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
        for name, direction in ascent.items():
            getattr(self, name).grad = -direction
        self.engine.step(self)
        return {"loss": loss}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The compiled loss between the reconstruction of ``batch[0]`` and ``batch[1]`` (default ``batch[0]``)."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        target = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else x
        reconstruction = self(x)
        self.update_metrics(reconstruction, target)
        return {"loss": self.compute_loss(reconstruction, target)}

    # ------------------------------------------------------------------ inspection
    def _map(self, x: Any, fn: Any, what: str, batch_size: int = 1024) -> np.ndarray:
        self._require_built(what)
        tx = data_lib.to_tensor(x, name="x").to(self.weight.device)
        self._check_input(tx)
        with torch.no_grad():
            out = torch.cat([fn(self._flat(tx[i:i + batch_size])) for i in range(0, len(tx), batch_size)])
        return out.cpu().numpy()  # type: ignore[no-any-return]

    def transform(self, x: Any) -> np.ndarray:
        """Hidden probabilities ``p(h = 1 | x)``: ``(N, ...)`` -> float ``(N, hidden)``."""
        return self._map(x, self.hidden_probabilities, "transform")

    def free_energy(self, x: Any) -> np.ndarray:
        """``F(v) = -log sum_h exp(-E(v, h))``: ``(N, ...)`` -> ``(N,)``.

        Bernoulli: ``-b.v - sum_j softplus(c_j + W_j.v)``; Gaussian: ``|v - b|^2 / 2 - sum_j softplus(...)``.
        """
        return self._map(x, self._free_energy, "free_energy")

    def reconstruct(self, x: Any) -> np.ndarray:
        """The mean-field reconstruction ``E[v | h = p(h|x)]`` in the shape of ``x`` (same as ``predict``)."""
        return self.predict(x)

    def pseudo_log_likelihood(self, x: Any, *, seed: int | None = None) -> np.ndarray:
        """Stochastic pseudo-log-likelihood per row, as scikit-learn's ``BernoulliRBM.score_samples``.

        For each row one visible unit ``i`` is drawn at random and flipped (``v_i -> 1 - v_i``); the
        score is ``visible * log sigmoid(F(v_flipped) - F(v))``. Bernoulli visibles only.

        Args:
            x: ``(N, ...)`` data in ``[0, 1]``.
            seed: seeds the choice of units (default: torch's global generator).

        Returns:
            float ``(N,)``; higher is better, 0 is the maximum.
        """
        if self.visible != "bernoulli":
            raise ConfigError(message("The pseudo-log-likelihood is defined for binary visible units.",
                                      f"visible={self.visible!r}", "an RBM with visible='bernoulli'",
                                      "Compare Gaussian RBMs by reconstruction error or free energy."))
        generator = None if seed is None else torch.Generator(self.weight.device).manual_seed(seed)

        def score(v: torch.Tensor) -> torch.Tensor:
            rows = torch.arange(len(v), device=v.device)
            units = torch.randint(0, v.shape[1], (len(v),), generator=generator, device=v.device)
            flipped = v.clone()
            flipped[rows, units] = 1 - flipped[rows, units]
            return v.shape[1] * F.logsigmoid(self._free_energy(flipped) - self._free_energy(v))

        return self._map(x, score, "pseudo_log_likelihood")

    def sample(self, n: int = 16, steps: int = 1000, *, seed: int | None = None) -> np.ndarray:
        """Fantasies: ``steps`` Gibbs steps from random visibles; the last visible means, in the input shape.

        Args:
            n: number of independent chains (samples).
            steps: Gibbs steps per chain.
            seed: seeds the chains (default: torch's global generator).

        Returns:
            float ``(n, ...)``: one sample per chain, shaped like one input row.
        """
        self._require_built("sample")
        if not _positive_int(n):
            raise ConfigError(message("sample() needs a positive number of samples.", f"n={n!r}", "an int >= 1",
                                      "Pass e.g. sample(16, steps=1000)."))
        generator = None if seed is None else torch.Generator(self.weight.device).manual_seed(seed)
        with torch.no_grad():  # start: fair coin flips (Bernoulli), or N(b, 1) (Gaussian)
            start = self.visible_bias.expand(n, -1)
            start = self._sample_visible(torch.full_like(start, 0.5) if self.visible == "bernoulli" else start,
                                         generator)
            means = self.gibbs(start, steps, generator)[1]
        shape = (self.input_spec_ or {}).get("shape") or [None, self.weight.shape[1]]
        return means.reshape(n, *shape[1:]).cpu().numpy()  # type: ignore[no-any-return]

    def plot_filters(self, path: str | os.PathLike[str] | None = None, *, count: int = 100) -> Figure:
        """The weights of the first ``count`` hidden units as image tiles (needs matplotlib).

        Returns:
            The figure; written as PNG to ``path`` when given.
        """
        return _plot_filters(self, self.weight, path, count)

    def plot_samples(self, path: str | os.PathLike[str] | None = None, *, n: int = 64, steps: int = 1000,
                     seed: int = 0) -> Figure:
        """A grid of :meth:`sample` fantasies (needs matplotlib); written as PNG to ``path`` when given."""
        return _plot_samples(self, path, n, steps, seed, f"RBM samples after {steps} Gibbs steps")


class DBN(Model):
    """A deep belief network: a sigmoid MLP classifier whose hidden layers can be pretrained as stacked RBMs.

    Args:
        units: hidden layer sizes, first to last; pretraining trains one RBM per layer.
        outputs: size of the output layer (the number of classes for ``cross_entropy``).
        visible: the first RBM's visible units: ``"bernoulli"`` (inputs in ``[0, 1]``) or ``"gaussian"``
            (standardised inputs). Higher RBMs are Bernoulli-Bernoulli on the probabilities below.
        k: Gibbs steps per CD update while pretraining.
        persistent: pretrain with persistent CD.
        dropout: rate of dropout after each hidden layer while fine-tuning, in ``[0, 1)``.

    Input ``(N, ...)`` is flattened; output logits ``(N, outputs)``. The network is ``layers`` (one
    ``Dense(units, activation="sigmoid")`` per hidden size) then ``head`` (``Dense(outputs)``), initialised
    at random (Glorot) until :meth:`pretrain` copies each RBM's ``weight`` and ``hidden_bias`` into its
    layer. ``fit(x, y, pretrain_epochs=n)`` pretrains and then fine-tunes; the fine-tuning is the normal
    gradient ``fit`` of the whole network with the compiled optimizer and loss.

    >>> DBN(units=(8, 6), outputs=3)(torch.ones(5, 2, 4)).shape
    torch.Size([5, 3])
    """

    _lamina_name = "lamina.models.DBN"

    def __init__(self, units: Sequence[int] = (500, 500, 2000), outputs: int = 10, visible: str = "bernoulli",
                 k: int = 1, persistent: bool = False, dropout: float = 0.0, **renamed: Any) -> None:
        super().__init__()
        refuse_renamed("DBN", renamed)
        hidden = units
        _check(hidden, visible, k, "DBN")
        if not _positive_int(outputs):
            raise ConfigError(message("DBN outputs must be a positive int.", f"outputs={outputs!r}", "an int >= 1",
                                      "Pass outputs=10 for ten classes."))
        if not isinstance(persistent, bool):
            raise ConfigError(message("DBN persistent must be a bool.", f"persistent={persistent!r}",
                                      "True (persistent CD) or False (CD-k)", "Pass persistent=True."))
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ConfigError(message("DBN dropout out of range.", f"dropout={dropout!r}", "0 <= dropout < 1",
                                      "Pass e.g. dropout=0.2, or 0.0 for none."))
        self.units, self.outputs, self.visible, self.k, self.persistent = hidden, outputs, visible, k, persistent
        self.dropout = dropout
        self.layers = nn.ModuleList([Dense(units, activation="sigmoid") for units in hidden])
        self.head = Dense(outputs)
        self.rbms_: list[RBM] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(len(x), -1)  # (N, ...) -> (N, features)
        for layer in self.layers:
            h = F.dropout(layer(h), self.dropout, self.training)  # (N, hidden[i])
        return self.head(h)  # type: ignore[no-any-return]

    def pretrain(self, x: Any, epochs: int = 1, *, batch_size: int = 64, optimizer: Any = "momentum",
                 learning_rate: float = 0.05, seed: int | None = None, verbose: int = 0) -> list[History]:
        """Greedy layer-wise pretraining: one RBM per hidden layer, each on the hidden probabilities below.

        Args:
            x: in-memory inputs ``(N, ...)`` (in ``[0, 1]`` for ``visible="bernoulli"``); labels are not used.
            epochs: CD epochs per layer.
            batch_size, optimizer, learning_rate: the RBMs' ``fit`` batch size and ``compile`` settings.
            seed: seeds layer ``i``'s RBM with ``seed + i``.
            verbose: passed to each RBM's ``fit``.

        Returns:
            One ``History`` per layer (its reconstruction error per epoch). The RBMs stay in ``rbms_``
            (for :meth:`sample`; not saved with the model).
        """
        tx = data_lib.to_tensor(x, name="x")
        self._check_input(tx)
        if not self.is_built() or self.input_spec_ is None:
            self.build(tx[:2])
        data = tx.reshape(len(tx), -1)  # (N, features)
        self.rbms_, histories = [], []
        for i, layer in enumerate(cast("list[Dense]", self.layers)):
            rbm = RBM(layer.units, self.visible if i == 0 else "bernoulli", self.k, self.persistent)
            rbm.compile(optimizer, learning_rate=learning_rate)
            histories.append(rbm.fit(data, epochs=epochs, batch_size=batch_size, verbose=verbose,
                                     seed=None if seed is None else seed + i))
            with torch.no_grad():
                layer.weight.copy_(rbm.weight)  # both (hidden[i], inputs)
                layer.bias.copy_(rbm.hidden_bias)  # type: ignore[union-attr]
            data = torch.from_numpy(rbm.transform(data))  # (N, hidden[i]): the next RBM's data
            self.rbms_.append(rbm)
        return histories

    def fit(self, x: Any, y: Any = None, *, pretrain_epochs: int = 0, **options: Any) -> History:  # type: ignore[override]
        """:meth:`lamina.Model.fit` (same options), after ``pretrain(x, pretrain_epochs)`` when that is > 0.

        Pretraining uses the fit's ``batch_size`` and ``seed``, the defaults of :meth:`pretrain`, and only the
        training rows (not those ``validation_split`` holds out).
        """
        if not isinstance(pretrain_epochs, int) or isinstance(pretrain_epochs, bool) or pretrain_epochs < 0:
            raise ConfigError(message("pretrain_epochs must be an int >= 0.", repr(pretrain_epochs), "0 (no "
                                      "pretraining) or a positive int", "Pass pretrain_epochs=1."))
        if pretrain_epochs:
            tx = data_lib.to_tensor(x, name="x")
            split = options.get("validation_split", 0.0)
            rows = len(tx) - max(1, int(round(len(tx) * split))) if split else len(tx)  # not the validation rows
            self.pretrain(tx[:rows], pretrain_epochs, batch_size=options.get("batch_size", 32),
                          seed=options.get("seed"))
        return super().fit(x, y, **options)

    def sample(self, n: int = 16, steps: int = 1000, *, seed: int | None = None) -> np.ndarray:
        """Fantasies of the pretrained stack: Gibbs steps in the top RBM, then one top-down pass of means.

        Returns:
            float ``(n, ...)``, shaped like one input row. Needs :meth:`pretrain` in this session.
        """
        if not self.rbms_:
            raise NotBuiltError(message("sample() needs the RBMs of pretrain().", "a DBN without rbms_",
                                        "a DBN pretrained in this session (the RBMs are not saved)",
                                        "Call model.pretrain(x, epochs=1) first."))
        h = torch.from_numpy(self.rbms_[-1].sample(n, steps, seed=seed))  # (n, hidden[-2] or features)
        with torch.no_grad():
            for rbm in reversed(self.rbms_[:-1]):
                h = rbm.visible_means(h.to(rbm.weight.device))
        shape = (self.input_spec_ or {}).get("shape") or [None, h.shape[1]]
        return h.reshape(n, *shape[1:]).cpu().numpy()  # type: ignore[no-any-return]

    def plot_filters(self, path: str | os.PathLike[str] | None = None, *, count: int = 100) -> Figure:
        """The first layer's weights (pretrained or fine-tuned) as image tiles; PNG to ``path`` when given."""
        return _plot_filters(self, cast(Dense, self.layers[0]).weight, path, count)

    def plot_samples(self, path: str | os.PathLike[str] | None = None, *, n: int = 64, steps: int = 1000,
                     seed: int = 0) -> Figure:
        """A grid of :meth:`sample` fantasies (needs matplotlib); PNG to ``path`` when given."""
        return _plot_samples(self, path, n, steps, seed, f"DBN samples after {steps} top-level Gibbs steps")
