"""Sequence helpers shared by the sequence families (RNN, Seq2Seq, Transformer, language models).

Variable-length batches are padded to one length; the padding id (0 by default) marks the steps a
model must ignore, and ``lengths`` recovers each row's true length from it.

>>> import lamina
>>> x = lamina.sequences.pad_sequences([[5, 6, 7], [8], [9, 4]])
>>> x
array([[5, 6, 7],
       [8, 0, 0],
       [9, 4, 0]])
>>> lamina.sequences.lengths(torch.as_tensor(x)).tolist()
[3, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from lamina.core.errors import DataError, message

__all__ = ["CharVocabulary", "forecast_windows", "lengths", "pad_sequences", "windows"]


def pad_sequences(
    sequences: Iterable[Sequence[Any]],
    *,
    maxlen: int | None = None,
    value: float = 0,
    dtype: Any = None,
    truncating: str = "post",
) -> np.ndarray:
    """Pad (after the end) and optionally truncate sequences into one ``(N, T, ...)`` array.

    Args:
        sequences: rows of ids, or rows of feature vectors (each step an array of equal shape).
        maxlen: the length ``T``; default the longest row.
        value: the padding value (0, the padding id the sequence models ignore).
        dtype: the array dtype; default int64 for integer rows, float32 otherwise.
        truncating: drop steps from the ``"post"`` (end) or ``"pre"`` (start) of longer rows.

    Returns:
        An array of shape ``(N, T)`` or ``(N, T, features)``.

    Raises:
        DataError: a row of length 0, rows whose steps differ in shape, or ``maxlen < 1``.
    """
    rows = [np.asarray(row) for row in sequences]
    if not rows:
        raise DataError(
            message(
                "pad_sequences() got no sequences.",
                "an empty list",
                "at least one sequence",
                "Check the filtering that produced the list.",
            )
        )
    empty = [i for i, row in enumerate(rows) if len(row) == 0]
    if empty:
        raise DataError(
            message(
                "Sequences of length 0 cannot be padded into a batch.",
                f"{len(empty)} empty row(s), first at index {empty[0]}",
                "sequences with at least one step",
                "Drop the empty rows before padding.",
            )
        )
    step_shapes = {row.shape[1:] for row in rows}
    if len(step_shapes) > 1:
        raise DataError(
            message(
                "Sequence steps differ in shape.",
                sorted(map(str, step_shapes)),
                "every step with the same shape",
                "Give every step the same number of features.",
            )
        )
    if truncating not in ("post", "pre"):
        raise DataError(
            message(
                "Unknown truncating.",
                repr(truncating),
                "'post' or 'pre'",
                "Pass truncating='post'.",
            )
        )
    length = max(len(row) for row in rows) if maxlen is None else maxlen
    if length < 1:
        raise DataError(
            message(
                "maxlen must be positive.",
                f"maxlen={maxlen!r}",
                "an int >= 1",
                "Pass maxlen=None to pad to the longest sequence.",
            )
        )
    if dtype is None:
        dtype = (
            np.int64 if all(np.issubdtype(row.dtype, np.integer) for row in rows) else np.float32
        )
    out = np.full((len(rows), length, *rows[0].shape[1:]), value, dtype=dtype)
    for i, row in enumerate(rows):
        row = row[:length] if truncating == "post" else row[-length:]
        out[i, : len(row)] = row
    return out


def lengths(x: torch.Tensor, *, pad: float = 0) -> torch.Tensor:
    """True length of each row of a padded ``(N, T[, F])`` batch: one past its last real step.

    A step counts as padding when all of its values equal ``pad``; padding inside a row (before its
    last real step) is kept as data. Rows that are all padding get length 0.
    """
    real = x != pad
    if real.dim() > 2:
        real = real.flatten(2).any(-1)  # (N, T, F...) -> (N, T)
    steps = torch.arange(1, real.shape[1] + 1, device=x.device)
    return (real * steps).amax(1)  # (N,)


def windows(ids: Any, length: int, *, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a long id sequence into next-token pairs, ``y[i]`` being ``x[i]`` shifted by one step.

    ``x[i] = ids[s:s+length]`` and ``y[i] = ids[s+1:s+length+1]``.

    Args:
        ids: a 1-D integer sequence (e.g. ``CharVocabulary.encode(text)``).
        length: steps per window.
        stride: start-to-start distance; default ``length`` (windows do not overlap).

    Returns:
        ``(x, y)``, two int64 arrays of shape ``(windows, length)``.

    >>> x, y = windows(range(7), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    array = np.asarray(ids, dtype=np.int64)
    stride = length if stride is None else stride
    if array.ndim != 1 or length < 1 or stride < 1 or len(array) < length + 1:
        raise DataError(
            message(
                "windows() needs a 1-D id sequence longer than one window.",
                f"ids of shape {array.shape}, length={length}, stride={stride}",
                "1-D ids with len(ids) > length >= 1 and stride >= 1",
                "Pass a longer sequence or a shorter window.",
            )
        )
    starts = np.arange(0, len(array) - length, stride)
    index = starts[:, None] + np.arange(length)[None, :]  # (windows, length)
    return array[index], array[index + 1]


def forecast_windows(
    series: Any, lookback: int, horizon: int = 1, *, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into forecasting pairs: ``x[i]`` a window, ``y[i]`` the values right after it.

    ``x[i] = series[s:s+lookback]``; ``y[i]`` holds the ``horizon`` values that follow.

    Args:
        series: ``(T,)`` values of one series, or ``(T, features)`` for several (a pandas Series or
            DataFrame works too).
        lookback: input steps per window.
        horizon: target steps per window (the steps right after the input).
        stride: start-to-start distance between windows.

    Returns:
        ``(x, y)`` float32 arrays: ``(windows, lookback)`` and ``(windows, horizon)`` for one
        series, ``(windows, lookback, features)`` and ``(windows, horizon, features)`` for several.

    >>> x, y = forecast_windows(range(6), lookback=3, horizon=2)
    >>> x.tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    array = np.asarray(
        series.to_numpy() if hasattr(series, "to_numpy") else series, dtype=np.float32
    )
    sizes = (lookback, horizon, stride)
    if (
        array.ndim not in (1, 2)
        or not all(isinstance(n, int) and n >= 1 for n in sizes)
        or len(array) < lookback + horizon
    ):
        raise DataError(
            message(
                "forecast_windows() needs a 1-D or 2-D series longer than one window.",
                f"series of shape {array.shape}, lookback={lookback!r}, horizon={horizon!r}, "
                f"stride={stride!r}",
                "len(series) >= lookback + horizon, all three sizes ints >= 1",
                "Pass a longer series or a shorter lookback/horizon.",
            )
        )
    starts = np.arange(0, len(array) - lookback - horizon + 1, stride)
    inputs = starts[:, None] + np.arange(lookback)[None, :]  # (windows, lookback)
    targets = starts[:, None] + lookback + np.arange(horizon)[None, :]  # (windows, horizon)
    return array[inputs], array[targets]


class CharVocabulary:
    """Characters <-> ids for character-level models; id 0 is kept for padding when ``pad=True``.

    >>> vocabulary = CharVocabulary("hello")
    >>> vocabulary.encode("hole").tolist(), vocabulary.decode([1, 0, 2, 2, 3])
    ([1, 3, 2, 0], 'hello')
    """

    def __init__(self, characters: Iterable[str], *, pad: bool = False) -> None:
        self.characters = sorted(set(characters))
        self.offset = int(pad)
        self._ids = {c: i + self.offset for i, c in enumerate(self.characters)}

    def __len__(self) -> int:
        return len(self.characters) + self.offset

    def __repr__(self) -> str:
        size, pad = len(self.characters), bool(self.offset)
        return f"lamina.sequences.CharVocabulary({size} characters, pad={pad})"

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of ``text``; an unknown character raises ``DataError`` (named)."""
        unknown = sorted(set(text) - set(self._ids))
        if unknown:
            raise DataError(
                message(
                    "Text has characters outside the vocabulary.",
                    repr("".join(unknown[:20])),
                    f"characters among {''.join(self.characters)[:80]!r}",
                    "Build the vocabulary from text that includes them.",
                )
            )
        return np.fromiter((self._ids[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        """The text for ``ids``; padding ids are dropped."""
        return "".join(self.characters[i - self.offset] for i in map(int, ids) if i >= self.offset)
