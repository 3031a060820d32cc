"""The engine: owns the loops, device placement and callbacks; the model owns the steps.

``Model.fit`` prepares data and calls :meth:`Engine.fit`. Everything a loop needs to know
about where tensors live goes through the engine (``device``, ``to_device``), which is the
seam for data-parallel training later: a distributed engine wraps the model and shards the
loader without any change to user code.

>>> import lamina
>>> lamina.train.Engine("cpu").device
device(type='cpu')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from lamina.callbacks import Callback, History, LazyLogs, overrides
from lamina.config import select_device

if TYPE_CHECKING:
    from lamina.models.base import Model

__all__ = ["Engine"]


class Engine:
    """Runs ``fit``, ``evaluate`` and ``predict`` loops on one device.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... (see ``lamina.config.select_device``).
    """

    def __init__(self, device: str | torch.device | None = "auto") -> None:
        self.device = device if isinstance(device, torch.device) else select_device(device)

    def __repr__(self) -> str:
        return f"lamina.train.Engine(device={str(self.device)!r})"

    def to_device(self, batch: Any) -> Any:
        """Move a batch (tensor, tuple, list or dict of tensors) to the engine's device."""
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.to_device(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        return batch

    def _batches(self, loader: Iterable[Any]) -> Iterable[Any]:
        on_device = getattr(loader, "tensors", None) is not None  # ArrayLoader: already placed
        return loader if on_device else map(self.to_device, loader)

    def fit(self, model: Model, train: Iterable[Any], validation: Iterable[Any] | None, epochs: int,
            callbacks: Sequence[Callback] = ()) -> History:
        """The training loop. Returns the ``History``."""
        history = History()
        every = [history, *callbacks]
        for callback in every:
            callback.set_model(model)
        batch_end = [c for c in every if overrides(c, "on_train_batch_end")]
        batch_begin = [c for c in every if overrides(c, "on_train_batch_begin")]
        model.stop_training = False
        model.fit_state_ = {"epochs": epochs, "steps": len(train)}  # type: ignore[arg-type,assignment]
        _call(every, "on_train_begin")
        logs: dict[str, float] = {}
        for epoch in range(epochs):
            model.train()
            trackers = model.reset_trackers()
            running = LazyLogs(trackers)
            _call(every, "on_epoch_begin", epoch)
            for step, batch in enumerate(self._batches(train)):
                for c in batch_begin:
                    c.on_train_batch_begin(step, running)
                model.track(model.train_step(batch), batch)
                for c in batch_end:
                    c.on_train_batch_end(step, running)
                if model.stop_training:
                    break
            logs = model.epoch_logs()
            if validation is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(model, validation).items()})
            _call(every, "on_epoch_end", epoch, logs)
            if model.stop_training:
                break
        _call(every, "on_train_end", logs)
        return history

    def evaluate(self, model: Model, loader: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``loader``."""
        was_training = model.training
        model.eval()
        model.reset_trackers()
        with torch.inference_mode():
            for batch in self._batches(loader):
                model.track(model.test_step(batch), batch)
        model.train(was_training)
        return model.epoch_logs()

    def predict(self, model: Model, loader: Iterable[Any]) -> torch.Tensor:
        """Concatenated outputs of ``predict_step`` over ``loader`` (on the engine's device)."""
        was_training = model.training
        model.eval()
        outputs = []
        with torch.inference_mode():
            for batch in self._batches(loader):
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outputs.append(model.predict_step(x))
        model.train(was_training)
        return torch.cat(outputs) if outputs else torch.empty(0)


def _call(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)
