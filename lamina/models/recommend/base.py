"""What every lamina recommender shares: the catalogue, id mapping, ``recommend`` and ``evaluate``.

A recommender learns from implicit feedback (``lamina.data.Interactions``: who bought what, when)
and ranks the **whole** catalogue for a known user or for an anonymous history (a basket). The
networks (``MatrixFactorization``, ``TwoTower``, ``SASRec``, ``GRU4Rec``) and the classical
baselines of ``lamina.project.recommenders`` all follow :class:`RecommenderMixin`:

* ``users_`` and ``items_`` (``pandas.Index``): the ids known at fit time; a position is a code;
* ``history(user)``: the codes of the items the user had in training, oldest first;
* ``score(users=None, histories=None)``: (n, items) float32 scores, higher is better;
* ``recommend(users=None, histories=None, k=10, exclude_seen=True)``: the top ``k`` item ids and
  their scores, best first, without what each user already has; a model with item vectors
  (``embed`` and ``item_embeddings``) and a catalogue of ``retrieval_exact_below`` items or more
  searches them with FAISS (``lamina.models.recommend.retrieval.ItemIndex``);
* ``evaluate_ranking(test, k=10)``: HR@k, NDCG@k, MRR, recall@k and coverage over the full
  catalogue, the user's training items ranked last.

A subclass implements ``_score_codes(users, histories)``: integer user codes (or None) and/or
lists of item-code arrays (or None), exactly one of the two given, to a (n, items) tensor or array.
An unknown user or item id raises :class:`UnknownIdError` (a ``DataError``) naming it, so a
service can answer 4xx and fall back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lamina.core.errors import ConfigError, DataError, NotBuiltError, message
from lamina.models.recommend.retrieval import EXACT_BELOW, ItemIndex, top_k
from lamina.train.ranking import MRR, NDCG, HitRate, RecallAtK, catalogue_coverage

__all__ = ["RecommenderMixin", "UnknownIdError", "check_k", "id_list"]


class UnknownIdError(DataError):
    """A user or item id the recommender did not see at fit time; ``unknown`` lists them."""

    def __init__(self, text: str, kind: str, unknown: list[Any]) -> None:
        super().__init__(text)
        self.kind = kind
        self.unknown = unknown


def id_list(index: pd.Index) -> list[Any]:
    """The ids of an index as JSON values (numpy ints and floats become Python ones)."""
    return [value.item() if isinstance(value, np.generic) else value for value in index]


def check_k(k: Any) -> int:
    """``k`` as an int >= 1, or a ConfigError naming it."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(
            message("recommend needs k >= 1.", f"k={k!r}", "an int >= 1", "Pass e.g. k=10.")
        )
    return int(k)


class RecommenderMixin:
    """Catalogue state and the id-level API shared by the recommenders (see the module doc)."""

    users_: pd.Index | None = None
    items_: pd.Index | None = None
    item_names_: dict[Any, str] | None = None  # item id -> description, when the log had one
    _history_indptr: np.ndarray | None = None  # (users + 1,) offsets into _history_items
    _history_items: np.ndarray | None = None  # item codes of every user, oldest first
    # Models with item vectors: from this catalogue size on, recommend() searches with FAISS.
    retrieval_exact_below: int = EXACT_BELOW
    _retrieval: tuple[bytes, ItemIndex] | None = None  # (hash of the item vectors, their index)

    # ------------------------------------------------------------------ catalogue
    def _set_catalogue(self, interactions: Any) -> None:
        """Learn users, items and each user's history from ``lamina.data.Interactions``."""
        for name in ("table", "users", "items"):
            if not hasattr(interactions, name):
                raise DataError(
                    message(
                        "A recommender learns from interactions.",
                        type(interactions).__name__,
                        "a lamina.data.Interactions (table, users, items)",
                        "Build it with lamina.data.interactions(log, user=..., item=..., "
                        "time=...) and split it with leave_last_out or time_cut.",
                    )
                )
        table = interactions.table.sort_values("time", kind="stable")
        self.users_ = pd.Index(interactions.users)
        self.items_ = pd.Index(interactions.items)
        features = getattr(interactions, "item_features", None)
        self.item_names_ = None
        if features is not None and "description" in features:
            names = features["description"].dropna()
            self.item_names_ = {key: str(value) for key, value in zip(id_list(names.index), names)}
        users = self.users_.get_indexer(table["user"])
        items = self.items_.get_indexer(table["item"])
        order = np.argsort(users, kind="stable")  # by user, time order kept inside a user
        self._history_items = items[order].astype(np.int64)
        counts = np.bincount(users, minlength=len(self.users_))
        self._history_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def catalogue_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The catalogue to save: JSON ids, and the history arrays (for safetensors)."""
        self._require_catalogue("save")
        assert self.users_ is not None and self.items_ is not None
        meta = {"users": id_list(self.users_), "items": id_list(self.items_)}
        if self.item_names_:
            meta["item_names"] = [self.item_names_.get(item) for item in meta["items"]]
        arrays = {"history_indptr": self._history_indptr, "history_items": self._history_items}
        return meta, {key: np.asarray(value) for key, value in arrays.items()}

    def set_catalogue_state(self, meta: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore what :meth:`catalogue_state` returned."""
        self.users_ = pd.Index(meta["users"])
        self.items_ = pd.Index(meta["items"])
        names = meta.get("item_names")
        self.item_names_ = None
        if names:
            self.item_names_ = {
                item: name for item, name in zip(meta["items"], names) if name is not None
            }
        self._history_indptr = np.asarray(arrays["history_indptr"], dtype=np.int64)
        self._history_items = np.asarray(arrays["history_items"], dtype=np.int64)
        if len(self._history_indptr) != len(self.users_) + 1:
            raise DataError(
                message(
                    "The saved catalogue is inconsistent.",
                    f"{len(self.users_)} users and {len(self._history_indptr)} offsets",
                    "one offset more than users",
                    "Save the recommender again.",
                )
            )

    def _require_catalogue(self, what: str) -> None:
        if self.users_ is None or self.items_ is None:
            raise NotBuiltError(
                message(
                    f"{type(self).__name__} has not been fitted.",
                    f"{what} before fit()",
                    "a recommender fitted on interactions",
                    "Call fit(train) with lamina.data.Interactions first.",
                )
            )

    @property
    def num_items(self) -> int:
        """How many items the catalogue has."""
        self._require_catalogue("num_items")
        assert self.items_ is not None
        return len(self.items_)

    def history(self, user_code: int) -> np.ndarray:
        """The item codes of one user (a code into ``users_``) in training, oldest first."""
        assert self._history_indptr is not None and self._history_items is not None
        start, stop = self._history_indptr[user_code], self._history_indptr[user_code + 1]
        return self._history_items[start:stop]

    # ------------------------------------------------------------------ ids to codes
    def user_codes(self, users: Sequence[Any]) -> np.ndarray:
        """Codes of user ids; :class:`UnknownIdError` names the ones never seen."""
        self._require_catalogue("recommend")
        assert self.users_ is not None
        ids = list(users) if not isinstance(users, (str, bytes)) else [users]
        codes = self.users_.get_indexer(pd.Index(ids, dtype=object if not ids else None))
        if (codes < 0).any():
            unknown = [ids[i] for i in np.flatnonzero(codes < 0)[:10]]
            raise UnknownIdError(
                message(
                    "Unknown user ids: the recommender did not see them at fit time.",
                    unknown,
                    f"ids among the {len(self.users_)} users of training, e.g. "
                    f"{id_list(self.users_[:3])}",
                    "Recommend from their basket instead (histories=[[item ids]]), or refit.",
                ),
                "user",
                unknown,
            )
        return codes.astype(np.int64)

    def item_codes(self, histories: Sequence[Sequence[Any]]) -> list[np.ndarray]:
        """Item-code arrays of histories of item ids; :class:`UnknownIdError` on unknown items."""
        self._require_catalogue("recommend")
        assert self.items_ is not None
        if isinstance(histories, (str, bytes)) or not all(
            isinstance(history, (list, tuple, np.ndarray, pd.Series)) for history in histories
        ):
            raise DataError(
                message(
                    "histories must be a list of item-id lists, one per query.",
                    repr(histories)[:200],
                    "e.g. [['85123A', '71053'], ['22423']]",
                    "Wrap a single basket in a list: histories=[basket].",
                )
            )
        codes = []
        for history in histories:
            ids = list(history)
            found = self.items_.get_indexer(pd.Index(ids, dtype=object if not ids else None))
            if (found < 0).any():
                unknown = [ids[i] for i in np.flatnonzero(found < 0)[:10]]
                raise UnknownIdError(
                    message(
                        "Unknown item ids in a history.",
                        unknown,
                        f"ids among the {len(self.items_)} items of the catalogue",
                        "Drop items the catalogue does not have, or refit with them.",
                    ),
                    "item",
                    unknown,
                )
            codes.append(found.astype(np.int64))
        return codes

    # ------------------------------------------------------------------ scoring
    def _score_codes(
        self, users: np.ndarray | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor | np.ndarray:
        raise NotImplementedError

    def _queries(
        self, users: Any, histories: Any
    ) -> tuple[np.ndarray | None, list[np.ndarray] | None, list[np.ndarray]]:
        """(user codes or None, history codes or None, the codes to exclude per query)."""
        if (users is None) == (histories is None):
            raise ConfigError(
                message(
                    "Pass exactly one of users and histories.",
                    f"users={users!r:.60}, histories={histories!r:.60}",
                    "users=[ids] for known customers, or histories=[[item ids]] for baskets",
                    "Use histories for a new customer's basket.",
                )
            )
        if users is not None:
            codes = self.user_codes(users)
            return codes, None, [self.history(code) for code in codes]
        item_codes = self.item_codes(histories)
        return None, item_codes, item_codes

    def score(self, users: Any = None, histories: Any = None) -> np.ndarray:
        """Scores of every item for each query (known users, or histories of item ids).

        Returns:
            (n, items) float32, higher is better; columns follow ``items_``.
        """
        user_codes, history_codes, _ = self._queries(users, histories)
        return self._as_array(self._score_codes(user_codes, history_codes))

    @staticmethod
    def _as_array(scores: torch.Tensor | np.ndarray) -> np.ndarray:
        if isinstance(scores, torch.Tensor):
            return scores.detach().float().cpu().numpy()
        return np.asarray(scores, dtype=np.float32)

    def recommend(
        self, users: Any = None, histories: Any = None, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` items for each query, best first.

        Args:
            users: ids of users seen at fit time (their training items are the history).
            histories: or, for new customers, lists of item ids (a basket, oldest first).
            k: items per query, capped at what every query can still get (the catalogue size,
                less the longest excluded history).
            exclude_seen: leave out each query's history.

        Returns:
            ``(items, scores)``: (n, k) item ids (dtype of ``items_``) and (n, k) float32.
        """
        k = check_k(k)
        user_codes, history_codes, seen = self._queries(users, histories)
        assert self.items_ is not None
        available = len(self.items_)
        if exclude_seen:
            available -= max((len(np.unique(codes)) for codes in seen), default=0)
        k = max(1, min(k, available))
        if self._has_vectors() and len(self.items_) >= self.retrieval_exact_below:
            queries = self.embed(users=users, histories=histories)  # type: ignore[attr-defined]
            codes, top = self.item_index().search(queries, k, seen if exclude_seen else None)
            return np.asarray(self.items_)[np.maximum(codes, 0)], top
        scores = self._as_array(self._score_codes(user_codes, history_codes)).copy()
        if exclude_seen:
            for row, codes in enumerate(seen):
                scores[row, codes] = -np.inf
        return self._top(scores, k)

    def _has_vectors(self) -> bool:
        return callable(getattr(self, "embed", None)) and callable(
            getattr(self, "item_embeddings", None)
        )

    def item_index(self, **options: Any) -> ItemIndex:
        """An :class:`~lamina.models.recommend.retrieval.ItemIndex` over ``item_embeddings()``.

        The index is kept and rebuilt only when the item vectors change (after more training).

        Args:
            options: ``ItemIndex`` keywords (``neighbours``, ``search_depth``, ...); the default
                ``exact_below`` is this model's ``retrieval_exact_below``.
        """
        if not self._has_vectors():
            raise ConfigError(
                message(
                    f"{type(self).__name__} has no item vectors to index.",
                    "no embed() and item_embeddings()",
                    "a network recommender (MatrixFactorization, TwoTower, SASRec, GRU4Rec)",
                    "Recommend with recommend(); classical models score the catalogue directly.",
                )
            )
        vectors = self.item_embeddings()  # type: ignore[attr-defined]
        if isinstance(vectors, torch.Tensor):
            vectors = vectors.detach().float().cpu().numpy()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        settings = {"exact_below": self.retrieval_exact_below, **options}
        key = hashlib.blake2b(vectors.data, digest_size=16)
        key.update(repr(sorted(settings.items())).encode())
        if self._retrieval is None or self._retrieval[0] != key.digest():
            self._retrieval = (key.digest(), ItemIndex(vectors, **settings))
        return self._retrieval[1]

    def _top(self, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` of each row (ties: lower item code first) as item ids and scores."""
        assert self.items_ is not None
        codes, top = top_k(scores, k)
        return np.asarray(self.items_)[np.maximum(codes, 0)], top

    # ------------------------------------------------------------------ evaluation
    def evaluate_ranking(self, test: Any, k: int = 10, batch_size: int = 512) -> dict[str, float]:
        """HR@k, NDCG@k, MRR, recall@k and catalogue coverage on held-out interactions.

        Every item is ranked (no sampled negatives); each user's training items rank last.
        Test rows of users or items unknown at fit time are left out (counted in ``skipped``).

        Args:
            test: ``lamina.data.Interactions`` (e.g. the second part of ``leave_last_out``).
            k: the cut-off.
            batch_size: users scored at once.
        """
        self._require_catalogue("evaluate_ranking")
        assert self.users_ is not None and self.items_ is not None
        k = check_k(k)
        users = self.users_.get_indexer(test.table["user"])
        items = self.items_.get_indexer(test.table["item"])
        known = (users >= 0) & (items >= 0)
        users, items = users[known], items[known]
        metrics = (HitRate(k), NDCG(k), MRR(), RecallAtK(k))
        top = min(k, len(self.items_))
        lists = []
        for start in range(0, len(users), batch_size):
            codes = users[start : start + batch_size]
            scores = torch.from_numpy(self._as_array(self._score_codes(codes, None)))
            exclude = torch.zeros(scores.shape, dtype=torch.bool)
            for row, code in enumerate(codes):
                exclude[row, torch.from_numpy(self.history(code))] = True
            targets = torch.from_numpy(items[start : start + batch_size])
            for metric in metrics:
                metric.update(scores, targets, exclude)
            lists.append(scores.masked_fill(exclude, -torch.inf).topk(top, dim=1).indices)
        recommended = torch.cat(lists) if lists else torch.zeros(0, top, dtype=torch.long)
        names = (f"hr@{k}", f"ndcg@{k}", "mrr", f"recall@{k}")
        result = {name: metric.compute() for name, metric in zip(names, metrics)}
        result["coverage"] = catalogue_coverage(recommended, len(self.items_))
        result["users"] = float(len(users))
        result["skipped"] = float((~known).sum())
        return result
