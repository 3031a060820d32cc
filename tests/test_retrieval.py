"""Retrieval over item vectors: FAISS HNSW against exact search, exclusions, bad inputs."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.errors import ConfigError, DataError, ShapeError
from lamina.data.interactions import interactions
from lamina.models.recommend import RecommenderMixin
from lamina.models.recommend.retrieval import EXACT_BELOW, ItemIndex, top_k

pytest.importorskip("faiss")

rng = np.random.default_rng(0)
ITEMS = rng.normal(size=(800, 16)).astype(np.float32)
QUERIES = rng.normal(size=(200, 16)).astype(np.float32)


def brute_force(queries, items, k, exclude=None):
    scores = queries @ items.T
    for row, codes in enumerate(exclude or []):
        scores[row, codes] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def test_exact_below_the_threshold_and_faiss_from_it():
    assert ItemIndex(ITEMS).exact and len(ITEMS) < EXACT_BELOW
    forced = ItemIndex(ITEMS, exact_below=0)
    assert not forced.exact and forced.graph.ntotal == len(ITEMS)
    assert "faiss HNSW" in repr(forced) and "exact" in repr(ItemIndex(ITEMS))


def test_faiss_and_exact_give_the_same_top_k():
    exact, approximate = ItemIndex(ITEMS), ItemIndex(ITEMS, exact_below=100)
    codes, scores = exact.search(QUERIES, k=10)
    expected, expected_scores = brute_force(QUERIES, ITEMS, 10)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    found, found_scores = approximate.search(QUERIES, k=10)
    np.testing.assert_array_equal(found, codes)
    np.testing.assert_allclose(found_scores, scores, rtol=1e-5, atol=1e-5)
    assert codes.dtype == np.int64 and scores.dtype == np.float32 and codes.shape == (200, 10)


def test_exclusions_are_never_returned_and_the_rest_moves_up():
    exclude = [
        rng.choice(len(ITEMS), size=int(rng.integers(0, 60)), replace=False) for _ in QUERIES
    ]
    exclude[0] = np.array([5, 5, 7])  # duplicates are fine
    expected, _ = brute_force(QUERIES, ITEMS, 10, exclude)
    for index in (ItemIndex(ITEMS), ItemIndex(ITEMS, exact_below=0)):
        codes, _ = index.search(QUERIES, k=10, exclude=exclude)
        np.testing.assert_array_equal(codes, expected)
        for row, banned in enumerate(exclude):
            assert not set(codes[row]) & set(banned.tolist())


def test_too_few_items_left_pads_with_minus_one():
    items = ITEMS[:6]
    for index in (ItemIndex(items), ItemIndex(items, exact_below=0)):
        codes, scores = index.search(QUERIES[:2], k=5, exclude=[[0, 1, 2], []])
        assert (codes[0, 3:] == -1).all() and np.isneginf(scores[0, 3:]).all()
        assert sorted(codes[0, :3].tolist()) == [3, 4, 5] and (codes[1] >= 0).all()


def test_ties_go_to_the_lower_code():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    codes, _ = ItemIndex(items).search(np.array([[1.0, 0.0]]), k=2)
    assert codes.tolist() == [[0, 2]]
    codes, _ = ItemIndex(items, exact_below=0).search(np.array([[1.0, 0.0]]), k=3)
    assert codes.tolist() == [[0, 2, 3]]
    assert top_k(np.array([[1.0, 3.0, 3.0, 3.0]]), 2)[0].tolist() == [[1, 2]]


def test_tensors_are_accepted():
    index = ItemIndex(torch.from_numpy(ITEMS))
    codes, _ = index.search(torch.from_numpy(QUERIES[:3]), k=4)
    np.testing.assert_array_equal(codes, brute_force(QUERIES[:3], ITEMS, 4)[0])


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: ItemIndex(ITEMS[0]), ShapeError, "2-d"),
        (lambda: ItemIndex(np.zeros((0, 4))), DataError, "at least one item"),
        (lambda: ItemIndex(np.full((3, 2), np.nan)), DataError, "NaN"),
        (lambda: ItemIndex([["a", "b"]]), DataError, "numbers"),
        (lambda: ItemIndex(ITEMS, exact_below=-1), ConfigError, "exact_below"),
        (lambda: ItemIndex(ITEMS, neighbours=1), ConfigError, "neighbours"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[0], 3), ShapeError, "v[None, :]"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:, :4], 3), ShapeError, "width"),
        (lambda: ItemIndex(ITEMS).search(QUERIES, 0), ConfigError, "k >= 1"),
        (lambda: ItemIndex(ITEMS).search(QUERIES, 801), ConfigError, "larger than the catalogue"),
        (lambda: ItemIndex(ITEMS).search(QUERIES, True), ConfigError, "k"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:2], 3, exclude=[[1]]), DataError, "per query"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:1], 3, exclude=[[800]]), DataError, "codes"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:1], 3, exclude=[[-1]]), DataError, "codes"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:1], 3, exclude=[["a"]]), DataError, "codes"),
        (lambda: ItemIndex(ITEMS).search(QUERIES[:1] * np.inf, 3), DataError, "infinite"),
    ],
)
def test_bad_inputs_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value)


def test_without_faiss_exact_works_and_faiss_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    assert ItemIndex(ITEMS).search(QUERIES[:1], 2)[0].shape == (1, 2)
    with pytest.raises(ImportError, match="pip install 'lamina\\[recommend\\]'"):
        ItemIndex(ITEMS, exact_below=0)


class VectorRecommender(RecommenderMixin):
    """A tiny network-like recommender: fixed user and item vectors, score = embed @ items.T."""

    def fit(self, data, dim=8, seed=0):
        self._set_catalogue(data)
        generator = np.random.default_rng(seed)
        self.user_vectors = generator.normal(size=(len(self.users_), dim)).astype(np.float32)
        self.item_vectors = generator.normal(size=(len(self.items_), dim)).astype(np.float32)
        return self

    def embed(self, users=None, histories=None):
        user_codes, history_codes, _ = self._queries(users, histories)
        if user_codes is not None:
            return torch.from_numpy(self.user_vectors[user_codes])
        return torch.from_numpy(np.stack([self.item_vectors[c].mean(0) for c in history_codes]))

    def item_embeddings(self):
        return torch.from_numpy(self.item_vectors)

    def _score_codes(self, users, histories):
        vectors = self.embed(
            users=None if users is None else self.users_[users],
            histories=None if histories is None else [list(self.items_[c]) for c in histories],
        )
        return vectors @ self.item_embeddings().T


def shop(users=40, items=300, seed=1):
    generator = np.random.default_rng(seed)
    rows = [
        (user, f"i{item}", t)
        for user in range(users)
        for t, item in enumerate(
            generator.choice(items, size=int(generator.integers(2, 30)), replace=False)
        )
    ]
    return interactions(pd.DataFrame(rows, columns=["u", "i", "t"]), "u", "i", "t")


def test_recommend_goes_through_faiss_past_the_threshold_with_the_same_answer():
    model = VectorRecommender().fit(shop())
    users = list(model.users_)
    exact_items, exact_scores = model.recommend(users=users, k=10)
    model.retrieval_exact_below = 0
    items, scores = model.recommend(users=users, k=10)
    assert not model.item_index().exact
    np.testing.assert_array_equal(items, exact_items)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)
    for row, user in enumerate(users):  # exclude_seen honoured on the FAISS path
        seen = set(model.items_[model.history(model.user_codes([user])[0])])
        assert not seen & set(items[row])
    basket = [["i1", "i2", "i3"]]
    np.testing.assert_array_equal(
        model.recommend(histories=basket, k=5)[0],
        VectorRecommender().fit(shop()).recommend(histories=basket, k=5)[0],
    )
    assert "i1" in model.recommend(histories=basket, k=300, exclude_seen=False)[0][0]


def test_the_index_is_kept_until_the_vectors_change():
    model = VectorRecommender().fit(shop())
    model.retrieval_exact_below = 0
    first = model.item_index()
    assert model.item_index() is first
    model.item_vectors = model.item_vectors * 2.0
    assert model.item_index() is not first
    assert model.item_index(search_depth=64).search_depth == 64


def test_item_index_needs_item_vectors():
    class Counts(RecommenderMixin):
        pass

    with pytest.raises(ConfigError, match="no item vectors"):
        Counts().item_index()


def test_a_network_recommends_the_same_through_faiss():
    from lamina.models import MatrixFactorization

    model = MatrixFactorization(embedding_dim=8).compile(learning_rate=0.05)
    model.fit(shop(), epochs=2, batch_size=64, verbose=0, seed=0)
    users = list(model.users_)
    exact = model.recommend(users=users, k=10)
    model.retrieval_exact_below = 0
    found = model.recommend(users=users, k=10)
    assert not model.item_index().exact
    np.testing.assert_array_equal(found[0], exact[0])
    np.testing.assert_allclose(found[1], exact[1], rtol=1e-5, atol=1e-5)
