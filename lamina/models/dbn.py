"""``lamina.models.DBN``: a deep belief network, the greedy stack of restricted Boltzmann machines.

A :class:`DBN` is a sigmoid MLP whose hidden layers can be pretrained greedily, one RBM per layer,
each trained on the hidden probabilities of the one below (Hinton, Osindero and Teh, 2006), and is
then fine-tuned as a classifier with the normal ``fit``. Without pretraining it is the same network
from random initialisation. The :class:`RBM` itself lives in ``lamina.models.rbm`` and is
re-exported here.

>>> x = (torch.rand(64, 6) < 0.3).float()
>>> y = torch.randint(0, 2, (64,))
>>> model = DBN(units=(4,), outputs=2).compile(optimizer="adam", loss="cross_entropy")
>>> history = model.fit(x, y, pretrain_epochs=1, epochs=1, verbose=0, seed=0)
>>> len(model.rbms_), model.predict(x).shape
(1, (64, 2))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, NotBuiltError, message
from lamina.models._names import check_dropout, refuse_renamed
from lamina.models.base import Model
from lamina.models.rbm import RBM, check_settings
from lamina.models.rbm_plots import draw_filters, draw_samples
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Dense
from lamina.train.callbacks import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DBN", "RBM"]


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class DBN(Model):
    """A deep belief network: a sigmoid MLP classifier whose hidden layers pretrain as stacked RBMs.

    Args:
        units: hidden layer sizes, first to last; pretraining trains one RBM per layer.
        outputs: size of the output layer (the number of classes for ``cross_entropy``).
        visible: the first RBM's visible units: ``"bernoulli"`` (inputs in ``[0, 1]``) or
            ``"gaussian"`` (standardised inputs). Higher RBMs are Bernoulli-Bernoulli on the
            probabilities below.
        k: Gibbs steps per CD update while pretraining.
        persistent: pretrain with persistent CD.
        dropout: rate of dropout after each hidden layer while fine-tuning, in ``[0, 1)``.

    Input ``(N, ...)`` is flattened; output logits ``(N, outputs)``. The network is ``layers`` (one
    ``Dense(units, activation="sigmoid")`` per hidden size) then ``head`` (``Dense(outputs)``),
    initialised at random (Glorot) until :meth:`pretrain` copies each RBM's ``weight`` and
    ``hidden_bias`` into its layer. ``fit(x, y, pretrain_epochs=n)`` pretrains and then fine-tunes;
    the fine-tuning is the normal gradient ``fit`` of the whole network with the compiled optimizer
    and loss.

    >>> DBN(units=(8, 6), outputs=3)(torch.ones(5, 2, 4)).shape
    torch.Size([5, 3])
    """

    _lamina_name = "lamina.models.DBN"

    def __init__(
        self,
        units: Sequence[int] = (500, 500, 2000),
        outputs: int = 10,
        visible: str = "bernoulli",
        k: int = 1,
        persistent: bool = False,
        dropout: float = 0.0,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("DBN", renamed)
        hidden = units
        check_settings(hidden, visible, k, "DBN")
        if not _positive_int(outputs):
            raise ConfigError(
                message(
                    "DBN outputs must be a positive int.",
                    f"outputs={outputs!r}",
                    "an int >= 1",
                    "Pass outputs=10 for ten classes.",
                )
            )
        if not isinstance(persistent, bool):
            raise ConfigError(
                message(
                    "DBN persistent must be a bool.",
                    f"persistent={persistent!r}",
                    "True (persistent CD) or False (CD-k)",
                    "Pass persistent=True.",
                )
            )
        check_dropout("DBN", dropout)
        self.units, self.outputs, self.visible, self.k, self.persistent = (
            hidden,
            outputs,
            visible,
            k,
            persistent,
        )
        self.dropout = dropout
        self.layers = nn.ModuleList([Dense(units, activation="sigmoid") for units in hidden])
        self.head = Dense(outputs)
        self.rbms_: list[RBM] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(len(x), -1)  # (N, ...) -> (N, features)
        for layer in self.layers:
            h = F.dropout(layer(h), self.dropout, self.training)  # (N, hidden[i])
        return self.head(h)  # type: ignore[no-any-return]

    def pretrain(
        self,
        x: Any,
        epochs: int = 1,
        *,
        batch_size: int = 64,
        optimizer: Any = "momentum",
        learning_rate: float = 0.05,
        seed: int | None = None,
        verbose: int = 0,
    ) -> list[History]:
        """Greedy layer-wise pretraining: one RBM per hidden layer, on the probabilities below.

        Args:
            x: in-memory inputs ``(N, ...)`` (in ``[0, 1]`` for ``visible="bernoulli"``); labels are
            not used.
            epochs: CD epochs per layer.
            batch_size, optimizer, learning_rate: the RBMs' ``fit`` batch size and ``compile``
            settings.
            seed: seeds layer ``i``'s RBM with ``seed + i``.
            verbose: passed to each RBM's ``fit``.

        Returns:
            One ``History`` per layer (its reconstruction error per epoch). The RBMs stay in
            ``rbms_`` (for :meth:`sample`; not saved with the model).
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
            histories.append(
                rbm.fit(
                    data,
                    epochs=epochs,
                    batch_size=batch_size,
                    verbose=verbose,
                    seed=None if seed is None else seed + i,
                )
            )
            with torch.no_grad():
                layer.weight.copy_(rbm.weight)  # both (hidden[i], inputs)
                layer.bias.copy_(rbm.hidden_bias)  # type: ignore[union-attr]
            data = torch.from_numpy(rbm.transform(data))  # (N, hidden[i]): the next RBM's data
            self.rbms_.append(rbm)
        return histories

    def fit(  # type: ignore[override]
        self, x: Any, y: Any = None, *, pretrain_epochs: int = 0, **options: Any
    ) -> History:
        """:meth:`lamina.Model.fit` (same options), after ``pretrain(x, pretrain_epochs)`` if > 0.

        Pretraining uses the fit's ``batch_size`` and ``seed``, the defaults of :meth:`pretrain`,
        and only the training rows (not those ``validation_split`` holds out).
        """
        if (
            not isinstance(pretrain_epochs, int)
            or isinstance(pretrain_epochs, bool)
            or pretrain_epochs < 0
        ):
            raise ConfigError(
                message(
                    "pretrain_epochs must be an int >= 0.",
                    repr(pretrain_epochs),
                    "0 (no pretraining) or a positive int",
                    "Pass pretrain_epochs=1.",
                )
            )
        if pretrain_epochs:
            tx = data_lib.to_tensor(x, name="x")
            split = options.get("validation_split", 0.0)
            rows = (
                len(tx) - max(1, int(round(len(tx) * split))) if split else len(tx)
            )  # not the validation rows
            self.pretrain(
                tx[:rows],
                pretrain_epochs,
                batch_size=options.get("batch_size", 32),
                seed=options.get("seed"),
            )
        return super().fit(x, y, **options)

    def sample(self, n: int = 16, steps: int = 1000, *, seed: int | None = None) -> np.ndarray:
        """Fantasies of the pretrained stack: Gibbs steps in the top RBM, then a top-down pass.

        Returns:
            float ``(n, ...)``, shaped like one input row. Needs :meth:`pretrain` in this session.
        """
        if not self.rbms_:
            raise NotBuiltError(
                message(
                    "sample() needs the RBMs of pretrain().",
                    "a DBN without rbms_",
                    "a DBN pretrained in this session (the RBMs are not saved)",
                    "Call model.pretrain(x, epochs=1) first.",
                )
            )
        h = torch.from_numpy(
            self.rbms_[-1].sample(n, steps, seed=seed)
        )  # (n, hidden[-2] or features)
        with torch.no_grad():
            for rbm in reversed(self.rbms_[:-1]):
                h = rbm.visible_means(h.to(rbm.weight.device))
        shape = (self.input_spec_ or {}).get("shape") or [None, h.shape[1]]
        return h.reshape(n, *shape[1:]).cpu().numpy()  # type: ignore[no-any-return]

    def plot_filters(
        self, path: str | os.PathLike[str] | None = None, *, count: int = 100
    ) -> Figure:
        """The first layer's weights (pretrained or fine-tuned) as tiles; a PNG at ``path``."""
        return draw_filters(self, cast(Dense, self.layers[0]).weight, path, count)

    def plot_samples(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        n: int = 64,
        steps: int = 1000,
        seed: int = 0,
    ) -> Figure:
        """A grid of :meth:`sample` fantasies (needs matplotlib); PNG to ``path`` when given."""
        return draw_samples(
            self, path, n, steps, seed, f"DBN samples after {steps} top-level Gibbs steps"
        )
