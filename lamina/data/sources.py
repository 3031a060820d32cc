"""Load data from a file, a folder, a database, a DataFrame or a bundled data set into one
``Dataset``.

Tables: CSV/TSV (delimiter and encoding sniffed), Parquet, JSON lines, SQL. Arrays:
``.npy``/``.npz``, IDX. Images or ``.txt`` documents: one subfolder per class. ``iter_chunks``
streams large tables. pandas, pyarrow, Pillow and SQLAlchemy are imported only when a source needs
them (``pip install 'lamina[data,sql]'``). The readers live in ``lamina.data.readers`` and the
``Dataset`` type in ``lamina.data.dataset``.

>>> data = lamina.data.load("digits")
>>> data.modality, data.x.shape, data.task, len(data.x_test), data.classes[:3]
('image', (1438, 1, 8, 8), 'classification', 359, ['0', '1', '2'])
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.core.optional import require_pandas
from lamina.data.dataset import (
    Dataset,
    empty_error,
    is_pandas,
    label_task,
    make_dataset,
    table_dataset,
)
from lamina.data.readers import (
    URL_PATTERN,
    check_options,
    read_arrays,
    read_folder,
    read_idx_file,
    read_jsonl,
    read_text,
    sniff,
    table_frames,
)

__all__ = ["Dataset", "iter_chunks", "label_task", "load"]

MODALITIES = ("table", "image", "text", "array")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")  # what iter_chunks streams (and SQL)
SUPPORTED = (
    ".csv .tsv .txt .parquet .jsonl .ndjson .npy .npz, IDX (*-idx3-ubyte, .idx, also .gz), a "
    "folder of class subfolders (images or .txt), a DataFrame, a SQLAlchemy URL, or one of "
    "lamina.datasets.names()"
)
CHUNK_ROWS = 10_000  # rows per chunk when sampling CSV, Parquet and SQL while streaming
_IDX = re.compile(r"(idx\d-ubyte|\.idx)(\.gz)?$")


def load(
    source: Any,
    target: str | None = None,
    *,
    modality: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    **options: Any,
) -> Dataset:
    """Load data from one source into a ``Dataset``.

    Args:
        source: a file or folder path, a pandas DataFrame, a SQLAlchemy URL (``sqlite:///file.db``,
            ``postgresql+psycopg://user:password@host:5432/db``) or a name from
            ``lamina.datasets.names()``.
        target: the target column of a table (left out of ``x``); None: no target.
        modality: ``"table"``, ``"image"``, ``"text"`` or ``"array"`` for ambiguous sources
            (``.txt``, folders, arrays); inferred by default.
        sample: keep a seeded uniform random sample of this many rows (CSV, Parquet, SQL: read in
            chunks).
        seed: the sample's seed.
        **options: ``delimiter``/``encoding`` (CSV and text), ``table``/``query`` (SQL),
            ``size=(H, W)`` (image folders: resize), or the bundled data set's options (e.g.
            ``normalize=True``).

    Returns:
        A ``Dataset``: ``x`` with N rows, ``y`` ``(N,)`` or None.

    Raises:
        DataError: a missing, empty or malformed source, a missing target column, or an unreachable
            database (the message never shows the password). ConfigError: an unknown option, suffix
            or modality.

    >>> import pandas
    >>> frame = pandas.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]})
    >>> data = lamina.data.load(frame, target="b")
    >>> data.classes, data.task, list(data.x.columns)
    (['x', 'y'], 'classification', ['a'])
    """
    from lamina.data import datasets  # here, not at the top: lamina.data imports this module

    if sample is not None and (
        not isinstance(sample, int) or isinstance(sample, bool) or sample < 1
    ):
        raise ConfigError(
            message(
                "sample must be a positive int.", repr(sample), "an int >= 1", "E.g. sample=1000."
            )
        )
    rng, sampled = np.random.default_rng(seed), False  # sampled: rows were sampled while reading
    if is_pandas(source) and source.ndim == 2:
        check_options(options, (), "a DataFrame")
        data = table_dataset(source, target, "a pandas DataFrame")
    elif isinstance(source, str) and URL_PATTERN.match(source):
        from lamina.data.sql import safe_url

        frames = table_frames(source, options, None if sample is None else CHUNK_ROWS)
        data, sampled = table_dataset(_rows(frames, sample, rng), target, safe_url(source)), True
    elif isinstance(source, str) and not Path(source).exists() and source in datasets.names():
        data = _bundled(datasets.load, source, options)
    elif isinstance(source, (str, Path)):
        data, sampled = _from_path(
            Path(source).expanduser(), target, modality, sample, rng, options
        )
    else:
        raise ConfigError(
            message(
                "Cannot load this kind of object.",
                type(source).__name__,
                SUPPORTED,
                "Pass a path, a DataFrame, a database URL or a data set name.",
            )
        )
    if target is not None and data.target != target:
        raise ConfigError(
            message(
                "target= names a table column.",
                repr(target),
                f"target={data.target!r} for this {data.modality} source",
                "Leave target out for arrays, images and text.",
            )
        )
    if modality not in (None, data.modality) and {modality, data.modality} != {"image", "array"}:
        raise ConfigError(
            message(
                "This source cannot be read with that modality.",
                repr(modality),
                f"None or {data.modality!r} (of {MODALITIES})",
                "Leave modality out to infer it.",
            )
        )
    data.modality = modality or data.modality
    return _sample(data, sample, rng) if sample is not None and not sampled else data


def _sample(data: Dataset, sample: int, rng: np.random.Generator) -> Dataset:
    if sample >= len(data):
        return data
    keep, x = np.sort(np.argsort(rng.random(len(data)), kind="stable")[:sample]), data.x
    x = (
        x.iloc[keep].reset_index(drop=True)
        if is_pandas(x)
        else [x[i] for i in keep]
        if type(x) is list
        else x[keep]
    )
    return dataclasses.replace(data, x=x, y=None if data.y is None else data.y[keep])


def _rows(frames: Iterator[Any], sample: int | None, rng: np.random.Generator) -> Any:
    """The one frame of ``frames``, or ``sample`` rows kept while streaming chunks: every row gets a
    key from ``rng.random`` in file order and the smallest keys win, so the rows are those
    ``_sample`` would keep."""
    if sample is None:
        return next(iter(list(frames)), None)
    kept, keys, offset = None, np.empty(0), 0
    for frame in frames:
        frame = frame.set_axis(np.arange(offset, offset + len(frame)))
        kept, offset = (
            frame if kept is None else require_pandas().concat([kept, frame]),
            offset + len(frame),
        )
        keys = np.concatenate([keys, rng.random(len(frame))])
        if len(kept) > sample:
            best = np.argsort(keys, kind="stable")[:sample]
            kept, keys = kept.iloc[best], keys[best]
    return None if kept is None else kept.sort_index().reset_index(drop=True)


def _bundled(load_splits: Any, name: str, options: dict[str, Any]) -> Dataset:
    splits = load_splits(name, **({"images": True, **options} if name == "digits" else options))

    def convert(
        part: Any,
    ) -> Any:  # Series -> DataFrame; text -> list[str] (tinyshakespeare: one document)
        if is_pandas(part):
            return part.to_frame() if part.ndim == 1 else part
        return (
            [part] if isinstance(part, str) else part.tolist() if part.dtype.kind in "OUS" else part
        )

    x, x_test = convert(splits.x_train), convert(splits.x_test)
    modality = (
        "table"
        if is_pandas(x)
        else "text"
        if isinstance(x, list)
        else "image"
        if x.ndim >= 3
        else "array"
    )
    target = None if splits.y_train is None else "income" if name == "adult" else "label"
    return make_dataset(
        x,
        splits.y_train,
        modality,
        f"lamina.datasets.load({name!r})",
        target,
        splits.classes,
        x_test,
        splits.y_test,
    )


# ---------------------------------------------------------------- files and folders
def _from_path(
    path: Path,
    target: str | None,
    modality: str | None,
    sample: int | None,
    rng: np.random.Generator,
    options: dict[str, Any],
) -> tuple[Dataset, bool]:
    # Returns the data set and whether ``sample`` was applied while reading.
    if not path.exists():
        raise DataError(
            message(
                "No file or folder at this path.",
                str(path),
                "an existing file or folder",
                f"Check the path (relative to {Path.cwd()}) or the data set name "
                "(lamina.datasets).",
            )
        )
    suffix, name = path.suffix.lower(), path.name.lower()
    if path.is_dir():
        check_options(options, ("size", "encoding"), "a folder")
        return read_folder(path, modality, options), False
    if path.stat().st_size == 0:
        raise empty_error(str(path))
    if _IDX.search(name) or suffix in (".npy", ".npz", ".jsonl", ".ndjson"):
        check_options(options, (), f"a {suffix} file")
        return (
            read_idx_file(path)
            if _IDX.search(name)
            else read_arrays(path)
            if suffix in (".npy", ".npz")
            else table_dataset(read_jsonl(path), target, str(path))
        ), False
    if (
        suffix == ".txt"
        and modality != "table"
        and (modality == "text" or not sniff(path, options)[2])
    ):
        check_options(options, ("encoding",), "a text file")
        lines = read_text(path, options.get("encoding")).splitlines()
        return make_dataset(
            [line for line in lines if line.strip()], None, "text", str(path)
        ), False
    if suffix in TABLE_SUFFIXES:
        frames = table_frames(path, options, None if sample is None else CHUNK_ROWS)
        return table_dataset(_rows(frames, sample, rng), target, str(path)), True
    raise ConfigError(
        message(
            "Unsupported file type.",
            f"{path.name} (suffix {suffix or 'none'!r})",
            SUPPORTED,
            "Convert the file to one of those formats.",
        )
    )


def iter_chunks(source: str | Path, chunksize: int = 10_000, **options: Any) -> Iterator[Any]:
    """Stream a large table as DataFrames of ``chunksize`` rows (the last may be shorter).

    Args:
        source: a CSV/TSV/delimited ``.txt`` or Parquet path, or a SQLAlchemy URL with ``table=`` or
            ``query=``.
        chunksize: rows per DataFrame.
        **options: as for ``load``: ``delimiter``, ``encoding``, ``table``, ``query``.

    Returns:
        An iterator of pandas DataFrames; SQL reads through a server-side cursor.

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "squares.csv"
    >>> _ = path.write_text("n,square\\n" + "".join(f"{i},{i * i}\\n" for i in range(10)))
    >>> [len(chunk) for chunk in lamina.data.iter_chunks(path, chunksize=4)]
    [4, 4, 2]
    >>> folder.cleanup()
    """
    if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
        raise ConfigError(
            message(
                "chunksize must be a positive int.", repr(chunksize), "an int >= 1", "E.g. 1000."
            )
        )
    path = (
        None if isinstance(source, str) and URL_PATTERN.match(source) else Path(source).expanduser()
    )
    if path is not None and (path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file()):
        raise DataError(
            message(
                "iter_chunks reads an existing CSV or Parquet file, or SQL.",
                str(path),
                f"a file ending {' '.join(TABLE_SUFFIXES)}, or a database URL",
                "Check the path, or load().",
            )
        )
    return table_frames(source, options, chunksize)
