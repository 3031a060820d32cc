"""lamina: one library for the whole life of a deep-learning project, on PyTorch.

The code lives in wings named after the stages of a project, lower wings never importing higher
ones: ``core`` (errors, config, the catalogue of names) <- ``nn`` (layers, tensors) <- ``train``
(engine, callbacks, metrics) <- ``io`` (saving, export) <- ``models`` (the families) <- ``data``
(load, EDA, prepare) <- ``project`` (stages, advisor, KPIs, report) <- ``deploy`` (serve, store)
<- ``maintain`` (monitor, feedback, retrain) <- ``cli``. The public paths of lamina 0.1
(``lamina.layers``, ``lamina.eda``, ``lamina.serve``, ...) are kept and name the same modules.

>>> import lamina
>>> model = lamina.Sequential([lamina.layers.Dense(32, activation="relu"), lamina.layers.Dense(10)])
>>> model = model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

from lamina import models, train
from lamina.core import catalog as registry
from lamina.core import config, errors
from lamina.core.catalog import PUBLIC_MODULES, register
from lamina.core.errors import LaminaError
from lamina.core.version import __version__ as __version__
from lamina.models import Model, Sequential
from lamina.nn import layers, sequences, trees
from lamina.train import callbacks, checkpoint, metrics, schedules
from lamina.train.plot import plot_history


class _PublicPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import lamina.eda`` (a public path of lamina 0.1) gives the module where the code lives.

    The import system stamps the alias's spec on the module it is given; the module's own name,
    spec and file are put back, so ``lamina.eda`` and ``lamina.data.eda`` are one module.
    """

    _KEPT = (
        "__name__",
        "__spec__",
        "__loader__",
        "__package__",
        "__file__",
        "__cached__",
        "__path__",
    )

    def __init__(self) -> None:
        self._own: dict[str, dict[str, Any]] = {}

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PUBLIC_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(PUBLIC_MODULES[spec.name])
        self._own[spec.name] = {
            key: getattr(module, key) for key in self._KEPT if hasattr(module, key)
        }
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when imported under its own name; it gets its own attributes back."""
        alias = module.__spec__.name if module.__spec__ is not None else module.__name__
        for key, value in self._own.pop(alias, {}).items():
            setattr(module, key, value)


if not any(isinstance(finder, _PublicPaths) for finder in sys.meta_path):
    # before the path finder: a package alias must not load a copy
    sys.meta_path.insert(0, _PublicPaths())
for _module in (
    registry,
    config,
    errors,
    layers,
    sequences,
    trees,
    callbacks,
    checkpoint,
    metrics,
    schedules,
):
    sys.modules.setdefault(f"lamina.{_module.__name__.rsplit('.', 1)[-1]}", _module)
sys.modules.setdefault("lamina.registry", registry)

__all__ = [
    "LaminaError",
    "Model",
    "Project",
    "Sequential",
    "advise",
    "callbacks",
    "checkpoint",
    "config",
    "data",
    "datasets",
    "eda",
    "errors",
    "layers",
    "load",
    "metrics",
    "models",
    "monitor",
    "plan",
    "plot_history",
    "prepare",
    "project",
    "register",
    "registry",
    "schedules",
    "sequences",
    "serve",
    "testing",
    "train",
    "trees",
]


def load(
    path: str,
    *,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    device: Any = None,
) -> Any:
    """Load a model directory written by ``model.save`` (see ``lamina.io.artifact.load``)."""
    from lamina.io.artifact import load as _load

    return _load(path, custom_objects=custom_objects, compile=compile, device=device)


def plan(data: Any, target: str | None = None, **options: Any) -> Any:
    """Viability findings from the data before any training (``lamina.project.planning.plan``)."""
    from lamina.project.planning import plan as _plan

    return _plan(data, target, **options)


def advise(data: Any, target: str | None = None, **options: Any) -> Any:
    """Deep learning or classical ML? Measured baselines and an honest pick.

    See ``lamina.project.advisor``.
    """
    from lamina.project.advisor import advise as _advise

    return _advise(data, target, **options)


_LAZY = (
    "data",  # the data stage (and its data sets): imported on first use, as every stage above it
    "datasets",
    "artifact",
    "summary",
    "export",
    "planning",
    "advisor",
    "fitted",
    "stages",
    "prepare",
    "report",
    "eda",
    "monitor",
    "serve",
    "testing",
    "kpi",
    "sources",
    "feedback",
    "predlog",
    "model_registry",
    "plot",
    "lr_find",
    "pages",
    "reference",
    "eda_page",
    "version",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"lamina.{name}")
    if name in ("project", "deploy", "maintain", "cli", "io", "core", "nn"):
        return importlib.import_module(f"lamina.{name}")
    if name == "Project":
        from lamina.project import Project

        return Project
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_LAZY))
