"""The model contract (scikit-learn's estimator rules): constructor parameters, clones, the spec,
saving.

``get_params`` returns the constructor arguments as given; ``set_params`` rebuilds with new ones;
``clone`` makes an unfitted twin with the same arguments and compile settings; ``spec`` is the JSON
architecture that ``save`` writes beside the safetensors weights. ``lamina.testing.check_model``
checks all of it.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import torch

from lamina.core.errors import ConfigError, message

__all__ = ["ContractMixin"]


class ContractMixin:
    """``get_params``, ``set_params``, ``clone``, ``spec``, ``save`` and ``lr_find`` for
    ``lamina.Model``."""

    _compiled: dict[str, Any] | None
    _lamina_name: str
    compile: Any

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as given."""
        return dict(getattr(self, "_lamina_config", {}))

    def set_params(self, **params: Any) -> Any:
        """Rebuild with new constructor arguments (the model becomes unfitted; compile is kept)."""
        current = self.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise ConfigError(
                message(
                    f"Unknown parameter for {self._lamina_name}.",
                    unknown,
                    f"one of {sorted(current)}",
                    "Check get_params() for valid names.",
                )
            )
        fresh = type(self)(**{**current, **params})
        compiled = self._compiled
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        if compiled is not None:
            self._recompile(compiled)
        return self

    def spec(self) -> dict[str, Any]:
        """The JSON architecture spec that ``save`` writes: ``{"class": name, "config": {...}}``.

        >>> lamina.models.MLP(units=(8,), outputs=2).spec()["class"]
        'lamina.models.MLP'
        """
        from lamina.io.artifact import serialize

        return serialize(self)  # type: ignore[arg-type]

    def clone(self) -> Any:
        """A new, unfitted model with the same constructor arguments (and compile settings)."""
        from lamina.io.artifact import deserialize

        fresh = deserialize(self.spec())
        if self._compiled is not None:
            fresh._recompile(self._compiled)
        return fresh

    def _recompile(self, compiled: Mapping[str, Any]) -> None:
        metrics = [
            name if name is not None else copy.deepcopy(obj)
            for name, obj in zip(compiled["metrics"], compiled["metric_objs"])
        ]
        optimizer = compiled["optimizer"] or compiled["factory"]
        if isinstance(
            optimizer, torch.optim.Optimizer
        ):  # bound to the old parameters: same class and settings
            optimizer = functools.partial(type(optimizer), **optimizer.defaults)
        self.compile(
            optimizer,
            compiled["loss"] or compiled["loss_fn"],
            metrics,
            learning_rate=compiled["learning_rate"],
            clip_norm=compiled["clip_norm"],
            clip_value=compiled["clip_value"],
            # only where set: families with their own compile (GAN, VAE, ...) do not take it
            **(
                {"from_logits": compiled["from_logits"]}
                if compiled.get("from_logits") is not None
                else {}
            ),
        )

    # ------------------------------------------------------------------ persistence
    def lr_find(self, x: Any, y: Any, **options: Any) -> Any:
        """The learning-rate range test (``lamina.lr_find``); weights and optimizer are restored."""
        from lamina.train.lr_find import lr_find

        return lr_find(self, x, y, **options)  # type: ignore[arg-type]

    def save(self, path: str) -> str:
        """Save to a directory (safetensors weights + JSON spec). Returns the path."""
        from lamina.io.artifact import save

        return save(self, path)
