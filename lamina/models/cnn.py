"""``lamina.models.CNN``: convolutional stacks for 1-D and 2-D inputs, with LeNet-5 and ResNet
presets.

Three architectures share one class, picked by ``preset``:

* ``None``: one block per entry of ``filters``, each ``Conv (same padding) -> BatchNorm -> ReLU ->
  MaxPool(2)``, then ``Flatten -> [Dropout] -> Dense(outputs)``;
* ``"lenet5"``: LeNet-5 (LeCun et al., 1998), modernised with ReLU and max pooling:
  ``Conv(6, 5, padding 2) -> pool -> Conv(16, 5) -> pool``, then
  ``Dense(120) -> Dense(84) -> Dense(outputs)``;
* ``"resnet"``: a small residual net (He et al., 2016): a stem conv, one :class:`ResidualBlock` per
  entry of ``filters`` (the first keeps the size, the others halve it), global average pooling and
  ``Dense``.

Optional data augmentation (random flip, shift and crop, batched torch ops on the input's device)
is applied to the training batches only, inside :meth:`CNN.train_step`: ``forward``, ``predict``
and ``evaluate`` never see it.

>>> import lamina
>>> x, y = torch.rand(32, 1, 12, 12), torch.arange(32) % 3
>>> model = lamina.models.CNN(filters=(4, 8), outputs=3, augment=("shift",))
>>> model = model.compile(optimizer="adam", loss="cross_entropy")
>>> history = model.fit(x, y, epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(32, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, ShapeError, message
from lamina.models._names import check_dropout
from lamina.models.base import Model
from lamina.nn.layers import (
    Activation,
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling,
    Layer,
    MaxPool1D,
    MaxPool2D,
)

__all__ = ["CNN"]

PRESETS = ("lenet5", "resnet")
AUGMENTATIONS = {"crop": 0.8, "flip": 0.5, "shift": 2}  # name -> default option


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _conv(
    dims: int, filters: int, kernel_size: int, strides: int = 1, padding: str | int = "same"
) -> nn.Module:
    return (Conv1D if dims == 1 else Conv2D)(filters, kernel_size, strides, padding)


def _pool(dims: int) -> nn.Module:
    return MaxPool1D(2) if dims == 1 else MaxPool2D(2)


class ResidualBlock(Layer):
    """A basic residual block: ``relu(BN(conv(relu(BN(conv(x))))) + shortcut(x))``.

    Args:
        filters: output channels.
        kernel_size: window size of both convolutions (odd, so the padding keeps the size).
        strides: stride of the first convolution; ``> 1`` also gives the shortcut a strided 1x1 conv
            + BN.
        dims: 1 for ``(N, C, L)`` inputs, 2 for ``(N, C, H, W)``.

    With ``strides=1`` the input must already have ``filters`` channels (the shortcut is the
    identity).

    >>> ResidualBlock(8, strides=2)(torch.ones(2, 4, 8, 8)).shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, dims: int = 2) -> None:
        super().__init__()
        self.filters, self.strides = filters, strides
        self.conv1 = _conv(dims, filters, kernel_size, strides, kernel_size // 2)
        self.norm1 = BatchNorm()
        self.conv2 = _conv(dims, filters, kernel_size)
        self.norm2 = BatchNorm()
        self.shortcut = (
            nn.Sequential(_conv(dims, filters, 1, strides, 0), BatchNorm()) if strides > 1 else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None and x.shape[1] != self.filters:
            raise ShapeError(
                message(
                    "ResidualBlock with strides=1 adds its input to its output.",
                    f"input shape {tuple(x.shape)}",
                    f"{self.filters} input channels",
                    "Pass strides=2 (projection shortcut) or match the channels first.",
                )
            )
        y = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x)))))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


def _check(
    preset: Any, filters: Any, kernel_size: Any, outputs: Any, dims: Any, dropout: Any
) -> None:
    if preset is not None and preset not in PRESETS:
        raise ConfigError(
            message(
                "Unknown CNN preset.",
                repr(preset),
                f"None or one of {', '.join(map(repr, PRESETS))}",
                "Pass preset='lenet5', preset='resnet', or None for a plain conv stack.",
            )
        )
    if (
        isinstance(filters, (str, bytes))
        or not isinstance(filters, Sequence)
        or not filters
        or not all(_positive_int(f) for f in filters)
    ):
        raise ConfigError(
            message(
                "CNN filters must be a non-empty sequence of positive ints.",
                repr(filters),
                "channels per block, e.g. (32, 64)",
                "Pass filters=(32,) for a single block.",
            )
        )
    if not _positive_int(kernel_size) or kernel_size % 2 == 0:
        raise ConfigError(
            message(
                "CNN kernel_size must be a positive odd int.",
                repr(kernel_size),
                "1, 3, 5, ...",
                "Pass kernel_size=3.",
            )
        )
    if not _positive_int(outputs):
        raise ConfigError(
            message(
                "CNN outputs must be a positive int.",
                f"outputs={outputs!r}",
                "an int >= 1",
                "Pass outputs=10 for ten classes.",
            )
        )
    if dims not in (1, 2) or isinstance(dims, bool):
        raise ConfigError(
            message(
                "CNN dims must be 1 or 2.",
                f"dims={dims!r}",
                "1 for (N, C, L) sequences, 2 for (N, C, H, W) images",
                "Pass dims=2 for images.",
            )
        )
    check_dropout("CNN", dropout)


def _augment_options(augment: Any) -> dict[str, float]:
    """``augment`` (None, names or ``{name: option}``) -> ``{name: option}``, validated."""
    if augment is None:
        return {}
    names = (
        list(augment)
        if isinstance(augment, (Sequence, Mapping)) and not isinstance(augment, str)
        else [augment]
    )
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if isinstance(augment, str) or unknown:
        raise ConfigError(
            message(
                "Unknown CNN augmentation.",
                repr(augment),
                f"None, a tuple or a dict of {', '.join(map(repr, AUGMENTATIONS))}",
                "Pass e.g. augment=('shift', 'flip') or augment={'shift': 2, 'flip': 0.5}.",
            )
        )
    options = {n: (augment[n] if isinstance(augment, Mapping) else AUGMENTATIONS[n]) for n in names}
    ok = {
        "crop": lambda v: 0 < v <= 1,
        "flip": lambda v: 0 <= v <= 1,
        "shift": lambda v: _positive_int(v) or v == 0,
    }
    for name, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok[name](value):
            raise ConfigError(
                message(
                    f"Bad option for the {name!r} augmentation.",
                    f"{name}={value!r}",
                    "crop: the smallest crop side as a fraction in (0, 1]; flip: a probability; "
                    "shift: the largest shift in pixels, an int >= 0",
                    "Pass e.g. {'crop': 0.8, 'flip': 0.5, 'shift': 2}.",
                )
            )
    return options


class CNN(Model):
    """A convolutional network for ``(N, C, L)`` or ``(N, C, H, W)`` inputs.

    Args:
        preset: ``None`` (a plain conv stack built from ``filters``), ``"lenet5"`` (fixed layers:
            ``filters`` and ``kernel_size`` are not used) or ``"resnet"`` (stem conv with
            ``filters[0]`` channels, then one :class:`ResidualBlock` per entry of ``filters``).
        filters: channels per block, first to last; every block after the first halves the size.
        kernel_size: odd window size of the convolutions (``"same"`` padding).
        outputs: size of the output layer (the number of classes for ``cross_entropy``).
        dims: 2 for images ``(N, C, H, W)``, 1 for sequences ``(N, C, L)``. Inputs without the
            channel axis (``(N, H, W)`` or ``(N, L)``) get one channel.
        dropout: rate before the output layer (lenet5: before each ``Dense``), in ``[0, 1)``.
        augment: training-batch augmentation: ``None``, names from ``"crop"``, ``"flip"``,
            ``"shift"`` (default options), or a dict of options:

            * ``"flip"``: the probability of mirroring a sample along its last axis (default 0.5);
            * ``"shift"``: the largest shift in pixels on each spatial axis, zero filled (default
              2);
            * ``"crop"``: crop a random box with sides a fraction in ``[crop, 1]`` of the input,
              resized back (bilinear) to the input size (default 0.8).

    Output ``(N, outputs)``. Each spatial size must be at least ``2 ** len(filters)`` (plain
    stack) or 12 (lenet5; 28x28 MNIST is the classic input).

    >>> CNN(preset="lenet5")(torch.ones(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> CNN(preset="resnet", filters=(8, 16), dims=1, outputs=3)(torch.ones(2, 20)).shape
    torch.Size([2, 3])
    """

    _lamina_name = "lamina.models.CNN"

    def __init__(
        self,
        preset: str | None = None,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        outputs: int = 10,
        dims: int = 2,
        dropout: float = 0.0,
        augment: Sequence[str] | Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        _check(preset, filters, kernel_size, outputs, dims, dropout)
        self.augment_options = _augment_options(augment)
        self.preset, self.filters, self.kernel_size, self.outputs = (
            preset,
            filters,
            kernel_size,
            outputs,
        )
        self.dims, self.dropout, self.augment = dims, dropout, augment
        layers: list[nn.Module] = []
        if preset == "lenet5":
            self.min_size = 12
            layers += [
                _conv(dims, 6, 5, 1, 2),
                Activation("relu"),
                _pool(dims),
                _conv(dims, 16, 5, 1, 0),
                Activation("relu"),
                _pool(dims),
                Flatten(),
            ]
            for width in (120, 84):
                layers += [Dropout(dropout)] if dropout else []
                layers += [Dense(width, activation="relu")]
        elif preset == "resnet":
            self.min_size = 1
            layers += [_conv(dims, filters[0], kernel_size), BatchNorm(), Activation("relu")]
            layers += [
                ResidualBlock(f, kernel_size, 1 if i == 0 else 2, dims)
                for i, f in enumerate(filters)
            ]
            layers += [GlobalAveragePooling()]
        else:
            self.min_size = 2 ** len(filters)
            for width in filters:
                layers += [
                    _conv(dims, width, kernel_size),
                    BatchNorm(),
                    Activation("relu"),
                    _pool(dims),
                ]
            layers += [Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(*([Dropout(dropout)] if dropout else []), Dense(outputs))

    def _with_channels(self, x: torch.Tensor, min_size: int = 1) -> torch.Tensor:
        if x.dim() == self.dims + 1:
            x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W); (N, L) -> (N, 1, L)
        axes = "(N, C, H, W) or (N, H, W)" if self.dims == 2 else "(N, C, L) or (N, L)"
        if x.dim() != self.dims + 2 or min(x.shape[2:]) < min_size:
            raise ShapeError(
                message(
                    f"CNN(dims={self.dims}, preset={self.preset!r}) got an input it cannot take.",
                    f"shape {tuple(x.shape)}",
                    f"{axes} with spatial sizes >= {min_size}",
                    "Reshape the input, set dims to match it, or use fewer filters blocks.",
                )
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._with_channels(x, self.min_size)  # (N, C, *spatial)
        return self.head(self.features(x))  # -> (N, features) -> (N, outputs)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The default gradient step on an augmented copy of the batch's inputs."""
        if self.augment_options and isinstance(batch, (tuple, list)):
            batch = (self.augment_inputs(batch[0]), *batch[1:])
        return super().train_step(batch)

    def augment_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the ``augment`` options to a batch, in the order crop, shift, flip.

        Randomness comes from torch's global generator (seeded by ``fit(seed=...)``). Returns
        ``(N, C, ...)``, the input's shape with the channel axis added where it was missing.
        """
        x = self._with_channels(x)
        options = self.augment_options
        if options.get("crop", 1.0) < 1.0:
            x = _crop(x, float(options["crop"]))
        if options.get("shift", 0) > 0:
            x = _shift(x, int(options["shift"]))
        if options.get("flip", 0.0) > 0.0:
            mirror = torch.rand(len(x), device=x.device) < options["flip"]
            x = torch.where(mirror.reshape(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
        return x


def _shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """Shift each sample by its own random offsets in ``[-k, k]`` per spatial axis, filling with
    zeros."""
    spatial = x.shape[2:]
    y = F.pad(x, [k] * 2 * len(spatial))  # (N, C, *spatial + 2k)
    for axis, size in enumerate(spatial, start=2):
        start = torch.randint(0, 2 * k + 1, (len(x),), device=x.device)
        index = start[:, None] + torch.arange(size, device=x.device)  # (N, size)
        shape = [len(x)] + [1] * (x.dim() - 1)
        shape[axis] = size
        target = list(y.shape)
        target[axis] = size
        y = y.gather(axis, index.reshape(shape).expand(target))
    return y


def _crop(x: torch.Tensor, smallest: float) -> torch.Tensor:
    """Crop a random box (sides a fraction in ``[smallest, 1]``) per sample and resize it back."""
    n = len(x)
    image = x if x.dim() == 4 else x.unsqueeze(2)  # (N, C, L) -> (N, C, 1, L)
    scale = smallest + (1 - smallest) * torch.rand(
        n, 2, device=x.device, dtype=image.dtype
    )  # (N, [x, y])
    if x.dim() == 3:
        scale[:, 1] = 1.0
    center = (1 - scale) * (2 * torch.rand(n, 2, device=x.device, dtype=image.dtype) - 1)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=image.dtype)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = scale[:, 0], scale[:, 1], center
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out if x.dim() == 4 else out.squeeze(2)
