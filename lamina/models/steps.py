"""The steps a ``lamina.Model`` runs for the engine: the loss, the optimizer step and the logs.

The engine owns the loop; the model owns the steps. ``train_step``, ``test_step`` and
``predict_step`` handle one batch each and are the methods to override for custom training (the
second of the three levels); ``compute_loss`` and ``optimize`` are the parts to call from such an
override. The trackers keep the running means of the step logs and the compiled metrics over an
epoch, and their state goes into checkpoints.

>>> import lamina
>>> model = lamina.Model(torch.nn.Linear(3, 1)).compile(optimizer="sgd", loss="mse")
>>> model.build(torch.ones(2, 3)).shape
torch.Size([2, 1])
>>> logs = model.train_step((torch.ones(4, 3), torch.zeros(4, 1)))
>>> sorted(logs), logs["loss"].dim()
(['loss'], 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from lamina.core.errors import ConfigError, DataError, message
from lamina.train.engine import Engine, RunningMean, batch_rows

__all__ = ["StepsMixin", "inputs_and_targets"]


class StepsMixin:
    """``compute_loss``, ``optimize``, the three steps, ``engine`` and the trackers for
    ``lamina.Model``."""

    _compiled: dict[str, Any] | None
    _trackers: dict[str, Any]
    _compiled_or_raise: Any
    _logits: Any
    metric_scores: Any
    parameters: Any
    __call__: Any

    @property
    def loss_fn(self) -> Callable[..., torch.Tensor]:
        """The compiled loss callable."""
        return self._compiled_or_raise("loss")["loss_fn"]  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ steps (override these)
    def compute_loss(
        self, y_pred: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The compiled loss of one batch; with weights, ``sum(w_i * loss_i) / N`` (as Keras)."""
        y_pred, is_logits = self._logits(y_pred)
        options = {} if is_logits else {"from_logits": False}
        if sample_weight is None:
            return self.loss_fn(y_pred, y, **options)
        try:
            per_sample = self.loss_fn(y_pred, y, reduction="none", **options)
        except TypeError:
            raise ConfigError(
                message(
                    "Sample or class weights need a loss that accepts reduction='none'.",
                    repr(self.loss_fn),
                    "a built-in loss name or fn(y_pred, y, reduction=...)",
                    "Use a built-in loss, or add a `reduction` argument to yours.",
                )
            ) from None
        per_sample = per_sample.reshape(len(per_sample), -1).mean(1)
        return (per_sample * sample_weight.to(per_sample.dtype)).sum() / len(per_sample)

    def optimize(self, loss: torch.Tensor) -> None:
        """Backward pass and optimizer step, honouring accumulation, clipping and precision.

        Call this from a custom ``train_step`` instead of ``loss.backward(); optimizer.step()``.
        """
        model: Any = self  # a lamina.Model, which this mixin is part of
        self.engine.optimize(model, loss)

    @property
    def engine(self) -> Engine:
        """The engine of the current (or last) fit; a default one before any fit."""
        engine = self.__dict__.get("engine_")
        if engine is None:
            engine = self.engine_ = self._engine()
        return engine  # type: ignore[no-any-return]

    def _weights(self, batch: Any, y: torch.Tensor) -> torch.Tensor | None:
        weights = batch[2] if len(batch) > 2 else None
        class_weight = self.__dict__.get("_class_weight")
        if class_weight is not None:
            per_row = class_weight[y.long()]
            weights = per_row if weights is None else weights * per_row
        return weights

    def update_metrics(self, y_pred: torch.Tensor, y: torch.Tensor) -> None:
        """Feed one batch to the compiled metrics (no host sync); they get logits
        (``metric_scores``)."""
        metrics = self._compiled["metric_objs"] if self._compiled else ()
        scores = self.metric_scores(y_pred) if metrics else y_pred
        for metric in metrics:
            metric.update(scores, y)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch = (x, y[, sample_weight])``; returns logs of 0-d
        tensors."""
        x, y = inputs_and_targets(batch)
        engine = self.engine
        with engine.autocast():
            y_pred = self(x)
            loss = self.compute_loss(y_pred, y, self._weights(batch, y))
        model: Any = self  # a lamina.Model, which this mixin is part of
        engine.optimize(model, loss)
        self.update_metrics(y_pred, y)
        return {"loss": loss.detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Loss and metrics on ``batch = (x, y)`` without updating weights."""
        x, y = inputs_and_targets(batch)
        y_pred = self(x)
        self.update_metrics(y_pred, y)
        return {"loss": self.compute_loss(y_pred, y)}

    def predict_step(self, x: Any) -> torch.Tensor:
        """The model output for one batch of inputs."""
        return self(x)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ trackers
    def reset_trackers(self) -> dict[str, Any]:
        """Fresh running means and metrics for a new epoch or evaluation."""
        self._trackers = {}
        for metric in self._compiled["metric_objs"] if self._compiled else ():
            metric.reset()
        return self._trackers

    def track(self, logs: Mapping[str, torch.Tensor], batch: Any) -> None:
        """Add a step's logs to the running means, weighted by the batch size (no host sync)."""
        size = batch_rows(batch)
        for key, value in logs.items():
            tracker = self._trackers.get(key)
            if tracker is None:
                tracker = self._trackers[key] = RunningMean()
            tracker.update(value, size)

    def tracker_state(self) -> dict[str, Any]:
        """Running means and metric states, for checkpoints."""
        metrics = [m.state_dict() for m in self._compiled["metric_objs"]] if self._compiled else []
        return {
            "trackers": {k: [t.total, t.count] for k, t in self._trackers.items()},
            "metrics": metrics,
        }

    def restore_trackers(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`tracker_state`."""
        for key, (total, count) in state["trackers"].items():
            tracker = self._trackers[key] = RunningMean()
            tracker.total, tracker.count = (
                (None if total is None else total.to(self.engine.device)),
                count,
            )
        for metric, saved in zip(
            self._compiled["metric_objs"] if self._compiled else (), state["metrics"]
        ):
            metric.load_state_dict(
                saved if isinstance(saved, dict) else {"state": saved}, self.engine.device
            )

    def epoch_logs(self) -> dict[str, float]:
        """Floats for the running means and compiled metrics (one host sync)."""
        logs = {key: tracker.compute() for key, tracker in self._trackers.items()}
        for metric in self._compiled["metric_objs"] if self._compiled else ():
            logs[metric.name] = metric.compute()
        return logs

    def _engine(self) -> Engine:
        device = next(iter(self.parameters()), torch.empty(0)).device
        return Engine(device)


def inputs_and_targets(batch: Any) -> tuple[Any, Any]:
    """``(x, y)`` of a supervised batch ``(x, y[, sample_weight])``.

    Args:
        batch: a tuple or list of at least two items, as the data loaders of ``fit`` yield.

    Returns:
        The inputs and the targets; a batch without targets raises ``DataError``.

    >>> inputs_and_targets((torch.ones(2, 3), torch.zeros(2)))[1].shape
    torch.Size([2])
    """
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise DataError(
            message(
                "The default train_step/test_step needs targets.",
                f"batches of {type(batch).__name__}"
                + (f" with {len(batch)} item(s)" if isinstance(batch, (tuple, list)) else ""),
                "(x, y) or (x, y, sample_weight) batches",
                "Pass y to fit/evaluate, or override train_step for unsupervised training.",
            )
        )
    return batch[0], batch[1]
