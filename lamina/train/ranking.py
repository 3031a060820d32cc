"""Ranking metrics over the full catalogue: hit rate, NDCG, MRR and recall at k, plus coverage
and novelty of recommendation lists.

Each row of ``scores`` (N, items) scores every item of the catalogue for one user (no sampled
negatives); ``targets`` (N,) holds the one held-out item per row; ``exclude`` (N, items), when
given, marks items to rank below everything (the ones the user already has). The rank of the
target is ``1 + the number of items with a strictly higher score``: ties go in the target's
favour, so a model that scores everything alike ranks every target first. An excluded target
gets the lowest score too, and is then ranked behind every item that is not excluded.

The metrics stream like ``lamina.metrics``: ``update`` keeps a sum and a count on the device
without syncing the host, ``compute`` reads the mean back once.

>>> metric = NDCG(k=2)
>>> metric.update(torch.tensor([[0.1, 0.9, 0.5], [0.8, 0.2, 0.4]]), torch.tensor([2, 0]))
>>> round(metric.compute(), 4)
0.8155
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lamina.core.catalog import registries
from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.train.metric_base import Metric

__all__ = [
    "MRR",
    "NDCG",
    "HitRate",
    "RecallAtK",
    "catalogue_coverage",
    "novelty",
    "target_ranks",
]


def target_ranks(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """The 1-based rank of each target among all items of its row (no host sync).

    Args:
        scores: (N, items) scores over the full catalogue; higher ranks first.
        targets: (N,) item ids of the held-out items.
        exclude: optional (N, items) bool mask of items ranked below everything.

    Returns:
        (N,) long tensor: 1 + the number of items scored strictly higher than the target.

    >>> target_ranks(torch.tensor([[0.3, 0.9, 0.3, 0.1]]), torch.tensor([2]))
    tensor([2])
    """
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ShapeError(
            message(
                "Ranking metrics need one score per item and one target item per row.",
                f"scores.shape={tuple(scores.shape)}, targets.shape={tuple(targets.shape)}",
                "scores (N, items) and targets (N,)",
                "Score the full catalogue for each user and pass one held-out item id per user.",
            )
        )
    if exclude is not None and exclude.shape != scores.shape:
        raise ShapeError(
            message(
                "The exclude mask does not match the scores.",
                f"exclude.shape={tuple(exclude.shape)}, scores.shape={tuple(scores.shape)}",
                "a bool mask of the scores' shape",
                "Pass exclude=None or a (N, items) mask of the items already seen.",
            )
        )
    scores = scores.detach()
    if exclude is not None:
        scores = scores.masked_fill(exclude.to(device=scores.device, dtype=torch.bool), -math.inf)
    index = targets.detach().to(device=scores.device, dtype=torch.long).unsqueeze(1)
    target_score = scores.gather(1, index)  # (N, 1)
    return (scores > target_score).sum(1) + 1


class _RankingMetric(Metric):
    """Mean over rows of a gain of the target's rank; state: (sum of gains, number of rows)."""

    def __init__(self, k: int = 10) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(
                message(
                    f"{type(self).__name__} needs a cut-off k >= 1.",
                    f"k={k!r}",
                    "an int >= 1",
                    "Pass e.g. k=10.",
                )
            )
        self.k = k
        self.reset()

    def gain(self, ranks: torch.Tensor) -> torch.Tensor:
        """The per-row value whose mean is the metric, from 1-based ranks."""
        raise NotImplementedError

    def update(  # type: ignore[override]
        self, scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> None:
        """Add one batch: ``scores`` (N, items), ``targets`` (N,), ``exclude`` (N, items) bool."""
        ranks = target_ranks(scores, targets, exclude)
        total, count = self._zeros(scores.device, (), ())
        total += self.gain(ranks).to(total.dtype).sum()
        count += ranks.numel()


class HitRate(_RankingMetric):
    """HR@k: the share of rows whose target is among the top ``k`` items.

    Args:
        k: the cut-off (10 by default).

    >>> metric = HitRate(k=1)
    >>> metric.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    >>> metric.compute()
    0.5
    """

    name = "hit_rate"

    def gain(self, ranks: torch.Tensor) -> torch.Tensor:
        return (ranks <= self.k).double()


class RecallAtK(HitRate):
    """Recall@k: the share of held-out items found in the top ``k``.

    With one held-out item per row (what ``update`` takes) recall@k equals :class:`HitRate`;
    it is kept under its own name because papers report both.

    Args:
        k: the cut-off (10 by default).
    """

    name = "recall_at_k"


class NDCG(_RankingMetric):
    """NDCG@k with one relevant item: ``1 / log2(rank + 1)`` when rank <= k, else 0.

    The ideal ranking puts the one relevant item first (DCG 1), so no normalisation is left.

    Args:
        k: the cut-off (10 by default).

    >>> metric = NDCG(k=10)
    >>> metric.update(torch.tensor([[0.5, 0.9, 0.1]]), torch.tensor([0]))
    >>> round(metric.compute(), 4)
    0.6309
    """

    name = "ndcg"

    def gain(self, ranks: torch.Tensor) -> torch.Tensor:
        ranks = ranks.double()
        return torch.where(ranks <= self.k, 1.0 / torch.log2(ranks + 1.0), 0.0)


class MRR(Metric):
    """Mean reciprocal rank of the target over the full ranking (no cut-off).

    >>> metric = MRR()
    >>> metric.update(torch.tensor([[0.5, 0.9, 0.1], [0.1, 0.2, 0.3]]), torch.tensor([0, 0]))
    >>> round(metric.compute(), 4)
    0.4167
    """

    name = "mrr"

    def update(  # type: ignore[override]
        self, scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> None:
        """Add one batch: ``scores`` (N, items), ``targets`` (N,), ``exclude`` (N, items) bool."""
        ranks = target_ranks(scores, targets, exclude)
        total, count = self._zeros(scores.device, (), ())
        total += (1.0 / ranks.to(total.dtype)).sum()
        count += ranks.numel()


def _item_ids(recommended_lists: Any, num_items: int) -> np.ndarray:
    """Every recommended item id, flattened into one int64 array, checked against the catalogue."""
    if isinstance(recommended_lists, torch.Tensor):
        ids = recommended_lists.detach().cpu().numpy().reshape(-1)
    elif isinstance(recommended_lists, np.ndarray):
        ids = recommended_lists.reshape(-1)
    else:
        lists = [np.asarray(items).reshape(-1) for items in recommended_lists]
        ids = np.concatenate(lists) if lists else np.zeros(0)
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= num_items):
        raise DataError(
            message(
                "A recommended item id is outside the catalogue.",
                f"ids from {ids.min()} to {ids.max()}",
                f"ids in [0, {num_items})",
                "Pass item indices of the catalogue, and num_items as its size.",
            )
        )
    return ids


def catalogue_coverage(recommended_lists: Any, num_items: int) -> float:
    """The share of the catalogue that appears in at least one recommendation list.

    Args:
        recommended_lists: (n, k) item ids as a tensor or array, or any iterable of id lists.
        num_items: the size of the catalogue.

    Returns:
        The number of distinct recommended items over ``num_items``, in [0, 1].

    >>> catalogue_coverage([[0, 1], [1, 2]], num_items=8)
    0.375
    """
    if num_items < 1:
        raise ConfigError(
            message(
                "The catalogue is empty.",
                f"num_items={num_items!r}",
                "an int >= 1",
                "Pass the number of items.",
            )
        )
    return len(np.unique(_item_ids(recommended_lists, num_items))) / num_items


def novelty(recommended_lists: Any, item_popularity: Any) -> float:
    """Mean self-information ``-log2 p(item)`` of the recommended items (higher: less popular).

    ``p(item)`` is the item's popularity over the sum of all popularities. An item with
    popularity 0 (never seen in training) takes the smallest positive popularity instead, so its
    self-information stays finite.

    Args:
        recommended_lists: (n, k) item ids as a tensor or array, or any iterable of id lists.
        item_popularity: (items,) interaction counts (or any non-negative weights) per item.

    Returns:
        The mean over every recommended item, in bits; 0.0 for no recommendations.

    >>> novelty([[0], [1]], [2, 1, 1])
    1.5
    """
    popularity = np.asarray(
        item_popularity.detach().cpu()
        if isinstance(item_popularity, torch.Tensor)
        else item_popularity,
        dtype=np.float64,
    ).reshape(-1)
    if popularity.size == 0 or (popularity < 0).any() or popularity.sum() <= 0:
        raise DataError(
            message(
                "Novelty needs a non-negative popularity per item with a positive total.",
                f"{popularity.size} values summing to {popularity.sum()}",
                "(items,) non-negative counts, not all zero",
                "Pass the training interaction count of each item.",
            )
        )
    ids = _item_ids(recommended_lists, popularity.size)
    if ids.size == 0:
        return 0.0
    p = np.maximum(popularity[ids], popularity[popularity > 0].min())
    return float(np.mean(-np.log2(p / popularity.sum())))


_metric = registries["metric"]
_metric.add("hit_rate", HitRate, aliases=("hr",))
_metric.add("ndcg", NDCG)
_metric.add("mrr", MRR)
_metric.add("recall_at_k", RecallAtK)
