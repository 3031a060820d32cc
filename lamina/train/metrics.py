"""Metrics: stateful accumulators that stay on the device of the tensors they are given.

``update`` never syncs the host (no ``.item()``, no data-dependent shapes), so the fit loop can
call it every step on a GPU; ``compute`` reads the number back once. State is created on the
first ``update`` on ``y_pred``'s device, in float64 (float32 on MPS) so that sums stay exact over
long epochs. Classification metrics take logits, as lamina models output them: ``y_pred``
(..., C) with ``y_true`` class indices (...) or one-hot/probabilities (..., C); one output,
(N,) or (..., 1), is binary with ``y_true`` 0/1. ``result()`` is 0 before any update.

>>> metric = Accuracy()
>>> metric.update(torch.tensor([[2.0, 0.1], [0.3, 1.0]]), torch.tensor([0, 0]))
>>> metric.update(torch.tensor([[0.2, 0.9]]), torch.tensor([1]))
>>> round(metric.compute(), 4)
0.6667
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from lamina.core.catalog import registries
from lamina.core.errors import ConfigError, message
from lamina.train.metric_base import (
    Metric,
    Weight,
    broadcast_weights,
    class_scores,
    regression_targets,
    safe_divide,
    shape_error,
)

__all__ = [
    "AUC",
    "Accuracy",
    "F1Score",
    "Mean",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Perplexity",
    "Precision",
    "R2Score",
    "Recall",
    "TopKAccuracy",
]


class Mean(Metric):
    """Running (weighted) mean of the values given to ``update``; the fit loop's loss uses it.

    Args:
        name: the key in training logs, e.g. ``"loss"``.

    ``update(values, sample_weight=None)`` takes a tensor (often the 0-d batch loss) and an
    optional weight: a number (e.g. the batch size) or a tensor broadcastable to ``values``.

    >>> loss = Mean("loss")
    >>> loss.update(torch.tensor(1.0), sample_weight=3)
    >>> loss.update(torch.tensor(3.0), sample_weight=1)
    >>> loss.compute()
    1.5
    """

    def __init__(self, name: str = "mean") -> None:
        self.name = name
        self.reset()

    def update(
        self, values: torch.Tensor, y_true: object = None, sample_weight: Weight = None
    ) -> None:
        """Add ``values`` (``y_true`` is ignored) with weight ``sample_weight``."""
        total, count = self._zeros(values.device, (), ())
        weight = broadcast_weights(sample_weight, values.shape, total)
        total += (values.detach().to(total.dtype) * weight).sum()
        count += weight.sum()


class Accuracy(Metric):
    """Fraction of correct class predictions, optionally weighted per sample.

    Args:
        threshold: decision threshold of a single-output (binary) model, on logits: 0.0 means
            probability 0.5. ``fit`` and ``evaluate`` hand metrics logits even when the model ends
            in a sigmoid or softmax (``Model.metric_scores``).

    ``y_pred`` (N, C) or (N, T, C) takes the argmax against ``y_true`` class indices (N,) or
    (N, T), or against the argmax of a one-hot/probability ``y_true`` of ``y_pred``'s shape.
    ``y_pred`` (N,) or (N, 1) is binary. ``sample_weight``: (N,) or ``y_true``'s shape.

    >>> metric = Accuracy()
    >>> metric.update(torch.tensor([1.5, -0.2, 0.3]), torch.tensor([1, 0, 0]))
    >>> round(metric.compute(), 4)
    0.6667
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self.reset()

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        scores, labels = class_scores(self, y_pred, y_true)
        binary = scores.shape[-1] == 1
        predicted = (scores[..., 0] > self.threshold).long() if binary else scores.argmax(-1)
        correct, count = self._zeros(y_pred.device, (), ())
        # the common case: one comparison and one sum per batch, no weight tensor
        if sample_weight is None:
            correct += (predicted == labels).sum()
            count += labels.numel()
            return
        weight = broadcast_weights(sample_weight, labels.shape, correct)
        correct += (weight * (predicted == labels)).sum()
        count += weight.sum()


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Args:
        k: how many top classes count as a hit (capped at the number of classes).

    Shapes as in :class:`Accuracy` but with C > 1 outputs; ``sample_weight``: (N,).

    >>> metric = TopKAccuracy(k=2)
    >>> metric.update(torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]]), torch.tensor([2, 2]))
    >>> metric.compute()
    0.5
    """

    name = "top_k_accuracy"

    def __init__(self, k: int = 5) -> None:
        if k < 1:
            raise ConfigError(
                message("TopKAccuracy needs k >= 1.", f"k={k!r}", "an int >= 1", "Pass e.g. k=5.")
            )
        self.k = k
        self.reset()

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        scores, labels = class_scores(self, y_pred, y_true)
        if scores.shape[-1] == 1:
            raise shape_error(
                self, y_pred, y_true, "y_pred with one score per class, (..., C) with C > 1"
            )
        top = scores.topk(min(self.k, scores.shape[-1]), dim=-1).indices  # (..., k)
        correct, count = self._zeros(y_pred.device, (), ())
        weight = broadcast_weights(sample_weight, labels.shape, correct)
        correct += (weight * (top == labels.unsqueeze(-1)).any(-1)).sum()
        count += weight.sum()


class _ConfusionMetric(Metric):
    """Accumulates a (C, C) confusion matrix (rows: true class, columns: predicted class)."""

    _averages: ClassVar[tuple[str, ...]] = ("macro", "micro", "weighted")
    _kind: ClassVar[str]  # "precision", "recall" or "f1"

    def __init__(self, average: str = "macro", num_classes: int | None = None) -> None:
        if average not in self._averages:
            raise ConfigError(
                message(
                    f"Unknown average for {type(self).__name__}.",
                    repr(average),
                    f"one of {self._averages}",
                    "Pass average='macro'.",
                )
            )
        self.average = average
        self.num_classes = num_classes
        self.reset()

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        scores, labels = class_scores(self, y_pred, y_true)
        self._binary = scores.shape[-1] == 1
        classes = 2 if self._binary else scores.shape[-1]
        if self.num_classes is not None and classes != self.num_classes:
            raise shape_error(self, y_pred, y_true, f"{self.num_classes} classes (num_classes)")
        predicted = (scores[..., 0] > 0).long() if self._binary else scores.argmax(-1)
        (matrix,) = self._zeros(y_pred.device, (classes, classes))
        weight = broadcast_weights(sample_weight, labels.shape, matrix)
        # Labels outside [0, C), e.g. -100 padding, are skipped: bincount would sync on CUDA.
        valid = (labels >= 0) & (labels < classes)
        index = torch.where(valid, labels * classes + predicted, 0)
        matrix.view(-1).index_add_(0, index.reshape(-1), (weight * valid).reshape(-1))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "binary": getattr(self, "_binary", None)}

    def load_state_dict(
        self, state: Mapping[str, Any], device: torch.device | str | None = None
    ) -> None:
        super().load_state_dict(state, device)
        if state.get("binary") is not None:
            self._binary = bool(state["binary"])

    def result(self) -> torch.Tensor:
        if not self._state:
            return torch.zeros(())
        matrix = self._state[0]
        true_positive, predicted, actual = matrix.diagonal(), matrix.sum(0), matrix.sum(1)
        if self._binary:
            return self._score(true_positive[1], predicted[1], actual[1])
        if self.average == "micro":
            return self._score(true_positive.sum(), predicted.sum(), actual.sum())
        scores = self._score(true_positive, predicted, actual)
        if self.average == "weighted":
            return safe_divide((scores * actual).sum(), actual.sum())
        # like sklearn: classes seen in the data
        present = ((predicted + actual) > 0).to(scores.dtype)
        return safe_divide((scores * present).sum(), present.sum())

    def _score(
        self, true_positive: torch.Tensor, predicted: torch.Tensor, actual: torch.Tensor
    ) -> torch.Tensor:
        # predicted = tp + fp, actual = tp + fn; F1 = 2 tp / (2 tp + fp + fn)
        denominator = {"precision": predicted, "recall": actual, "f1": (predicted + actual) / 2}[
            self._kind
        ]
        return safe_divide(true_positive, denominator)


_CONFUSION_ARGS = """Args:
        average: how classes combine in a multiclass model: ``"macro"`` (mean over the classes
            seen in y_true or y_pred), ``"micro"`` (pooled counts) or ``"weighted"`` (by support).
            A single-output model is binary and scores the positive class 1.
        num_classes: optional check of the number of classes (2 for a binary model).

    Takes logits: argmax over classes, or threshold 0 for one output. ``sample_weight``: (N,).
    Labels outside [0, C) (e.g. -100 padding) are skipped. Zero division gives 0.
"""


class Precision(_ConfusionMetric):
    __doc__ = f"""Precision, tp / (tp + fp), from a streamed confusion matrix.

    {_CONFUSION_ARGS}
    >>> metric = Precision()
    >>> metric.update(torch.tensor([2.0, 1.0, -1.0]), torch.tensor([1, 0, 0]))
    >>> metric.compute()
    0.5
    """
    name = _kind = "precision"


class Recall(_ConfusionMetric):
    __doc__ = f"""Recall, tp / (tp + fn), from a streamed confusion matrix.

    {_CONFUSION_ARGS}
    >>> metric = Recall()
    >>> metric.update(torch.tensor([2.0, -1.0, -1.0]), torch.tensor([1, 1, 0]))
    >>> metric.compute()
    0.5
    """
    name = _kind = "recall"


class F1Score(_ConfusionMetric):
    __doc__ = f"""F1 score, 2 tp / (2 tp + fp + fn), from a streamed confusion matrix.

    {_CONFUSION_ARGS}
    >>> metric = F1Score(average="micro")
    >>> metric.update(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]]), torch.tensor([0, 1]))
    >>> metric.compute()
    0.5
    """
    name = _kind = "f1"


def _roc_auc(scores: torch.Tensor, positive: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """ROC AUC of each column of ``scores`` (M, K) as the Mann-Whitney U statistic.

    Tied scores share their average (mid) rank; ranks and counts are weighted. Fixed shapes
    throughout, so no host sync. Returns (K,), nan where a column lacks positives or negatives.
    """
    scores, order = scores.sort(dim=0)
    weight = weight.unsqueeze(1).expand_as(scores).gather(0, order)  # (M, K)
    positive = positive.gather(0, order).to(weight.dtype) * weight  # weight of each positive
    starts = torch.ones_like(scores, dtype=torch.bool)
    starts[1:] = scores[1:] != scores[:-1]
    group = starts.long().cumsum(0) - 1  # (M, K) index of each score's tie group
    group_weight = torch.zeros_like(weight).scatter_add_(0, group, weight)
    # weight below + half the tie
    midrank = (group_weight.cumsum(0) - group_weight / 2).gather(0, group)
    num_positive = positive.sum(0)
    num_negative = weight.sum(0) - num_positive
    u = (positive * midrank).sum(0) - num_positive**2 / 2
    pairs = num_positive * num_negative
    return torch.where(pairs > 0, u / torch.where(pairs > 0, pairs, 1.0), torch.nan)


class AUC(Metric):
    """Area under the ROC curve, exact over all batches (scores are kept on the device).

    Binary: ``y_pred`` logits (N,) or (N, 1), or (N, 2) scored as ``logit[:, 1] - logit[:, 0]``.
    Multiclass (N, C > 2): one-vs-rest over softmax probabilities, averaged over the classes
    present in ``y_true`` (sklearn's ``multi_class="ovr", average="macro"``). ``sample_weight``:
    (N,). AUC is nan when y_true lacks positives or negatives (sklearn raises instead).

    >>> metric = AUC()
    >>> metric.update(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
    >>> metric.compute()
    0.75
    """

    name = "auc"

    def reset(self) -> None:
        self._state = []
        self._batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        scores, labels = class_scores(self, y_pred, y_true)
        classes = scores.shape[-1]
        (outputs,) = self._zeros(y_pred.device, (classes,))  # only checks C against earlier batches
        if classes == 2:
            scores = scores[..., 1:] - scores[..., :1]
        elif classes > 2:
            scores = scores.softmax(-1)
        weight = broadcast_weights(sample_weight, labels.shape, outputs)
        self._batches.append(
            (scores.reshape(-1, scores.shape[-1]), labels.reshape(-1), weight.reshape(-1))
        )

    def state_dict(self) -> dict[str, Any]:
        # The kept scores, labels and weights, joined: a checkpoint mid-epoch must carry every
        # batch.
        return {
            **super().state_dict(),
            "batches": [torch.cat(part) for part in zip(*self._batches)],
        }

    def load_state_dict(
        self, state: Mapping[str, Any], device: torch.device | str | None = None
    ) -> None:
        super().load_state_dict(state, device)
        parts = [t.to(device) for t in state.get("batches", [])]
        self._batches = [(parts[0], parts[1], parts[2])] if parts else []

    def result(self) -> torch.Tensor:
        if not self._batches:
            return torch.tensor(torch.nan)
        scores, labels, weight = (torch.cat(parts) for parts in zip(*self._batches))
        if scores.shape[-1] == 1:
            return _roc_auc(scores, (labels == 1).unsqueeze(1), weight)[0]
        classes = torch.arange(scores.shape[-1], device=labels.device)
        return _roc_auc(scores, labels.unsqueeze(1) == classes, weight).nanmean()


class Perplexity(Metric):
    """``exp`` of the mean token cross-entropy over everything seen (the language-model metric).

    Args:
        ignore_index: the target id of tokens to skip (padding), as in ``F.cross_entropy``.

    ``y_pred`` logits (N, C) or (N, T, C), classes last (torch's ``cross_entropy`` wants (N, C, T));
    ``y_true`` integer ids (N,) or (N, T). The cross-entropy is summed per token, so batches of
    different lengths weigh by their tokens. ``sample_weight``: (N,) or ``y_true``'s shape.

    >>> metric = Perplexity()
    >>> metric.update(torch.zeros(2, 3, 4), torch.tensor([[0, 1, -100], [2, 3, 3]]))
    >>> round(metric.compute(), 4)
    4.0
    """

    name = "perplexity"

    def __init__(self, ignore_index: int = -100) -> None:
        self.ignore_index = ignore_index
        self.reset()

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        if y_pred.ndim < 2 or y_true.shape != y_pred.shape[:-1]:
            raise shape_error(self, y_pred, y_true, "y_true of shape y_pred.shape[:-1] (token ids)")
        total, count = self._zeros(y_pred.device, (), ())
        logits = y_pred.detach().reshape(-1, y_pred.shape[-1]).float()  # (N*T, C)
        labels = y_true.detach().reshape(-1).long()
        # 0 where ignored
        nll = F.cross_entropy(logits, labels, ignore_index=self.ignore_index, reduction="none")
        weight = broadcast_weights(sample_weight, y_true.shape, total).reshape(-1) * (
            labels != self.ignore_index
        )
        total += (weight * nll.to(total.dtype)).sum()
        count += weight.sum()

    def result(self) -> torch.Tensor:
        return super().result().exp() if self._state else torch.zeros(())


class _MeanError(Metric):
    """Weighted mean of ``|y_pred - y_true| ** _power`` over all samples and outputs."""

    _power: ClassVar[int]

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        target = regression_targets(self, y_pred, y_true)
        total, count = self._zeros(y_pred.device, (), ())
        weight = broadcast_weights(sample_weight, y_pred.shape, total)
        error = (y_pred.detach().to(total.dtype) - target.to(total.dtype)).abs() ** self._power
        total += (weight * error).sum()
        count += weight.sum()


class MeanSquaredError(_MeanError):
    """Mean squared error over all samples and outputs; ``sample_weight``: (N,) or y_pred's shape.

    >>> metric = MeanSquaredError()
    >>> metric.update(torch.tensor([1.0, 2.0]), torch.tensor([[1.0], [4.0]]))
    >>> metric.compute()
    2.0
    """

    name = "mse"
    _power = 2


class MeanAbsoluteError(_MeanError):
    """Mean absolute error over all samples and outputs; ``sample_weight``: (N,) or y_pred's shape.

    >>> metric = MeanAbsoluteError()
    >>> weight = torch.tensor([1.0, 3.0])
    >>> metric.update(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]), sample_weight=weight)
    >>> metric.compute()
    1.5
    """

    name = "mae"
    _power = 1


class R2Score(Metric):
    """Coefficient of determination, exact over all batches; outputs are averaged uniformly.

    Streams per output the weighted count, mean and sum of squared deviations of ``y_true``
    (merged batch by batch, Chan et al.) and the residual sum of squares. A constant ``y_true``
    gives 1.0 for a perfect fit and 0.0 otherwise, like sklearn. ``sample_weight``: (N,).

    >>> metric = R2Score()
    >>> metric.update(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    >>> metric.update(torch.tensor([2.0]), torch.tensor([3.0]))
    >>> metric.compute()
    0.5
    """

    name = "r2"

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        outputs = math.prod(y_pred.shape[1:])
        count, mean, squares, residual = self._zeros(y_pred.device, *[(outputs,)] * 4)
        weight = broadcast_weights(sample_weight, y_pred.shape, mean).reshape(-1, outputs)  # (N, D)
        target = regression_targets(self, y_pred, y_true).to(mean.dtype).reshape(-1, outputs)
        prediction = y_pred.detach().to(mean.dtype).reshape(-1, outputs)
        batch_count = weight.sum(0)
        batch_mean = safe_divide((weight * target).sum(0), batch_count)
        delta = batch_mean - mean
        total = count + batch_count
        squares += (weight * (target - batch_mean) ** 2).sum(0) + safe_divide(
            delta**2 * count * batch_count, total
        )
        mean += safe_divide(delta * batch_count, total)
        count += batch_count
        residual += (weight * (target - prediction) ** 2).sum(0)

    def result(self) -> torch.Tensor:
        if not self._state:
            return torch.zeros(())
        _, _, squares, residual = self._state
        exact = (residual == 0).to(squares.dtype)  # sklearn's force_finite for a constant y_true
        return torch.where(
            squares == 0, exact, 1 - residual / torch.where(squares == 0, 1.0, squares)
        ).mean()


_metric = registries["metric"]
_metric.add("mean", Mean)
_metric.add("accuracy", Accuracy, aliases=("acc",))


def _accuracy_named(name: str) -> Callable[..., Accuracy]:
    """Keras's accuracy names: the same :class:`Accuracy` (on logits), logged under the Keras name.

    ``categorical_accuracy`` compares the argmax of one-hot targets, ``sparse_categorical_accuracy``
    class ids, ``binary_accuracy`` thresholds one output at probability 0.5 (logit 0).
    """

    def make(**options: Any) -> Accuracy:
        metric = Accuracy(**options)
        metric.name = name
        return metric

    make.__name__ = make.__qualname__ = name
    return make


for _name in ("binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"):
    _metric.add(_name, _accuracy_named(_name))
_metric.add("top_k_accuracy", TopKAccuracy, aliases=("top_k",))
_metric.add("precision", Precision)
_metric.add("recall", Recall)
_metric.add("f1", F1Score, aliases=("f1_score",))
_metric.add("auc", AUC)
_metric.add("mse", MeanSquaredError, aliases=("mean_squared_error",))
_metric.add("mae", MeanAbsoluteError, aliases=("mean_absolute_error",))
_metric.add("r2", R2Score, aliases=("r2_score",))
_metric.add("perplexity", Perplexity)
