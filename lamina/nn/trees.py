"""Trees for tree-structured models (``lamina.models.RecursiveNet``), and their padded encoding.

A :class:`Tree` is a label (a token id or a string) with an ordered tuple of child trees.
``encode`` turns a list of trees into ONE integer array ``(N, max_nodes, 1 + max_children)``, so
trees go through the ordinary lamina paths (``ArrayLoader``, ``fit``, ``predict``,
``save``/``load``) as plain tensors:

* one row per node, ``[label id, child index, ..., -1 for no child]``;
* nodes in post-order (children before their parent, left to right), so the root is the last node;
* rows after the last node are padding: label id 0 and no children. Id 0 is kept for padding, so
  real labels get ids from 1.

Everything here walks trees with explicit stacks, never recursion, so very deep trees are fine.

>>> from lamina.trees import Tree, decode, encode
>>> tree = Tree.parse(("+", ("3",), ("*", ("2",), ("-1",))))
>>> tree
(+ 3 (* 2 -1))
>>> tree.size, tree.depth
(5, 2)
>>> array = encode([tree, Tree.parse(("7",))], ["+", "*", "-1", "2", "3", "7"])
>>> array.shape
(2, 5, 3)
>>> array[0].tolist()  # 3, 2, -1, (* 2 -1), (+ 3 (* ...)): label id, left child, right child
[[5, -1, -1], [4, -1, -1], [3, -1, -1], [2, 1, 2], [1, 0, 3]]
>>> decode(array, ["+", "*", "-1", "2", "3", "7"]) == [tree, Tree("7")]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message

__all__ = ["Tree", "decode", "encode", "vocabulary_ids"]

Label = int | str
Vocabulary = Mapping[Any, int] | Sequence[Any] | None


class Tree:
    """A labelled, ordered tree: ``Tree(label, children)``; immutable and hashable.

    Args:
        label: the node's label, a token id (int) or a string.
        children: the child trees, left to right (empty for a leaf).

    Iterating yields every subtree in post-order (children first, the root last), the order
    ``encode`` writes the nodes in.

    >>> tree = Tree("*", (Tree("2"), Tree("+", (Tree("1"), Tree("4")))))
    >>> [node.label for node in tree]
    ['2', '1', '4', '+', '*']
    """

    __slots__ = ("children", "label")

    def __init__(self, label: Label, children: Iterable[Tree] = ()) -> None:
        children = tuple(children)
        if isinstance(label, bool) or not isinstance(label, (int, str, np.integer)):
            raise DataError(
                message(
                    "A tree label must be a token id or a string.",
                    f"{label!r} ({type(label).__name__})",
                    "an int or a str",
                    "Pass e.g. Tree('+') or Tree(3).",
                )
            )
        bad = [type(c).__name__ for c in children if not isinstance(c, Tree)]
        if bad:
            raise DataError(
                message(
                    "Tree children must be Trees.",
                    bad[:5],
                    "a tuple of Tree",
                    "Build children with Tree(...) or use Tree.parse on nested tuples.",
                )
            )
        object.__setattr__(self, "label", int(label) if isinstance(label, np.integer) else label)
        object.__setattr__(self, "children", children)

    label: Label
    children: tuple[Tree, ...]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"lamina.trees.Tree is immutable (it is hashable); build a new Tree instead of "
            f"setting {name!r}."
        )

    @classmethod
    def parse(cls, nested: Any) -> Tree:
        """A tree from nested tuples ``(label, child, child, ...)``; a bare label is a leaf.

        Args:
            nested: e.g. ``("+", ("3",), ("*", ("2",), ("-1",)))`` or ``("+", "3", "4")``.

        Returns:
            The ``Tree``.

        >>> Tree.parse(("-", 5, (2,)))
        (- 5 2)
        """
        if isinstance(nested, Tree):
            return nested
        stack: list[tuple[Any, bool]] = [(nested, False)]
        built: list[Tree] = []
        while stack:
            item, expanded = stack.pop()
            if not isinstance(item, (tuple, list)):
                built.append(item if isinstance(item, Tree) else cls(item))
            elif not item:
                raise DataError(
                    message(
                        "Tree.parse() found an empty tuple.",
                        repr(nested)[:120],
                        "(label, child, ...) tuples or bare labels",
                        "Give every node a label.",
                    )
                )
            elif expanded:
                count = len(item) - 1
                children = built[len(built) - count :] if count else []
                del built[len(built) - count :]
                built.append(cls(item[0], children))
            else:
                stack.append((item, True))
                stack.extend((child, False) for child in reversed(item[1:]))
        return built[0]

    @classmethod
    def from_parents(cls, parents: Sequence[int] | np.ndarray, labels: Sequence[Label]) -> Tree:
        """A tree from a parent-index array: ``parents[i]`` is node ``i``'s parent, -1 the root's.

        Children keep the order of their indices. Raises ``DataError`` for lengths that differ, an
        index out of range, no root or several roots, and a cycle (the message names its nodes).

        Args:
            parents: ``(nodes,)`` parent indices.
            labels: ``(nodes,)`` labels.

        Returns:
            The ``Tree`` rooted at the node whose parent is ``-1``.

        >>> Tree.from_parents([2, 2, -1], ["a", "b", "f"])
        (f a b)
        """
        parent = [int(p) for p in np.asarray(parents).reshape(-1)]
        count = len(parent)
        if count == 0 or count != len(labels):
            raise DataError(
                message(
                    "from_parents() needs one parent and one label per node.",
                    f"{count} parents, {len(labels)} labels",
                    "equal, non-zero lengths",
                    "Pass parents and labels of the same length.",
                )
            )
        outside = [i for i, p in enumerate(parent) if not -1 <= p < count]
        if outside:
            raise DataError(
                message(
                    "A parent index is out of range.",
                    f"node {outside[0]} has parent {parent[outside[0]]}",
                    f"-1 (root) or 0..{count - 1}",
                    "Fix that index.",
                )
            )
        roots = [i for i, p in enumerate(parent) if p == -1]
        cycle = _find_cycle(parent)
        if cycle:
            path = " -> ".join(map(str, [*cycle, cycle[0]]))
            raise DataError(
                message(
                    "The parent array has a cycle: these nodes are their own ancestors.",
                    f"nodes {sorted(cycle)} ({path}, each arrow to the parent), {len(roots)} "
                    "root(s)",
                    "a tree: one root (parent -1), and every "
                    "node reaches the root by following parents",
                    "Break the cycle at one node.",
                )
            )
        if len(roots) != 1:
            raise DataError(
                message(
                    "A tree needs exactly one root (a node with parent -1).",
                    f"{len(roots)} roots: nodes {roots[:10]}",
                    "exactly one root",
                    "Give all but one of them a parent, or split into several trees.",
                )
            )
        kids: list[list[int]] = [[] for _ in range(count)]
        for node, p in enumerate(parent):
            if p >= 0:
                kids[p].append(node)
        order = _postorder_indices(kids, roots[0])
        built: dict[int, Tree] = {}
        for node in order:
            built[node] = cls(labels[node], [built.pop(k) for k in kids[node]])
        return built[roots[0]]

    @property
    def size(self) -> int:
        """The number of nodes."""
        return sum(1 for _ in self)

    @property
    def depth(self) -> int:
        """Edges on the longest root-to-leaf path: 0 for a leaf (the root's height)."""
        heights: dict[int, int] = {}
        for node in self:
            heights[id(node)] = 1 + max((heights[id(c)] for c in node.children), default=-1)
        return heights[id(self)]

    def __iter__(self) -> Iterator[Tree]:
        stack: list[tuple[Tree, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or not node.children:
                yield node
            else:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.children))

    def to_tuple(self) -> tuple[Any, ...]:
        """The nested-tuple form that :meth:`parse` reads: ``(label, child, ...)``."""
        built: dict[int, tuple[Any, ...]] = {}
        for node in self:
            built[id(node)] = (node.label, *(built[id(c)] for c in node.children))
        return built[id(self)]

    def _signature(self) -> tuple[tuple[Label, int], ...]:
        # post-order + arity fixes the tree
        return tuple((node.label, len(node.children)) for node in self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and self._signature() == other._signature()

    def __hash__(self) -> int:
        return hash(self._signature())

    def __repr__(self) -> str:
        """The s-expression: a leaf is its label, a node ``(label child ...)``."""
        text: dict[int, str] = {}
        for node in self:
            parts = [str(node.label), *(text.pop(id(c)) for c in node.children)]
            text[id(node)] = f"({' '.join(parts)})" if node.children else parts[0]
        return text[id(self)]


def _find_cycle(parent: list[int]) -> list[int]:
    """The nodes of one cycle in the parent graph, in parent order; [] when there is none."""
    state = [0] * len(parent)  # 0 unseen, 1 on the current walk, 2 done
    for start in range(len(parent)):
        walk, node = [], start
        while node != -1 and state[node] == 0:
            state[node] = 1
            walk.append(node)
            node = parent[node]
        if node != -1 and state[node] == 1:
            return walk[walk.index(node) :]
        for visited in walk:
            state[visited] = 2
    return []


def _postorder_indices(kids: list[list[int]], root: int) -> list[int]:
    order, stack = [], [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not kids[node]:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(kids[node]))
    return order


def vocabulary_ids(vocabulary: Vocabulary) -> dict[Any, int] | None:
    """Label -> id for ``encode``: a mapping is checked, a sequence numbered from 1, None means ids.

    Args:
        vocabulary: a ``{label: id}`` mapping (ids >= 1), a sequence of distinct labels (ids
            1, 2, ... in order; 0 is padding), or None when the tree labels already are ids >= 1.

    Returns:
        A dict ``{label: id}``, or None for id labels.

    >>> vocabulary_ids(["+", "*"])
    {'+': 1, '*': 2}
    """
    if vocabulary is None:
        return None
    if isinstance(vocabulary, Mapping):
        ids = dict(vocabulary)
    elif isinstance(vocabulary, (str, bytes)) or not isinstance(vocabulary, Sequence):
        raise DataError(
            message(
                "A tree vocabulary must be a mapping or a sequence of labels.",
                f"{type(vocabulary).__name__}",
                "{label: id} or a list of labels, or None",
                "Pass e.g. ['+', '-', '3'] (ids 1, 2, 3).",
            )
        )
    else:
        ids = {label: i + 1 for i, label in enumerate(vocabulary)}
        if len(ids) != len(vocabulary):
            raise DataError(
                message(
                    "Vocabulary labels must be distinct.",
                    f"{len(vocabulary)} labels, {len(ids)} distinct",
                    "distinct labels",
                    "Remove the duplicates.",
                )
            )
    bad = {
        k: v
        for k, v in ids.items()
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
    }
    if bad:
        raise DataError(
            message(
                "Vocabulary ids must be ints >= 1 (0 is the padding label).",
                repr(dict(list(bad.items())[:5])),
                "ids 1, 2, ...",
                "Shift the ids by one.",
            )
        )
    return ids


def encode(
    trees: Sequence[Tree],
    vocabulary: Vocabulary = None,
    *,
    max_nodes: int | None = None,
    max_children: int | None = None,
) -> np.ndarray:
    """Encode trees as one padded int64 array ``(N, max_nodes, 1 + max_children)``.

    Args:
        trees: the trees (``Tree`` or nested tuples for ``Tree.parse``).
        vocabulary: labels -> ids, see :func:`vocabulary_ids`; None when labels are ids >= 1.
        max_nodes: rows per tree; default the largest tree's size.
        max_children: child columns; default the largest number of children of any node.

    Returns:
        ``(N, max_nodes, 1 + max_children)`` int64: per node ``[label id, child index..., -1]``,
        nodes in post-order (root last), then padding rows ``[0, -1, ..., -1]``.

    Raises:
        DataError: no trees, an unknown label, or a tree too large for ``max_nodes`` or
            ``max_children``.
    """
    if isinstance(trees, Tree) or not isinstance(trees, Sequence) or len(trees) == 0:
        raise DataError(
            message(
                "encode() needs a non-empty list of trees.",
                f"{type(trees).__name__}{' of length 0' if isinstance(trees, Sequence) else ''}",
                "a list of Tree",
                "Pass e.g. [Tree.parse(('+', '1', '2'))].",
            )
        )
    ids = vocabulary_ids(vocabulary)
    parsed = [Tree.parse(t) for t in trees]
    nodes = [list(t) for t in parsed]
    widest = max(len(node.children) for tree in nodes for node in tree)
    longest = max(len(tree) for tree in nodes)
    max_nodes = longest if max_nodes is None else max_nodes
    max_children = widest if max_children is None else max_children
    if longest > max_nodes or widest > max_children:
        raise DataError(
            message(
                "A tree is too large for the requested encoding.",
                f"{longest} nodes and {widest} children at most",
                f"max_nodes={max_nodes}, max_children={max_children}",
                "Raise max_nodes/max_children, or leave them None to fit the trees.",
            )
        )
    out = np.full((len(nodes), max_nodes, 1 + max_children), -1, dtype=np.int64)
    out[:, :, 0] = 0
    for row, tree in enumerate(nodes):
        position = {id(node): i for i, node in enumerate(tree)}
        for i, node in enumerate(tree):
            out[row, i, 0] = _label_id(node.label, ids, row)
            out[row, i, 1 : 1 + len(node.children)] = [position[id(c)] for c in node.children]
    return out


def _label_id(label: Label, ids: dict[Any, int] | None, row: int) -> int:
    if ids is None:
        if isinstance(label, int) and label >= 1:
            return label
        raise DataError(
            message(
                "Without a vocabulary, tree labels must be token ids >= 1.",
                f"label {label!r} in tree {row}",
                "ints >= 1 (0 is padding)",
                "Pass a vocabulary (a list of the labels) to map them to ids.",
            )
        )
    if label not in ids:
        known = ", ".join(map(repr, list(ids)[:20]))
        raise DataError(
            message(
                "A tree has a label outside the vocabulary.",
                f"label {label!r} in tree {row}",
                f"one of {known}{', ...' if len(ids) > 20 else ''}",
                "Add the label to the vocabulary, or fix the tree.",
            )
        )
    return ids[label]


def decode(array: Any, vocabulary: Vocabulary = None) -> list[Tree]:
    """The trees of an ``encode`` array (the inverse of :func:`encode`).

    Args:
        array: ``(N, max_nodes, 1 + max_children)`` integers.
        vocabulary: the one given to ``encode``; None leaves the ids as labels.

    Returns:
        N ``Tree``; each root is the last non-padding row.
    """
    ids = vocabulary_ids(vocabulary)
    names = {v: k for k, v in ids.items()} if ids is not None else None
    data = np.asarray(array)
    if data.ndim != 3 or data.shape[2] < 1 or data.shape[1] < 1:
        raise DataError(
            message(
                "decode() needs an encoded tree array.",
                f"shape {data.shape}",
                "(N, max_nodes, 1 + max_children)",
                "Pass the output of encode().",
            )
        )
    trees = []
    for row, rows in enumerate(data):
        count = int((rows[:, 0] != 0).sum())
        built: list[Tree] = []
        for i in range(count):
            label = int(rows[i, 0])
            children = [int(c) for c in rows[i, 1:] if c >= 0]
            if any(c >= i for c in children):
                raise DataError(
                    message(
                        "decode() found a child after its parent.",
                        f"node {i} of tree {row} with children {children}",
                        "children before parents (post-order)",
                        "Pass the output of encode().",
                    )
                )
            built.append(
                Tree(
                    label if names is None else names.get(label, label),
                    [built[c] for c in children],
                )
            )
        if not built:
            raise DataError(
                message(
                    "decode() found a tree with no nodes.",
                    f"tree {row}",
                    "at least one node",
                    "Drop the all-padding rows.",
                )
            )
        trees.append(built[-1])
    return trees
