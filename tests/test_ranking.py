"""Full-catalogue ranking metrics: hand-computed oracles on tiny rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lamina
from lamina.core.errors import ConfigError, DataError, ShapeError
from lamina.train.ranking import (
    MRR,
    NDCG,
    HitRate,
    RecallAtK,
    catalogue_coverage,
    novelty,
    target_ranks,
)

# Three users, five items. Targets rank 1, 3 and 5 with no exclusion.
SCORES = torch.tensor(
    [
        [0.9, 0.1, 0.2, 0.3, 0.4],  # target 0: rank 1
        [0.5, 0.4, 0.9, 0.1, 0.8],  # target 0: items 2 and 4 higher -> rank 3
        [0.5, 0.4, 0.3, 0.2, 0.1],  # target 4: rank 5
    ]
)
TARGETS = torch.tensor([0, 0, 4])


def compute(metric, scores=SCORES, targets=TARGETS, exclude=None):
    metric.update(scores, targets, exclude)
    return metric.compute()


def test_ranks_by_hand():
    assert target_ranks(SCORES, TARGETS).tolist() == [1, 3, 5]


def test_hit_rate_ndcg_mrr_recall_by_hand():
    assert compute(HitRate(k=1)) == pytest.approx(1 / 3)
    assert compute(HitRate(k=3)) == pytest.approx(2 / 3)
    assert compute(HitRate(k=5)) == pytest.approx(1.0)
    assert compute(RecallAtK(k=3)) == compute(HitRate(k=3))  # one target: recall@k == HR@k
    assert compute(NDCG(k=3)) == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert compute(NDCG(k=10)) == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(6)) / 3)
    assert compute(MRR()) == pytest.approx((1 + 1 / 3 + 1 / 5) / 3)


def test_exclusion_ranks_seen_items_last():
    exclude = torch.zeros(3, 5, dtype=torch.bool)
    exclude[1, [2, 4]] = True  # the two items above user 1's target were already bought
    exclude[2, [0, 1, 2]] = True  # user 2: only item 3 stays above the target
    assert target_ranks(SCORES, TARGETS, exclude).tolist() == [1, 1, 2]
    assert compute(HitRate(k=1), exclude=exclude) == pytest.approx(2 / 3)
    assert compute(MRR(), exclude=exclude) == pytest.approx((1 + 1 + 1 / 2) / 3)
    # An excluded target falls behind every item that is not excluded.
    only = torch.tensor([[True, False, False]])
    assert target_ranks(torch.tensor([[0.9, 0.1, 0.2]]), torch.tensor([0]), only).tolist() == [3]


def test_ties_count_only_strictly_higher_scores():
    scores = torch.tensor([[0.5, 0.5, 0.5, 0.7], [1.0, 1.0, 1.0, 1.0]])
    targets = torch.tensor([1, 3])
    assert target_ranks(scores, targets).tolist() == [2, 1]
    assert compute(NDCG(k=1), scores, targets) == pytest.approx(0.5)
    assert compute(MRR(), scores, targets) == pytest.approx((1 / 2 + 1) / 2)


def test_two_updates_equal_one():
    for make in (lambda: HitRate(k=2), lambda: NDCG(k=2), MRR):
        whole, parts = make(), make()
        whole.update(SCORES, TARGETS)
        parts.update(SCORES[:1], TARGETS[:1])
        parts.update(SCORES[1:], TARGETS[1:])
        assert parts.compute() == pytest.approx(whole.compute())
        parts.reset()
        assert parts.compute() == 0.0


def test_state_stays_on_device_as_tensors():
    metric = NDCG()
    metric.update(SCORES, TARGETS)
    assert isinstance(metric.result(), torch.Tensor)
    assert all(t.device == SCORES.device for t in metric.state_dict()["state"])


def test_registered_names_with_k_ten_default():
    for name, cls in (("hit_rate", HitRate), ("ndcg", NDCG), ("mrr", MRR), ("hr", HitRate)):
        assert name in lamina.registry.names("metric")
        metric = lamina.registry.get("metric", name)
        assert isinstance(metric, cls)
    assert lamina.registry.get("metric", "ndcg").k == 10
    assert lamina.registry.get("metric", "hit_rate", k=5).k == 5


def test_bad_input_is_explained():
    with pytest.raises(ConfigError, match="k=0"):
        HitRate(k=0)
    with pytest.raises(ShapeError, match="targets.shape"):
        HitRate().update(SCORES, TARGETS[:2])
    with pytest.raises(ShapeError, match="exclude.shape"):
        HitRate().update(SCORES, TARGETS, torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(DataError, match=r"\[0, 5\)"):
        catalogue_coverage([[0, 5]], num_items=5)
    with pytest.raises(DataError, match="non-negative"):
        novelty([[0]], [0, 0])


def test_coverage_by_hand():
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), num_items=10) == pytest.approx(0.3)
    assert catalogue_coverage(torch.tensor([[4, 4]]), num_items=5) == pytest.approx(0.2)
    assert catalogue_coverage([[0], [1, 2, 3]], num_items=4) == 1.0


def test_novelty_by_hand():
    popularity = np.array([4.0, 2.0, 1.0, 1.0, 0.0])  # p = 1/2, 1/4, 1/8, 1/8, unseen
    assert novelty([[0, 1]], popularity) == pytest.approx((1 + 2) / 2)
    assert novelty(torch.tensor([[2, 3]]), torch.tensor(popularity)) == pytest.approx(3.0)
    assert novelty([[4]], popularity) == pytest.approx(3.0)  # unseen: least popular seen item
    assert novelty([], popularity) == 0.0
