"""lamina: one library for the whole life of a deep-learning project, on PyTorch.

>>> import lamina
>>> model = lamina.Sequential([lamina.layers.Dense(32, activation="relu"), lamina.layers.Dense(10)])
>>> model = model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
"""

from __future__ import annotations

from typing import Any

from lamina import (
    callbacks,
    checkpoint,
    config,
    data,
    datasets,
    errors,
    layers,
    metrics,
    models,
    registry,
    schedules,
    sequences,
    train,
    trees,
)
from lamina.errors import LaminaError
from lamina.models import Model, Sequential
from lamina.plot import plot_history
from lamina.registry import register
from lamina.version import __version__ as __version__

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


def load(path: str, *, custom_objects: dict[str, Any] | None = None, compile: bool = True,
         device: Any = None) -> Any:
    """Load a model directory written by ``model.save`` (see ``lamina.artifact.load``)."""
    from lamina.artifact import load as _load

    return _load(path, custom_objects=custom_objects, compile=compile, device=device)


def plan(data: Any, target: str | None = None, **options: Any) -> Any:
    """Viability findings from the data before any training (see ``lamina.planning.plan``)."""
    from lamina.planning import plan as _plan

    return _plan(data, target, **options)


def advise(data: Any, target: str | None = None, **options: Any) -> Any:
    """Deep learning or classical ML? Measured baselines and an honest pick (see ``lamina.advisor.advise``)."""
    from lamina.advisor import advise as _advise

    return _advise(data, target, **options)


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("testing", "artifact", "cli", "summary", "project", "planning", "advisor", "fitted", "stages",
                "prepare", "report", "eda", "monitor", "serve"):
        return importlib.import_module(f"lamina.{name}")
    if name == "Project":
        from lamina.project import Project

        return Project
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")
