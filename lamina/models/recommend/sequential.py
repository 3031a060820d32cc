"""``lamina.models.SASRec`` and ``lamina.models.GRU4Rec``: next-item models over purchase sequences.

Each customer's training items, oldest first, are cut into windows of ``max_length`` targets
(:func:`~lamina.models.recommend.network.training_windows`); at every position the encoder reads
the items so far and predicts the next one. ``SASRec`` (Kang & McAuley, 2018) encodes with causal
self-attention (learned position embeddings, ``num_layers`` pre-norm blocks of ``num_heads``
heads); ``GRU4Rec`` (Hidasi et al., 2016) with a GRU over the same windows.

The output layer shares the item embeddings and adds an item bias: the score of item ``i`` after
state ``h`` is ``h . e_i + b_i``, so a query vector is ``[h, 1]`` and an item vector ``[e_i, b_i]``.
The loss is chosen at ``compile``: ``"cross_entropy"`` (the default: a softmax over the whole
catalogue at every position, cheap for a few thousand items) or ``"binary_cross_entropy"`` (the
original SASRec loss: the next item against one uniformly drawn negative). The full softmax is
the default after the literature (Online Retail rows: ``benchmarks/recommend_networks.py``).

A known customer's query is the state after their last ``max_length`` training items; an
anonymous history (a basket) runs through the same encoder.

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": list("abacb"), "time": range(5)})
>>> model = GRU4Rec(embedding_dim=8, max_length=4).compile(learning_rate=0.01)
>>> history = model.fit(interactions(log, "user", "item", "time"), epochs=2, verbose=0, seed=0)
>>> model.recommend(histories=[["a"]], k=2)[0].shape
(1, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, DataError, message
from lamina.models._names import check_dropout, refuse_renamed
from lamina.models.recommend.network import (
    NetworkRecommender,
    basket_numbers,
    check_count,
    left_padded,
    training_windows,
)

__all__ = ["GRU4Rec", "SASRec", "SequenceRecommender"]

LOSSES = ("cross_entropy", "binary_cross_entropy")


class SequenceRecommender(NetworkRecommender):
    """What ``SASRec`` and ``GRU4Rec`` share: item table, windows, loss and vectors.

    A subclass makes its encoder in ``build_encoder()`` and implements ``encode(sequences)``:
    (n, max_length) codes + 1 (0 before a short history) -> (n, max_length, embedding_dim).
    """

    _lamina_name = "lamina.models.recommend.SequenceRecommender"
    batch_size, learning_rate = 64, 5e-3

    def __init__(self, embedding_dim: int, max_length: int, dropout: float) -> None:
        super().__init__()
        owner = type(self).__name__
        check_count(owner, "embedding_dim", embedding_dim)
        check_count(owner, "max_length", max_length)
        check_dropout(owner, dropout)
        self.embedding_dim, self.max_length, self.dropout = embedding_dim, max_length, dropout
        self.item_embedding: nn.Embedding | None = None  # (items + 1, dim), row 0 is padding
        self.item_bias: nn.Parameter | None = None  # (items,)

    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = "cross_entropy",
        metrics: Sequence[Any] | None = None,
        **options: Any,
    ) -> SequenceRecommender:
        """``Model.compile`` with the full-softmax ``"cross_entropy"`` as default loss and the
        family's ``learning_rate`` (SASRec 5e-3, GRU4Rec 1e-2) for a named optimizer.

        ``loss="binary_cross_entropy"`` trains against one sampled negative per position instead.
        Returns the model.
        """
        if loss not in LOSSES:
            raise ConfigError(
                message(
                    f"{type(self).__name__} trains with a next-item loss.",
                    f"loss={loss!r}",
                    f"one of {LOSSES}",
                    "Pass loss='cross_entropy' (softmax over the catalogue).",
                )
            )
        super().compile(optimizer, loss, metrics, **options)
        return self

    def build_encoder(self) -> None:
        """Make the encoder layers (called when the item table is made)."""
        raise NotImplementedError

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        """(n, max_length) codes + 1 -> (n, max_length, embedding_dim) states."""
        raise NotImplementedError

    def build_network(self) -> bool:
        assert self.items_ is not None
        items = len(self.items_)
        if self.item_embedding is not None and self.item_embedding.num_embeddings == items + 1:
            return False
        device = self._device()
        self.item_embedding = nn.Embedding(
            items + 1, self.embedding_dim, padding_idx=0, device=device
        )
        nn.init.normal_(self.item_embedding.weight, std=self.embedding_dim**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[0] = 0
        self.item_bias = nn.Parameter(torch.zeros(items, device=device))
        self.build_encoder()
        self.to(device)
        return True

    def training_rows(self, interactions: Any) -> np.ndarray:
        """(windows, 2, max_length + 1): item codes + 1 (inputs ``[:-1]``, targets ``[1:]``) and
        the basket number + 1 of each place (0 for padding)."""
        indptr = self._history_indptr
        windows = training_windows(indptr, self._history_items, self.max_length)
        if not len(windows):
            raise DataError(
                message(
                    f"{type(self).__name__} needs customers with two items or more.",
                    "every customer has a single item",
                    "at least one customer with a sequence of 2+ items",
                    "Fit on a longer log, or use MatrixFactorization.",
                )
            )
        assert self.users_ is not None
        baskets = training_windows(
            indptr, basket_numbers(interactions, self.users_), self.max_length
        )
        return np.stack([windows, baskets], axis=1)

    def _output(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.item_embedding is not None and self.item_bias is not None
        return self.item_embedding.weight[1:], self.item_bias

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Next-item logits of windows: (n, 2, max_length + 1) -> (n, max_length, items)."""
        weights, bias = self._output()
        return self.encode(rows[:, 0, :-1]) @ weights.T + bias

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One step on windows: softmax over the catalogue (or one negative) at every position.

        Items bought at the same time have no order, so each step shuffles them inside their
        basket (the log lists them by item id, an order the model should not learn).
        """
        items, baskets = batch[0][:, 0], batch[0][:, 1]
        noise = torch.rand(baskets.shape, device=baskets.device) * 0.5
        order = (baskets.double() + noise).argsort(dim=1)  # baskets stay in time order
        rows = items.gather(1, order)
        targets = rows[:, 1:]
        present = (targets > 0) & (rows[:, :-1] > 0)  # (n, max_length): an item and a next one
        weights, bias = self._output()
        with self.engine.autocast():
            states = self.encode(rows[:, :-1])[present]  # (positions, dim)
            wanted = targets[present] - 1
            if self._compiled_or_raise("fit")["loss"] == "binary_cross_entropy":
                negatives = torch.randint(0, len(bias), wanted.shape, device=wanted.device)
                scores = torch.stack(
                    [
                        (states * weights[wanted]).sum(-1) + bias[wanted],
                        (states * weights[negatives]).sum(-1) + bias[negatives],
                    ],
                    1,
                )  # (positions, 2): the next item, then the negative
                labels = torch.zeros_like(scores)
                labels[:, 0] = 1
                loss = F.binary_cross_entropy_with_logits(scores, labels)
            else:
                loss = F.cross_entropy(states @ weights.T + bias, wanted)
        self.optimize(loss)
        return {"loss": loss.detach()}

    def query_vectors(
        self, users: torch.Tensor | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        """``[h, 1]``: the state after the last ``max_length`` items of each history."""
        if users is not None:
            histories = [self.history(int(code)) for code in users.tolist()]
        assert histories is not None
        sequences = left_padded(histories, self.max_length).to(self._device())
        if not len(sequences):
            return torch.zeros(0, self.embedding_dim + 1, device=self._device())
        states = self.encode(sequences)[:, -1]  # (n, dim): after the last item
        return torch.cat([states, torch.ones(len(states), 1, device=states.device)], 1)

    def item_vectors(self) -> torch.Tensor:
        """``[e_i, b_i]`` for every item: (items, dim + 1)."""
        weights, bias = self._output()
        return torch.cat([weights, bias[:, None]], 1)


class SASRec(SequenceRecommender):
    """Self-attentive sequential recommendation: causal attention over the last items.

    Args:
        embedding_dim: item and position vectors, and the width of every block.
        max_length: the most recent items read per customer (and targets per training window).
        num_layers: self-attention blocks (pre-norm, GELU feed-forward of the same width).
        num_heads: attention heads per block (must divide ``embedding_dim``).
        dropout: on the embeddings, the attention weights and the feed-forward outputs.

    Compile with ``"cross_entropy"`` (default) or ``"binary_cross_entropy"``; defaults: Adam with
    ``learning_rate`` 5e-3, ``fit(batch_size=64)``.
    """

    _lamina_name = "lamina.models.SASRec"

    def __init__(
        self,
        embedding_dim: int = 64,
        max_length: int = 50,
        num_layers: int = 2,
        num_heads: int = 2,
        dropout: float = 0.3,
        **renamed: Any,
    ) -> None:
        super().__init__(embedding_dim, max_length, dropout)
        refuse_renamed("SASRec", renamed)
        check_count("SASRec", "num_layers", num_layers)
        check_count("SASRec", "num_heads", num_heads)
        if embedding_dim % num_heads:
            raise ConfigError(
                message(
                    "SASRec needs num_heads to divide embedding_dim.",
                    f"embedding_dim={embedding_dim}, num_heads={num_heads}",
                    "embedding_dim % num_heads == 0",
                    "Pass e.g. embedding_dim=64, num_heads=2.",
                )
            )
        self.num_layers, self.num_heads = num_layers, num_heads
        self.positions: nn.Embedding | None = None
        self.blocks: nn.ModuleList | None = None
        self.norm: nn.LayerNorm | None = None
        self.input_dropout = nn.Dropout(dropout)

    def build_encoder(self) -> None:
        dim = self.embedding_dim
        self.positions = nn.Embedding(self.max_length, dim)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                self.num_heads,
                dim_feedforward=dim,
                dropout=self.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(self.num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        assert self.item_embedding is not None and self.positions is not None
        assert self.blocks is not None and self.norm is not None
        n, length = sequences.shape
        places = torch.arange(length, device=sequences.device)
        x = self.item_embedding(sequences) * self.embedding_dim**0.5 + self.positions(places)
        x = self.input_dropout(x)  # (n, length, dim)
        present = sequences > 0
        # A place sees itself and the items before it; padding is never attended to.
        allowed = places[None, :] <= places[:, None]  # (length, length), query x key
        allowed = allowed[None] & present[:, None, :] | torch.eye(
            length, dtype=torch.bool, device=sequences.device
        )  # (n, length, length)
        mask = torch.zeros(allowed.shape, device=x.device).masked_fill(~allowed, -torch.inf)
        mask = mask.repeat_interleave(self.num_heads, 0)  # (n * heads, length, length)
        for block in self.blocks:
            x = block(x, src_mask=mask) * present[..., None]
        return self.norm(x)  # type: ignore[no-any-return]


class GRU4Rec(SequenceRecommender):
    """Session-based recommendation with a GRU over each customer's last items.

    Args:
        embedding_dim: item vectors and the GRU's hidden size.
        max_length: the most recent items read per customer (and targets per training window).
        num_layers: stacked GRU layers.
        dropout: on the item embeddings and between GRU layers.

    Compile with ``"cross_entropy"`` (default) or ``"binary_cross_entropy"``; defaults: Adam with
    ``learning_rate`` 1e-2, ``fit(batch_size=64)``.
    """

    _lamina_name = "lamina.models.GRU4Rec"
    learning_rate = 1e-2

    def __init__(
        self,
        embedding_dim: int = 64,
        max_length: int = 50,
        num_layers: int = 1,
        dropout: float = 0.3,
        **renamed: Any,
    ) -> None:
        super().__init__(embedding_dim, max_length, dropout)
        refuse_renamed("GRU4Rec", renamed)
        check_count("GRU4Rec", "num_layers", num_layers)
        self.num_layers = num_layers
        self.gru: nn.GRU | None = None
        self.input_dropout = nn.Dropout(dropout)

    def build_encoder(self) -> None:
        dim = self.embedding_dim
        self.gru = nn.GRU(
            dim,
            dim,
            self.num_layers,
            batch_first=True,
            dropout=self.dropout if self.num_layers > 1 else 0.0,
        )

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        assert self.item_embedding is not None and self.gru is not None
        states, _ = self.gru(self.input_dropout(self.item_embedding(sequences)))
        return states  # type: ignore[no-any-return]
