"""Callbacks: code that runs at fixed points of ``fit``.

Hook names are fixed: ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_train_batch_begin/end`` and ``on_test_begin/end``. ``logs`` at epoch end is a dict of
floats (``loss``, metrics, ``val_*``) that callbacks may add to (``lr``); at batch end it is a
read-only mapping whose values are computed only when read, so a callback that ignores it
costs no host sync. The engine calls batch hooks only on callbacks that override them.

>>> import lamina
>>> stop = lamina.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
"""

from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import torch

from lamina.core.errors import ConfigError, message
from lamina.train import schedules
from lamina.train.callback_base import Callback, History

if TYPE_CHECKING:
    pass

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgressBar",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ConfigError(
            message("Unknown mode.", repr(mode), "'auto', 'min' or 'max'", "Pass mode='auto'.")
        )
    if mode != "auto":
        return mode
    return "min" if any(k in monitor for k in ("loss", "error", "mse", "mae")) else "max"


def _monitored(logs: Mapping[str, float] | None, monitor: str, who: str) -> float:
    if not logs or monitor not in logs:
        raise ConfigError(
            message(
                f"{who}: the monitored value is not in the logs.",
                repr(monitor),
                f"one of {sorted(logs or {})}",
                "Pass validation data for val_* keys, or monitor='loss'.",
            )
        )
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` stops improving.

    Args:
        monitor: a log key such as ``"val_loss"`` or ``"val_accuracy"``.
        patience: epochs without improvement before stopping: training stops at the end of the
            ``patience``-th epoch in a row that does not improve (0 stops at the first one), as in
            Keras.
        min_delta: the smallest change that counts as improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name).
        restore_best_weights: load the best epoch's weights when training ends.

    Its ``state_dict`` holds the best weights as tensors when ``restore_best_weights`` is set.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
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
        # Keras's EarlyStopping: `wait` counts epochs since the best one and training stops once
        # `wait >= patience` (never after epoch 0). With losses 1.0, 0.9, 0.95, 0.96 and patience=2,
        # epochs 2 and 3 do not improve, so training stops after epoch 3.
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None:
        if self.restore_best_weights and self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.wait, self.best_epoch = (
            float(state["best"]),
            state["wait"],
            state["best_epoch"],
        )
        self.stopped_epoch, self.best_state = state["stopped_epoch"], state["best_state"]

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

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ) -> None:
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

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "saved": list(self.saved)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.saved = float(state["best"]), list(state["saved"])


def _lr(optimizer: Any) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def _load_scheduler(callback: Callback, state: Mapping[str, Any]) -> None:
    """Load the saved torch scheduler state (the learning rates come back with the optimizer)."""
    if not hasattr(callback, "scheduler"):
        raise ConfigError(
            message(
                f"{type(callback).__name__}.load_state_dict() ran before on_train_begin().",
                "no scheduler yet",
                "on_train_begin() first (it creates the scheduler)",
                "Call on_train_begin(), then load_state_dict(), as the engine does.",
            )
        )
    callback.scheduler.load_state_dict(dict(state["scheduler"]))


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Wraps ``torch.optim.lr_scheduler.ReduceLROnPlateau`` on ``model.optimizer`` (every group).

    Args:
        monitor: a log key such as ``"val_loss"``.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement that are tolerated: the learning rate drops at the
            next one (torch's count; Keras drops one epoch earlier).
        min_delta: the smallest absolute change that counts as improvement.
        cooldown: epochs after a drop before bad epochs count again.
        min_lr: the lower bound.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name).

    Adds the learning rate to the epoch logs as ``lr``; ``reductions`` lists the epochs that
    ended with a drop.

    >>> plateau = lamina.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        mode: str = "auto",
    ) -> None:
        if not 0 < factor < 1:
            raise ConfigError(
                message(
                    "ReduceLROnPlateau needs 0 < factor < 1.",
                    f"factor={factor!r}",
                    "a fraction such as 0.1",
                    "Pass factor=0.5 to halve the learning rate.",
                )
            )
        self.monitor, self.factor, self.patience, self.min_delta = (
            monitor,
            factor,
            patience,
            abs(min_delta),
        )
        self.cooldown, self.min_lr, self.mode = cooldown, min_lr, _mode(monitor, mode)

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.model.optimizer,  # type: ignore[arg-type]
            mode=self.mode,  # type: ignore[arg-type]
            factor=self.factor,
            patience=self.patience,
            threshold=self.min_delta,
            threshold_mode="abs",
            cooldown=self.cooldown,
            min_lr=self.min_lr,
        )
        self.reductions: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        before = _lr(self.model.optimizer)
        self.scheduler.step(_monitored(logs, self.monitor, "ReduceLROnPlateau"))
        if _lr(self.model.optimizer) < before:
            self.reductions.append(epoch)
        if isinstance(logs, MutableMapping):
            logs["lr"] = _lr(self.model.optimizer)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict(), "reductions": list(self.reductions)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load_scheduler(self, state)
        self.reductions = list(state["reductions"])

    def __repr__(self) -> str:
        return (
            f"lamina.callbacks.ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
            f"patience={self.patience})"
        )


class LearningRateScheduler(Callback):
    """Set the learning rate from a schedule, after every epoch or every step (batch).

    Args:
        schedule: a name (``"step"``, ``"cosine"``, ``"one_cycle"``, ``"warmup"``), a
            ``lamina.schedules.Schedule``, a Keras-style ``fn(period, lr) -> lr``, a factory
            ``fn(optimizer) -> torch scheduler`` or a torch scheduler class (see
            ``lamina.schedules.get``).
        per: ``"epoch"`` or ``"step"``: what one period of the schedule is. A run has ``epochs``
            or ``epochs * steps_per_epoch`` periods (cosine and one-cycle span exactly that).
        **options: the schedule's arguments, e.g. ``step_size=5, gamma=0.5`` for ``"step"``.

    The torch scheduler is built on ``model.optimizer`` when training begins (so its first
    period already uses the schedule) and stepped after each period but the last, so the lr
    ends at the last value used; with gradient accumulation a step is still one batch.
    ``lrs`` lists the learning rate (first parameter group) used in each period; the last one
    of an epoch is added to the epoch logs as ``lr``.

    >>> warmup = lamina.callbacks.LearningRateScheduler(
    ...     "warmup", per="step", steps=50, then="cosine"
    ... )
    """

    def __init__(self, schedule: Any, per: str = "epoch", **options: Any) -> None:
        if per not in ("epoch", "step"):
            raise ConfigError(
                message(
                    "Unknown per for LearningRateScheduler.",
                    repr(per),
                    "'epoch' or 'step'",
                    "Pass per='step' to update the learning rate after every batch.",
                )
            )
        self.schedule, self.per = schedules.get(schedule, **options), per

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        fit_state = self.model.fit_state_
        self.periods = fit_state["epochs"] * (fit_state["steps"] if self.per == "step" else 1)
        optimizer = self.model.optimizer
        self.scheduler = self.schedule.build(optimizer, self.periods)  # type: ignore[arg-type]
        self.lrs: list[float] = []

    def _step(self) -> None:
        self.lrs.append(_lr(self.model.optimizer))
        if len(self.lrs) < self.periods:  # after the last period the lr stays at its last value
            self.scheduler.step()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if self.per == "step":
            self._step()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        if self.per == "epoch":
            self._step()
        if isinstance(logs, MutableMapping) and self.lrs:
            logs["lr"] = self.lrs[-1]

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict(), "lrs": list(self.lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load_scheduler(self, state)
        self.lrs = list(state["lrs"])

    def __repr__(self) -> str:
        return f"lamina.callbacks.LearningRateScheduler({self.schedule!r}, per={self.per!r})"


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` and the epoch logs.

    Args:
        filename: the CSV path.
        separator: the field delimiter.
        append: add to an existing file (without a second header) instead of overwriting it.

    The columns are the first epoch's log keys (a key missing later is left empty; a new one is
    not added). The file is opened, written and closed at each epoch end, so it is always
    complete. On resume from a checkpoint, rows written after the checkpoint are cut and later
    epochs are appended.

    >>> logger = lamina.callbacks.CSVLogger("training.csv")
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.keys: list[str] | None = None
        self.size: int | None = None  # bytes in the file after our last row
        self._mode = "a" if self.append else "w"

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = logs or {}
        empty = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        header = self.keys is None and (self._mode == "w" or empty)
        if self.keys is None:
            self.keys = list(logs)
        with open(self.filename, self._mode, newline="") as handle:
            writer = csv.writer(handle, delimiter=self.separator)
            if header:
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *(logs.get(key, "") for key in self.keys)])
        self._mode, self.size = "a", os.path.getsize(self.filename)

    def state_dict(self) -> dict[str, Any]:
        return {"keys": self.keys, "size": self.size}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.keys, self.size = state["keys"], state["size"]
        if self.size is not None:
            self._mode = "a"
            if os.path.exists(self.filename) and os.path.getsize(self.filename) > self.size:
                os.truncate(self.filename, self.size)

    def __repr__(self) -> str:
        return f"lamina.callbacks.CSVLogger({self.filename!r})"


class TerminateOnNaN(Callback):
    """Stop training when the training loss becomes NaN or infinite.

    Args:
        check_every: read the running loss every this many steps. Each read is one host sync
            (on a GPU it waits for the queued work), so 1 stops at the bad step and 50 costs a
            fiftieth of that; 0 checks only at epoch end, which costs nothing.

    The running loss is the epoch's mean, so once a step gives NaN every later check sees it.
    ``stopped_at`` is ``(epoch, step)`` of the check that found it (``step`` is None for the
    epoch-end check), or None.

    >>> guard = lamina.callbacks.TerminateOnNaN(check_every=10)
    """

    def __init__(self, check_every: int = 1) -> None:
        if not isinstance(check_every, int) or check_every < 0:
            raise ConfigError(
                message(
                    "check_every must be an int >= 0.",
                    repr(check_every),
                    "an int >= 0",
                    "Pass check_every=1 (every step) or 0 (epoch ends only).",
                )
            )
        self.check_every = check_every

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.stopped_at: tuple[int, int | None] | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if self.check_every and (batch + 1) % self.check_every == 0 and logs is not None:
            self._check(logs.get("loss"), batch)  # one read: LazyLogs computes on access

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        if self.stopped_at is None and logs:
            self._check(logs.get("loss"), None)

    def _check(self, loss: float | None, step: int | None) -> None:
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
            self.stopped_at = (self.epoch, step)


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

        self.bar = tqdm(
            total=self.steps,
            desc=f"Epoch {epoch + 1}/{self.epochs}",
            unit="step",
            file=self.stream or sys.stderr,
            leave=True,
            ncols=shutil.get_terminal_size((100, 20)).columns or 100,  # a 0-wide pty falls back
        )
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
