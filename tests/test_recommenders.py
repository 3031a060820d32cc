"""Classical recommenders: closed forms and hand computations on tiny matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from lamina.core.errors import ConfigError, DataError, NotBuiltError
from lamina.project.recommenders import EASE, ItemKNN, Popularity, evaluate_rankings

# Four users, five items.
DENSE = np.array(
    [
        [1, 1, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 0, 1, 0],
    ],
    dtype=np.float64,
)
X = sp.csr_matrix(DENSE)


def test_ease_matches_its_closed_form():
    l2 = 2.0
    P = np.linalg.inv(DENSE.T @ DENSE + l2 * np.eye(5))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    model = EASE(l2=l2).fit(X)
    np.testing.assert_allclose(model.weights_, B, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.scores([0, 1, 2, 3]), DENSE @ B, rtol=1e-5, atol=1e-6)


def test_item_knn_by_hand():
    model = ItemKNN().fit(X)
    # items 0 and 1 share users 0 and 3; each has 3 users: cosine 2 / sqrt(3 * 3)
    assert model.similarity_[0, 1] == pytest.approx(2 / 3)
    # items 2 (users 1, 2) and 3 (users 2, 3): one shared user, cosine 1 / sqrt(2 * 2)
    assert model.similarity_[2, 3] == pytest.approx(0.5)
    assert model.similarity_.diagonal().tolist() == [0.0] * 5
    # user 1 has items 0 and 2; score of item 3 = S[0, 3] + S[2, 3] = 1/sqrt(6) + 1/2
    assert model.scores([1])[0, 3] == pytest.approx(1 / math.sqrt(6) + 0.5, rel=1e-6)


def test_item_knn_keeps_only_the_nearest_neighbours_of_each_item():
    full = ItemKNN().fit(X).similarity_.toarray()
    kept = ItemKNN(neighbours=1).fit(X).similarity_.toarray()
    assert ((kept > 0).sum(axis=0) <= 1).all()
    for item in range(5):
        best = full[:, item].max()
        assert kept[:, item].max() == pytest.approx(best)


def test_popularity_order_and_exclude_seen():
    model = Popularity().fit(X)
    assert model.popularity_.tolist() == [3, 3, 2, 2, 1]
    # ties go to the lower item index; user 0 has items 0, 1 and 4
    assert model.recommend([2], k=5, exclude_seen=False).tolist() == [[0, 1, 2, 3, 4]]
    assert model.recommend([0], k=2).tolist() == [[2, 3]]


@pytest.mark.parametrize("make", [Popularity, ItemKNN, lambda: EASE(l2=1.0)])
def test_exclude_seen_honoured(make):
    model = make().fit(X)
    top = model.recommend([0, 1, 2, 3], k=2)
    assert top.shape == (4, 2)
    for row, items in enumerate(top):
        assert not DENSE[row, items].any()
    assert model.recommend([0], k=99, exclude_seen=False).shape == (1, 5)  # k capped
    assert model.scores([0, 1]).dtype == np.float32


def test_evaluate_rankings_by_hand():
    model = Popularity().fit(X)
    # popularity 3, 3, 2, 2, 1; user 0 has items 0, 1, 4 and user 1 has items 0, 2
    test_items = np.array([3, 4, -1, -1])
    result = evaluate_rankings(model, X, test_items, k=1, batch_size=1)
    # user 0: item 3 ties item 2 (both 2) -> rank 1; user 1: item 4 ranks behind items 1 and 3
    assert result["hr@1"] == pytest.approx(0.5)
    assert result["ndcg@1"] == pytest.approx(0.5)
    assert result["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert result["coverage"] == pytest.approx(2 / 5)  # top 1: item 2 or 3 (user 0), 1 (user 1)
    assert set(evaluate_rankings(EASE().fit(X), X, test_items)) == {
        "hr@10",
        "ndcg@10",
        "mrr",
        "coverage",
    }


def test_bad_input_is_explained():
    with pytest.raises(ConfigError, match="l2=0"):
        EASE(l2=0)
    with pytest.raises(ConfigError, match="neighbours=0"):
        ItemKNN(neighbours=0)
    with pytest.raises(NotBuiltError, match="fit"):
        Popularity().recommend([0])
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        Popularity().fit(X).recommend([4])
    with pytest.raises(DataError, match="2-d"):
        Popularity().fit([1, 0, 1])
    with pytest.raises(DataError, match="one integer item id per row"):
        evaluate_rankings(Popularity().fit(X), X, [0, 1])
