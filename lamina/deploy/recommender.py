"""The request path of ``POST /recommend``: one customer or basket to the top ``k`` items, fast.

:class:`Recommending` wraps a fitted recommender (``lamina.models.recommend.RecommenderMixin``)
for serving one query at a time. Ids are looked up in dictionaries built once; the scores take
the cheapest exact route the model allows, and equal what ``model.recommend`` returns:

* EASE and item-kNN: the sum of the item-item rows of the query's items (no dense user row);
* popularity: the saved counts;
* a network with item vectors: the query vector (the known customers' computed once with
  ``embed``, a basket's per request), then a
  :class:`~lamina.models.recommend.retrieval.ItemIndex` built once (FAISS past ``exact_below``);
* any other recommender: ``model.score``.

Then the top ``k`` by ``argpartition`` (ties: lower item code first). Each answer says whether the
customer was known and which fallback served them: ``None`` (the model on the customer's
history), ``"basket"`` (an unknown customer: the basket, through the model's ``histories`` path)
or ``"popular"`` (an unknown customer without a basket: the items most customers had in
training), with a note in words.

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> from lamina.project.recommenders import EASE
>>> log = pd.DataFrame({"u": [1, 1, 2, 2, 3], "i": ["a", "b", "a", "c", "a"], "t": [1, 2, 1, 2, 1]})
>>> serving = Recommending(EASE(l2=1.0).fit(interactions(log, "u", "i", "t")))
>>> answer = serving.answer(customer=99, basket=None, k=2)
>>> answer.fallback, answer.ids
('popular', ['a', 'b'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from lamina.core.errors import ConfigError, message
from lamina.models.recommend.base import RecommenderMixin, UnknownIdError
from lamina.models.recommend.retrieval import EXACT_BELOW, ItemIndex, top_k
from lamina.project.recommenders import EASE, ItemKNN, Popularity

__all__ = ["Answer", "Recommending"]


@dataclass
class Answer:
    """One recommendation: item ids, names and scores, and how they were found."""

    ids: list[Any]
    names: list[str | None]
    scores: list[float]
    customer_known: bool
    fallback: str | None
    note: str
    unknown_items: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of ``POST /recommend``."""
        return {
            "items": [
                {"id": item, "name": name, "score": score}
                for item, name, score in zip(self.ids, self.names, self.scores)
            ],
            "customer_known": self.customer_known,
            "fallback": self.fallback,
            "note": self.note,
        }


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _kind(index: Any) -> type | None:
    """``int`` or ``str`` when every id of the index has that type, else None (mixed)."""
    kinds = {type(_python(value)) for value in index}
    if kinds <= {int}:
        return int
    return str if kinds <= {str} else None


class Recommending:
    """A fitted recommender ready to answer one query at a time.

    Args:
        model: a recommender fitted on interactions (classical or network).
        exact_below: a network's catalogue from this size on is searched with FAISS.

    Attributes:
        customer_kind, item_kind: ``int`` or ``str``, the JSON type of the ids (None: mixed).
        popular: item codes by training popularity, most popular first.
    """

    def __init__(self, model: Any, exact_below: int = EXACT_BELOW) -> None:
        if not isinstance(model, RecommenderMixin) or model.users_ is None:
            raise ConfigError(
                message(
                    "POST /recommend serves a recommender fitted on interactions.",
                    type(model).__name__,
                    "a lamina recommender (EASE, ItemKNN, Popularity, or a network) after "
                    "fit(lamina.data.Interactions)",
                    "Load it with lamina.project.recommender_files.load_recommender(folder).",
                )
            )
        assert model.items_ is not None
        self.model: Any = cast(Any, model)
        self.ids = [_python(item) for item in model.items_]
        self.customers = {_python(user): code for code, user in enumerate(model.users_)}
        self.codes = {item: code for code, item in enumerate(self.ids)}
        names = model.item_names_ or {}
        self.names = [names.get(item) for item in self.ids]
        self.customer_kind, self.item_kind = _kind(model.users_), _kind(model.items_)
        _, arrays = model.catalogue_state()
        counts = np.bincount(arrays["history_items"], minlength=len(self.ids))
        self.counts = counts.astype(np.float32)
        self.popular = np.lexsort((np.arange(len(counts)), -counts))  # ties: lower code first
        self.rows: np.ndarray | None = None  # item-item weights: scores = sum of rows
        self.index: ItemIndex | None = None
        self.user_vectors: np.ndarray | None = None
        if isinstance(model, EASE):
            self.rows = model.weights_
        elif isinstance(model, ItemKNN):
            self.rows = model.similarity_
        elif not isinstance(model, Popularity) and callable(getattr(model, "embed", None)):
            self.index = ItemIndex(self.model.item_embeddings(), exact_below=exact_below)
            # the known customers' query vectors, computed once: (users, d)
            users = list(self.customers)
            self.user_vectors = np.concatenate(
                [
                    np.asarray(self.model.embed(users=users[start : start + 4096]), np.float32)
                    for start in range(0, len(users), 4096)
                ]
            )

    @property
    def num_items(self) -> int:
        """How many items the catalogue has."""
        return len(self.ids)

    def unknown_items(self, basket: list[Any]) -> list[Any]:
        """The ids of ``basket`` that the catalogue does not have, in order, without repeats."""
        return list(dict.fromkeys(item for item in basket if item not in self.codes))

    def _scores(self, customer: Any, by_user: bool, items: np.ndarray) -> np.ndarray:
        """(items,) scores of one query: a known customer's own (``by_user``) or of item codes."""
        if self.rows is not None:
            return np.asarray(self.rows[items].sum(axis=0, dtype=np.float32))
        if isinstance(self.model, Popularity):
            return self.counts.copy()
        if by_user:
            return np.array(self.model.score(users=[customer])[0], dtype=np.float32)
        return np.array(
            self.model.score(histories=[[self.ids[code] for code in items]])[0], dtype=np.float32
        )

    def answer(
        self,
        customer: Any = None,
        basket: list[Any] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
    ) -> Answer:
        """The top ``k`` items for a customer id and/or a basket of item ids.

        Args:
            customer: a customer id (unknown ones fall back), or None.
            basket: item ids in the current basket (all must be in the catalogue), or None.
            k: items to return, 1 <= k <= catalogue size (fewer when too few are left).
            exclude_seen: leave out the customer's past items and the basket.

        Raises:
            UnknownIdError: basket items the catalogue does not have (``kind`` "item").
        """
        basket = list(basket or [])
        unknown = self.unknown_items(basket)
        if unknown:
            raise UnknownIdError(
                message(
                    "Unknown item ids in the basket.",
                    unknown[:10],
                    f"ids among the {self.num_items} items of the catalogue, e.g. {self.ids[:3]}",
                    "Drop items the catalogue does not have (new products need a refit).",
                ),
                "item",
                unknown,
            )
        known = customer is not None and customer in self.customers
        basket_codes = np.array([self.codes[item] for item in basket], dtype=np.int64)
        history = self.model.history(self.customers[customer]) if known else basket_codes[:0]
        items = np.unique(np.concatenate([history, basket_codes]))
        fallback = None if known else ("basket" if len(basket) else "popular")
        note = self._note(customer, known, fallback, len(history), len(items), exclude_seen)
        if fallback == "popular":
            codes = self.popular[: min(k, self.num_items)]
            return self._answer(codes, self.counts[codes], known, fallback, note)
        left = self.num_items - (len(items) if exclude_seen else 0)
        if left <= 0:
            return self._answer(items[:0], np.zeros(0), known, fallback, note)
        k = min(k, left)
        if self.index is not None and self.user_vectors is not None:
            query = (
                self.user_vectors[self.customers[customer]][None, :]
                if known and not len(basket)
                else self.model.embed(histories=[[self.ids[code] for code in items]])
            )
            codes, scores = self.index.search(query, k, [items] if exclude_seen else None)
            return self._answer(codes[0], scores[0], known, fallback, note)
        scores = self._scores(customer, known and not len(basket), items)
        if exclude_seen:
            scores[items] = -np.inf
        codes, top = top_k(scores[None, :], k)
        return self._answer(codes[0], top[0], known, fallback, note)

    def _answer(
        self, codes: np.ndarray, scores: np.ndarray, known: bool, fallback: str | None, note: str
    ) -> Answer:
        return Answer(
            [self.ids[code] for code in codes],
            [self.names[code] for code in codes],
            [float(score) for score in scores],
            known,
            fallback,
            note,
        )

    @staticmethod
    def _note(
        customer: Any, known: bool, fallback: str | None, past: int, items: int, exclude: bool
    ) -> str:
        left = " (left out)" if exclude else ""
        if fallback is None:
            extra = f" and the basket ({items} distinct items)" if items > past else ""
            return f"From customer {customer!r}'s {past} past items{extra}{left}."
        who = (
            "No customer id"
            if customer is None
            else f"Customer {customer!r} is unknown (not in the training data)"
        )
        if fallback == "basket":
            return f"{who}: recommended from the basket's {items} items instead{left}."
        return f"{who} and no basket: the items most customers bought in training."
