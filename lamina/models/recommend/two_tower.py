"""``lamina.models.TwoTower``: a retrieval model with side features and in-batch sampled softmax.

Two towers map a customer and an item to ``embedding_dim``-d vectors whose dot product is the
score:

* the **user tower** reads the customer id, their country (``user_features["country"]``) and
  the mean of the item vectors of their last ``max_length`` items. A new customer's basket has no
  id or country (both take a learned "unknown" vector) but still has items, so it still gets a
  query vector; during training a share ``anonymous_rate`` of the rows hides id and country so
  that this path is learned.
* the **item tower** reads the item id, the words of its description (hashed into ``buckets``
  and averaged by an ``nn.EmbeddingBag``) and its median price (a log2 bucket, half-octave wide).

Both end in an MLP (``units`` hidden, ReLU) to the output vector. Training (Yi et al., 2019) takes
each training interaction in time order with the items before it as history; for a batch of
(customer, item) rows the other rows' items are the negatives of a softmax, with the logQ
correction: ``log(frequency of item j)`` is subtracted from every logit so that popular items,
which are negatives more often, are not pushed down for it. Duplicates of the row's own item are
left out of its negatives.

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": list("abacb"), "time": range(5)})
>>> model = TwoTower(embedding_dim=8, units=16).compile(learning_rate=0.01)
>>> history = model.fit(interactions(log, "user", "item", "time"), epochs=2, verbose=0, seed=0)
>>> model.embed(histories=[["a", "c"]]).shape
(1, 8)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lamina.models._names import check_dropout, refuse_renamed
from lamina.models.recommend.network import (
    NetworkRecommender,
    check_count,
    left_padded,
)

__all__ = ["PRICE_BUCKETS", "TwoTower", "description_words", "price_buckets"]

PRICE_BUCKETS = 41  # 0: unknown; 1..40: half-octaves of the price around 1
WORDS = 8  # description words kept per item


def description_words(texts: Sequence[Any], buckets: int, width: int = WORDS) -> np.ndarray:
    """Hashed word ids (1..buckets, 0 = none) of each text: (n, width) int64.

    Words are lower-case runs of letters and digits, hashed with CRC-32 (stable across runs).

    >>> description_words(["Red heart", None], 100, 3).tolist()
    [[56, 83, 0], [0, 0, 0]]
    """
    out = np.zeros((len(texts), width), dtype=np.int64)
    for row, text in enumerate(texts):
        words = re.findall(r"[a-z0-9]+", str(text).lower()) if isinstance(text, str) else []
        for place, word in enumerate(words[:width]):
            out[row, place] = zlib.crc32(word.encode()) % buckets + 1
    return out


def price_buckets(prices: Any) -> np.ndarray:
    """Log-price buckets: ``clip(floor(2 * log2(price)) + 20, 1, 40)``, 0 for unknown or <= 0.

    >>> price_buckets([1.0, 2.5, 0.0, float("nan")]).tolist()
    [20, 22, 0, 0]
    """
    values = np.asarray(prices, dtype=np.float64)
    known = np.isfinite(values) & (values > 0)
    buckets = np.floor(2 * np.log2(np.where(known, values, 1.0))) + 20
    return np.where(known, np.clip(buckets, 1, PRICE_BUCKETS - 1), 0).astype(np.int64)


def _tower(inputs: int, units: int, outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(inputs, units), nn.ReLU(), nn.Linear(units, outputs)
    )


class TwoTower(NetworkRecommender):
    """Two towers (customer, item) with side features, trained with in-batch sampled softmax.

    Args:
        embedding_dim: width of every embedding and of the output vectors.
        units: hidden width of each tower's MLP.
        max_length: the most recent items of a customer the user tower averages.
        dropout: on the tower inputs.
        buckets: hash buckets for description words.
        anonymous_rate: share of training rows whose customer id and country are hidden.

    Learned: the catalogue (``RecommenderMixin``), ``countries_`` (the countries of training, in
    code order), the feature buffers ``item_words`` (items, 8), ``item_price`` (items,) and
    ``user_country`` (users,), and the towers. Defaults: loss ``"cross_entropy"`` (the in-batch
    softmax), Adam with ``learning_rate`` 2e-3, ``fit(batch_size=1024)`` (more rows, more
    negatives).
    """

    _lamina_name = "lamina.models.TwoTower"
    batch_size, learning_rate = 1024, 2e-3
    item_words: torch.Tensor
    item_price: torch.Tensor
    user_country: torch.Tensor
    log_frequency: torch.Tensor

    def __init__(
        self,
        embedding_dim: int = 64,
        units: int = 128,
        max_length: int = 20,
        dropout: float = 0.1,
        *,
        buckets: int = 4096,
        anonymous_rate: float = 0.2,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("TwoTower", renamed)
        for name, value in (
            ("embedding_dim", embedding_dim),
            ("units", units),
            ("max_length", max_length),
            ("buckets", buckets),
        ):
            check_count("TwoTower", name, value)
        check_dropout("TwoTower", dropout)
        check_dropout("TwoTower", anonymous_rate)
        self.embedding_dim, self.units, self.max_length = embedding_dim, units, max_length
        self.dropout, self.buckets, self.anonymous_rate = dropout, buckets, anonymous_rate
        self.countries_: list[str] = []
        self.register_buffer("item_words", torch.zeros(0, WORDS, dtype=torch.long))
        self.register_buffer("item_price", torch.zeros(0, dtype=torch.long))
        self.register_buffer("user_country", torch.zeros(0, dtype=torch.long))
        self.register_buffer("log_frequency", torch.zeros(0), persistent=False)
        self.tables: nn.ModuleDict | None = None
        self.user_tower: nn.Sequential | None = None
        self.item_tower: nn.Sequential | None = None

    # ------------------------------------------------------------------ features and layers
    def network_state(self) -> dict[str, Any]:
        return {"country": list(self.countries_)}

    def set_network_state(self, state: Mapping[str, Any]) -> None:
        self.countries_ = list(state.get("country") or [])

    def learn_features(self, interactions: Any) -> None:
        """Countries, description words and price buckets from the interactions' side features."""
        assert self.users_ is not None and self.items_ is not None
        users = getattr(interactions, "user_features", None)
        country = pd.Series(None, index=self.users_, dtype=object)
        if users is not None and "country" in users:
            country = users["country"].reindex(self.users_)
        self.countries_ = sorted(str(c) for c in country.dropna().unique())
        items = getattr(interactions, "item_features", None)
        frame = pd.DataFrame(index=self.items_)
        if items is not None:
            frame = items.reindex(self.items_)
        texts = frame["description"].tolist() if "description" in frame else [None] * len(frame)
        prices = frame["price"] if "price" in frame else np.full(len(frame), np.nan)
        codes = pd.Index(self.countries_).get_indexer(country.astype(object).map(str)) + 1
        codes[country.isna().to_numpy()] = 0
        self._features = (
            description_words(texts, self.buckets),
            price_buckets(prices),
            codes.astype(np.int64),
        )

    def build_network(self) -> bool:
        assert self.users_ is not None and self.items_ is not None
        users, items, device = len(self.users_), len(self.items_), self._device()
        sizes = {"user": users + 1, "country": len(self.countries_) + 1, "item": items}
        if self.tables is not None and all(
            self.tables[name].num_embeddings == size for name, size in sizes.items()
        ):
            return False
        dim = self.embedding_dim
        self.tables = nn.ModuleDict(
            {
                "user": nn.Embedding(users + 1, dim),  # 0: an anonymous customer
                "country": nn.Embedding(len(self.countries_) + 1, dim),  # 0: unknown
                "history": nn.EmbeddingBag(items + 1, dim, mode="mean", padding_idx=0),
                "item": nn.Embedding(items, dim),
                "word": nn.EmbeddingBag(self.buckets + 1, dim, mode="mean", padding_idx=0),
                "price": nn.Embedding(PRICE_BUCKETS, dim),
            }
        )
        for weight in self.tables.parameters():
            nn.init.normal_(weight, std=0.05)
        self.user_tower = _tower(3 * dim, self.units, dim, self.dropout)
        self.item_tower = _tower(3 * dim, self.units, dim, self.dropout)
        self.item_words = torch.zeros(items, WORDS, dtype=torch.long)
        self.item_price = torch.zeros(items, dtype=torch.long)
        self.user_country = torch.zeros(users, dtype=torch.long)
        self.to(device)
        return True

    def training_rows(self, interactions: Any) -> np.ndarray:
        """(interactions, 3) rows: user code, item code, the item's place in the user's history."""
        words, price, country = self._features
        device = self._device()
        self.item_words = torch.from_numpy(words).to(device)
        self.item_price = torch.from_numpy(price).to(device)
        self.user_country = torch.from_numpy(country).to(device)
        indptr, items = self._history_indptr, self._history_items
        counts = np.bincount(items, minlength=len(self.item_price)).astype(np.float64)
        self.log_frequency = torch.from_numpy(np.log(np.maximum(counts, 1) / len(items))).float()
        self.log_frequency = self.log_frequency.to(device)
        users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        places = np.arange(len(items)) - indptr[users]
        return np.stack([users, items, places], axis=1).astype(np.int64)

    # ------------------------------------------------------------------ towers
    def _layers(self) -> tuple[nn.ModuleDict, nn.Sequential, nn.Sequential]:
        assert self.tables is not None
        assert self.user_tower is not None and self.item_tower is not None
        return self.tables, self.user_tower, self.item_tower

    def users_tower(
        self, users: torch.Tensor, countries: torch.Tensor, histories: torch.Tensor
    ) -> torch.Tensor:
        """Query vectors: user codes + 1 (0 anonymous), country codes (0 unknown) (n,), and
        history item codes + 1 (n, max_length), 0 for none -> (n, dim)."""
        tables, tower, _ = self._layers()
        parts = [tables["user"](users), tables["country"](countries), tables["history"](histories)]
        return tower(torch.cat(parts, 1))  # type: ignore[no-any-return]

    def items_tower(self, items: torch.Tensor) -> torch.Tensor:
        """Item vectors of item codes (n,) -> (n, dim)."""
        tables, _, tower = self._layers()
        parts = [
            tables["item"](items),
            tables["word"](self.item_words[items]),
            tables["price"](self.item_price[items]),
        ]
        return tower(torch.cat(parts, 1))  # type: ignore[no-any-return]

    def _histories(self, users: torch.Tensor, places: torch.Tensor) -> torch.Tensor:
        """(n, max_length) codes + 1 of the items before ``places`` in each user's history."""
        start = self.history_indptr[users]  # (n,)
        offsets = torch.arange(-self.max_length, 0, device=users.device)
        index = start[:, None] + places[:, None] + offsets  # (n, max_length)
        valid = index >= start[:, None]
        return torch.where(valid, self.history_items[index.clamp(min=0)] + 1, 0)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Scores of training rows (user, item, place): (n, 3) -> (n,)."""
        users, items = rows[:, 0], rows[:, 1]
        queries = self.users_tower(
            users + 1, self.user_country[users], self._histories(users, rows[:, 2])
        )
        return (queries * self.items_tower(items)).sum(-1)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """In-batch sampled softmax with logQ correction on (user, item, place) rows."""
        rows = batch[0]
        users, items = rows[:, 0], rows[:, 1]
        hidden = torch.rand(len(rows), device=rows.device) < self.anonymous_rate
        with self.engine.autocast():
            queries = self.users_tower(
                torch.where(hidden, 0, users + 1),
                torch.where(hidden, 0, self.user_country[users]),
                self._histories(users, rows[:, 2]),
            )
            logits = queries @ self.items_tower(items).T - self.log_frequency[items][None, :]
            same = items[:, None] == items[None, :]
            same.fill_diagonal_(False)  # another row with the same item is no negative
            logits = logits.masked_fill(same, -torch.inf)
            loss = self.loss_fn(logits, torch.arange(len(rows), device=rows.device))
        self.optimize(loss)
        return {"loss": loss.detach()}

    def query_vectors(
        self, users: torch.Tensor | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        """User-tower vectors of known users (id, country, last items) or of histories."""
        device = self._device()
        if users is not None:
            histories = [self.history(int(code)) for code in users.tolist()]
            countries = self.user_country[users]
            ids = users + 1
        else:
            assert histories is not None
            ids = countries = torch.zeros(len(histories), dtype=torch.long, device=device)
        if not len(histories):
            return torch.zeros(0, self.embedding_dim, device=device)
        return self.users_tower(ids, countries, left_padded(histories, self.max_length).to(device))

    def item_vectors(self) -> torch.Tensor:
        """Item-tower vectors of the whole catalogue: (items, dim)."""
        return self.items_tower(torch.arange(len(self.item_price), device=self._device()))
