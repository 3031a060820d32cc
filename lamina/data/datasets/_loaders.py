"""One loader per data set: files in the data set's folder -> ``DatasetSplits`` with the canonical
split.

Arrays come back as stored (uint8 images, the npz's float64 signals) with int64 labels; tables and
time series come back as pandas objects (pandas is imported only by the loaders that need it).
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.data.datasets._base import DatasetSplits, chronological_split, stratified_split


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            message(
                "This data set is returned as pandas objects, but pandas is missing.",
                "ModuleNotFoundError: pandas",
                "pandas installed",
                "pip install 'lamina[data]'",
            )
        ) from None
    return pandas


def digits(images: bool = False) -> DatasetSplits:
    """scikit-learn's 8x8 digits, bundled; ``images=True`` gives ``(N, 1, 8, 8)`` instead of
    ``(N, 64)``."""
    with (
        resources.files("lamina.datasets").joinpath("digits.csv.gz").open("rb") as raw,
        gzip.open(raw) as handle,
    ):
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    train, test = stratified_split(y, 0.2, seed=0)
    return DatasetSplits(
        "digits",
        x[train],
        y[train],
        x[test],
        y[test],
        "8x8 grayscale handwritten digits (pixel values 0-16), 10 classes, 1,797 images "
        "(UCI ML hand-written digits via scikit-learn, BSD-3-Clause). Fixed stratified 80/20 "
        "split.",
        [str(i) for i in range(10)],
    )


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (magic 0x00000801 labels, 0x00000803 images),
    gzip-compressed."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3] if len(data) > 4 else 0
    if data[:3] != b"\x00\x00\x08" or dims not in (1, 3):
        raise DataError(
            message(
                "Not an IDX file of unsigned bytes.",
                f"{path} starting {data[:4]!r}",
                "magic 0x00000801 (labels) or 0x00000803 (images)",
                "Replace the file with the published one.",
            )
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    offset = 4 + 4 * dims
    if len(data) - offset != int(np.prod(shape)):
        raise DataError(
            message(
                "Truncated or padded IDX file.",
                f"{path}: {len(data) - offset} bytes of data",
                f"{int(np.prod(shape))} bytes for shape {shape}",
                "Replace the file with the published one.",
            )
        )
    # frombuffer is read-only; copy so users can modify the arrays in place.
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape).copy()


def _idx_splits(
    name: str, folder: Path, flatten: bool, normalize: bool, description: str, classes: list[str]
) -> DatasetSplits:
    parts: list[np.ndarray] = []
    for split in ("train", "t10k"):
        images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
        if len(images) != len(labels):
            raise DataError(
                message(
                    f"{name}: image and label counts differ.",
                    f"{len(images)} vs {len(labels)}",
                    "one label per image",
                    f"Replace the {split} files in {folder}.",
                )
            )
        if flatten:
            images = images.reshape(len(images), -1)  # (N, 28, 28) -> (N, 784)
        if normalize:
            images = images.astype(np.float32)
            images /= 255  # in place: one float32 copy of the images, not two
        parts += [images, labels]
    return DatasetSplits(name, parts[0], parts[1], parts[2], parts[3], description, classes)


def mnist(folder: Path, flatten: bool = False, normalize: bool = False) -> DatasetSplits:
    """MNIST from its four IDX files. ``flatten`` gives ``(N, 784)``; ``normalize`` float32 in [0,
    1]."""
    return _idx_splits(
        "mnist",
        folder,
        flatten,
        normalize,
        "MNIST: 28x28 grayscale handwritten digits (uint8, 0-255), 10 classes, 70,000 images; the "
        "published split, 60,000 train / 10,000 test. By Yann LeCun and Corinna Cortes, CC BY-SA "
        "3.0 (as stated in TensorFlow's documentation).",
        [str(i) for i in range(10)],
    )


def fashion_mnist(folder: Path, flatten: bool = False, normalize: bool = False) -> DatasetSplits:
    """Fashion-MNIST, same IDX files and options as ``mnist``."""
    return _idx_splits(
        "fashion_mnist",
        folder,
        flatten,
        normalize,
        "Fashion-MNIST: 28x28 grayscale images of Zalando articles (uint8, 0-255), 10 classes, "
        "70,000 images; the published split, 60,000 train / 10,000 test. By Zalando Research, MIT "
        "license.",
        [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
    )


def mnist1d(folder: Path) -> DatasetSplits:
    """The frozen MNIST-1D data set (npz, no pickle)."""
    with np.load(folder / "mnist1d_frozen.npz", allow_pickle=False) as arrays:
        x, y, x_test, y_test, t = (arrays[key] for key in ("x", "y", "x_test", "y_test", "t"))
    return DatasetSplits(
        "mnist1d",
        x,
        y.astype(np.int64),
        x_test,
        y_test.astype(np.int64),
        "MNIST-1D: the frozen data set of Greydanus's paper, 1-D signals of 40 points (float64) "
        "drawn from 10 digit templates, 10 classes, 5,000 signals; its split, 4,000 train / 1,000 "
        "test. Apache-2.0. extra['t'] holds the 40 sample positions.",
        [str(i) for i in range(10)],
        extra={"t": t},
    )


def tinyshakespeare(folder: Path) -> DatasetSplits:
    """Tiny Shakespeare as one string, split 90/10 by characters."""
    text = (folder / "input.txt").read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)  # nanoGPT's data/shakespeare_char/prepare.py
    return DatasetSplits(
        "tinyshakespeare",
        text[:cut],
        None,
        text[cut:],
        None,
        "Tiny Shakespeare (karpathy/char-rnn; no license stated, the plays are public domain): "
        "1,115,394 characters, 65 distinct, for character-level language modelling. x_train is the "
        "first 90% of the text and x_test the last 10% (nanoGPT's split); y_* are None. "
        "extra['vocabulary'] is the sorted list of characters.",
        extra={"vocabulary": sorted(set(text))},
    )


def sentiment(folder: Path) -> DatasetSplits:
    """The three Sentiment Labelled Sentences files, combined, with a fixed stratified split."""
    sentences, labels, sources = [], [], []
    for source in ("amazon", "imdb", "yelp"):
        name = f"{source}_cells_labelled.txt" if source == "amazon" else f"{source}_labelled.txt"
        # Split on the last tab ourselves: the sentences hold stray quote characters.
        for number, line in enumerate((folder / name).read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            sentence, tab, label = line.rpartition("\t")
            if not tab or label.strip() not in ("0", "1"):
                raise DataError(
                    message(
                        "Unreadable line in a sentiment file.",
                        f"{folder / name}:{number}",
                        "a sentence, a tab, then 0 or 1",
                        "Replace the file with the published one.",
                    )
                )
            sentences.append(sentence.strip())
            labels.append(int(label))
            sources.append(source)
    x, y, origin = (
        np.array(sentences, dtype=object),
        np.array(labels, dtype=np.int64),
        np.array(sources),
    )
    # Stratify on (source, label) so every site and both labels keep the same share in test.
    train, test = stratified_split(np.char.add(origin, y.astype(str)), 0.2, seed=0)
    return DatasetSplits(
        "sentiment",
        x[train],
        y[train],
        x[test],
        y[test],
        "Sentiment Labelled Sentences (Kotzias et al., KDD 2015; no license stated, cite the "
        "paper): 3,000 review sentences, 1,000 each from amazon.com, imdb.com and yelp.com, "
        "labelled 0 (negative) or 1 (positive), 500 of each per site. Fixed 80/20 split (seed 0) "
        "stratified by site and label: 2,400 train / 600 test. x_* are arrays of str; "
        "extra['source_train'/'source_test'] name each site.",
        ["negative", "positive"],
        extra={"source_train": origin[train], "source_test": origin[test]},
    )


def _series_splits(name: str, series: Any, description: str) -> DatasetSplits:
    cut = chronological_split(len(series))
    return DatasetSplits(
        name, series.iloc[:cut], None, series.iloc[cut:], None, description, frame=series
    )


def airline_passengers(folder: Path) -> DatasetSplits:
    """Monthly airline passengers as a pandas Series, last 20% of months held out."""
    table = _pandas().read_csv(
        folder / "airline-passengers.csv", parse_dates=["Month"], index_col="Month"
    )
    return _series_splits(
        "airline_passengers",
        table["Passengers"],
        "International airline passengers, monthly totals in thousands, 1949-01 to 1960-12 (144 "
        "months; Box & Jenkins 1976 via the Time Series Data Library and jbrownlee/Datasets, no "
        "license stated). Chronological split: first 115 months train, last 29 (20%) test. x_* are "
        "pandas Series (int64, DatetimeIndex), y_* are None, frame is the whole series.",
    )


def daily_min_temperatures(folder: Path) -> DatasetSplits:
    """Daily minimum temperatures in Melbourne as a pandas Series, last 20% of days held out."""
    table = _pandas().read_csv(
        folder / "daily-min-temperatures.csv", parse_dates=["Date"], index_col="Date"
    )
    return _series_splits(
        "daily_min_temperatures",
        table["Temp"],
        "Daily minimum temperatures in Melbourne in degrees Celsius, 1981-01-01 to 1990-12-31 "
        "(3,650 days; 1984-12-31 and 1988-12-31 are absent; Australian Bureau of Meteorology via "
        "the Time Series Data Library and jbrownlee/Datasets, no license stated). Chronological "
        "split: first 2,920 days train, last 730 (20%) test. x_* are pandas Series (float64, "
        "DatetimeIndex), y_* are None, frame is the whole series.",
    )


ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]


def adult(folder: Path) -> DatasetSplits:
    """UCI Adult with its published train/test files; features as DataFrames, income > 50K as
    0/1."""
    pandas = _pandas()
    parts: list[Any] = []
    for split in ("train", "test"):
        table = pandas.read_csv(
            folder / f"adult-{split}.csv.gz",
            header=None,
            names=ADULT_COLUMNS,
            skipinitialspace=True,
            na_values="?",
        )
        # The test file writes the labels with a trailing dot ('>50K.').
        income = table.pop("income").str.rstrip(".")
        if not income.isin(["<=50K", ">50K"]).all():
            raise DataError(
                message(
                    "Unexpected income labels in Adult.",
                    sorted(set(income)),
                    "'<=50K' or '>50K'",
                    f"Replace adult-{split}.csv.gz with the published file.",
                )
            )
        parts += [table, (income == ">50K").to_numpy(np.int64)]
    return DatasetSplits(
        "adult",
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        "UCI Adult / Census Income (1994 census extract by Ronny Kohavi and Barry Becker; "
        "jbrownlee/Datasets states no license, UCI lists CC BY 4.0): predict whether income "
        "exceeds 50K from 14 attributes (6 numeric, 8 categorical). The published split, 32,561 "
        "train / 16,281 test rows; '?' is read as missing. x_* are DataFrames, y_* int64 (1 = "
        ">50K, about 24%).",
        ["<=50K", ">50K"],
    )


RETAIL_CUTOFF = "2011-11-01"


def online_retail(folder: Path) -> DatasetSplits:
    """UCI Online Retail transactions as a DataFrame, split by invoice date."""
    table = _pandas().read_parquet(folder / "online_retail.parquet")
    test = (table["InvoiceDate"] >= RETAIL_CUTOFF).to_numpy()
    return DatasetSplits(
        "online_retail",
        table[~test],
        None,
        table[test],
        None,
        "UCI Online Retail (Chen, Sain & Guo 2012; the source states no license, UCI lists CC BY "
        "4.0): 541,909 transaction lines of a UK online gift shop, 2010-12-01 to 2011-12-09, "
        "columns InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, "
        "Country ('C' invoices are cancellations; missing descriptions read 'Unknown'). No labels "
        f"(y_* are None). Chronological split on InvoiceDate: before {RETAIL_CUTOFF} train "
        "(431,673 rows), from then test (110,236, about 20%). frame is the whole table.",
        frame=table,
    )
