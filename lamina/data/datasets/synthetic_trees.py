"""Synthetic tree data: random arithmetic expression trees and their values.

Leaves are the integers -9..9 (labels ``"-9"`` ... ``"9"``), inner nodes the operators ``+ - *``
(labels ``"+"``, ``"-"``, ``"*"``, two ordered children each). To keep values bounded the arithmetic
saturates: every operation's result is clipped to ``[-9, 9]`` (so ``4 * 5 = 9`` and
``(-9) - 3 = -9``), which keeps every intermediate value a single digit, as a leaf is. The sign of a
value is preserved by the clipping.

Each tree's depth (edges on its longest root-to-leaf path) is drawn uniformly from
``1..max_depth``; one random path reaches that depth and every other branch stops at a leaf with
probability 1/2 per node, so trees of depth 6 have about 28 nodes (at most 127).

>>> from lamina.datasets.synthetic_trees import arithmetic_trees, evaluate, flatten
>>> trees, values = arithmetic_trees(3, max_depth=3, seed=1)
>>> [t.depth for t in trees], values.shape
([2, 3, 3], (3,))
>>> flatten(trees[0]), int(values[0]) == evaluate(trees[0])
('( 9 - ( -5 * -4 ) )', True)
"""

from __future__ import annotations

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.nn.trees import Tree

__all__ = ["BOUND", "LABELS", "OPERATORS", "arithmetic_trees", "evaluate", "flatten"]

BOUND = 9
OPERATORS = ("+", "-", "*")
LABELS = (
    *OPERATORS,
    *(str(v) for v in range(-BOUND, BOUND + 1)),
)  # a vocabulary: ids 1..22 in this order


def _apply(operator: str, left: int, right: int) -> int:
    value = left + right if operator == "+" else left - right if operator == "-" else left * right
    return max(-BOUND, min(BOUND, value))  # saturating arithmetic: values stay in [-9, 9]


def _grow(rng: np.random.Generator, depth: int, reach: bool) -> tuple[Tree, int]:
    """A random tree of depth exactly ``depth`` (``reach``) or at most ``depth``, and its value."""
    if depth == 0 or (not reach and rng.random() < 0.5):
        value = int(rng.integers(-BOUND, BOUND + 1))
        return Tree(str(value)), value
    operator = OPERATORS[int(rng.integers(len(OPERATORS)))]
    deep_side = int(rng.integers(2)) if reach else -1
    left, left_value = _grow(rng, depth - 1, deep_side == 0)
    right, right_value = _grow(rng, depth - 1, deep_side == 1)
    return Tree(operator, (left, right)), _apply(operator, left_value, right_value)


def arithmetic_trees(rows: int, max_depth: int = 6, seed: int = 0) -> tuple[list[Tree], np.ndarray]:
    """Random expression trees over -9..9 with ``+ - *`` (saturating at +-9), and their values.

    Args:
        rows: the number of trees.
        max_depth: the largest depth (edges from the root to the deepest leaf); each tree's depth
            is uniform in ``1..max_depth``.
        seed: the random seed (the same seed gives the same trees).

    Returns:
        ``(trees, values)``: a list of ``rows`` ``Tree`` and an int64 array ``(rows,)`` in
            ``[-9, 9]``.
    """
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise ConfigError(
            message(
                "arithmetic_trees() rows must be a positive int.",
                repr(rows),
                "an int >= 1",
                "Pass e.g. rows=1000.",
            )
        )
    if not isinstance(max_depth, int) or isinstance(max_depth, bool) or not 1 <= max_depth <= 20:
        raise ConfigError(
            message(
                "arithmetic_trees() max_depth out of range.",
                repr(max_depth),
                "an int in 1..20",
                "Pass e.g. max_depth=6.",
            )
        )
    rng = np.random.default_rng(seed)
    trees, values = [], np.empty(rows, dtype=np.int64)
    for row in range(rows):
        tree, values[row] = _grow(rng, int(rng.integers(1, max_depth + 1)), True)
        trees.append(tree)
    return trees, values


def evaluate(tree: Tree) -> int:
    """The saturating value of an arithmetic tree (every operation clipped to ``[-9, 9]``).

    >>> evaluate(Tree.parse(("*", "4", ("-", "1", "-2"))))
    9
    """
    values: dict[int, int] = {}
    for node in tree:
        label = str(node.label)
        if not node.children:
            try:
                values[id(node)] = int(label)
            except ValueError:
                raise DataError(
                    message(
                        "An arithmetic leaf must be an integer.",
                        repr(node.label),
                        "a label such as '3' or '-1'",
                        "Fix the tree.",
                    )
                ) from None
        elif label in OPERATORS and len(node.children) == 2:
            values[id(node)] = _apply(label, *(values.pop(id(c)) for c in node.children))
        else:
            raise DataError(
                message(
                    "An arithmetic node must be an operator with two children.",
                    f"{label!r} with {len(node.children)} children",
                    f"one of {OPERATORS} with two children",
                    "Fix the tree.",
                )
            )
    return values[id(tree)]


def flatten(tree: Tree) -> str:
    """The fully parenthesised infix token string of a tree, tokens separated by spaces.

    >>> flatten(Tree.parse(("+", "3", ("*", "2", "-1"))))
    '( 3 + ( 2 * -1 ) )'
    """
    text: dict[int, str] = {}
    for node in tree:
        parts = [text.pop(id(c)) for c in node.children]
        text[id(node)] = f"( {f' {node.label} '.join(parts)} )" if parts else str(node.label)
    return text[id(tree)]
