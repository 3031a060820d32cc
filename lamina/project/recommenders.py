"""Classical recommenders, the baselines a recommendation network has to beat.

Each learns from ``lamina.data.Interactions`` (the id-level API of
``lamina.models.recommend.RecommenderMixin``: ``recommend(users=..., histories=..., k)``,
``evaluate_ranking``) or from a sparse user x item 0/1 matrix ``X`` (scipy CSR, rows users,
columns items; then ``scores(user_rows)`` and ``recommend_rows``):

* :class:`Popularity` scores every item by how many users have it;
* :class:`ItemKNN` scores ``X @ S`` with ``S`` the cosine item-item similarity, its diagonal
  zeroed (optionally each column cut to the ``neighbours`` most similar items);
* :class:`EASE` (Steck 2019) scores ``X @ B`` with the closed form ``G = X^T X + l2 I``,
  ``P = G^-1``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``.

An anonymous basket is scored like a user who has exactly its items. :func:`evaluate_rankings`
measures HR@k, NDCG@k, MRR and catalogue coverage of a matrix-fitted model over the full
catalogue; ``lamina.project.recommender_files`` saves and loads them (safetensors and JSON).

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> log = pd.DataFrame({"u": [1, 1, 2, 3, 3, 3], "i": ["a", "b", "a", "a", "b", "c"],
...                     "t": [1, 2, 1, 1, 2, 3]})
>>> model = Popularity().fit(interactions(log, "u", "i", "t"))
>>> model.recommend(users=[2], k=2)[0].tolist(), model.recommend(histories=[["c"]], k=1)[0].tolist()
([['b', 'c']], [['a']])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from lamina.core.errors import ConfigError, DataError, NotBuiltError, message
from lamina.models.recommend.base import RecommenderMixin, check_k
from lamina.train.ranking import MRR, NDCG, HitRate, catalogue_coverage

__all__ = ["EASE", "ItemKNN", "Popularity", "evaluate_rankings"]


def _interactions(X: Any) -> sp.csr_matrix:
    """``X`` as a float32 CSR matrix of 0/1 (any positive entry counts as one interaction)."""
    if not (sp.issparse(X) or isinstance(X, np.ndarray)) or len(X.shape) != 2:
        raise DataError(
            message(
                "A recommender needs a 2-d user x item matrix.",
                f"{type(X).__name__} of shape {getattr(X, 'shape', None)}",
                "a scipy.sparse matrix (or numpy array) with users as rows and items as columns",
                "Build it with scipy.sparse.csr_matrix((ones, (user_ids, item_ids))).",
            )
        )
    matrix = sp.csr_matrix(X, dtype=np.float32)
    matrix.data = (matrix.data > 0).astype(np.float32)
    matrix.eliminate_zeros()
    return matrix


class _Recommender(RecommenderMixin):
    """Shared fitting and scoring over the fitted matrix ``X_``; subclasses score rows."""

    X_: sp.csr_matrix

    def fit(self, X: Any) -> _Recommender:
        """Learn from ``lamina.data.Interactions`` or a users x items 0/1 matrix; returns self."""
        if hasattr(X, "table"):
            self._set_catalogue(X)
            X = self.history_matrix()
        else:
            self.users_ = self.items_ = None
        self.X_ = _interactions(X)
        self._fit(self.X_)
        return self

    def history_matrix(self) -> sp.csr_matrix:
        """The users x items 0/1 CSR matrix of the training histories."""
        assert self._history_indptr is not None and self._history_items is not None
        assert self.users_ is not None and self.items_ is not None
        data = np.ones(len(self._history_items), dtype=np.float32)
        shape = (len(self.users_), len(self.items_))
        matrix = sp.csr_matrix((data, self._history_items, self._history_indptr), shape=shape)
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    def _fit(self, X: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def _score_codes(self, users: np.ndarray | None, histories: list[np.ndarray] | None) -> Any:
        if users is not None:
            return self._score(self.X_[users])
        assert histories is not None
        lengths = [len(np.unique(codes)) for codes in histories]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.concatenate([np.unique(codes) for codes in histories] or [np.zeros(0)])
        rows = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices.astype(np.int64), indptr),
            shape=(len(histories), self.X_.shape[1]),
        )
        return self._score(rows)

    def _rows(self, user_rows: Any) -> np.ndarray:
        if not hasattr(self, "X_"):
            raise NotBuiltError(
                message(
                    f"{type(self).__name__} is not fitted yet.",
                    "scores() or recommend() before fit()",
                    "fit(X) first",
                    "Call fit(X) with the user x item matrix.",
                )
            )
        rows = np.asarray(user_rows).reshape(-1)
        users = self.X_.shape[0]
        if rows.size and (
            not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0 or rows.max() >= users
        ):
            raise DataError(
                message(
                    "User rows must index rows of the fitted matrix.",
                    f"rows of dtype {rows.dtype} from {rows.min()} to {rows.max()}",
                    f"integer rows in [0, {users})",
                    "Map customer ids to the row numbers used to build X.",
                )
            )
        return rows.astype(np.int64)

    def scores(self, user_rows: Any) -> np.ndarray:
        """Scores of every item for the given users.

        Args:
            user_rows: (n,) integer rows of the fitted ``X``.

        Returns:
            (n, items) float32; higher is better.
        """
        rows = self._rows(user_rows)
        return np.asarray(self._score(self.X_[rows]), dtype=np.float32)

    def recommend_rows(self, user_rows: Any, k: int = 10, exclude_seen: bool = True) -> np.ndarray:
        """The top ``k`` item indices for rows of the fitted matrix, best first (ties: lower
        index first).

        Args:
            user_rows: (n,) integer rows of the fitted ``X``.
            k: how many items per user (capped at the catalogue size).
            exclude_seen: leave out the items each user already has in ``X``.

        Returns:
            (n, min(k, items)) int64 item indices.
        """
        k = check_k(k)
        rows = self._rows(user_rows)
        scores = self.scores(rows)
        if exclude_seen:
            scores[self.X_[rows].toarray() > 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")
        return order[:, : min(k, scores.shape[1])].astype(np.int64)

    def __repr__(self) -> str:
        params = ", ".join(
            f"{key}={value!r}"
            for key, value in vars(self).items()
            if key[0] != "_" and key[-1] != "_"
        )
        return f"lamina.project.recommenders.{type(self).__name__}({params})"


class Popularity(_Recommender):
    """Recommends the items most users have, the same list for everyone (minus what they have)."""

    popularity_: np.ndarray

    def _fit(self, X: sp.csr_matrix) -> None:
        self.popularity_ = np.asarray(X.sum(axis=0), dtype=np.float32).reshape(-1)

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.popularity_, (rows.shape[0], 1))


class ItemKNN(_Recommender):
    """Item-based nearest neighbours with cosine similarity.

    ``S[i, j] = |users with i and j| / sqrt(|users with i| * |users with j|)``, with
    ``S[j, j] = 0``; with ``neighbours`` set, each column ``j`` keeps only its ``neighbours``
    largest entries (the items most similar to ``j``). A user's score for ``j`` is the sum
    of ``S[i, j]`` over the items ``i`` they have: ``scores = X @ S``.

    Args:
        neighbours: how many most similar items each item keeps; None (the default) keeps all.
    """

    similarity_: np.ndarray

    def __init__(self, neighbours: int | None = None) -> None:
        if neighbours is not None and (
            isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1
        ):
            raise ConfigError(
                message(
                    "ItemKNN needs neighbours >= 1.",
                    f"neighbours={neighbours!r}",
                    "an int >= 1, or None for all",
                    "Pass e.g. neighbours=100.",
                )
            )
        self.neighbours = neighbours

    def _fit(self, X: sp.csr_matrix) -> None:
        gram = (X.T @ X).toarray().astype(np.float64)  # (items, items) co-occurrence counts
        norms = np.sqrt(np.diag(gram))
        similarity = gram / np.maximum(np.outer(norms, norms), 1e-12)
        np.fill_diagonal(similarity, 0.0)
        items = similarity.shape[0]
        if self.neighbours is not None and self.neighbours < items:
            # Keep the largest `neighbours` entries of each column; zero the rest.
            cut = np.argpartition(-similarity, self.neighbours - 1, axis=0)[self.neighbours :]
            np.put_along_axis(similarity, cut, 0.0, axis=0)
        self.similarity_ = similarity.astype(np.float32)  # dense: all neighbours by default

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(rows @ self.similarity_)


class EASE(_Recommender):
    """EASE (Steck 2019): a shallow item-item autoencoder with a closed-form solution.

    ``G = X^T X + l2 I``, ``P = G^-1``, ``B[i, j] = -P[i, j] / P[j, j]`` and ``B[j, j] = 0``;
    ``scores = X @ B``. Memory and time grow with items squared and cubed (a dense inverse).

    Args:
        l2: the ridge penalty on ``B``; larger values shrink towards popularity.
    """

    weights_: np.ndarray

    def __init__(self, l2: float = 50.0) -> None:
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 > 0:
            raise ConfigError(
                message("EASE needs l2 > 0.", f"l2={l2!r}", "a number > 0", "Pass e.g. l2=50.0.")
            )
        self.l2 = l2

    def _fit(self, X: sp.csr_matrix) -> None:
        gram = (X.T @ X).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)  # divides column j by P[j, j]
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights.astype(np.float32)

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(rows @ self.weights_)


def evaluate_rankings(
    model: Any, train_matrix: Any, test_items: Any, k: int = 10, batch_size: int = 1024
) -> dict[str, float]:
    """HR@k, NDCG@k, MRR and catalogue coverage of ``model`` on held-out items.

    Every item is ranked (no sampled negatives); the items a user has in ``train_matrix`` are
    ranked last. Users are scored ``batch_size`` at a time to bound memory.

    Args:
        model: a fitted recommender with ``scores(user_rows) -> (n, items)``.
        train_matrix: the users x items 0/1 matrix the model was fitted on.
        test_items: (users,) the held-out item of each row; negative for users not tested.
        k: the cut-off of the hit rate, NDCG and the recommendation lists behind coverage.
        batch_size: users scored at once.

    Returns:
        ``{"hr@k", "ndcg@k", "mrr", "coverage"}`` as floats (``k`` written out, e.g. ``hr@10``).
    """
    matrix = _interactions(train_matrix)
    targets = np.asarray(test_items).reshape(-1)
    if targets.shape[0] != matrix.shape[0] or not np.issubdtype(targets.dtype, np.integer):
        raise DataError(
            message(
                "test_items must hold one integer item id per row of the training matrix.",
                f"{targets.shape[0]} values of dtype {targets.dtype} for {matrix.shape[0]} rows",
                "(users,) ints, negative for users without a held-out item",
                "Pass e.g. -1 for users who are not tested.",
            )
        )
    users = np.flatnonzero(targets >= 0)
    hit_rate, ndcg, mrr = HitRate(k), NDCG(k), MRR()
    recommended = []
    for start in range(0, len(users), batch_size):
        rows = users[start : start + batch_size]
        scores = torch.from_numpy(np.asarray(model.scores(rows), dtype=np.float32))
        exclude = torch.from_numpy(matrix[rows].toarray() > 0)
        batch_targets = torch.from_numpy(targets[rows].astype(np.int64))
        for metric in (hit_rate, ndcg, mrr):
            metric.update(scores, batch_targets, exclude)
        masked = scores.masked_fill(exclude, -torch.inf)
        recommended.append(masked.topk(min(k, masked.shape[1]), dim=1).indices)
    lists = torch.cat(recommended) if recommended else torch.zeros(0, k, dtype=torch.long)
    return {
        f"hr@{k}": hit_rate.compute(),
        f"ndcg@{k}": ndcg.compute(),
        "mrr": mrr.compute(),
        "coverage": catalogue_coverage(lists, matrix.shape[1]),
    }
