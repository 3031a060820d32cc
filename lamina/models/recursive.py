"""``lamina.models.RecursiveNet``: tree-structured networks (TreeLSTM and recursive neural nets).

Each node's state is computed from its label's embedding ``x`` and its children's states; the
root's state goes through a linear head, for tree classification or regression. Two cells:

* ``"treelstm"`` (Tai et al., 2015). Child-Sum (``arity=None``, any number of unordered children,
  ``h~ = sum_k h_k``)::

      i, o, u = sigmoid(W_i x + U_i h~ + b_i), sigmoid(W_o x + U_o h~ + b_o), tanh(W_u x + U_u h~ +
      b_u) f_k = sigmoid(W_f x + U_f h_k + b_f)
      c = i * u + sum_k f_k * c_k;  h = o * tanh(c)

  N-ary (``arity=N``, ordered children, e.g. 2 for binary trees): ``h~`` is the concatenation
  ``[h_1; ...; h_N]`` and each child has its own forget gate
  ``f_k = sigmoid(W_f x + U_fk [h_1; ...; h_N] + b_f)``.
* ``"rvnn"``, the plain recursive neural net: ``h = tanh(W x + U [h_1; ...; h_N] + b)`` with
  ``arity=N``, or ``h = tanh(W x + U sum_k h_k + b)`` with ``arity=None``.

A missing child (a leaf, or fewer than ``arity`` children) has zero state. Inputs are the arrays of
``lamina.trees.encode`` ``(N, max_nodes, 1 + max_children)``, or a list of ``lamina.trees.Tree``
(encoded with the ``labels`` vocabulary). The forward pass is batched by level: it computes each
node's height (leaves 0) and then runs one vectorised step per height over all the trees of the
batch (gather the children's states, apply the cell, scatter the results), so the number of
Python iterations is the largest tree height, never the number of nodes.

>>> import lamina
>>> from lamina.models.recursive import RecursiveNet
>>> from lamina.trees import Tree
>>> trees = [Tree.parse(("+", "1", "2")), Tree.parse(("-", "1", ("+", "2", "2")))] * 8
>>> model = RecursiveNet(units=8, outputs=2, arity=2, labels=["+", "-", "1", "2"])
>>> model = model.compile(optimizer="adam", loss="cross_entropy")
>>> history = model.fit(trees, [1, 0] * 8, epochs=2, verbose=0, seed=0)
>>> model.predict(trees[:3]).shape
(3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.nn.layers import Embedding
from lamina.nn.trees import Tree, encode

__all__ = ["RecursiveNet"]

CELLS = ("treelstm", "rvnn")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check(
    cell: Any,
    vocabulary_size: Any,
    hidden_size: Any,
    outputs: Any,
    arity: Any,
    labels: Any,
    embedding_size: Any,
) -> None:
    if cell not in CELLS:
        raise ConfigError(
            message(
                "Unknown RecursiveNet cell.",
                repr(cell),
                f"one of {', '.join(map(repr, CELLS))}",
                "Pass cell='treelstm' (Tai et al. 2015) or cell='rvnn'.",
            )
        )
    for name, value in (("units", hidden_size), ("outputs", outputs)):
        if not _positive_int(value):
            raise ConfigError(
                message(
                    f"RecursiveNet {name} must be a positive int.",
                    f"{name}={value!r}",
                    "an int >= 1",
                    f"Pass e.g. {name}=64.",
                )
            )
    for name, value in (("arity", arity), ("embedding_dim", embedding_size)):
        if value is not None and not _positive_int(value):
            raise ConfigError(
                message(
                    f"RecursiveNet {name} must be None or a positive int.",
                    f"{name}={value!r}",
                    "None or an int >= 1",
                    f"Pass {name}=None, or e.g. 2 for binary trees.",
                )
            )
    if labels is not None and (
        isinstance(labels, (str, bytes))
        or not isinstance(labels, Sequence)
        or not labels
        or len(set(labels)) != len(labels)
        or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in labels)
    ):
        raise ConfigError(
            message(
                "RecursiveNet labels must be a list of distinct node labels.",
                repr(labels)[:120],
                "a non-empty list of distinct strings or ints (ids 1, 2, ... in that order)",
                "Pass e.g. labels=['+', '-', '*', '1', '2'], or None for trees of token ids.",
            )
        )
    if vocabulary_size is None and labels is None:
        raise ConfigError(
            message(
                "RecursiveNet needs vocabulary_size or labels.",
                "neither",
                "vocabulary_size (label ids are 1..vocabulary_size-1; 0 is padding) or labels",
                "Pass labels=[...] for string labels, or vocabulary_size=max id + 1.",
            )
        )
    if vocabulary_size is not None and (
        not _positive_int(vocabulary_size)
        or vocabulary_size < 2
        or (labels is not None and vocabulary_size < len(labels) + 1)
    ):
        minimum = 2 if labels is None else len(labels) + 1
        raise ConfigError(
            message(
                "RecursiveNet vocabulary_size is too small.",
                f"vocabulary_size={vocabulary_size!r}",
                f"an int >= {minimum} (the padding id 0, then one id per label)",
                "Pass vocabulary_size=None to use len(labels) + 1.",
            )
        )


class RecursiveNet(Model):
    """A TreeLSTM or recursive neural net over labelled trees, with a linear head on the root state.

    Args:
        cell: ``"treelstm"`` (Child-Sum or N-ary TreeLSTM) or ``"rvnn"``
            (``h = tanh(W x + U h~ + b)``).
        vocabulary_size: label ids are ``1..vocabulary_size-1`` (0 is padding); default
            ``len(labels) + 1``.
        units: size of each node's state (and memory cell for ``"treelstm"``).
        outputs: size of the output layer (the number of classes for ``cross_entropy``).
        arity: None for Child-Sum (any number of children, order ignored); N for ordered trees with
            at most N children, each position with its own weights (2 for binary trees).
        labels: the node labels, whose ids are 1, 2, ... in this order; lets ``fit``/``predict``
            take lists of ``Tree`` with these labels. None: trees carry token ids.
        embedding_dim: size of the label embeddings; default ``units``.

    Input ``(N, max_nodes, 1 + max_children)`` integers (``lamina.trees.encode``) or a list of
    ``Tree``; output ``(N, outputs)``.

    >>> model = RecursiveNet(cell="rvnn", vocabulary_size=5, units=4, outputs=3)
    >>> model(torch.tensor([[[3, -1, -1], [4, -1, -1], [1, 0, 1]]])).shape
    torch.Size([1, 3])
    """

    _lamina_name = "lamina.models.RecursiveNet"

    def __init__(
        self,
        cell: str = "treelstm",
        vocabulary_size: int | None = None,
        units: int = 64,
        outputs: int = 1,
        arity: int | None = None,
        *,
        labels: Sequence[str | int] | None = None,
        embedding_dim: int | None = None,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("RecursiveNet", renamed)
        hidden_size = units
        embedding_size = embedding_dim
        _check(cell, vocabulary_size, hidden_size, outputs, arity, labels, embedding_size)
        self.cell, self.vocabulary_size, self.units, self.outputs = (
            cell,
            vocabulary_size,
            hidden_size,
            outputs,
        )
        self.arity, self.labels, self.embedding_dim = arity, labels, embedding_size
        self.num_ids = vocabulary_size if vocabulary_size is not None else len(labels or ()) + 1
        lstm = cell == "treelstm"
        children_width = hidden_size * (
            arity or 1
        )  # [h_1; ...; h_N] for N-ary, sum_k h_k for Child-Sum
        self.embedding = Embedding(self.num_ids, embedding_size or hidden_size, padding_idx=0)
        self.node = nn.Linear(
            embedding_size or hidden_size, (4 if lstm else 1) * hidden_size
        )  # W x + b
        self.children_in = nn.Linear(
            children_width, (3 if lstm else 1) * hidden_size, bias=False
        )  # U h~
        self.forget = (
            nn.Linear(children_width, (arity or 1) * hidden_size, bias=False) if lstm else None
        )
        self.head = nn.Linear(hidden_size, outputs)

    def build(self, x: torch.Tensor) -> torch.Tensor:
        """Draw the initial weights (when never built), then run one forward pass; records
        ``input_spec_``.

        ``fit`` builds the model after seeding torch, so ``fit(seed=...)`` also fixes the initial
        weights. Set weights of your own after ``build``, not between the constructor and ``fit``.
        """
        if self.input_spec_ is None:
            with torch.no_grad():
                nn.init.normal_(self.embedding.weight)
                self.embedding.weight[0].zero_()  # the padding id
            for layer in (self.node, self.children_in, self.forget, self.head):
                if layer is not None:
                    layer.reset_parameters()
        return super().build(x)

    def _cell(
        self, ids: torch.Tensor, h_kids: torch.Tensor, c_kids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """New ``(h, c)`` ``(K, hidden)`` of K nodes from their label ids ``(K,)`` and children
        ``(K, C, hidden)``."""
        size = self.units
        x = self.node(self.embedding(ids))  # (K, gates * hidden)
        ordered = self.arity is not None
        summary = (
            h_kids.reshape(len(h_kids), -1) if ordered else h_kids.sum(1)
        )  # (K, N * hidden) or (K, hidden)
        if self.forget is None:  # rvnn
            h = torch.tanh(x + self.children_in(summary))
            return h, h
        i, o, u = (x[:, : 3 * size] + self.children_in(summary)).chunk(3, dim=1)  # 3 x (K, hidden)
        per_child = self.forget(summary if ordered else h_kids)  # (K, N * hidden) or (K, C, hidden)
        f = torch.sigmoid(
            x[:, None, 3 * size :] + per_child.reshape(len(h_kids), -1, size)
        )  # (K, C, hidden)
        c = torch.sigmoid(i) * torch.tanh(u) + (f * c_kids).sum(1)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x)
        n, m = x.shape[:2]
        ids = x[..., 0].reshape(-1)  # (N * M,)
        real = ids != 0
        total = int(real.sum())  # R, the real nodes of the batch; padding rows are dropped
        compact = torch.cat(
            [real.cumsum(0) - 1, real.new_full((1,), total, dtype=torch.long)]
        )  # flat -> 0..R
        children = self._child_columns(x[..., 1:])  # (N, M, C)
        offsets = torch.arange(n, device=x.device) * m  # flat index of each tree's node 0
        flat = torch.where(children >= 0, children + offsets[:, None, None], n * m).reshape(
            n * m, -1
        )
        kids = compact[flat[real]]  # (R, C) child rows; R is the all-zero "no child" row
        ids = ids[real]  # (R,)
        heights = _heights(kids)  # (R,) leaves 0
        states = self.node.weight.new_zeros(
            total + 1, self.units
        )  # h of every node, then the zero row
        memory = states if self.forget is None else states.clone()  # c (TreeLSTM)
        for level in range(int(heights.max()) + 1 if total else 0):
            nodes = (
                (heights == level).nonzero().squeeze(1)
            )  # (K,) every node of this height in the batch
            h_kids = states[kids[nodes]]  # (K, C, hidden)
            h, c = self._cell(
                ids[nodes], h_kids, h_kids if self.forget is None else memory[kids[nodes]]
            )
            states = states.index_copy(
                0, nodes, h.to(states.dtype)
            )  # autocast may compute h in bf16
            memory = (
                states if self.forget is None else memory.index_copy(0, nodes, c.to(memory.dtype))
            )
        count = real.reshape(n, m).sum(1)  # nodes per tree; the root is the last one
        root = states[
            torch.where(count > 0, compact[offsets + count - 1], total)
        ]  # (N, hidden); empty tree -> 0
        return self.head(root)  # type: ignore[no-any-return]

    def _child_columns(self, children: torch.Tensor) -> torch.Tensor:
        """``(N, M, C)`` child indices with exactly ``arity`` columns (padded with -1) for N-ary
        cells."""
        arity = self.arity
        if arity is None or children.shape[2] == arity:
            return children
        if children.shape[2] < arity:
            pad = children.new_full((*children.shape[:2], arity - children.shape[2]), -1)
            return torch.cat([children, pad], dim=2)
        if bool((children[..., arity:] >= 0).any()):
            raise DataError(
                message(
                    f"A node has more children than arity={arity} allows.",
                    f"{children.shape[2]} child columns in use",
                    f"at most {arity} children",
                    "Pass arity=None (Child-Sum) or a larger arity.",
                )
            )
        return children[..., :arity]

    # ------------------------------------------------------------------ data hooks
    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        """Encode lists of ``Tree`` (with the ``labels`` vocabulary) before the usual checks."""
        if isinstance(x, Tree) or (
            isinstance(x, (list, tuple)) and x and all(isinstance(t, Tree) for t in x)
        ):
            x = encode(
                [x] if isinstance(x, Tree) else list(x), self.labels, max_children=self.arity
            )
        return super()._tensors(x, y, name)

    def _check_input(self, x: torch.Tensor) -> None:
        """Check an encoded batch: ids in range, children before parents, padding only after the
        nodes."""
        _check_rank(x)
        ids, children = x[..., 0], x[..., 1:]
        if int(ids.min()) < 0 or int(ids.max()) >= self.num_ids:
            bad = int(ids.max()) if int(ids.max()) >= self.num_ids else int(ids.min())
            raise DataError(
                message(
                    "A tree has a label id outside the vocabulary.",
                    f"label id {bad}",
                    f"ids 1..{self.num_ids - 1} (0 is padding)",
                    "Encode with the model's labels, or raise vocabulary_size.",
                )
            )
        real = ids != 0
        position = torch.arange(x.shape[1], device=x.device)[None, :, None]
        bad_child = (real[..., None] & ((children < -1) | (children >= position))).nonzero()
        if len(bad_child):
            tree, node, _ = bad_child[0].tolist()
            raise DataError(
                message(
                    "A child index does not point to an earlier node (post-order).",
                    f"tree {tree}, node {node}, children {children[tree, node].tolist()}",
                    "-1 or the index of a node before its parent",
                    "Encode the trees with lamina.trees.encode.",
                )
            )
        gap = (real[:, 1:] & ~real[:, :-1]).any(1) | ~real[:, 0]
        if bool(gap.any()):
            tree = int(gap.nonzero()[0, 0])
            raise DataError(
                message(
                    "A tree is empty or has padding (label 0) before its last node.",
                    f"tree {tree} with label ids {ids[tree].tolist()[:20]}",
                    "the nodes first (root last), then padding rows",
                    "Encode the trees with lamina.trees.encode.",
                )
            )
        if self.arity is not None:
            self._child_columns(children)


def _check_rank(x: torch.Tensor) -> None:
    if (
        x.dim() != 3
        or x.shape[1] < 1
        or x.shape[2] < 1
        or x.is_floating_point()
        or x.dtype == torch.bool
    ):
        raise ShapeError(
            message(
                "RecursiveNet takes encoded trees.",
                f"{x.dtype} shape {tuple(x.shape)}",
                "integers (N, max_nodes, 1 + max_children) from lamina.trees.encode",
                "Encode the trees with lamina.trees.encode, or pass a list of Tree.",
            )
        )


def _heights(kids: torch.Tensor) -> torch.Tensor:
    """Each node's height ``(R,)`` (leaves 0) from child rows ``(R, C)``, where ``R`` means "no
    child".

    One vectorised pass per level: after pass t every node of height < t is final.
    """
    heights = kids.new_zeros(len(kids))
    if kids.shape[1] == 0:
        return heights
    none = heights.new_full((1,), -1)
    for _ in range(len(kids) + 1):
        new = torch.cat([heights, none])[kids].amax(1) + 1
        if torch.equal(new, heights):
            return heights
        heights = new
    raise DataError(
        message(
            "The child indices form a cycle.",
            "a node that is its own descendant",
            "trees: children before parents",
            "Encode the trees with lamina.trees.encode.",
        )
    )
