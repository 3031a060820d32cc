"""One registry per family: a string, a callable or an instance resolves through ``get``.

Families: ``activation``, ``loss``, ``optimizer``, ``metric``, ``initializer`` and ``object``
(classes that a saved architecture may name; the load allowlist).

>>> import lamina
>>> lamina.registry.get("activation", "relu")(torch.tensor([-1.0, 2.0]))
tensor([0., 2.])
>>> lamina.registry.get("loss", "crossentropy")
Traceback (most recent call last):
...
lamina.errors.ConfigError: Unknown loss 'crossentropy'. Received: 'crossentropy'. Expected: ...
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, message

__all__ = [
    "EPSILON",
    "Registry",
    "capture_init",
    "get",
    "names",
    "probabilities_to_logits",
    "register",
    "registries",
]

T = TypeVar("T")


class Registry:
    """A name -> object table for one family, with helpful errors for unknown names.

    Args:
        kind: the family name used in error messages, e.g. ``"loss"``.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._spelling: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"lamina.registry.Registry({self.kind!r}, {len(self._items)} names)"

    def add(
        self, name: str, obj: Any, *, aliases: Iterable[str] = (), overwrite: bool = False
    ) -> Any:
        """Register ``obj`` under ``name`` (and ``aliases``); returns ``obj``."""
        for key in (name, *aliases):
            key = key.lower()
            if key in self._items and self._items[key] is not obj and not overwrite:
                raise ConfigError(
                    message(
                        f"The {self.kind} name {key!r} is already registered.",
                        repr(key),
                        "a name not yet in use",
                        "Pick another name or pass overwrite=True.",
                    )
                )
            self._items[key] = obj
            self._spelling.setdefault(key, name)
        return obj

    def name_of(self, obj: Any) -> str | None:
        """The name ``obj`` was registered under (as spelled then), or None."""
        for key, value in self._items.items():
            if value is obj:
                return self._spelling[key]
        return None

    def lookup(self, name: str) -> Any:
        """The object registered under ``name``; an unknown name lists the nearest valid ones."""
        key = name.lower()
        _import_deferred(key)
        if key in self._items:
            return self._items[key]
        close = difflib.get_close_matches(key, self._items, n=3, cutoff=0.5)
        hint = f"Did you mean {', '.join(map(repr, close))}?" if close else "Check the spelling."
        raise ConfigError(
            message(
                f"Unknown {self.kind} {name!r}.",
                repr(name),
                f"one of {', '.join(map(repr, sorted(self._items)))}",
                f"{hint} Or pass a callable/instance, or register your own with "
                f"lamina.registry.registries[{self.kind!r}].add(name, obj).",
            )
        )

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            _import_deferred(name.lower())
        return isinstance(name, str) and name.lower() in self._items


# Classes whose module is imported on first use (it needs pandas, which `import lamina` must not
# import): registered names -> the module that registers them.
DEFERRED = {
    f"lamina.models.{name}".lower(): "lamina.models.recommend"
    for name in ("MatrixFactorization", "TwoTower", "SASRec", "GRU4Rec")
}


def _import_deferred(key: str) -> None:
    if key in DEFERRED:
        __import__(DEFERRED[key])  # lamina's own module, by a fixed name


registries: dict[str, Registry] = {
    kind: Registry(kind)
    for kind in ("activation", "loss", "optimizer", "metric", "initializer", "object")
}


def names(kind: str) -> list[str]:
    """Registered names of one family, e.g. ``names("optimizer")``."""
    return _registry(kind).names()


def _registry(kind: str) -> Registry:
    if kind not in registries:
        raise ConfigError(
            message(
                "Unknown registry family.",
                repr(kind),
                f"one of {sorted(registries)}",
                "Use one of those family names.",
            )
        )
    # Families fill their tables when their modules are imported; ``import lamina`` imports them all
    # (metrics included), so the lower layers never reach up to fill a table here.
    return registries[kind]


def get(kind: str, identifier: Any, **kwargs: Any) -> Any:
    """Resolve ``identifier`` in family ``kind``.

    Strings look up the registry; for ``optimizer`` the result is a factory
    ``f(params) -> torch.optim.Optimizer``; for ``metric`` a fresh metric instance;
    callables and instances pass through unchanged.

    Args:
        kind: the family, e.g. ``"loss"``.
        identifier: a name, callable or instance.
        **kwargs: options for the resolved object (e.g. ``lr=0.01`` for an optimizer).
    """
    registry = _registry(kind)
    if isinstance(identifier, str):
        obj = registry.lookup(identifier)
        if kind == "optimizer":
            return functools.partial(obj, **kwargs)
        if kind == "metric":
            return obj(**kwargs)
        return obj
    if identifier is None or not (callable(identifier) or kind in ("metric", "optimizer")):
        raise ConfigError(
            message(
                f"Cannot use this value as a {kind}.",
                repr(identifier),
                f"a {kind} name (str), a callable or an instance",
                f"Pass e.g. {registry.names()[0]!r}.",
            )
        )
    return identifier


# ---------------------------------------------------------------- activations
_act = registries["activation"]
for _name, _fn in {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "mish": F.mish,
    "leaky_relu": F.leaky_relu,
    "relu6": F.relu6,
    "hardswish": F.hardswish,
    "softmax": functools.partial(torch.softmax, dim=-1),
    "log_softmax": functools.partial(torch.log_softmax, dim=-1),
}.items():
    _act.add(_name, _fn)
_act.add("linear", None, aliases=("none", "identity"))
_act.add("swish", F.silu)

# ---------------------------------------------------------------- losses
_loss = registries["loss"]


EPSILON = 1e-7  # probabilities are clamped to [EPSILON, 1 - EPSILON] before the log, as Keras does


def _binary_cross_entropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean", from_logits: bool = True
) -> torch.Tensor:
    """Binary cross-entropy; ``y_true`` may be (N,) or (N, 1).

    ``y_pred`` holds logits, or sigmoid probabilities with ``from_logits=False`` (clamped, then
    turned into logits, which gives Keras's ``-(y log p + (1 - y) log(1 - p))`` with its clamp).
    """
    if not from_logits:
        y_pred = probabilities_to_logits(y_pred, binary=True)
    return F.binary_cross_entropy_with_logits(
        y_pred, y_true.to(y_pred.dtype).reshape(y_pred.shape), reduction=reduction
    )


def _cross_entropy(
    y_pred: torch.Tensor,
    y_true: torch.Tensor,
    reduction: str = "mean",
    from_logits: bool = True,
    **options: Any,
) -> torch.Tensor:
    """``F.cross_entropy`` on logits (N, C, ...), or on probabilities with ``from_logits=False``.

    ``y_true``: class ids (N, ...) (float ids and a trailing axis of size 1 are accepted), or
    probabilities of ``y_pred``'s shape. Probabilities are clamped before the log, as Keras does.
    """
    if not from_logits:
        y_pred = probabilities_to_logits(y_pred, binary=False)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
        y_true = y_true[..., 0]  # (N, 1) class ids -> (N,)
    if y_true.is_floating_point() and y_true.dim() == y_pred.dim() - 1:
        y_true = y_true.long()  # class ids stored as floats
    return F.cross_entropy(y_pred, y_true, reduction=reduction, **options)


def probabilities_to_logits(y_pred: torch.Tensor, *, binary: bool) -> torch.Tensor:
    """Logits whose sigmoid (``binary``) or softmax gives back the clamped probabilities ``y_pred``.

    Args:
        y_pred: probabilities of any shape.
        binary: True for independent sigmoid outputs, False for a softmax over classes.

    Returns:
        float32 (or float64) logits of ``y_pred``'s shape.

    >>> probabilities_to_logits(torch.tensor([0.5, 1.0]), binary=True)
    tensor([ 0.0000, 15.9424])
    """
    p = y_pred.float() if y_pred.dtype in (torch.float16, torch.bfloat16) else y_pred
    p = p.clamp(EPSILON, 1.0 - EPSILON)
    return p.log() - torch.log1p(-p) if binary else p.log()


def _regression(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    @functools.wraps(fn)
    def loss(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return fn(y_pred, y_true.to(y_pred.dtype).reshape(y_pred.shape), reduction=reduction)

    return loss


_loss.add(
    "cross_entropy",
    _cross_entropy,
    aliases=("sparse_categorical_crossentropy", "categorical_crossentropy", "ce"),
)
_loss.add("binary_cross_entropy", _binary_cross_entropy, aliases=("binary_crossentropy", "bce"))
_loss.add("mse", _regression(F.mse_loss), aliases=("mean_squared_error",))
_loss.add("mae", _regression(F.l1_loss), aliases=("mean_absolute_error", "l1"))
_loss.add("huber", _regression(F.huber_loss))
_loss.add("smooth_l1", _regression(F.smooth_l1_loss))
_loss.add("nll", F.nll_loss)
_loss.add("kl_div", functools.partial(F.kl_div, reduction="batchmean", log_target=False))

# ---------------------------------------------------------------- optimizers
_opt = registries["optimizer"]


def _optimizer(
    cls: type[torch.optim.Optimizer], **defaults: Any
) -> Callable[..., torch.optim.Optimizer]:
    def build(params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        if "learning_rate" in kwargs:
            kwargs["lr"] = kwargs.pop("learning_rate")
        return cls(params, **{**defaults, **kwargs})

    build.__name__ = build.__qualname__ = cls.__name__
    return build


_opt.add("sgd", _optimizer(torch.optim.SGD, lr=0.01))
_opt.add("momentum", _optimizer(torch.optim.SGD, lr=0.01, momentum=0.9))
_opt.add("nesterov", _optimizer(torch.optim.SGD, lr=0.01, momentum=0.9, nesterov=True))
_opt.add("adam", _optimizer(torch.optim.Adam, lr=1e-3))
_opt.add("adamw", _optimizer(torch.optim.AdamW, lr=1e-3, weight_decay=0.01))
_opt.add("rmsprop", _optimizer(torch.optim.RMSprop, lr=1e-3))
_opt.add("adagrad", _optimizer(torch.optim.Adagrad, lr=0.01))

# ---------------------------------------------------------------- initializers
_init = registries["initializer"]
for _name, _fn in {
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
    "he_uniform": functools.partial(nn.init.kaiming_uniform_, nonlinearity="relu"),
    "he_normal": functools.partial(nn.init.kaiming_normal_, nonlinearity="relu"),
    "lecun_normal": functools.partial(nn.init.kaiming_normal_, nonlinearity="linear"),
    "lecun_uniform": functools.partial(nn.init.kaiming_uniform_, nonlinearity="linear"),
    "orthogonal": nn.init.orthogonal_,
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
    "uniform": functools.partial(nn.init.uniform_, a=-0.05, b=0.05),
    "normal": functools.partial(nn.init.normal_, std=0.05),
}.items():
    _init.add(_name, _fn)
_init.add("xavier_uniform", nn.init.xavier_uniform_)
_init.add("kaiming_uniform", registries["initializer"].lookup("he_uniform"))


# ---------------------------------------------------------------- objects (load allowlist)
def capture_init(cls: type[T]) -> type[T]:
    """Wrap ``cls.__init__`` so each instance records its constructor arguments.

    The arguments land in ``instance._lamina_config`` (defaults filled in), which is what
    ``get_params`` returns and what a saved architecture spec stores. The outermost
    constructor wins, so subclasses calling ``super().__init__`` record their own arguments.
    """
    original = cls.__dict__.get("__init__")
    if original is None or getattr(original, "_lamina_captures", False):
        return cls
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if "_lamina_config" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            config = dict(list(bound.arguments.items())[1:])
            for name, param in signature.parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD and name in config:
                    config.update(config.pop(name))
                elif param.kind is inspect.Parameter.VAR_POSITIONAL and name in config:
                    config[name] = list(config[name])
            object.__setattr__(self, "_lamina_config", config)
        original(self, *args, **kwargs)

    __init__._lamina_captures = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[misc,method-assign]
    return cls


def register(cls: type[T] | None = None, *, name: str | None = None) -> Any:
    """Allow a class of yours to be saved and loaded by name.

    Use as ``@lamina.register`` on an ``nn.Module`` subclass whose constructor takes
    JSON-friendly arguments. ``lamina.load`` rebuilds only registered classes (or those
    passed as ``custom_objects``); it never imports a module path named in a file.

    >>> @lamina.register
    ... class Scale(torch.nn.Module):
    ...     def __init__(self, factor: float = 2.0):
    ...         super().__init__()
    ...         self.factor = factor
    ...     def forward(self, x):
    ...         return x * self.factor
    """

    def wrap(klass: type[T]) -> type[T]:
        capture_init(klass)
        registries["object"].add(name or qualified_name(klass), klass, overwrite=True)
        return klass

    return wrap(cls) if cls is not None else wrap


# The public path of each module (what users import, what reprs and saved specs show) and where the
# code lives. lamina 0.1 had these modules flat under ``lamina``; the paths keep working.
PUBLIC_MODULES = {
    "lamina.errors": "lamina.core.errors",
    "lamina.config": "lamina.core.config",
    "lamina.registry": "lamina.core.catalog",
    "lamina.version": "lamina.core.version",
    "lamina.pages": "lamina.core.pages",
    "lamina.layers": "lamina.nn.layers",
    "lamina.sequences": "lamina.nn.sequences",
    "lamina.trees": "lamina.nn.trees",
    "lamina.callbacks": "lamina.train.callbacks",
    "lamina.checkpoint": "lamina.train.checkpoint",
    "lamina.schedules": "lamina.train.schedules",
    "lamina.lr_find": "lamina.train.lr_find",
    "lamina.metrics": "lamina.train.metrics",
    "lamina.plot": "lamina.train.plot",
    "lamina.artifact": "lamina.io.artifact",
    "lamina.summary": "lamina.io.summary",
    "lamina.export": "lamina.io.export",
    "lamina.testing": "lamina.models.testing",
    "lamina.sources": "lamina.data.sources",
    "lamina._sql": "lamina.data.sql",
    "lamina.datasets": "lamina.data.datasets",
    "lamina.eda": "lamina.data.eda",
    "lamina.eda_page": "lamina.data.eda_page",
    "lamina.reference": "lamina.data.reference",
    "lamina.prepare": "lamina.data.prepare",
    "lamina._splits": "lamina.data.splits",
    "lamina.stages": "lamina.project.stages",
    "lamina.planning": "lamina.project.planning",
    "lamina.advisor": "lamina.project.advisor",
    "lamina.fitted": "lamina.project.fitted",
    "lamina.report": "lamina.project.report",
    "lamina.kpi": "lamina.project.kpi",
    "lamina.serve": "lamina.deploy.serve",
    "lamina._served": "lamina.deploy.served",
    "lamina._asgi": "lamina.deploy.asgi",
    "lamina.predlog": "lamina.deploy.predlog",
    "lamina.model_registry": "lamina.deploy.store",
    "lamina.monitor": "lamina.maintain.monitor",
    "lamina.feedback": "lamina.maintain.feedback",
    "lamina._commands": "lamina.cli.commands",
    **{
        f"lamina.datasets.{sub}": f"lamina.data.datasets.{sub}"
        for sub in ("_base", "_download", "_loaders", "_planetoid", "synthetic", "synthetic_trees")
    },
}
_PUBLIC_OF = {home: public for public, home in PUBLIC_MODULES.items()}


def qualified_name(cls: type) -> str:
    """The name that specs store and reprs show for ``cls``, e.g. ``lamina.layers.Dense``.

    Classes are named by their public module (``lamina.layers``, ``lamina.models``), not by the file
    they live in, so saved models keep loading when code moves between files.
    """
    module = cls.__module__
    if module.startswith("lamina.models"):
        module = "lamina.models"
    elif module.startswith("lamina."):
        module = _PUBLIC_OF.get(module, module)
    if module.startswith("torch.nn"):
        module = "torch.nn"
    return f"{module}.{cls.__qualname__}"
