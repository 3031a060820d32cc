"""``lamina.Sequential``: a stack of layers, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lamina.core.errors import ConfigError, message
from lamina.models.base import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """Layers applied in order. Any ``torch.nn.Module`` with one input and one output works.

    Args:
        layers: the layers, first to last.

    >>> import lamina
    >>> model = lamina.Sequential(
    ...     [lamina.layers.Dense(8, activation="relu"), lamina.layers.Dense(2)]
    ... )
    >>> model(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    _lamina_name = "lamina.Sequential"

    stacks_layers = True  # forward runs ``layers`` in order, so the last layer gives the outputs

    def __init__(self, layers: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for layer in layers:
            self.add(layer)

    def add(self, layer: nn.Module) -> Sequential:
        """Append a layer; returns the model."""
        if not isinstance(layer, nn.Module):
            raise ConfigError(
                message(
                    "Sequential takes torch modules.",
                    f"{layer!r} ({type(layer).__name__})",
                    "an nn.Module such as lamina.layers.Dense(10)",
                    "Wrap functions in lamina.layers.Activation(fn).",
                )
            )
        self.layers.append(layer)
        return self

    def get_params(self) -> dict[str, Any]:
        return {"layers": list(self.layers)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
