"""``lamina.models.Transformer`` (an encoder classifier) and ``TransformerLM`` (a GPT-style language
model).

Both stack pre-norm blocks, ``x + Attention(LayerNorm(x))`` then ``x + MLP(LayerNorm(x))``
(Vaswani et al., 2017; GPT-2's layout), around one :class:`SelfAttention` module that calls
``torch.nn.functional.scaled_dot_product_attention``:

* :class:`Transformer` reads token ids ``(N, T)`` (id 0 is padding: masked out of attention and of
  the pooling) or float sequences ``(N, T, features)``, adds learned or sinusoidal positions and
  pools (mean or a CLS token) into ``(N, outputs)`` logits;
* :class:`TransformerLM` is decoder-only (causal attention, learned positions, the output layer
  tied to the token embedding): ids ``(N, T)`` -> next-token logits ``(N, T, vocabulary_size)``,
  trained with ``fit(x, y)`` on ``lamina.sequences.windows``; :meth:`TransformerLM.generate`
  samples.

>>> import lamina
>>> from lamina.models.transformer import TransformerLM
>>> x, y = lamina.sequences.windows(np.arange(200) % 7 + 1, 16)
>>> model = TransformerLM(
...     vocabulary_size=8, embedding_dim=16, num_heads=2, num_layers=1, max_length=16
... )
>>> model = model.compile(optimizer="adamw", loss="cross_entropy", learning_rate=3e-3)
>>> history = model.fit(x, y, epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(12, 16, 8)
>>> model.generate([1, 2, 3], max_new_tokens=5, seed=0).shape
(8,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.models.transformer_layers import (
    SelfAttention,
    TransformerBlock,
    check_ids,
    check_sizes,
    init_weights,
    positive_int,
    sinusoidal_positions,
)
from lamina.nn import tensors as data_lib
from lamina.nn.layers import Dense
from lamina.nn.sequences import lengths

__all__ = ["SelfAttention", "Transformer", "TransformerBlock", "TransformerLM"]

POOLINGS = ("mean", "cls")
POSITIONS = ("learned", "sinusoidal")


def _host_check(x: torch.Tensor) -> bool:
    """True when a data check on ``x`` is free: a CPU tensor outside ``torch.compile`` tracing.

    ``fit``/``evaluate``/``predict`` check the ids once, on the CPU, before the data moves to the
    device; the forward pass repeats the check only where it costs no device sync or graph break.
    """
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


class _Sequences(Model):
    """Shared input handling: sequences of any length up to ``max_length``, not only the length seen
    at build."""

    max_length: int
    vocabulary_size: int | None

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        """The base checks, plus the token-id range once for the whole data (not once per step)."""
        tensors = super()._tensors(x, y, name)
        if self.vocabulary_size is not None:
            check_ids(tensors[0], self.vocabulary_size, self._lamina_name.rsplit(".", 1)[-1])
        return tensors

    def _check_input(self, x: torch.Tensor) -> None:
        spec = self.input_spec_
        expected = None if spec is None else spec["shape"]
        if expected is not None and (x.dim() != len(expected) or list(x.shape[2:]) != expected[2:]):
            raise ShapeError(
                message(
                    "The input shape differs from the one the model was built with.",
                    f"shape {(None, *x.shape[1:])}",
                    f"shape {(None, 'T', *expected[2:])} for any length T",
                    "Pass sequences with the same features as during fit.",
                )
            )

    def _check_length(self, steps: int, fix: str) -> None:
        if steps > self.max_length or steps < 1:
            raise ShapeError(
                message(
                    f"{self._lamina_name} got a sequence of the wrong length.",
                    f"T={steps}",
                    f"1 <= T <= max_length={self.max_length}",
                    fix,
                )
            )


class Transformer(_Sequences):
    """An encoder classifier: embed, add positions, pre-norm blocks, pool, ``Dense(outputs)``.

    Args:
        vocabulary_size: for token ids ``(N, T)``: the number of ids (0 is padding, masked out of
            attention and of the pooling). None for float sequences ``(N, T, features)``, which a
            linear layer projects to ``embedding_dim``; all-zero steps after a row's last nonzero
            step are padding there (as ``lamina.sequences.pad_sequences`` writes them).
        outputs: size of the output layer (the number of classes for ``cross_entropy``).
        embedding_dim: model width (embedding size), divisible by ``num_heads``.
        num_heads: attention heads per block.
        num_layers: transformer blocks.
        max_length: the longest sequence accepted (the size of the learned position table).
        dropout: rate on the embeddings, attention weights and residual branches, in ``[0, 1)``.
        pooling: ``"mean"`` (average of the non-padding steps) or ``"cls"`` (a learned token put
            before the sequence; its final state is the summary).
        positions: ``"learned"`` (a trained table) or ``"sinusoidal"`` (fixed sines and cosines).

    Output ``(N, outputs)`` logits.

    >>> model = Transformer(vocabulary_size=50, outputs=3, embedding_dim=16, num_heads=2)
    >>> model(torch.tensor([[4, 9, 0]])).shape
    torch.Size([1, 3])
    >>> model = Transformer(outputs=2, embedding_dim=8, pooling="cls", positions="sinusoidal")
    >>> model(torch.rand(5, 7, 3)).shape
    torch.Size([5, 2])
    """

    _lamina_name = "lamina.models.Transformer"

    def __init__(
        self,
        vocabulary_size: int | None = None,
        outputs: int = 2,
        embedding_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        *,
        max_length: int = 512,
        dropout: float = 0.0,
        pooling: str = "mean",
        positions: str = "learned",
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("Transformer", renamed)
        dim = embedding_dim
        check_sizes("Transformer", dim, num_heads, num_layers, max_length, dropout)
        if vocabulary_size is not None and (
            not positive_int(vocabulary_size) or vocabulary_size < 2
        ):
            raise ConfigError(
                message(
                    "Transformer vocabulary_size must be an int >= 2 (id 0 is padding), or None.",
                    f"vocabulary_size={vocabulary_size!r}",
                    "None for float sequences, else the number of token ids",
                    "Pass vocabulary_size=len(vocabulary).",
                )
            )
        if not positive_int(outputs):
            raise ConfigError(
                message(
                    "Transformer outputs must be a positive int.",
                    f"outputs={outputs!r}",
                    "an int >= 1",
                    "Pass outputs=2 for two classes.",
                )
            )
        if pooling not in POOLINGS or positions not in POSITIONS:
            raise ConfigError(
                message(
                    "Unknown Transformer pooling or positions.",
                    f"pooling={pooling!r}, positions={positions!r}",
                    f"pooling in {POOLINGS} and positions in {POSITIONS}",
                    "Pass pooling='mean' and positions='learned'.",
                )
            )
        self.vocabulary_size, self.outputs, self.embedding_dim = (
            vocabulary_size,
            outputs,
            embedding_dim,
        )
        self.num_heads = num_heads
        self.num_layers, self.max_length, self.dropout = num_layers, max_length, dropout
        self.pooling, self.positions = pooling, positions
        self.embedding: nn.Module = (
            Dense(dim) if vocabulary_size is None else nn.Embedding(vocabulary_size, dim, 0)
        )
        if positions == "learned":
            self.position = nn.Parameter(torch.zeros(max_length, dim))
        else:
            self.register_buffer(
                "position", sinusoidal_positions(max_length, dim), persistent=False
            )
        self.cls_token = nn.Parameter(torch.zeros(dim)) if pooling == "cls" else None
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, outputs)
        init_weights(self, num_layers)
        if isinstance(self.embedding, nn.Embedding):
            with torch.no_grad():
                self.embedding.weight[0].zero_()  # the padding id's vector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.vocabulary_size is not None:
            if x.dim() != 2:
                raise ShapeError(
                    message(
                        "Transformer with vocabulary_size reads token ids (N, T).",
                        f"shape {tuple(x.shape)}",
                        "(N, T) integer ids",
                        "Pad the id lists with lamina.sequences.pad_sequences.",
                    )
                )
            check_ids(x, self.vocabulary_size, "Transformer", ranges=_host_check(x))
            keep = x != 0  # (N, T): True at real tokens
        else:
            if x.dim() != 3 or not x.is_floating_point():
                raise ShapeError(
                    message(
                        "Transformer with vocabulary_size=None reads float sequences.",
                        f"a {str(x.dtype).replace('torch.', '')} tensor of shape {tuple(x.shape)}",
                        "(N, T, features) floats",
                        "Pass vocabulary_size=... for token ids, or "
                        "add a feature axis: x[..., None].",
                    )
                )
            keep = torch.arange(x.shape[1], device=x.device) < lengths(x)[:, None]  # (N, T)
        self._check_length(
            x.shape[1],
            "Truncate the sequences (pad_sequences(..., maxlen=...)) or raise max_length.",
        )
        h = self.embedding(x) + self.position[: x.shape[1]]  # (N, T, dim)
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.expand(len(h), 1, -1), h], dim=1)  # (N, 1 + T, dim)
            keep = torch.cat([keep.new_ones(len(h), 1), keep], dim=1)  # (N, 1 + T)
        else:
            keep = keep | ~keep.any(
                1, keepdim=True
            )  # an all-padding row attends to everything, not nothing
        h = self.embedding_dropout(h)
        for block in self.blocks:
            h = block(h, keep)
        h = self.norm(h)
        if self.cls_token is not None:
            pooled = h[:, 0]  # (N, dim): the CLS state
        else:
            weights = keep.to(h.dtype)[..., None]  # (N, T, 1)
            pooled = (h * weights).sum(1) / weights.sum(1)  # (N, dim): mean over the real steps
        return self.head(pooled)  # type: ignore[no-any-return]


class TransformerLM(_Sequences):
    """A decoder-only causal language model (GPT): ids ``(N, T)`` -> next-token logits
    ``(N, T, vocabulary_size)``.

    Token and learned position embeddings, ``num_layers`` pre-norm blocks with causal
    self-attention, a final LayerNorm, and an output layer that reuses (ties) the token embedding.

    Args:
        vocabulary_size: the number of token ids (e.g. ``len(CharVocabulary(text))``).
        embedding_dim: model width, divisible by ``num_heads``.
        num_heads: attention heads per block.
        num_layers: transformer blocks.
        max_length: the context length: the longest input (and the window ``generate`` keeps).
        dropout: rate on the embeddings, attention weights and residual branches, in ``[0, 1)``.

    Train with ``fit(x, y)`` on ``lamina.sequences.windows(ids, T)`` and ``loss="cross_entropy"``:
    the loss is the mean over every position of every window.

    >>> model = TransformerLM(vocabulary_size=11, embedding_dim=8, num_heads=2, num_layers=1)
    >>> model(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 11])
    """

    _lamina_name = "lamina.models.TransformerLM"
    vocabulary_size: int

    def __init__(
        self,
        vocabulary_size: int = 256,
        embedding_dim: int = 128,
        num_heads: int = 4,
        num_layers: int = 4,
        *,
        max_length: int = 256,
        dropout: float = 0.0,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("TransformerLM", renamed)
        dim = embedding_dim
        check_sizes("TransformerLM", dim, num_heads, num_layers, max_length, dropout)
        if not positive_int(vocabulary_size):
            raise ConfigError(
                message(
                    "TransformerLM vocabulary_size must be a positive int.",
                    f"vocabulary_size={vocabulary_size!r}",
                    "the number of token ids",
                    "Pass vocabulary_size=len(vocabulary).",
                )
            )
        self.vocabulary_size, self.embedding_dim, self.num_heads = (
            vocabulary_size,
            embedding_dim,
            num_heads,
        )
        self.num_layers, self.max_length, self.dropout = num_layers, max_length, dropout
        self.token_embedding = nn.Embedding(vocabulary_size, dim)
        self.position = nn.Parameter(torch.zeros(max_length, dim))
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, dropout, causal=True) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        init_weights(self, num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ShapeError(
                message(
                    "TransformerLM reads token ids (N, T).",
                    f"shape {tuple(x.shape)}",
                    "(N, T) integer ids",
                    "Cut the text with lamina.sequences.windows(ids, T).",
                )
            )
        check_ids(x, self.vocabulary_size, "TransformerLM", ranges=_host_check(x))
        self._check_length(
            x.shape[1],
            f"Feed at most the last {self.max_length} ids (x[:, -max_length:]); "
            "generate() crops the context itself.",
        )
        h = self.embedding_dropout(
            self.token_embedding(x) + self.position[: x.shape[1]]
        )  # (N, T, dim)
        for block in self.blocks:
            h = block(h)
        return F.linear(
            self.norm(h), self.token_embedding.weight
        )  # (N, T, dim) -> (N, T, vocabulary_size)

    def compute_loss(
        self, y_pred: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The compiled loss over every position: ``(N, T, V)`` logits and ``(N, T)`` targets are
        flattened to ``(N * T, V)`` and ``(N * T,)``; a row's weight applies to each of its
        positions."""
        if y_pred.dim() == 3:
            steps = y_pred.shape[1]
            y_pred, y = y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1)  # (N * T, V), (N * T,)
            if sample_weight is not None:
                sample_weight = sample_weight.repeat_interleave(steps)  # (N,) -> (N * T,)
        return super().compute_loss(y_pred, y, sample_weight)

    def update_metrics(self, y_pred: torch.Tensor, y: torch.Tensor) -> None:
        """Metrics see every position as one row: ``(N * T, V)`` logits and ``(N * T,)`` targets."""
        super().update_metrics(y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1))

    @torch.no_grad()
    def generate(
        self,
        prompt: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Sample ``max_new_tokens`` ids after ``prompt``, one at a time, feeding each back in.

        Args:
            prompt: ids, 1-D ``(T,)`` or a batch ``(N, T)`` (list, array or tensor), ``T >= 1``.
                Only the last ``max_length`` ids are used as context; longer prompts are cropped,
                not refused.
            max_new_tokens: how many ids to add (0 returns the prompt).
            temperature: divides the logits: below 1 sharper, above 1 more varied (must be > 0).
            top_k: sample among the ``top_k`` most likely ids only; ``top_k=1`` is greedy decoding.
            seed: seeds a private generator, so the same call gives the same ids (the global RNG is
                untouched).

        Returns:
            An int64 array: ``(T + max_new_tokens,)`` for a 1-D prompt, else
            ``(N, T + max_new_tokens)``.
        """
        if not (
            isinstance(max_new_tokens, int)
            and not isinstance(max_new_tokens, bool)
            and max_new_tokens >= 0
        ):
            raise ConfigError(
                message(
                    "max_new_tokens must be an int >= 0.",
                    repr(max_new_tokens),
                    "an int >= 0",
                    "Pass max_new_tokens=200.",
                )
            )
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not temperature > 0
        ):
            raise ConfigError(
                message(
                    "temperature must be a positive number.",
                    repr(temperature),
                    "a float > 0",
                    "Pass temperature=1.0; for greedy decoding pass top_k=1.",
                )
            )
        if top_k is not None and not positive_int(top_k):
            raise ConfigError(
                message(
                    "top_k must be a positive int or None.",
                    repr(top_k),
                    "an int >= 1 or None",
                    "Pass top_k=None to sample from every id, or top_k=1 for greedy.",
                )
            )
        ids = data_lib.to_tensor(prompt, name="prompt")
        if ids.dim() not in (1, 2) or ids.shape[-1] == 0 or ids.numel() == 0:
            raise DataError(
                message(
                    "generate() needs a non-empty prompt of ids.",
                    f"shape {tuple(ids.shape)}",
                    "(T,) or (N, T) ids with T >= 1",
                    "Start from at least one id, e.g. the "
                    "encoding of a newline: vocabulary.encode('\\n').",
                )
            )
        check_ids(ids, self.vocabulary_size, "TransformerLM.generate")
        single = ids.dim() == 1
        device = next(iter(self.parameters())).device
        ids = (ids[None] if single else ids).to(device)  # (N, T)
        generator = None if seed is None else torch.Generator(device).manual_seed(seed)
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                logits = (
                    self(ids[:, -self.max_length :])[:, -1] / temperature
                )  # (N, V): the last step's logits
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = torch.topk(logits, top_k).values[:, -1:]  # (N, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probabilities = torch.softmax(logits, dim=-1)
                next_ids = torch.multinomial(probabilities, 1, generator=generator)  # (N, 1)
                ids = torch.cat([ids, next_ids], dim=1)
        finally:
            self.train(was_training)
        out = ids.cpu().numpy()
        return out[0] if single else out  # type: ignore[no-any-return]
