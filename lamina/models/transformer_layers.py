"""The building blocks of ``lamina.models.Transformer`` and ``TransformerLM``.

:class:`SelfAttention` (multi-head, over ``torch.nn.functional.scaled_dot_product_attention``) and
:class:`TransformerBlock` (pre-norm: attention then a feed-forward MLP, each in a residual branch);
:func:`sinusoidal_positions`, the fixed position table; :func:`init_weights`, GPT-2's
initialisation; and the checks of the sizes and of the token ids that both models share.

>>> from lamina.models.transformer_layers import TransformerBlock
>>> TransformerBlock(8, 2, causal=True)(torch.ones(3, 5, 8)).shape
torch.Size([3, 5, 8])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, DataError, message
from lamina.models._names import check_dropout, refuse_renamed
from lamina.nn.layers import Layer

__all__ = [
    "SelfAttention",
    "TransformerBlock",
    "check_ids",
    "check_sizes",
    "init_weights",
    "positive_int",
    "sinusoidal_positions",
]


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_sizes(
    owner: str, dim: Any, num_heads: Any, num_layers: Any, max_length: Any, dropout: Any
) -> None:
    for name, value in (
        ("embedding_dim", dim),
        ("num_heads", num_heads),
        ("num_layers", num_layers),
        ("max_length", max_length),
    ):
        if not positive_int(value):
            raise ConfigError(
                message(
                    f"{owner} {name} must be a positive int.",
                    f"{name}={value!r}",
                    "an int >= 1",
                    f"Pass e.g. {name}={ {'embedding_dim': 64, 'max_length': 256}.get(name, 2) }.",
                )
            )
    if dim % num_heads:
        raise ConfigError(
            message(
                f"{owner} embedding_dim must be divisible by num_heads (each head gets "
                "embedding_dim // num_heads).",
                f"embedding_dim={dim}, num_heads={num_heads}",
                "embedding_dim % num_heads == 0",
                f"Pass embedding_dim={num_heads * max(1, round(dim / num_heads))} or a num_heads "
                f"that divides {dim}.",
            )
        )
    check_dropout(owner, dropout)


def init_weights(module: nn.Module, num_layers: int) -> None:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, residual projections scaled by
    1/sqrt(2L)."""
    for name, parameter in module.named_parameters():
        if isinstance(parameter, nn.parameter.UninitializedParameter) or "norm" in name:
            continue
        if name.endswith("bias"):
            nn.init.zeros_(parameter)
        else:
            residual = name.endswith(("attention.out.weight", "feed_forward.2.weight"))
            nn.init.normal_(parameter, 0.0, 0.02 / math.sqrt(2 * num_layers) if residual else 0.02)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed position table of Vaswani et al.: ``sin`` on even features, ``cos`` on odd ones.

    Args:
        length: number of positions.
        dim: features per position.

    Returns:
        A float tensor of shape ``(length, dim)``.

    >>> sinusoidal_positions(4, 6)[0].tolist()
    [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    """
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )  # (ceil(dim/2),)
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class SelfAttention(Layer):
    """Multi-head self-attention over ``(N, T, dim)`` with ``F.scaled_dot_product_attention``.

    Args:
        embedding_dim: model width; each of the ``num_heads`` heads gets ``dim // num_heads``
            features.
        num_heads: attention heads.
        dropout: dropout on the attention weights (training only).
        causal: mask the future (position ``t`` attends to ``0..t`` only), as a language model
            needs.

    ``forward(x, mask=None)``: ``mask`` is a boolean ``(N, T)``, True at the steps that may be
    attended to (keys); returns ``(N, T, dim)``. The query, key and value projections are the
    three ``(dim, dim)`` blocks of ``qkv.weight``, in that order; ``out`` merges the heads.

    >>> SelfAttention(8, 2, causal=True)(torch.ones(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        num_heads: int = 4,
        dropout: float = 0.0,
        causal: bool = False,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("SelfAttention", renamed)
        dim = embedding_dim
        check_sizes("SelfAttention", dim, num_heads, 1, 1, dropout)
        self.embedding_dim, self.num_heads, self.dropout, self.causal = (
            dim,
            num_heads,
            dropout,
            causal,
        )
        self.qkv = nn.Linear(dim, 3 * dim)  # the three projections in one matrix multiply
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, steps, dim = x.shape
        heads = self.num_heads
        query, key, value = (  # (N, T, dim) -> (N, heads, T, dim // heads)
            part.reshape(batch, steps, heads, dim // heads).transpose(1, 2)
            for part in self.qkv(x).split(dim, -1)
        )
        attend = (
            None if mask is None else mask[:, None, None, :]
        )  # (N, T) -> (N, 1, 1, T): same for every query
        y = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attend,
            is_causal=self.causal,
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).reshape(
            batch, steps, dim
        )  # (N, heads, T, dim // heads) -> (N, T, dim)
        return self.out(y)  # type: ignore[no-any-return]


class TransformerBlock(Layer):
    """A pre-norm block: ``x + Dropout(Attention(LayerNorm(x)))``, then
    ``x + Dropout(MLP(LayerNorm(x)))``.

    Args:
        embedding_dim: model width.
        num_heads: attention heads.
        dropout: rate on the attention weights and on both residual branches.
        causal: causal self-attention (language models).

    The MLP is ``Linear(dim, 4 dim) -> GELU -> Linear(4 dim, dim)``. ``forward(x, mask=None)``
    maps ``(N, T, dim)`` to ``(N, T, dim)``; ``mask`` as in :class:`SelfAttention`.

    >>> TransformerBlock(8, 2)(torch.ones(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        num_heads: int = 4,
        dropout: float = 0.0,
        causal: bool = False,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("TransformerBlock", renamed)
        dim = embedding_dim
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, num_heads, dropout, causal)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x), mask))
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))  # type: ignore[no-any-return]


def check_ids(ids: torch.Tensor, vocabulary_size: int, owner: str, *, ranges: bool = True) -> None:
    """Integer ids in ``0..vocabulary_size-1``; the range needs a host sync, so ``ranges=False``
    skips it."""
    if ids.is_floating_point() or ids.is_complex():
        raise DataError(
            message(
                f"{owner} with vocabulary_size={vocabulary_size} reads integer token ids.",
                f"a {str(ids.dtype).replace('torch.', '')} tensor of shape {tuple(ids.shape)}",
                "int64 ids in 0..vocabulary_size-1",
                "Encode the text (e.g. lamina.sequences.CharVocabulary), or pass "
                "vocabulary_size=None for float sequences (Transformer only).",
            )
        )
    if not ranges or not ids.numel():
        return
    low, high = (int(v) for v in torch.aminmax(ids))
    if low < 0 or high >= vocabulary_size:
        raise DataError(
            message(
                f"{owner} got token ids outside its vocabulary.",
                f"ids from {low} to {high}",
                f"ids in 0..{vocabulary_size - 1} (vocabulary_size={vocabulary_size})",
                f"Build the model with vocabulary_size={high + 1} or more, or re-encode the ids.",
            )
        )
