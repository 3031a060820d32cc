"""Built-in and cached data sets.

``load("digits")`` needs no download: scikit-learn's 8x8 handwritten digits (1,797 images,
BSD-3-Clause, see ``DIGITS_LICENSE``) ship inside lamina.

>>> import lamina
>>> digits = lamina.datasets.load("digits")
>>> digits.x_train.shape, digits.x_test.shape
((1438, 64), (359, 64))
>>> (x_train, y_train), (x_test, y_test) = digits
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Iterator
from importlib import resources
from typing import Any

import numpy as np

from lamina.errors import ConfigError, message

__all__ = ["DatasetSplits", "load", "names"]


@dataclasses.dataclass
class DatasetSplits:
    """A data set with its canonical train/test split.

    Unpacks like Keras: ``(x_train, y_train), (x_test, y_test) = lamina.datasets.load(name)``.
    """

    name: str
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    description: str
    classes: list[str] | None = None

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter([(self.x_train, self.y_train), (self.x_test, self.y_test)])

    def __repr__(self) -> str:
        return (f"lamina.datasets.DatasetSplits({self.name!r}, train={len(self.x_train)}, "
                f"test={len(self.x_test)})")


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        test.extend(rows[: int(round(len(rows) * test_fraction))])
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _digits(images: bool = False) -> DatasetSplits:
    with resources.files("lamina.datasets").joinpath("digits.csv.gz").open("rb") as raw, \
            gzip.open(raw) as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    train, test = _stratified_split(y, 0.2, seed=0)
    return DatasetSplits(
        "digits", x[train], y[train], x[test], y[test],
        "8x8 grayscale handwritten digits (pixel values 0-16), 10 classes, 1,797 images "
        "(UCI ML hand-written digits via scikit-learn, BSD-3-Clause). Fixed stratified 80/20 split.",
        [str(i) for i in range(10)])


_LOADERS = {"digits": _digits}


def names() -> list[str]:
    """Names ``load`` accepts."""
    return sorted(_LOADERS)


def load(name: str, **options: Any) -> DatasetSplits:
    """Load a data set by name with its canonical split.

    Args:
        name: one of ``names()``.
        **options: loader options, e.g. ``images=True`` for digits as ``(N, 1, 8, 8)``.
    """
    if name not in _LOADERS:
        import difflib

        close = difflib.get_close_matches(name, _LOADERS, n=3)
        raise ConfigError(message("Unknown data set.", repr(name), f"one of {names()}",
                                  f"Did you mean {close}?" if close else "Pick one of those names."))
    return _LOADERS[name](**options)
