"""Built-in and cached data sets: ``load(name)`` returns the canonical split and a description.

``digits`` ships inside lamina (scikit-learn's 8x8 handwritten digits, 1,797 images, BSD-3-Clause,
see ``DIGITS_LICENSE``). The others are read from the data directory, ``LAMINA_DATA`` (default
``~/.cache/lamina/datasets``), which holds one folder per data set with the files as published:

    mnist/                   train-images-idx3-ubyte.gz, train-labels-...,
                             t10k-images-..., t10k-labels-...
    fashion-mnist/           the same four IDX file names
    mnist1d/                 mnist1d_frozen.npz
    cora-planetoid/          ind.cora.{x,y,tx,ty,allx,ally,graph,test.index}
    tinyshakespeare/         input.txt
    sentiment-labelled-sentences/  amazon_cells_labelled.txt, imdb_labelled.txt, yelp_labelled.txt
    airline-passengers/      airline-passengers.csv
    daily-min-temperatures/  daily-min-temperatures.csv
    adult/                   adult-train.csv.gz, adult-test.csv.gz
    online-retail/           online_retail.parquet

Synthetic tasks are generated, not read: ``digit_sequences`` (copy, reverse or sort rows of digits,
for encoder-decoders) and ``arithmetic_trees`` (expression trees and their values, for tree
networks).

A missing file raises ``DatasetNotFoundError`` saying where to put it. Nothing is downloaded unless
asked: ``load(name, download=True)`` or ``download(name)`` fetch the missing files from their
canonical URLs and verify their checksums. Tables and time series need pandas (``lamina[data]``).

>>> import lamina
>>> digits = lamina.datasets.load("digits")
>>> digits.x_train.shape, digits.x_test.shape
((1438, 64), (359, 64))
>>> (x_train, y_train), (x_test, y_test) = digits
>>> lamina.datasets.load("mnist1d").x_train.shape
(4000, 40)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamina.core.errors import ConfigError, message
from lamina.data.datasets import _download, _loaders, _planetoid
from lamina.data.datasets._base import (
    SOURCES,
    ChecksumError,
    DatasetNotFoundError,
    DatasetSplits,
    locate,
)
from lamina.data.datasets._download import download, fetch
from lamina.data.datasets.synthetic import digit_sequences
from lamina.data.datasets.synthetic_trees import arithmetic_trees

for _public in (ChecksumError, DatasetNotFoundError, DatasetSplits):
    _public.__module__ = "lamina.datasets"  # errors and reprs read lamina.datasets.X

__all__ = [
    "ChecksumError",
    "DatasetNotFoundError",
    "DatasetSplits",
    "arithmetic_trees",
    "digit_sequences",
    "download",
    "fetch",
    "load",
    "names",
]

_LOADERS: dict[str, Callable[..., DatasetSplits]] = {
    "adult": _loaders.adult,
    "airline_passengers": _loaders.airline_passengers,
    "cora": _planetoid.cora,
    "daily_min_temperatures": _loaders.daily_min_temperatures,
    "digits": _loaders.digits,
    "fashion_mnist": _loaders.fashion_mnist,
    "mnist": _loaders.mnist,
    "mnist1d": _loaders.mnist1d,
    "online_retail": _loaders.online_retail,
    "sentiment": _loaders.sentiment,
    "tinyshakespeare": _loaders.tinyshakespeare,
}


def names() -> list[str]:
    """Names ``load`` accepts, sorted.

    >>> "mnist" in lamina.datasets.names()
    True
    """
    return sorted(_LOADERS)


def load(
    name: str, *, download: bool = False, data_dir: str | Path | None = None, **options: Any
) -> DatasetSplits:
    """Load a data set by name with its canonical split.

    Args:
        name: one of ``names()``.
        download: fetch missing files from their canonical URLs first (checksums verified).
            Off by default: lamina never downloads on its own.
        data_dir: the data directory; default ``LAMINA_DATA`` (see ``lamina.config``).
        **options: loader options: ``flatten`` and ``normalize`` for ``mnist``/``fashion_mnist``
            (``(N, 784)``; float32 in [0, 1]), ``images`` for ``digits`` (``(N, 1, 8, 8)``).

    Returns:
        A ``DatasetSplits``; ``(x_train, y_train), (x_test, y_test) = load(name)`` unpacks it.
        Shapes: mnist/fashion_mnist ``(60000, 28, 28)``/``(10000, 28, 28)`` uint8; mnist1d
        ``(4000, 40)``/``(1000, 40)``; cora ``(140, 1433)``/``(1000, 1433)`` plus the whole graph
        in ``extra``; tinyshakespeare two strings; sentiment 2,400/600 sentences; airline_passengers
        and daily_min_temperatures pandas Series; adult and online_retail DataFrames. Labels are
        int64 arrays, or None for unlabelled sets. ``.description`` says more.

    Raises:
        DatasetNotFoundError: a file is missing; the message names the path and how to get it.
        ConfigError: an unknown name or option.

    >>> (x_train, y_train), (x_test, y_test) = lamina.datasets.load("cora")
    >>> x_train.shape, x_test.shape
    ((140, 1433), (1000, 1433))
    """
    if name not in _LOADERS:
        import difflib

        close = difflib.get_close_matches(name, _LOADERS, n=3)
        raise ConfigError(
            message(
                "Unknown data set.",
                repr(name),
                f"one of {names()}",
                f"Did you mean {close}?" if close else "Pick one of those names.",
            )
        )
    loader = _LOADERS[name]
    accepted = [
        parameter for parameter in inspect.signature(loader).parameters if parameter != "folder"
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            message(
                f"Unknown option for data set {name!r}.",
                unknown,
                f"one of {accepted}" if accepted else "no options",
                "Drop or rename the option.",
            )
        )
    if name not in SOURCES:
        return loader(**options)
    folder = _download.download(name, data_dir=data_dir) if download else locate(name, data_dir)
    return loader(folder, **options)
