"""The :class:`Metric` base class and the input handling every lamina metric shares.

A metric accumulates tensors on the device of its inputs; the helpers here check and reshape
``y_pred``/``y_true``/``sample_weight`` without syncing the host. The metrics themselves (and the
public path ``lamina.metrics``) are in ``lamina.train.metrics``.

>>> safe_divide(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))
tensor([0.5000, 0.0000])
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeAlias

import torch

from lamina.core.errors import ShapeError, message

__all__ = [
    "Metric",
    "Weight",
    "broadcast_weights",
    "class_scores",
    "regression_targets",
    "safe_divide",
    "shape_error",
]

Weight: TypeAlias = "torch.Tensor | float | None"  # per-sample weights, or one number for the batch


class Metric:
    """Base class: ``update`` once per batch (no host sync), ``compute`` once per epoch.

    Subclasses set ``name`` (the key in training logs, e.g. ``"accuracy"``) and implement
    ``update``; ``_state`` holds the accumulator tensors (empty after ``reset``). The default
    ``result`` is ``_state[0] / _state[1]``, a weighted total over a weighted count.
    """

    name: str = "metric"
    _state: list[torch.Tensor]

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Drop the accumulated state."""
        self._state = []

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        """Accumulate one batch on its device, without syncing the host."""
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        """The metric so far as a 0-d tensor on the device (no host sync); 0 before any update."""
        return safe_divide(self._state[0], self._state[1]) if self._state else torch.zeros(())

    def compute(self) -> float:
        """The metric so far as a Python float (the one host sync)."""
        return float(self.result())

    def state_dict(self) -> dict[str, Any]:
        """Everything accumulated so far, as tensors and plain values (checkpoints store it)."""
        return {"state": list(self._state)}

    def load_state_dict(
        self, state: Mapping[str, Any], device: torch.device | str | None = None
    ) -> None:
        """Restore :meth:`state_dict`'s result, moving its tensors to ``device``."""
        self._state = [t.to(device) for t in state["state"]]

    def __repr__(self) -> str:
        params = inspect.signature(type(self).__init__).parameters.values()
        args = [
            f"{p.name}={getattr(self, p.name)!r}"
            for p in params
            if p.default is not p.empty and getattr(self, p.name, p.default) != p.default
        ]
        return f"lamina.metrics.{type(self).__name__}({', '.join(args)})"

    def _zeros(self, device: torch.device, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
        """The state, created on first use as one zero tensor per shape; checked later on."""
        if not self._state:
            dtype = torch.float32 if device.type == "mps" else torch.float64
            self._state = [torch.zeros(shape, dtype=dtype, device=device) for shape in shapes]
        elif self._state[0].shape != shapes[0]:
            raise ShapeError(
                message(
                    f"{type(self).__name__} got a batch with a different number of outputs.",
                    f"outputs {tuple(shapes[0])}",
                    f"outputs {tuple(self._state[0].shape)} as in earlier batches",
                    "Call reset() before evaluating a different model.",
                )
            )
        return self._state


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, and 0 where the denominator is 0 (sklearn's zero_division=0).

    Args:
        numerator: any tensor.
        denominator: a tensor broadcastable against ``numerator``.

    Returns:
        The quotient, shaped as the broadcast of both.
    """
    zero = denominator == 0
    return torch.where(
        zero, torch.zeros_like(numerator), numerator / torch.where(zero, 1.0, denominator)
    )


def shape_error(
    metric: Metric, y_pred: torch.Tensor, y_true: torch.Tensor, expected: str
) -> ShapeError:
    """The ``ShapeError`` to raise when ``metric`` gets mismatched ``y_pred`` and ``y_true``.

    Args:
        metric: the metric, named in the message.
        y_pred: the predictions; their shape is shown.
        y_true: the targets; their shape is shown.
        expected: what the metric expects, in words.

    Returns:
        The error (the caller raises it).
    """
    return ShapeError(
        message(
            f"{type(metric).__name__} got y_pred and y_true whose shapes do not match.",
            f"y_pred.shape={tuple(y_pred.shape)}, y_true.shape={tuple(y_true.shape)}",
            expected,
            "Check the model's output size and the targets, e.g. with model(x).shape and y.shape.",
        )
    )


def broadcast_weights(sample_weight: Weight, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """``sample_weight`` expanded to ``shape`` in ``like``'s dtype and device.

    Per-sample weights (N,) spread over trailing axes (time steps, outputs); any other shape
    raises ``ShapeError``.

    Args:
        sample_weight: None (ones), a number, per-sample weights ``(N,)`` or weights of ``shape``.
        shape: the target shape, e.g. ``y_pred.shape``.
        like: a tensor whose dtype and device the weights take.

    Returns:
        A tensor of ``shape`` (an expanded view, not a copy, where possible).
    """
    if sample_weight is None or isinstance(sample_weight, (int, float)):
        # A number becomes a fill value, not a host-to-device copy.
        value = 1.0 if sample_weight is None else float(sample_weight)
        return torch.full((), value, dtype=like.dtype, device=like.device).expand(shape)
    weight = torch.as_tensor(sample_weight).detach().to(device=like.device, dtype=like.dtype)
    received = tuple(weight.shape)
    if weight.ndim < len(shape):  # (N,) -> (N, 1, ...)
        weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
    if weight.ndim != len(shape) or any(w not in (1, s) for w, s in zip(weight.shape, shape)):
        raise ShapeError(
            message(
                "sample_weight does not fit the batch.",
                f"sample_weight.shape={received}",
                f"one weight per sample {tuple(shape[:1])} or the target shape {tuple(shape)}",
                "Pass one weight per sample.",
            )
        )
    return weight.expand(shape)


def class_scores(
    metric: Metric, y_pred: torch.Tensor, y_true: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (..., C) and integer labels (...) of a classification batch.

    Args:
        metric: the metric asking, named in the error for mismatched shapes.
        y_pred: logits (..., C), or (N,) / (..., 1) for one binary output.
        y_true: class indices (...), or one-hot/probabilities (..., C); 0/1 when binary.

    Returns:
        ``(scores, labels)``: detached scores (..., C) and long labels (...); C == 1 is binary
        with labels 0/1.
    """
    scores = y_pred.detach()
    if scores.ndim == 1:  # (N,) binary logits -> (N, 1)
        scores = scores.unsqueeze(-1)
    if scores.ndim == 0 or (
        y_true.shape not in (scores.shape, scores.shape[:-1], (*scores.shape[:-1], 1))
    ):
        raise shape_error(
            metric,
            y_pred,
            y_true,
            "y_true of shape y_pred.shape[:-1] (class indices) or y_pred.shape (one-hot)",
        )
    labels = y_true.detach()
    if scores.shape[-1] > 1 and labels.shape == (*scores.shape[:-1], 1):
        labels = labels[..., 0]  # (N, 1) class ids
    if labels.shape == scores.shape:
        labels = labels[..., 0] if scores.shape[-1] == 1 else labels.argmax(-1)
    return scores, (labels > 0.5).long() if scores.shape[-1] == 1 else labels.long()


def regression_targets(metric: Metric, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """``y_true`` reshaped to ``y_pred``'s shape; the shapes must agree up to axes of size 1.

    Args:
        metric: the metric asking, named in the error for mismatched shapes.
        y_pred: the predictions (N, ...).
        y_true: the targets, of ``y_pred``'s shape up to axes of size 1.

    Returns:
        ``y_true`` detached, with ``y_pred``'s shape.
    """
    if [d for d in y_true.shape if d != 1] != [d for d in y_pred.shape if d != 1]:
        raise shape_error(metric, y_pred, y_true, "y_true of y_pred's shape, up to axes of size 1")
    return y_true.detach().reshape(y_pred.shape)
