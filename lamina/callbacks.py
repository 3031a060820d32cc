"""Callbacks: code that runs at fixed points of ``fit``.

Hook names are fixed: ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_train_batch_begin/end`` and ``on_test_begin/end``. ``logs`` at epoch end is a dict of
floats (``loss``, metrics, ``val_*``); at batch end it is a read-only mapping whose values are
computed only when read, so a callback that ignores it costs no host sync. The engine calls
batch hooks only on callbacks that override them.

>>> import lamina
>>> stop = lamina.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lamina.errors import ConfigError, message

if TYPE_CHECKING:
    from lamina.models.base import Model

__all__ = ["Callback", "EarlyStopping", "History", "ModelCheckpoint", "ProgressBar"]

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end")


class Callback:
    """Base class; override any hook. ``self.model`` is set before ``on_train_begin``."""

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

    def __repr__(self) -> str:
        return f"lamina.callbacks.History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ConfigError(message("Unknown mode.", repr(mode), "'auto', 'min' or 'max'", "Pass mode='auto'."))
    if mode != "auto":
        return mode
    return "min" if any(k in monitor for k in ("loss", "error", "mse", "mae")) else "max"


def _monitored(logs: Mapping[str, float] | None, monitor: str, who: str) -> float:
    if not logs or monitor not in logs:
        raise ConfigError(message(f"{who}: the monitored value is not in the logs.", repr(monitor),
                                  f"one of {sorted(logs or {})}",
                                  "Pass validation data for val_* keys, or monitor='loss'."))
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` stops improving.

    Args:
        monitor: a log key such as ``"val_loss"`` or ``"val_accuracy"``.
        patience: epochs without improvement before stopping.
        min_delta: the smallest change that counts as improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name).
        restore_best_weights: load the best epoch's weights when training ends.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = _mode(monitor, mode)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.stopped_epoch, self.best_epoch = 0, -1, -1
        self.best_state: dict[str, Any] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(self.model.state_dict())
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None:
        if self.restore_best_weights and self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def __repr__(self) -> str:
        return f"lamina.callbacks.EarlyStopping(monitor={self.monitor!r}, patience={self.patience})"


class ModelCheckpoint(Callback):
    """Save the model (``model.save``) at the end of epochs.

    Args:
        filepath: a directory; ``{epoch}`` and log keys may appear, e.g. ``"runs/ep{epoch:02d}"``.
        monitor: the log key that decides "best".
        save_best_only: save only when ``monitor`` improves (one directory, overwritten).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
    """

    def __init__(self, filepath: str, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto") -> None:
        self.filepath, self.monitor, self.save_best_only = str(filepath), monitor, save_best_only
        self.mode = _mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        self.model.save(path)
        self.saved.append(path)


class ProgressBar(Callback):
    """A tqdm progress bar per epoch: step, speed, ETA and running metrics.

    Args:
        refresh_seconds: how often the shown metrics are recomputed (each refresh syncs once).
        stream: where to draw; defaults to stderr.
    """

    def __init__(self, refresh_seconds: float = 0.2, stream: Any = None) -> None:
        self.refresh_seconds = refresh_seconds
        self.stream = stream

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.epochs = self.model.fit_state_["epochs"]
        self.steps = self.model.fit_state_["steps"]

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="step",
                        file=self.stream or sys.stderr, leave=True, dynamic_ncols=True)
        self.last = 0.0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        self.bar.update(1)
        now = time.monotonic()
        if logs is not None and now - self.last > self.refresh_seconds:
            self.last = now
            self.bar.set_postfix(_format(logs), refresh=False)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self.bar.set_postfix(_format(logs or {}), refresh=False)
        self.bar.close()


def _format(logs: Mapping[str, float]) -> dict[str, str]:
    return {key: f"{float(value):.4g}" for key, value in logs.items()}


class EpochLogger(Callback):
    """One line per epoch (``verbose=2``, or logs on a non-terminal when asked)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        text = "  ".join(f"{k}: {v}" for k, v in _format(logs or {}).items())
        total = self.model.fit_state_["epochs"]
        print(f"Epoch {epoch + 1}/{total}  {text}", file=self.stream or sys.stdout, flush=True)


class LazyLogs(Mapping[str, float]):
    """Running logs computed only when read (one host sync per read)."""

    def __init__(self, trackers: Mapping[str, Any]) -> None:
        self._trackers = trackers

    def __getitem__(self, key: str) -> float:
        return float(self._trackers[key].compute())

    def __iter__(self) -> Iterator[str]:
        return iter(self._trackers)

    def __len__(self) -> int:
        return len(self._trackers)
