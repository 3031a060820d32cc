"""The layers of ``lamina.models.Autoencoder``: its options, checked, and its encoder and decoder.

:func:`check_options` validates the constructor arguments; :func:`make_layers` builds the encoder
and the mirrored decoder of each kind for a first batch; :class:`RecurrentEncoder` and
:class:`RecurrentDecoder` are the two halves of the ``"recurrent"`` kind.

>>> encoder, decoder = make_layers(torch.ones(2, 6), "deep", code_size=3, units=(4,))
>>> encoder(torch.ones(2, 6)).shape, decoder(torch.ones(2, 3)).shape
(torch.Size([2, 3]), torch.Size([2, 6]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

from lamina.core.errors import ConfigError, ShapeError, message
from lamina.nn.layers import Activation, Layer

__all__ = [
    "CELLS",
    "DEFAULT_UNITS",
    "DEFAULT_WEIGHT",
    "KINDS",
    "NOISES",
    "RecurrentDecoder",
    "RecurrentEncoder",
    "SPARSITIES",
    "check_options",
    "make_layers",
    "positive_int",
]

KINDS = ("linear", "deep", "stacked", "convolutional", "recurrent", "denoising", "sparse")
NOISES = ("gaussian", "masking", "salt_pepper")
SPARSITIES = ("kl", "l1")
CELLS: dict[str, Callable[..., nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}
DEFAULT_UNITS = {
    "linear": (),
    "deep": (256,),
    "stacked": (256, 128),
    "convolutional": (),
    "recurrent": (64,),
    "denoising": (256,),
    "sparse": (256,),
}
# sparsity_weight=None, per penalty
DEFAULT_WEIGHT: dict[str | None, float] = {"kl": 0.01, "l1": 1e-4}


def positive_int(value: Any) -> bool:
    """True for an int >= 1 (a bool is not an int here)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ints(value: Any) -> bool:
    return (
        not isinstance(value, (str, bytes))
        and isinstance(value, Sequence)
        and all(map(positive_int, value))
    )


def check_options(
    kind: Any,
    code_size: Any,
    units: Any,
    noise: Any,
    noise_level: Any,
    sparsity: Any,
    weight: Any,
    target: Any,
    output_activation: Any,
    filters: Any,
    cell: Any,
    pretrain_epochs: Any,
) -> None:
    """Raise a ``ConfigError`` naming the first bad ``Autoencoder`` argument (all are checked)."""
    gaussian = noise == "gaussian" or (noise is None and kind == "denoising")
    checks = [
        (
            kind in KINDS,
            "Unknown kind.",
            repr(kind),
            f"one of {KINDS}",
            "Pass kind='deep' (an MLP autoencoder).",
        ),
        (
            positive_int(code_size),
            "code_size must be a positive int.",
            repr(code_size),
            "an int >= 1",
            "Pass e.g. code_size=32.",
        ),
        (
            units is None
            or (
                _ints(units)
                and (kind != "linear" or not units)
                and (kind != "recurrent" or len(units) == 1)
            ),
            "Bad units for this kind.",
            f"kind={kind!r}, units={units!r}",
            "positive ints; none for 'linear', one (the hidden size) for 'recurrent'",
            "Pass e.g. units=(256,), or None for the kind's default.",
        ),
        (
            noise in (None, *NOISES),
            "Unknown noise.",
            repr(noise),
            f"None or one of {NOISES}",
            "Pass noise='gaussian'.",
        ),
        (
            _number(noise_level) and noise_level > 0 and (gaussian or noise_level < 1),
            "noise_level out of range.",
            f"noise={noise!r}, noise_level={noise_level!r}",
            "> 0 for 'gaussian' (the deviation); in (0, 1) for "
            "'masking' and 'salt_pepper' (the fraction hit)",
            "Pass e.g. noise_level=0.3.",
        ),
        (
            sparsity in (None, *SPARSITIES)
            and (kind != "linear" or (sparsity is None and output_activation is None)),
            "Unknown sparsity, or activations on a linear autoencoder.",
            f"kind={kind!r}, sparsity={sparsity!r}, output_activation={output_activation!r}",
            "sparsity None, 'kl' or 'l1'; neither with 'linear'",
            "Pass sparsity='kl', or use kind='deep' for activations.",
        ),
        (
            (weight is None or (_number(weight) and weight >= 0))
            and _number(target)
            and 0 < target < 1,
            "Bad sparsity settings.",
            f"sparsity_weight={weight!r}, sparsity_target={target!r}",
            "a weight >= 0 (or None) and a target in (0, 1)",
            "Pass e.g. sparsity_weight=0.01, sparsity_target=0.05.",
        ),
        (
            _ints(filters) and len(filters) > 0,
            "Bad filters.",
            repr(filters),
            "positive ints, e.g. (16, 32)",
            "Pass filters=(16, 32).",
        ),
        (
            cell in tuple(CELLS),
            "Unknown recurrent cell.",
            repr(cell),
            f"one of {tuple(CELLS)}",
            "Pass cell='gru'.",
        ),
        (
            (positive_int(pretrain_epochs) or pretrain_epochs == 0)
            and (kind == "stacked" or pretrain_epochs == 1),
            "pretrain_epochs is for kind='stacked' (epochs per layer).",
            f"kind={kind!r}, pretrain_epochs={pretrain_epochs!r}",
            "an int >= 0 with 'stacked'",
            "Pass kind='stacked', or drop pretrain_epochs.",
        ),
    ]
    for ok, what, received, expected, fix in checks:
        if not ok:
            raise ConfigError(message(f"Autoencoder: {what}", received, expected, fix))


class RecurrentEncoder(Layer):
    """Read ``(N, T, features)`` with a recurrent layer; a linear map of its last state is the code.

    Args: ``features`` per input step, ``units`` (hidden size), ``code_size``, ``cell`` (gru, lstm,
    rnn).

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
    """Write ``steps`` steps from a code: a recurrent layer reads it each step, a linear map emits.

    Args: ``code_size``, ``units`` (hidden size), ``features`` per output step, ``steps``, ``cell``.

    >>> RecurrentDecoder(4, 8, 3, steps=5)(torch.ones(2, 4)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(
        self, code_size: int, units: int, features: int, steps: int, cell: str = "gru"
    ) -> None:
        super().__init__()
        self.steps = steps
        self.recurrent = CELLS[cell](code_size, units, batch_first=True)
        self.output = nn.Linear(units, features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.recurrent(z.unsqueeze(1).expand(-1, self.steps, -1))  # (N, steps, units)
        return self.output(sequence)  # (N, steps, features)


def _block(inputs: int, outputs: int, activation: Any) -> nn.Sequential:
    """``Linear`` and its activation: one layer, the unit of greedy pretraining."""
    return nn.Sequential(
        nn.Linear(inputs, outputs), *([] if activation is None else [Activation(activation)])
    )


def make_layers(
    x: torch.Tensor,
    kind: str,
    *,
    code_size: int,
    units: tuple[int, ...],
    activation: str = "relu",
    code_activation: str | None = None,
    output_activation: str | None = None,
    filters: Sequence[int] = (16, 32),
    cell: str = "gru",
) -> tuple[nn.Sequential, nn.Sequential]:
    """The encoder and decoder of an autoencoder of ``kind`` for inputs shaped like ``x``.

    Args:
        x: a first batch ``(N, ...)``; its shape and device set the layers'.
        kind: one of :data:`KINDS`.
        code_size: size of the code.
        units: the dense hidden sizes, input side first (the hidden size for ``"recurrent"``).
        activation: activation of the hidden layers (``"linear"`` uses none).
        code_activation: activation of the code (``"sigmoid"`` for a KL penalty), or None.
        output_activation: activation of the reconstruction, or None.
        filters: channels of the stride-2 3x3 conv blocks (``"convolutional"``).
        cell: the recurrent layer (``"recurrent"``).

    Returns:
        ``(encoder, decoder)``: inputs to ``(N, code_size)`` (flat centred rows for ``"linear"``),
        and codes to ``(N, *input shape)`` (flat rows for the dense kinds).
    """
    shape, hidden = tuple(x.shape[1:]), None if kind == "linear" else activation
    encoder: list[nn.Module] = []
    decoder: list[nn.Module] = []
    tail: list[nn.Module] = []  # decoder layers after the dense blocks (transposed convolutions)
    expected = {
        "convolutional": "(N, C, H, W) or (N, H, W) images",
        "recurrent": "(N, T, F) or (N, T)",
    }
    if kind in expected and x.dim() not in {"convolutional": (3, 4), "recurrent": (2, 3)}[kind]:
        raise ShapeError(
            message(
                f"A {kind} autoencoder got an input of the wrong rank.",
                f"inputs of shape (N, {', '.join(map(str, shape))})",
                expected[kind],
                "Reshape the input, or use kind='deep' for flat rows.",
            )
        )
    if kind == "convolutional":
        if x.dim() == 3:
            encoder.append(nn.Unflatten(1, (1, shape[0])))  # (N, H, W) -> (N, 1, H, W)
        widths, sizes = [1 if x.dim() == 3 else shape[0], *filters], [shape[-2:]]
        for i, width in enumerate(filters):
            encoder += [nn.Conv2d(widths[i], width, 3, 2, 1), Activation(activation)]
            # a stride-2 conv halves, rounding up
            sizes.append(tuple((s - 1) // 2 + 1 for s in sizes[-1]))
        encoder.append(nn.Flatten())
        tail.append(nn.Unflatten(1, (widths[-1], *sizes[-1])))
        for i in reversed(range(len(filters))):
            padding = cast(
                tuple[int, int], tuple(a - 2 * b + 1 for a, b in zip(sizes[i], sizes[i + 1]))
            )
            tail += [
                nn.ConvTranspose2d(widths[i + 1], widths[i], 3, 2, 1, output_padding=padding),
                Activation(activation if i else output_activation),  # type: ignore[arg-type]
            ]
        features = widths[-1] * math.prod(sizes[-1])
    elif kind == "recurrent":
        steps, features = shape[0], shape[1] if x.dim() == 3 else 1
        if x.dim() == 2:
            encoder.append(nn.Unflatten(1, (steps, 1)))  # (N, T) -> (N, T, 1)
        encoder.append(RecurrentEncoder(features, units[0], code_size, cell))
        decoder.append(RecurrentDecoder(code_size, units[0], features, steps, cell))
        encoder += [Activation(code_activation)] if code_activation else []
        decoder += [Activation(output_activation)] if output_activation else []
    else:
        encoder.append(nn.Flatten())  # (N, ...) -> (N, features)
        features = math.prod(shape)
    if kind != "recurrent":
        sizes_ = [features, *units, code_size]
        layers = len(sizes_) - 1
        encoder += [
            _block(sizes_[i], sizes_[i + 1], hidden if i < layers - 1 else code_activation)
            for i in range(layers)
        ]
        decoder += [
            _block(sizes_[i + 1], sizes_[i], hidden if i or tail else output_activation)
            for i in reversed(range(layers))
        ]
    return nn.Sequential(*encoder).to(x.device), nn.Sequential(*decoder, *tail).to(x.device)
