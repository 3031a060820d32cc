"""Synthetic sequence tasks for encoder-decoder models: copy, reverse or sort a row of digits.

Ids follow the convention of ``lamina.models.seq2seq``: 0 is padding, 1 the start token (BOS),
2 the end token (EOS), and the digits 0-9 are ids 3-12 (so a vocabulary of 13 covers both sides).
Sources are the digit ids padded with 0 to ``max_length``; targets are the answer followed by EOS,
padded with 0 to ``max_length + 1``, so every call gives arrays of the same width.

>>> from lamina.datasets.synthetic import digit_sequences
>>> x, y = digit_sequences("sort", rows=2, min_length=3, max_length=4, seed=1)
>>> x.shape, y.shape
((2, 4), (2, 5))
>>> y[0][:int((x[0] > 0).sum()) + 1].tolist() == sorted(x[0][x[0] > 0].tolist()) + [2]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, message

__all__ = ["DIGIT_OFFSET", "TASKS", "digit_sequences"]

TASKS = ("copy", "reverse", "sort")
DIGIT_OFFSET = 3  # digit d is id d + 3; ids 0, 1, 2 are padding, BOS and EOS
_EOS = 2


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def digit_sequences(
    task: str = "reverse",
    rows: int = 10000,
    min_length: int = 5,
    max_length: int = 15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random digit rows and the answer of ``task`` for each, as padded id arrays.

    Args:
        task: ``"reverse"`` (the digits backwards), ``"sort"`` (ascending) or ``"copy"``
            (unchanged).
        rows: how many examples.
        min_length: the shortest row, in digits (lengths are uniform in
            ``[min_length, max_length]``).
        max_length: the longest row, in digits.
        seed: seed of the random generator; different seeds give independent sets (e.g. train and
            test).

    Returns:
        ``(x, y)``: int64 arrays of shape ``(rows, max_length)`` (digit ids, 0-padded) and
        ``(rows, max_length + 1)`` (answer ids, then EOS = 2, then 0-padding).

    Raises:
        ConfigError: an unknown task, ``rows < 1`` or lengths outside
            ``1 <= min_length <= max_length``.
    """
    if task not in TASKS:
        raise ConfigError(
            message(
                "Unknown digit_sequences task.",
                repr(task),
                f"one of {TASKS}",
                "Pass task='reverse' or task='sort'.",
            )
        )
    if not _positive_int(rows):
        raise ConfigError(
            message(
                "digit_sequences rows must be a positive int.",
                f"rows={rows!r}",
                "an int >= 1",
                "Pass e.g. rows=10000.",
            )
        )
    if not (_positive_int(min_length) and _positive_int(max_length)) or min_length > max_length:
        raise ConfigError(
            message(
                "digit_sequences lengths are out of order.",
                f"min_length={min_length!r}, max_length={max_length!r}",
                "ints with 1 <= min_length <= max_length",
                "Pass e.g. min_length=5, max_length=15.",
            )
        )
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=rows)
    x = np.zeros((rows, max_length), dtype=np.int64)
    y = np.zeros((rows, max_length + 1), dtype=np.int64)
    for i, length in enumerate(lengths):
        digits = rng.integers(0, 10, size=length)
        answer = {"copy": digits, "reverse": digits[::-1], "sort": np.sort(digits)}[task]
        x[i, :length] = digits + DIGIT_OFFSET
        y[i, :length] = answer + DIGIT_OFFSET
        y[i, length] = _EOS
    return x, y
