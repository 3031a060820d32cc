"""``lamina.models.MLP``: a multilayer perceptron of any depth and width.

Each hidden block is ``Dense -> [BatchNorm | LayerNorm] -> activation -> [Dropout]``; a final
``Dense(outputs)`` gives the logits (or regression values). Input of any shape is flattened.

>>> import lamina
>>> x, y = lamina.testing.tiny_classification(rows=64, features=4, classes=3)
>>> model = lamina.models.MLP(units=(16,), outputs=3, dropout=0.1, norm="layer")
>>> model = model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
>>> history = model.fit(x, y, epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(64, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from lamina.errors import ConfigError, message
from lamina.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm
from lamina.models.base import Model

__all__ = ["MLP"]

NORMS = ("batch", "layer")


def _check_units(units: Any) -> None:
    if isinstance(units, (str, bytes)) or not isinstance(units, Sequence):
        raise ConfigError(message("MLP units must be a sequence of hidden layer sizes.", repr(units),
                                  "a tuple of positive ints such as (256, 128), or () for no hidden layer",
                                  f"Pass units=({units!r},) for a single hidden layer."))
    bad = [u for u in units if not isinstance(u, int) or isinstance(u, bool) or u < 1]
    if bad:
        raise ConfigError(message("MLP units must be positive ints.", f"units={units!r}",
                                  "a tuple of positive ints such as (256, 128)", f"Remove or fix {bad!r}."))


class MLP(Model):
    """A stack of fully connected blocks and a linear output layer.

    Args:
        units: hidden layer sizes, first to last; ``()`` gives a plain linear model.
        outputs: size of the output layer: the number of classes for ``cross_entropy``, 1 for a
            binary logit or a single regression target.
        activation: the hidden activation, a name (``"relu"``, ``"gelu"``, ``"tanh"``, ...) or a callable.
        dropout: dropout rate after each hidden activation, in ``[0, 1)``; 0 adds no dropout layer.
        norm: ``None``, ``"batch"`` (BatchNorm) or ``"layer"`` (LayerNorm), between each hidden
            ``Dense`` and its activation.

    Input ``(N, ...)`` is flattened to ``(N, features)``; output ``(N, outputs)``.

    >>> MLP(units=(8, 4), outputs=2)(torch.ones(5, 2, 3)).shape
    torch.Size([5, 2])
    """

    _lamina_name = "lamina.models.MLP"

    def __init__(self, units: Sequence[int] = (256, 128), outputs: int = 1,
                 activation: str | Callable[..., Any] = "relu", dropout: float = 0.0,
                 norm: str | None = None) -> None:
        super().__init__()
        _check_units(units)
        if not isinstance(outputs, int) or isinstance(outputs, bool) or outputs < 1:
            raise ConfigError(message("MLP outputs must be a positive int.", f"outputs={outputs!r}",
                                      "an int >= 1", "Pass outputs=10 for ten classes."))
        if norm is not None and norm not in NORMS:
            raise ConfigError(message("Unknown MLP norm.", repr(norm), "None, 'batch' or 'layer'",
                                      "Pass norm='batch' or norm='layer', or leave it None."))
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
            raise ConfigError(message("MLP dropout out of range.", f"dropout={dropout!r}", "0 <= dropout < 1",
                                      "Pass e.g. dropout=0.1, or 0.0 for none."))
        self.units, self.outputs, self.activation = units, outputs, activation
        self.dropout, self.norm = dropout, norm
        layers: list[nn.Module] = []
        for width in units:
            layers.append(Dense(width))
            if norm is not None:
                layers.append(BatchNorm() if norm == "batch" else LayerNorm())
            layers.append(Activation(activation))
            if dropout:
                layers.append(Dropout(dropout))
        self.hidden = nn.Sequential(*layers)
        self.head = Dense(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x.reshape(len(x), -1)))  # (N, ...) -> (N, features) -> (N, outputs)
