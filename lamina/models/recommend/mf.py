"""``lamina.models.MatrixFactorization``: user and item factors trained with the BPR loss.

Bayesian personalised ranking (Rendle et al., 2009): for each training interaction (user ``u``,
item ``i``) an item ``j`` is drawn uniformly from the catalogue, and the step maximises
``log sigmoid(s(u, i) - s(u, j))`` with ``s(u, i) = p_u . q_i + b_i``, less an L2 penalty on the
embeddings the step used (``l2 * (|p_u|^2 + |q_i|^2 + |q_j|^2)``, averaged over the batch).

A known customer's query vector is ``[p_u, 1]`` and an item's vector ``[q_i, b_i]``, so the score
is one inner product. An anonymous history (a new customer's basket) has no ``p_u``: its query is
the **mean of the history's item factors**, ``[mean_h q_h, 1]`` (items bought together get
similar factors under BPR, so the mean points towards their neighbours); a basket thus gets
recommendations without refitting, though weaker than a known customer's.

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": list("abacb"), "time": range(5)})
>>> model = MatrixFactorization(embedding_dim=4).compile(learning_rate=0.05)
>>> history = model.fit(interactions(log, "user", "item", "time"), epochs=2, verbose=0, seed=0)
>>> model.recommend(users=[3], k=2)[0].shape
(1, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core import catalog as registry
from lamina.models._names import refuse_renamed
from lamina.models.recommend.network import NetworkRecommender, check_count, check_positive

__all__ = ["MatrixFactorization", "bpr_loss"]


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """The BPR loss ``mean(-log sigmoid(positive - negative))``; registered as ``"bpr"``.

    >>> round(float(bpr_loss(torch.tensor([0.0]), torch.tensor([0.0]))), 4)
    0.6931
    """
    return -F.logsigmoid(positive - negative).mean()


registry.registries["loss"].add("bpr", bpr_loss, overwrite=True)


class MatrixFactorization(NetworkRecommender):
    """Matrix factorisation with an item bias, trained with BPR on implicit feedback.

    Args:
        embedding_dim: factors per user and per item.
        l2: weight of the L2 penalty on the embeddings each step uses.
        init_scale: standard deviation of the initial factors.

    Learned: ``users_``, ``items_`` and the histories (see ``RecommenderMixin``); the tables
    ``user_factors`` (users, dim), ``item_factors`` (items, dim) and ``item_bias`` (items, 1).
    Defaults: loss ``"bpr"``, Adam with ``learning_rate`` 5e-3, ``fit(batch_size=1024)``.
    """

    _lamina_name = "lamina.models.MatrixFactorization"
    default_loss, batch_size, learning_rate = "bpr", 1024, 5e-3

    def __init__(
        self,
        embedding_dim: int = 64,
        l2: float = 1e-4,
        *,
        init_scale: float = 0.05,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("MatrixFactorization", renamed)
        check_count("MatrixFactorization", "embedding_dim", embedding_dim)
        check_positive("MatrixFactorization", "l2", l2, zero=True)
        check_positive("MatrixFactorization", "init_scale", init_scale)
        self.embedding_dim, self.l2, self.init_scale = embedding_dim, l2, init_scale
        self.user_factors: nn.Embedding | None = None
        self.item_factors: nn.Embedding | None = None
        self.item_bias: nn.Embedding | None = None

    def build_network(self) -> bool:
        assert self.users_ is not None and self.items_ is not None
        users, items = len(self.users_), len(self.items_)
        if (
            self.user_factors is not None
            and self.item_factors is not None
            and self.user_factors.num_embeddings == users
            and self.item_factors.num_embeddings == items
        ):
            return False
        device = self._device()
        self.user_factors = nn.Embedding(users, self.embedding_dim, device=device)
        self.item_factors = nn.Embedding(items, self.embedding_dim, device=device)
        self.item_bias = nn.Embedding(items, 1, device=device)
        nn.init.normal_(self.user_factors.weight, std=self.init_scale)
        nn.init.normal_(self.item_factors.weight, std=self.init_scale)
        nn.init.zeros_(self.item_bias.weight)
        return True

    def training_rows(self, interactions: Any) -> np.ndarray:
        """(interactions, 2) rows of (user code, item code)."""
        indptr, items = self._history_indptr, self._history_items
        users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        return np.stack([users, items], axis=1).astype(np.int64)

    def _layers(self) -> tuple[nn.Embedding, nn.Embedding, nn.Embedding]:
        assert self.user_factors is not None and self.item_factors is not None
        assert self.item_bias is not None
        return self.user_factors, self.item_factors, self.item_bias

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Scores of (user code, item code) rows: (n, 2) -> (n,)."""
        users, items, bias = self._layers()
        return (users(rows[:, 0]) * items(rows[:, 1])).sum(-1) + bias(rows[:, 1])[:, 0]

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One BPR step: a uniformly drawn negative item per (user, positive item) row."""
        rows = batch[0]
        users, items, bias = self._layers()
        negatives = torch.randint(0, items.num_embeddings, (len(rows),), device=rows.device)
        with self.engine.autocast():
            p, q, n = users(rows[:, 0]), items(rows[:, 1]), items(negatives)
            positive = (p * q).sum(-1) + bias(rows[:, 1])[:, 0]
            negative = (p * n).sum(-1) + bias(negatives)[:, 0]
            ranking = self.loss_fn(positive, negative)
            penalty = (p.pow(2).sum(-1) + q.pow(2).sum(-1) + n.pow(2).sum(-1)).mean()
            loss = ranking + self.l2 * penalty
        self.optimize(loss)
        return {"loss": loss.detach(), "bpr": ranking.detach()}

    def query_vectors(
        self, users: torch.Tensor | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        """``[p_u, 1]`` for users; ``[mean of the history's q, 1]`` for histories."""
        user_table, items, _ = self._layers()
        if users is not None:
            vectors = user_table(users)
        else:
            assert histories is not None
            vectors = (
                torch.stack(
                    [
                        items(torch.as_tensor(codes, device=self._device())).mean(0)
                        if len(codes)
                        else torch.zeros(self.embedding_dim, device=self._device())
                        for codes in histories
                    ]
                )
                if histories
                else torch.zeros(0, self.embedding_dim, device=self._device())
            )
        return torch.cat([vectors, torch.ones(len(vectors), 1, device=vectors.device)], 1)

    def item_vectors(self) -> torch.Tensor:
        """``[q_i, b_i]`` for every item: (items, dim + 1)."""
        _, items, bias = self._layers()
        return torch.cat([items.weight, bias.weight], 1)
