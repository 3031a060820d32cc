"""Keras-style layers that infer their input size on the first batch.

Every layer here is a plain ``torch.nn.Module``. Layers that own weights sized by their
input (``Dense``, ``Conv1D``, ``Conv2D``, ``BatchNorm``, ``LayerNorm``) are torch lazy
modules: their parameters take shape on the first forward pass (or when weights are
loaded), so ``Dense(64)`` needs no input size. Tensors follow torch's layout:
channels first, ``(batch, channels, length)`` and ``(batch, channels, height, width)``.

>>> import lamina
>>> layer = lamina.layers.Dense(4, activation="relu")
>>> layer(torch.ones(2, 3)).shape
torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from lamina.core import catalog as registry
from lamina.core.errors import ConfigError, ShapeError, message

__all__ = [
    "Activation",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling",
    "GlobalMaxPooling",
    "Layer",
    "LayerNorm",
    "MaxPool1D",
    "MaxPool2D",
    "Reshape",
]


class Layer(nn.Module):
    """Base class: records constructor arguments (``get_config``) and registers the class.

    Subclasses are saved and loaded by name with no user code needed.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.capture_init(cls)
        if not cls.__name__.startswith("_"):
            registry.registries["object"].add(registry.qualified_name(cls), cls, overwrite=True)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, as given (defaults filled in)."""
        return dict(getattr(self, "_lamina_config", {}))

    def __repr__(self) -> str:
        defaults = _defaults(type(self))
        shown = {k: v for k, v in self.get_config().items() if defaults.get(k, object()) != v}
        arguments = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"{registry.qualified_name(type(self))}({arguments})"


def _defaults(cls: type) -> dict[str, Any]:
    import inspect

    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {
        k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty
    }


def _activation(identifier: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    if identifier is None:
        return None
    return registry.get("activation", identifier)  # type: ignore[no-any-return]


def _positive_int(name: str, value: Any, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            message(
                f"{layer}: `{name}` must be a positive integer.",
                repr(value),
                "an int >= 1",
                f"Pass e.g. {name}=32.",
            )
        )
    return value


def _tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ConfigError(
            message(
                f"`{name}` has the wrong length.",
                repr(value),
                f"an int or {n} ints",
                f"Pass {name}={value[0]!r} or a tuple of {n}.",
            )
        )
    return tuple(value)


class _LazyWeights(LazyModuleMixin, Layer):
    """Shared lazy plumbing: ``_init_weights(x)`` materializes and initializes parameters."""

    cls_to_become = None

    def initialize_parameters(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                self._init_weights(x)

    def _init_weights(self, x: torch.Tensor) -> None:
        raise NotImplementedError


class Dense(_LazyWeights):
    """A fully connected layer: ``activation(x @ W.T + b)`` over the last axis.

    Args:
        units: output size.
        activation: name (``"relu"``), callable or None for linear.
        use_bias: add a bias vector.
        kernel_initializer: initializer name for ``W`` (Keras default ``"glorot_uniform"``).
        bias_initializer: initializer name for ``b``.

    Input ``(..., features)`` -> output ``(..., units)``.

    >>> lamina.layers.Dense(2)(torch.ones(5, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = None,
        *,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
    ) -> None:
        super().__init__()
        self.units = _positive_int("units", units, "Dense")
        self.activation = _activation(activation)
        # Set by a classifier whose loss needs the logits behind a sigmoid/softmax output: forward
        # then keeps them in ``logits_`` rather than the loss computing this layer twice.
        self.keeps_logits = False
        self._initializers = (
            registry.get("initializer", kernel_initializer),
            registry.get("initializer", bias_initializer),
        )
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter() if use_bias else None

    def _init_weights(self, x: torch.Tensor) -> None:
        self.weight.materialize((self.units, x.shape[-1]), device=x.device, dtype=_float(x))
        self._initializers[0](self.weight)
        if self.bias is not None:
            self.bias.materialize((self.units,), device=x.device, dtype=_float(x))
            self._initializers[1](self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.activation is None:
            return y
        if self.keeps_logits:
            self.logits_ = y
        return self.activation(y)


def _float(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


class _Conv(_LazyWeights):
    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str | int = "valid",
        activation: str | Callable[..., Any] | None = None,
        *,
        dilation: int = 1,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.filters = _positive_int("filters", filters, name)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        if padding not in ("valid", "same") and not isinstance(padding, int):
            raise ConfigError(
                message(
                    f"{name}: unknown padding.",
                    repr(padding),
                    "'valid', 'same' or an int",
                    "Use padding='same' to keep the spatial size.",
                )
            )
        self.padding = 0 if padding == "valid" else padding
        self.dilation = dilation
        self.activation = _activation(activation)
        self._kernel_init = registry.get("initializer", kernel_initializer)
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter() if use_bias else None

    def _init_weights(self, x: torch.Tensor) -> None:
        if x.dim() != self.rank + 2:
            raise ShapeError(
                message(
                    f"{type(self).__name__} expects inputs of rank {self.rank + 2} "
                    f"(batch, channels, {'length' if self.rank == 1 else 'height, width'}).",
                    f"shape {tuple(x.shape)}",
                    f"{self.rank + 2} dimensions",
                    "Reshape the input, e.g. add a channel axis with "
                    "lamina.layers.Reshape or x[:, None].",
                )
            )
        self.weight.materialize(
            (self.filters, x.shape[1], *self.kernel_size), device=x.device, dtype=_float(x)
        )
        self._kernel_init(self.weight)
        if self.bias is not None:
            self.bias.materialize((self.filters,), device=x.device, dtype=_float(x))
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = F.conv1d if self.rank == 1 else F.conv2d
        y = conv(x, self.weight, self.bias, self.strides, self.padding, self.dilation)
        return y if self.activation is None else self.activation(y)


class Conv1D(_Conv):
    """1-D convolution over ``(batch, channels, length)``.

    Args:
        filters: output channels.
        kernel_size: window length.
        strides: step.
        padding: ``"valid"`` (none), ``"same"`` (stride 1 only) or an int.
        activation: name, callable or None.

    >>> lamina.layers.Conv1D(8, 3, padding="same")(torch.ones(2, 1, 10)).shape
    torch.Size([2, 8, 10])
    """

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over ``(batch, channels, height, width)``.

    Args:
        filters: output channels.
        kernel_size: window size (int or pair).
        strides: step (int or pair).
        padding: ``"valid"`` (none), ``"same"`` (stride 1 only) or an int.
        activation: name, callable or None.

    >>> lamina.layers.Conv2D(8, 3)(torch.ones(2, 1, 28, 28)).shape
    torch.Size([2, 8, 26, 26])
    """

    rank = 2


class BatchNorm(_LazyWeights):
    """Batch normalization over axis 1 (features or channels), for inputs of any rank.

    Args:
        momentum: running-statistics update rate (torch convention: 0.1).
        epsilon: added to the variance.

    >>> lamina.layers.BatchNorm()(torch.randn(4, 3, 5, 5)).shape
    torch.Size([4, 3, 5, 5])
    """

    def __init__(self, momentum: float = 0.1, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter()
        self.running_mean = UninitializedBuffer()
        self.running_var = UninitializedBuffer()

    def _init_weights(self, x: torch.Tensor) -> None:
        n = x.shape[1]
        kw: dict[str, Any] = {"device": x.device, "dtype": _float(x)}
        self.weight.materialize((n,), **kw)
        self.bias.materialize((n,), **kw)
        self.running_mean.materialize((n,), **kw)
        self.running_var.materialize((n,), **kw)
        nn.init.ones_(self.weight), nn.init.zeros_(self.bias)
        self.running_mean.zero_(), self.running_var.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.epsilon,
        )


class LayerNorm(_LazyWeights):
    """Layer normalization over the last axis.

    Args:
        epsilon: added to the variance.

    >>> lamina.layers.LayerNorm()(torch.randn(2, 7)).shape
    torch.Size([2, 7])
    """

    def __init__(self, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter()

    def _init_weights(self, x: torch.Tensor) -> None:
        n = x.shape[-1]
        kw: dict[str, Any] = {"device": x.device, "dtype": _float(x)}
        self.weight.materialize((n,), **kw)
        self.bias.materialize((n,), **kw)
        nn.init.ones_(self.weight), nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.epsilon)


class Dropout(Layer):
    """Zero a fraction ``rate`` of inputs during training (scaled to keep the mean).

    >>> lamina.layers.Dropout(0.5).eval()(torch.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, rate: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ConfigError(
                message(
                    "Dropout rate out of range.",
                    repr(rate),
                    "0 <= rate < 1",
                    "Pass e.g. Dropout(0.2).",
                )
            )
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.rate, self.training)


class Activation(Layer):
    """Apply an activation by name or callable.

    >>> lamina.layers.Activation("relu")(torch.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    def __init__(self, activation: str | Callable[..., Any]) -> None:
        super().__init__()
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.activation is None else self.activation(x)


class Flatten(Layer):
    """Flatten every axis after the batch axis: ``(N, ...) -> (N, prod(...))``.

    >>> lamina.layers.Flatten()(torch.ones(2, 3, 4)).shape
    torch.Size([2, 12])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (the batch axis is kept; -1 allowed once).

    >>> lamina.layers.Reshape((1, 8, 8))(torch.ones(2, 64)).shape
    torch.Size([2, 1, 8, 8])
    """

    def __init__(self, target_shape: Sequence[int]) -> None:
        super().__init__()
        self.target_shape = tuple(target_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)


class _Pool(Layer):
    rank, op = 2, "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.pool_size = _tuple(pool_size, self.rank, "pool_size")
        self.strides = _tuple(strides if strides is not None else pool_size, self.rank, "strides")
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn: Any = {
            ("max", 1): F.max_pool1d,
            ("max", 2): F.max_pool2d,
            ("avg", 1): F.avg_pool1d,
            ("avg", 2): F.avg_pool2d,
        }[(self.op, self.rank)]
        return fn(x, self.pool_size, self.strides, self.padding)  # type: ignore[no-any-return]


class MaxPool1D(_Pool):
    """Max pooling over ``(batch, channels, length)``; ``strides`` default to ``pool_size``."""

    rank, op = 1, "max"


class MaxPool2D(_Pool):
    """Max pooling over ``(batch, channels, height, width)``.

    >>> lamina.layers.MaxPool2D(2)(torch.ones(1, 3, 8, 8)).shape
    torch.Size([1, 3, 4, 4])
    """

    rank, op = 2, "max"


class AvgPool1D(_Pool):
    """Average pooling over ``(batch, channels, length)``."""

    rank, op = 1, "avg"


class AvgPool2D(_Pool):
    """Average pooling over ``(batch, channels, height, width)``."""

    rank, op = 2, "avg"


class GlobalAveragePooling(Layer):
    """Average over every axis after the channel axis: ``(N, C, ...) -> (N, C)``.

    >>> lamina.layers.GlobalAveragePooling()(torch.ones(2, 5, 4, 4)).shape
    torch.Size([2, 5])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.dim())))


class GlobalMaxPooling(Layer):
    """Maximum over every axis after the channel axis: ``(N, C, ...) -> (N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=tuple(range(2, x.dim())))


class Embedding(Layer):
    """Map integer ids ``(N, ...)`` to vectors ``(N, ..., output_dim)``.

    Args:
        input_dim: vocabulary size (ids must be in ``[0, input_dim)``).
        output_dim: vector size.
        padding_idx: an id whose vector stays zero and gets no gradient.

    >>> lamina.layers.Embedding(10, 4)(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 4])
    """

    def __init__(self, input_dim: int, output_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.input_dim = _positive_int("input_dim", input_dim, "Embedding")
        self.output_dim = _positive_int("output_dim", output_dim, "Embedding")
        self.padding_idx = padding_idx
        self.weight = nn.Parameter(torch.empty(input_dim, output_dim))
        nn.init.normal_(self.weight)
        if padding_idx is not None:
            with torch.no_grad():
                self.weight[padding_idx].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x, self.weight, self.padding_idx)
