"""``lamina.models.RBM``: a restricted Boltzmann machine, trained by contrastive divergence.

An :class:`RBM` is trained by its own rule, contrastive divergence (CD-k) or persistent CD, not by
backpropagation: :meth:`RBM.train_step` estimates the log-likelihood gradient from Gibbs sampling
and hands it to the compiled optimizer as ``.grad``, so ``sgd``, ``momentum`` and weight decay all
apply. ``lamina.models.DBN`` stacks RBMs; the image mosaics of both are in
``lamina.models.rbm_plots``.

>>> import lamina
>>> x = (torch.rand(64, 6) < 0.3).float()
>>> rbm = RBM(hidden=4).compile(optimizer="sgd", learning_rate=0.1)
>>> history = rbm.fit(x, epochs=2, verbose=0, seed=0)
>>> sorted(history.history), rbm.transform(x).shape, rbm.reconstruct(x).shape
(['loss'], (64, 4), (64, 6))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parameter import UninitializedParameter

from lamina.core.errors import ConfigError, DataError, message
from lamina.models.base import Model
from lamina.models.rbm_plots import draw_filters, draw_samples
from lamina.nn import tensors as data_lib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RBM", "VISIBLE", "check_settings"]

VISIBLE = ("bernoulli", "gaussian")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_settings(hidden: Any, visible: Any, k: Any, where: str) -> None:
    """Raise ``ConfigError`` for a bad RBM or DBN setting, naming the value received.

    Args:
        hidden: an RBM's ``hidden`` (an int >= 1) or a DBN's ``units`` (a sequence of them).
        visible: ``"bernoulli"`` or ``"gaussian"``.
        k: Gibbs steps per CD update, an int >= 1.
        where: ``"RBM"`` or ``"DBN"``: which model's rules apply, and the name in the message.

    Returns:
        None.

    >>> check_settings(500, "bernoulli", 1, "RBM")
    """
    if visible not in VISIBLE:
        raise ConfigError(
            message(
                f"Unknown {where} visible layer.",
                f"visible={visible!r}",
                "'bernoulli' (data in [0, 1]) or 'gaussian' (standardised real data)",
                "Pass visible='bernoulli' for pixels scaled to [0, 1].",
            )
        )
    if not _positive_int(k):
        raise ConfigError(
            message(
                f"{where} k (Gibbs steps per update) must be a positive int.",
                f"k={k!r}",
                "an int >= 1",
                "Pass k=1 for CD-1.",
            )
        )
    if where == "RBM" and not _positive_int(hidden):
        raise ConfigError(
            message(
                "RBM hidden must be a positive int.",
                f"hidden={hidden!r}",
                "an int >= 1",
                "Pass hidden=500; a stack of layer sizes is a DBN(units=(500, 500)).",
            )
        )
    if where == "DBN" and (
        isinstance(hidden, (str, bytes))
        or not isinstance(hidden, Sequence)
        or not hidden
        or not all(_positive_int(h) for h in hidden)
    ):
        raise ConfigError(
            message(
                "DBN units must be a non-empty sequence of positive ints.",
                f"units={hidden!r}",
                "layer sizes such as (500, 500, 2000)",
                f"Pass e.g. hidden=({hidden!r},).",
            )
        )


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary states with ``P(1) = p``, drawn as ``rand < p`` (so a test can replay the draws)."""
    return (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(
        p.dtype
    )


class RBM(Model):
    """A restricted Boltzmann machine with binary hidden units, trained by CD-k or persistent CD.

    Args:
        hidden: number of binary hidden units.
        visible: ``"bernoulli"`` (binary visibles; data must lie in ``[0, 1]``, read as
            probabilities) or ``"gaussian"`` (unit-variance Gaussian visibles; standardise the data
            first).
        k: Gibbs steps per update (CD-k).
        persistent: persistent CD: the negative phase continues fantasy chains (the buffer
            ``chains_``, one chain per row of the first batch, started at that batch) instead of
            restarting at the data.
        init_scale: standard deviation of the initial weights (biases start at zero).

    Energy ``E(v, h) = -b.v - c.h - h.W v`` (Bernoulli) or ``|v - b|^2 / 2 - c.h - h.W v``
    (Gaussian), with ``W`` ``(hidden, visible)``. Each training batch gets the CD estimate::

        dW = p(h|v_data).T @ v_data / N - p(h|v_k).T @ v_k / M
        db = mean(v_data) - mean(v_k)        dc = mean(p(h|v_data)) - mean(p(h|v_k))

    where ``v_k`` (``M`` rows) are the visible means after ``k`` Gibbs steps (hidden states sampled,
    intermediate visibles sampled) from the data (CD) or from the chains (PCD, whose chains keep the
    sampled visibles). Each parameter's ``.grad`` is set to ``-d`` and the compiled optimizer steps,
    so plain SGD does ``theta += lr * d``. Randomness comes from torch's global generator, seeded by
    ``fit(seed=...)``. The logged ``loss`` is the reconstruction error: the compiled loss
    (``"mse"``) between the batch and its mean-field reconstruction, before the update.

    Input ``(N, ...)`` is flattened to ``(N, visible)``. ``forward``/``predict``/:meth:`reconstruct`
    give the mean-field reconstruction ``E[v | h = p(h|v)]`` in the input's shape. ``fit(x)`` needs
    no ``y``; a ``y`` given to ``fit`` is ignored, and one given to ``evaluate`` is the
    reconstruction target (so ``check_model(model, x, x, loss="mse")`` checks the contract).

    >>> RBM(hidden=3)(torch.rand(5, 2, 4)).shape
    torch.Size([5, 2, 4])
    """

    _lamina_name = "lamina.models.RBM"
    chains_: torch.Tensor | None

    def __init__(
        self,
        hidden: int = 500,
        visible: str = "bernoulli",
        k: int = 1,
        persistent: bool = False,
        *,
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        check_settings(hidden, visible, k, "RBM")
        if not isinstance(persistent, bool):
            raise ConfigError(
                message(
                    "RBM persistent must be a bool.",
                    f"persistent={persistent!r}",
                    "True (persistent CD) or False (CD-k)",
                    "Pass persistent=True.",
                )
            )
        if (
            isinstance(init_scale, bool)
            or not isinstance(init_scale, (int, float))
            or not init_scale > 0
        ):
            raise ConfigError(
                message(
                    "RBM init_scale must be a positive number.",
                    f"init_scale={init_scale!r}",
                    "a float > 0",
                    "Pass init_scale=0.01.",
                )
            )
        self.hidden, self.visible, self.k, self.persistent, self.init_scale = (
            hidden,
            visible,
            k,
            persistent,
            init_scale,
        )
        self.weight = UninitializedParameter()  # (hidden, visible), sized by the first batch
        self.hidden_bias = UninitializedParameter()
        self.visible_bias = UninitializedParameter()
        self.register_buffer(
            "chains_", None, persistent=False
        )  # PCD fantasy particles (chains, visible)

    # ------------------------------------------------------------------ conditionals and energies
    def _flat(self, x: Any) -> torch.Tensor:
        """Any input -> float ``(N, visible)``; checks Bernoulli data, sizes the lazy weights."""
        x = x if isinstance(x, torch.Tensor) else data_lib.to_tensor(x, name="x")
        v = x.reshape(len(x), -1)  # (N, ...) -> (N, visible)
        v = v if v.is_floating_point() else v.to(torch.get_default_dtype())
        if self.visible == "bernoulli" and v.numel():
            low, high = (float(t) for t in torch.aminmax(v))
            if low < 0.0 or high > 1.0:
                raise DataError(
                    message(
                        "An RBM with Bernoulli visible units needs data in [0, 1].",
                        f"values from min {low:.4g} to max {high:.4g}",
                        "every value in [0, 1]",
                        "Scale the data to [0, 1] (e.g. pixels / 255), or use "
                        "visible='gaussian' for standardised real-valued data.",
                    )
                )
        if isinstance(self.weight, UninitializedParameter):
            with torch.no_grad():
                self.weight.materialize((self.hidden, v.shape[1]), device=v.device, dtype=v.dtype)
                self.weight.normal_(0.0, self.init_scale)
                for bias, size in (
                    (self.hidden_bias, self.hidden),
                    (self.visible_bias, v.shape[1]),
                ):
                    bias.materialize((size,), device=v.device, dtype=v.dtype)
                    bias.zero_()
        return v

    def hidden_probabilities(self, v: torch.Tensor) -> torch.Tensor:
        """``p(h = 1 | v) = sigmoid(v W.T + c)``: ``(N, visible)`` -> ``(N, hidden)``."""
        return torch.sigmoid(F.linear(v, self.weight, self.hidden_bias))

    def visible_means(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``, ``(N, hidden)`` -> ``(N, visible)``.

        ``sigmoid(h W + b)`` for Bernoulli visibles, ``h W + b`` for Gaussian ones.
        """
        mean = F.linear(h, self.weight.T, self.visible_bias)
        return torch.sigmoid(mean) if self.visible == "bernoulli" else mean

    def _sample_visible(
        self, mean: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.visible == "bernoulli":
            return _bernoulli(mean, generator)
        return mean + torch.randn(
            mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
        )

    def gibbs(
        self, v: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``steps`` Gibbs steps ``v -> h -> v`` from ``v`` ``(N, visible)``.

        Returns:
            ``(samples, means)``, both ``(N, visible)``: the last sampled visibles and their means.
        """
        if not _positive_int(steps):
            raise ConfigError(
                message(
                    "Gibbs sampling needs a positive number of steps.",
                    f"steps={steps!r}",
                    "an int >= 1",
                    "Pass e.g. steps=1000.",
                )
            )
        return self._chain(self.hidden_probabilities(v), steps, generator)

    def _chain(
        self, hidden: torch.Tensor, steps: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
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
        """The CD-k (or PCD) estimate of the log-likelihood gradient on a batch ``v (N, visible)``.

        Returns:
            ``{"weight": (hidden, visible), "hidden_bias": (hidden,), "visible_bias": (visible,)}``:
            the ascent direction (positive minus negative statistics). With ``persistent``, advances
            ``chains_``.
        """
        v = self._flat(v)
        return self._contrastive_divergence(v, self.hidden_probabilities(v).detach())

    @torch.no_grad()
    def _contrastive_divergence(
        self, v: torch.Tensor, positive: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if self.persistent:
            if self.chains_ is None:
                self.chains_ = v.clone()
            self.chains_, v_negative = self.gibbs(self.chains_, self.k)
        else:
            v_negative = self._chain(positive, self.k)[1]  # the data's p(h|v) start the chain
        negative = self.hidden_probabilities(v_negative)  # (M, hidden)
        return {
            "weight": positive.T @ v / len(v) - negative.T @ v_negative / len(v_negative),
            "hidden_bias": positive.mean(0) - negative.mean(0),
            "visible_bias": v.mean(0) - v_negative.mean(0),
        }

    # ------------------------------------------------------------------ model hooks
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self._flat(x)
        return self.visible_means(self.hidden_probabilities(v)).reshape(
            x.shape
        )  # (N, visible) -> input shape

    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "sgd",
        loss: Any = "mse",
        metrics: Any = None,
        **options: Any,
    ) -> Model:
        """As :meth:`lamina.Model.compile`; plain SGD and the squared reconstruction error default.

        The optimizer applies the CD estimate; its learning rate is the CD step size (0.01 by
        default for ``sgd``: 0.05-0.1 suits Bernoulli data, 0.001-0.01 Gaussian). The loss only
        scores reconstructions.
        """
        return super().compile(optimizer, loss, metrics, **options)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One CD-k/PCD update on ``batch[0]`` (a target is ignored); logs the reconstruction."""
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
        """The compiled loss between the reconstruction of ``batch[0]`` and ``batch[1]``.

        Without ``batch[1]`` the target is ``batch[0]`` itself.
        """
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
            out = torch.cat(
                [fn(self._flat(tx[i : i + batch_size])) for i in range(0, len(tx), batch_size)]
            )
        return out.cpu().numpy()  # type: ignore[no-any-return]

    def transform(self, x: Any) -> np.ndarray:
        """Hidden probabilities ``p(h = 1 | x)``: ``(N, ...)`` -> float ``(N, hidden)``."""
        return self._map(x, self.hidden_probabilities, "transform")

    def free_energy(self, x: Any) -> np.ndarray:
        """``F(v) = -log sum_h exp(-E(v, h))``: ``(N, ...)`` -> ``(N,)``.

        Bernoulli: ``-b.v - sum_j softplus(c_j + W_j.v)``; Gaussian:
        ``|v - b|^2 / 2 - sum_j softplus(c_j + W_j.v)``.
        """
        return self._map(x, self._free_energy, "free_energy")

    def reconstruct(self, x: Any) -> np.ndarray:
        """The mean-field reconstruction ``E[v | h = p(h|x)]``, shaped like ``x`` (``predict``)."""
        return self.predict(x)

    def pseudo_log_likelihood(self, x: Any, *, seed: int | None = None) -> np.ndarray:
        """Stochastic pseudo-log-likelihood per row, as scikit-learn's ``BernoulliRBM``'s score.

        For each row one visible unit ``i`` is drawn at random and flipped (``v_i -> 1 - v_i``); the
        score is ``visible * log sigmoid(F(v_flipped) - F(v))``. Bernoulli visibles only.

        Args:
            x: ``(N, ...)`` data in ``[0, 1]``.
            seed: seeds the choice of units (default: torch's global generator).

        Returns:
            float ``(N,)``; higher is better, 0 is the maximum.
        """
        if self.visible != "bernoulli":
            raise ConfigError(
                message(
                    "The pseudo-log-likelihood is defined for binary visible units.",
                    f"visible={self.visible!r}",
                    "an RBM with visible='bernoulli'",
                    "Compare Gaussian RBMs by reconstruction error or free energy.",
                )
            )
        generator = None if seed is None else torch.Generator(self.weight.device).manual_seed(seed)

        def score(v: torch.Tensor) -> torch.Tensor:
            rows = torch.arange(len(v), device=v.device)
            units = torch.randint(0, v.shape[1], (len(v),), generator=generator, device=v.device)
            flipped = v.clone()
            flipped[rows, units] = 1 - flipped[rows, units]
            return v.shape[1] * F.logsigmoid(self._free_energy(flipped) - self._free_energy(v))

        return self._map(x, score, "pseudo_log_likelihood")

    def sample(self, n: int = 16, steps: int = 1000, *, seed: int | None = None) -> np.ndarray:
        """Fantasies: ``steps`` Gibbs steps from random visibles; the last visible means.

        Args:
            n: number of independent chains (samples).
            steps: Gibbs steps per chain.
            seed: seeds the chains (default: torch's global generator).

        Returns:
            float ``(n, ...)``: one sample per chain, shaped like one input row.
        """
        self._require_built("sample")
        if not _positive_int(n):
            raise ConfigError(
                message(
                    "sample() needs a positive number of samples.",
                    f"n={n!r}",
                    "an int >= 1",
                    "Pass e.g. sample(16, steps=1000).",
                )
            )
        generator = None if seed is None else torch.Generator(self.weight.device).manual_seed(seed)
        with torch.no_grad():  # start: fair coin flips (Bernoulli), or N(b, 1) (Gaussian)
            start = self.visible_bias.expand(n, -1)
            start = self._sample_visible(
                torch.full_like(start, 0.5) if self.visible == "bernoulli" else start, generator
            )
            means = self.gibbs(start, steps, generator)[1]
        shape = (self.input_spec_ or {}).get("shape") or [None, self.weight.shape[1]]
        return means.reshape(n, *shape[1:]).cpu().numpy()  # type: ignore[no-any-return]

    def plot_filters(
        self, path: str | os.PathLike[str] | None = None, *, count: int = 100
    ) -> Figure:
        """The weights of the first ``count`` hidden units as image tiles (needs matplotlib).

        Returns:
            The figure; written as PNG to ``path`` when given.
        """
        return draw_filters(self, self.weight, path, count)

    def plot_samples(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        n: int = 64,
        steps: int = 1000,
        seed: int = 0,
    ) -> Figure:
        """A grid of :meth:`sample` fantasies (needs matplotlib); a PNG at ``path`` when given."""
        return draw_samples(self, path, n, steps, seed, f"RBM samples after {steps} Gibbs steps")
