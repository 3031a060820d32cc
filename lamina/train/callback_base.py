"""The :class:`Callback` base class, its fixed hook names, and :class:`History` (every fit has one).

The engine calls a hook only when it is defined; :func:`overrides` tells which. The callbacks
users pass to ``fit`` (and the public path ``lamina.callbacks``) are in ``lamina.train.callbacks``.

>>> overrides(History(), "on_epoch_end"), overrides(History(), "on_train_batch_end")
(True, False)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.models.base import Model

__all__ = ["HOOKS", "Callback", "History", "overrides"]

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
)


class Callback:
    """Base class; override any hook. ``self.model`` is set before ``on_train_begin``.

    A stateful callback also overrides ``state_dict()`` (a dict of JSON values; tensors are
    allowed and stored as safetensors) and ``load_state_dict(state)``. With checkpoints on, the
    engine saves each callback's ``state_dict()`` in every checkpoint. On resume it calls
    ``on_train_begin`` first (which creates the callback's objects, e.g. a torch scheduler on
    ``self.model.optimizer``), then restores the optimizer, then calls ``load_state_dict`` with
    the saved state (which restores those objects). The defaults store nothing.
    """

    model: Model

    def set_model(self, model: Model) -> None:
        self.model = model

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None: ...
    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Mapping[str, float] | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None: ...
    def on_test_begin(self, logs: Mapping[str, float] | None = None) -> None: ...
    def on_test_end(self, logs: Mapping[str, float] | None = None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to resume this callback exactly (nothing by default)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s result; called after ``on_train_begin``."""

    def __repr__(self) -> str:
        return f"lamina.callbacks.{type(self).__name__}()"


def overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` defines its own ``hook`` (so the engine must call it)."""
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class History(Callback):
    """Records epoch logs: ``history.history["loss"]`` is a list with one float per epoch.

    ``fit`` returns it (the Keras convention); ``history.epoch`` lists epoch indices.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def state_dict(self) -> dict[str, Any]:
        return {"history": copy.deepcopy(self.history), "epoch": list(self.epoch)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = copy.deepcopy(dict(state["history"]))
        self.epoch = list(state["epoch"])

    def __repr__(self) -> str:
        return f"lamina.callbacks.History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
