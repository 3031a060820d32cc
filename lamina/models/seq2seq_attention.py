"""The attention layers of ``lamina.models.Seq2Seq``: Bahdanau's additive score, Luong's "general".

Both map a query (a decoder state) and the keys (the encoder outputs) to a context and the weights
of a softmax over the real source steps; padded steps weigh exactly 0 (:func:`attend`). ``prepare``
projects the keys once per source, so that each decoding step only projects its query.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.nn.layers import Layer

__all__ = ["ATTENTIONS", "BahdanauAttention", "LuongAttention", "attend"]

ATTENTIONS = ("bahdanau", "luong")


def attend(
    scores: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights and context from raw scores, padded steps left out.

    Args:
        scores: (N, Q, T_in), one per query and key.
        keys: (N, T_in, key_size), the encoder outputs.
        mask: (N, T_in), True at real steps. Padded steps score the lowest float: their weight is
            exactly 0, and a row never turns NaN.

    Returns:
        ``(context, weights)``: the weighted keys (N, Q, key_size) and the softmax (N, Q, T_in).

    >>> mask = torch.tensor([[True, False]])
    >>> context, weights = attend(torch.zeros(1, 1, 2), torch.eye(2)[None], mask)
    >>> weights.tolist(), context.tolist()
    ([[[1.0, 0.0]]], [[[1.0, 0.0]]])
    """
    scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, keys), weights


class BahdanauAttention(Layer):
    """Additive attention (Bahdanau et al., 2015): ``score(q, k_j) = v . tanh(W_q q + W_k k_j)``.

    Args:
        query_size: size of a query (a decoder state).
        key_size: size of a key (an encoder output).
        units: size of the hidden layer inside the score.

    ``forward(query (N, Q, query_size), keys (N, T_in, key_size), mask (N, T_in))``, the mask True
    at real steps, returns the context (N, Q, key_size) and the weights (N, Q, T_in), 0 at padded
    steps.

    >>> attention = BahdanauAttention(4, 6, units=8)
    >>> mask = torch.tensor([[True, True, False]])
    >>> context, weights = attention(torch.ones(1, 2, 4), torch.ones(1, 3, 6), mask)
    >>> context.shape, weights[0, :, 2].tolist()
    (torch.Size([1, 2, 6]), [0.0, 0.0])
    """

    def __init__(self, query_size: int, key_size: int, units: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, units, bias=False)
        self.key_projection = nn.Linear(key_size, units, bias=False)
        self.score = nn.Linear(units, 1, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """The key projection, computed once per source: (N, T_in, key_size) -> (N, T_in, units)."""
        return self.key_projection(keys)  # type: ignore[no-any-return]

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        prepared: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prepared = self.prepare(keys) if prepared is None else prepared
        # (N, Q, T_in, units)
        hidden = torch.tanh(self.query_projection(query)[:, :, None] + prepared[:, None])
        return attend(self.score(hidden).squeeze(-1), keys, mask)  # scores (N, Q, T_in)


class LuongAttention(Layer):
    """Multiplicative attention, Luong et al.'s (2015) "general" score: ``q . (W k_j)``.

    Args:
        query_size: size of a query (a decoder state).
        key_size: size of a key (an encoder output).

    Shapes as in :class:`BahdanauAttention`.

    >>> mask = torch.ones(2, 5, dtype=torch.bool)
    >>> LuongAttention(4, 6)(torch.ones(2, 3, 4), torch.ones(2, 5, 6), mask)[1].shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.key_projection = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """``W k_j`` for every key, computed once per source: (N, T_in, key_size) ->
        (N, T_in, query_size)."""
        return self.key_projection(keys)  # type: ignore[no-any-return]

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        prepared: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prepared = self.prepare(keys) if prepared is None else prepared
        scores = torch.bmm(query, prepared.transpose(1, 2))  # (N, Q, T_in)
        return attend(scores, keys, mask)
