"""The JSON architecture spec of a module, ``{"class": name, "config": {...}}``, and its allowlist.

A spec names a class through the ``object`` registry: built-in lamina layers and models, the common
``torch.nn`` layers listed here, and classes registered with ``@lamina.register`` or passed as
``custom_objects``. Nothing named in a spec is ever imported. ``lamina.io.artifact`` writes the spec
into a saved model's manifest; ``Model.spec()`` and ``Model.from_spec()`` use it directly.

>>> import lamina
>>> spec = serialize(nn.Linear(3, 2))
>>> spec["class"], spec["config"]["out_features"]
('torch.nn.Linear', 2)
>>> deserialize(spec)
Linear(in_features=3, out_features=2, bias=True)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from lamina.core import catalog as registry
from lamina.core.errors import ArtifactError, UnsafeFileError, message

__all__ = ["deserialize", "serialize"]

_TORCH_ALLOWED = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Embedding,
    nn.LSTM,
    nn.GRU,
    nn.RNN,
    nn.ReLU,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.SiLU,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Sequential,
    nn.ModuleList,
)
for _cls in _TORCH_ALLOWED:
    registry.registries["object"].add(f"torch.nn.{_cls.__name__}", _cls)
_RNN_ARGS = (
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
)


# ---------------------------------------------------------------- architecture spec
def _name_of(cls: type) -> str:
    name = registry.registries["object"].name_of(cls)
    if name is not None:
        return name
    raise ArtifactError(
        message(
            f"Cannot save a {cls.__module__}.{cls.__qualname__}: the class is not registered.",
            cls.__qualname__,
            "built-in lamina layers/models, common torch.nn layers or a registered class",
            "Decorate your class with @lamina.register (its constructor arguments must be "
            "JSON-friendly).",
        )
    )


def _torch_config(module: nn.Module) -> dict[str, Any]:
    """Recover constructor arguments of an allowlisted torch.nn layer from its attributes."""
    cls = type(module)
    if cls in (nn.Sequential, nn.ModuleList):
        return {"__args__" if cls is nn.Sequential else "modules": list(module.children())}
    if isinstance(module, nn.RNNBase):
        # LSTM/GRU/RNN.__init__ take (*args, **kwargs): name the arguments
        extra = {nn.LSTM: ("proj_size",), nn.RNN: ("nonlinearity",)}.get(cls, ())
        return {name: getattr(module, name) for name in (*_RNN_ARGS, *extra)}
    config: dict[str, Any] = {}
    for name, param in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if (
            name.startswith("_")
            or name in ("device", "dtype")
            or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        ):
            continue
        value = getattr(module, name, param.default)
        if name == "bias" and isinstance(param.default, bool) and not isinstance(value, bool):
            value = value is not None  # the attribute holds the bias Parameter (or None)
        config[name] = list(value) if isinstance(value, tuple) else value
    return config


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, nn.Module):
        return serialize(value)
    if isinstance(value, tuple):
        # JSON has no tuples; mark them so get_params() round-trips exactly
        return {"__tuple__": _encode(list(value), where)}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _encode(v, f"{where}.{k}") for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        for kind in ("activation", "initializer", "loss"):
            name = registry.registries[kind].name_of(value)
            if name is not None:
                return name
    raise ArtifactError(
        message(
            f"Cannot save the argument {where}: it is not JSON-friendly.",
            f"{value!r} ({type(value).__name__})",
            "numbers, strings, booleans, None, lists, dicts, modules or registered names",
            "Pass a registered name (e.g. activation='relu') instead of an object.",
        )
    )


def serialize(module: nn.Module) -> dict[str, Any]:
    """The JSON architecture spec of ``module``: ``{"class": name, "config": {...}}``."""
    cls = type(module)
    name = _name_of(cls)
    # getattr, not attribute access: nn.Module.__getattr__ misleads mypy about these methods
    if hasattr(module, "get_params"):
        config = getattr(module, "get_params")()  # noqa: B009
    elif hasattr(module, "get_config"):
        config = getattr(module, "get_config")()  # noqa: B009
    elif hasattr(module, "_lamina_config"):
        config = dict(getattr(module, "_lamina_config"))  # noqa: B009
    elif name.startswith("torch.nn."):
        config = _torch_config(module)
    else:
        raise ArtifactError(
            message(
                f"Cannot read the constructor arguments of {name}.",
                name,
                "a class decorated with @lamina.register",
                "Register the class.",
            )
        )
    return {"class": name, "config": _encode(config, name)}


def _decode(value: Any, custom_objects: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"class", "config"}:
        return deserialize(value, custom_objects)
    if (
        isinstance(value, dict)
        and set(value) == {"__tuple__"}
        and isinstance(value["__tuple__"], list)
    ):
        return tuple(_decode(value["__tuple__"], custom_objects))
    if isinstance(value, list):
        return [_decode(v, custom_objects) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v, custom_objects) for k, v in value.items()}
    return value


def deserialize(spec: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Build a module from its spec. Only allowlisted or ``custom_objects`` classes are built."""
    custom_objects = dict(custom_objects or {})
    if not (
        isinstance(spec, dict)
        and isinstance(spec.get("class"), str)
        and isinstance(spec.get("config"), dict)
    ):
        raise ArtifactError(
            message(
                "Malformed architecture spec.",
                repr(spec)[:200],
                '{"class": "<name>", "config": {...}}',
                "Re-save the model with model.save().",
            )
        )
    name = spec["class"]
    cls = custom_objects.get(name) or custom_objects.get(name.rsplit(".", 1)[-1])
    if cls is None:
        if name not in registry.registries["object"]:
            raise UnsafeFileError(
                message(
                    "The architecture names a class that is not on lamina's allowlist; nothing was "
                    "imported.",
                    repr(name),
                    "a built-in lamina layer/model, a common torch.nn layer, or a registered class",
                    "If this is your own class, decorate it with @lamina.register or pass "
                    f"custom_objects={{{name!r}: YourClass}} to lamina.load.",
                )
            )
        cls = registry.registries["object"].lookup(name)
    config = _decode(spec["config"], custom_objects)
    args = config.pop("__args__", [])
    try:
        return cls(*args, **config)
    except TypeError as exc:
        raise ArtifactError(
            message(
                f"Could not rebuild {name} from its saved arguments.",
                str(exc),
                "arguments matching the class's constructor",
                "Load with the lamina version that saved it, or re-save.",
            )
        ) from None
