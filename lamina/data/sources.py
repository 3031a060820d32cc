"""Load data from a file, a folder, a database, a DataFrame or a bundled data set into one
``Dataset``.

Tables: CSV/TSV (delimiter and encoding sniffed), Parquet, JSON lines, SQL. Arrays:
``.npy``/``.npz``, IDX. Images or ``.txt`` documents: one subfolder per class. ``iter_chunks``
streams large tables. pandas, pyarrow, Pillow and SQLAlchemy are imported only when a source needs
them (``pip install 'lamina[data,sql]'``).

>>> data = lamina.data.load("digits")
>>> data.modality, data.x.shape, data.task, len(data.x_test), data.classes[:3]
('image', (1438, 1, 8, 8), 'classification', 359, ['0', '1', '2'])
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.core.optional import require_pandas

__all__ = ["Dataset", "iter_chunks", "load"]

MODALITIES = ("table", "image", "text", "array")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")  # what iter_chunks streams (and SQL)
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
SUPPORTED = (
    ".csv .tsv .txt .parquet .jsonl .ndjson .npy .npz, IDX (*-idx3-ubyte, .idx, also .gz), a "
    "folder of class subfolders (images or .txt), a DataFrame, a SQLAlchemy URL, or one of "
    "lamina.datasets.names()"
)
CHUNK_ROWS = 10_000  # rows per chunk when sampling CSV, Parquet and SQL while streaming
_URL = re.compile(r"^[A-Za-z][\w+.-]*://")
_IDX = re.compile(r"(idx\d-ubyte|\.idx)(\.gz)?$")
_SNIFF_BYTES = 65536


@dataclasses.dataclass(repr=False)
class Dataset:
    """Data loaded from one source, ready for the project stages (``load`` makes them)."""

    # x: a DataFrame ("table"), an array (N, ...) ("image": (N, C, H, W) or (N, H, W); "array"),
    # or list[str] ("text")
    x: Any
    y: np.ndarray | None  # the target (N,), or None when there is none
    modality: str  # "table" | "image" | "text" | "array"
    source: str  # where the data came from, for reports; never holds a password
    target: str | None = None  # the target's name: its column for tables, "label" otherwise
    x_test: Any = None  # a test split given by the source (bundled data sets, npz files), else None
    y_test: np.ndarray | None = None
    # sorted class names when y is categorical; folders and bundled sets: classes[y]
    classes: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        return (
            f"lamina.data.Dataset({self.modality!r}, rows={len(self)}, target={self.target!r}, "
            f"source={self.source})"
        )

    @property
    def task(self) -> str | None:
        """``"classification"`` (strings, bools, ints with <= max(20, 5% of rows) values),
        ``"regression"``, None."""
        return None if self.y is None else label_task(self.y)

    def fingerprint(self) -> str:
        """The sha256 hex digest of ``x``, ``y``, ``x_test`` and ``y_test``, the same in every
        process."""
        return hashlib.sha256(
            b"".join(map(_digest, (self.x, self.y, self.x_test, self.y_test)))
        ).hexdigest()

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: rows, columns or shape, modality, target, task, classes,
        source."""
        key, value = (
            ("columns", [str(c) for c in self.x.columns])
            if self.modality == "table"
            else ("shape", [len(self)] if self.modality == "text" else list(np.shape(self.x)))
        )
        return {
            "rows": len(self),
            key: value,
            "test_rows": None if self.x_test is None else len(self.x_test),
            "modality": self.modality,
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "source": self.source,
        }


def label_task(y: np.ndarray) -> str:
    """``"classification"`` for strings, bools and few distinct integers (<= 20 or <= 5% of rows),
    else regression.

    Args:
        y: the labels ``(N,)``.

    Returns:
        ``"classification"`` or ``"regression"``.
    """
    few = y.dtype.kind in "iu" and len(np.unique(y)) <= max(20, 0.05 * len(y))
    return "classification" if y.dtype.kind in "OUSb" or few else "regression"


def _classes(y: np.ndarray | None) -> list[Any] | None:
    if y is None or label_task(y) != "classification":
        return None  # missing values (None, NaN) are no class; ints sort before strings
    return sorted(
        {v for v in y.tolist() if isinstance(v, (str, int))}, key=lambda v: (isinstance(v, str), v)
    )


def _digest(part: Any) -> bytes:
    """sha256 of the column names, dtypes and pandas' row hashes; of JSON for strings; else of the
    raw bytes."""
    if part is None:
        return b"none"
    if _is_pandas(part):
        content = json.dumps([[str(c), str(d)] for c, d in part.dtypes.items()]).encode()
        try:
            content += (
                require_pandas().util.hash_pandas_object(part, index=False).to_numpy().tobytes()
            )
        except TypeError:  # unhashable cells (lists from JSON lines)
            content += part.to_json(orient="values", default_handler=str).encode()
    elif isinstance(part, (list, tuple)) or part.dtype.kind == "O":
        content = json.dumps(np.asarray(part, dtype=object).tolist(), default=str).encode()
    else:
        array = np.ascontiguousarray(part)
        content = f"{array.dtype.str}{array.shape};".encode() + array.tobytes()
    return hashlib.sha256(content).digest()


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and type(data).__name__ in (
        "DataFrame",
        "Series",
    )


def _empty(source: str) -> DataError:
    return DataError(
        message(
            "The source is empty.", f"{source}: no rows", "at least one row", "Load one with data."
        )
    )


def _dataset(
    x: Any,
    y: np.ndarray | None,
    modality: str,
    source: str,
    target: str | None = None,
    classes: list[Any] | None = None,
    x_test: Any = None,
    y_test: np.ndarray | None = None,
) -> Dataset:
    if x is None or len(x) == 0:
        raise _empty(source)
    if y is not None and len(y) != len(x):
        raise DataError(
            message(
                "x and y differ in length.",
                f"{len(x)} rows of x, {len(y)} of y in {source}",
                "one target per row",
                "Save as many targets as rows.",
            )
        )
    return Dataset(x, y, modality, source, target, x_test, y_test, classes or _classes(y))


def _table(frame: Any, target: str | None, source: str) -> Dataset:
    if target is None or frame is None or len(frame) == 0:
        return _dataset(frame, None, "table", source)
    if target not in frame.columns:
        raise DataError(
            message(
                "The target column is not in the table.",
                repr(target),
                f"one of {[str(c) for c in frame.columns][:50]}",
                "Pass one of those names (case matters).",
            )
        )
    return _dataset(frame.drop(columns=[target]), frame[target].to_numpy(), "table", source, target)


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
    if _is_pandas(source) and source.ndim == 2:
        _options(options, (), "a DataFrame")
        data = _table(source, target, "a pandas DataFrame")
    elif isinstance(source, str) and _URL.match(source):
        from lamina.data.sql import safe_url

        frames = _frames(source, options, None if sample is None else CHUNK_ROWS)
        data, sampled = _table(_rows(frames, sample, rng), target, safe_url(source)), True
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


def _options(options: dict[str, Any], accepted: Iterable[str], what: str) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        expected = f"one of {sorted(accepted)}" if accepted else "no options"
        raise ConfigError(
            message(f"Unknown option for {what}.", unknown, expected, "Drop or rename the option.")
        )


def _sample(data: Dataset, sample: int, rng: np.random.Generator) -> Dataset:
    if sample >= len(data):
        return data
    keep, x = np.sort(np.argsort(rng.random(len(data)), kind="stable")[:sample]), data.x
    x = (
        x.iloc[keep].reset_index(drop=True)
        if _is_pandas(x)
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
        if _is_pandas(part):
            return part.to_frame() if part.ndim == 1 else part
        return (
            [part] if isinstance(part, str) else part.tolist() if part.dtype.kind in "OUS" else part
        )

    x, x_test = convert(splits.x_train), convert(splits.x_test)
    modality = (
        "table"
        if _is_pandas(x)
        else "text"
        if isinstance(x, list)
        else "image"
        if x.ndim >= 3
        else "array"
    )
    target = None if splits.y_train is None else "income" if name == "adult" else "label"
    return _dataset(
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
        _options(options, ("size", "encoding"), "a folder")
        return _folder(path, modality, options), False
    if path.stat().st_size == 0:
        raise _empty(str(path))
    if _IDX.search(name) or suffix in (".npy", ".npz", ".jsonl", ".ndjson"):
        _options(options, (), f"a {suffix} file")
        return (
            _idx(path)
            if _IDX.search(name)
            else _arrays(path)
            if suffix in (".npy", ".npz")
            else _table(_read_jsonl(path), target, str(path))
        ), False
    if (
        suffix == ".txt"
        and modality != "table"
        and (modality == "text" or not _sniff(path, options)[2])
    ):
        _options(options, ("encoding",), "a text file")
        lines = _read_text(path, options.get("encoding")).splitlines()
        return _dataset([line for line in lines if line.strip()], None, "text", str(path)), False
    if suffix in TABLE_SUFFIXES:
        frames = _frames(path, options, None if sample is None else CHUNK_ROWS)
        return _table(_rows(frames, sample, rng), target, str(path)), True
    raise ConfigError(
        message(
            "Unsupported file type.",
            f"{path.name} (suffix {suffix or 'none'!r})",
            SUPPORTED,
            "Convert the file to one of those formats.",
        )
    )


def _encoding(raw: bytes, final: bool) -> str:
    """utf-8 (utf-8-sig after a byte order mark), else cp1252, else latin-1 (which decodes any
    bytes)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        with contextlib.suppress(UnicodeDecodeError):
            codecs.getincrementaldecoder(encoding)().decode(raw, final=final)
            return encoding
    return "latin-1"


def _read_text(path: Path, encoding: str | None = None) -> str:
    raw = path.read_bytes()
    return raw.decode(encoding or _encoding(raw, final=True))


def _sniff(path: Path, options: dict[str, Any]) -> tuple[str, str | None, bool]:
    """The encoding, the delimiter (None when not found) and whether the first lines split evenly on
    it."""
    with path.open("rb") as handle:
        raw = handle.read(_SNIFF_BYTES)
    encoding = options.get("encoding") or _encoding(raw, final=len(raw) < _SNIFF_BYTES)
    lines = [
        line for line in raw.decode(encoding, errors="replace").splitlines()[:100] if line.strip()
    ]
    lines = lines[:-1] if len(raw) == _SNIFF_BYTES else lines  # the last may be cut
    try:
        delimiter = (
            options.get("delimiter")
            or csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
        )
    except csv.Error:
        return encoding, None, False
    widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
    return encoding, delimiter, len(widths) == 1 and widths != {1}


def _frames(source: str | Path, options: dict[str, Any], chunksize: int | None) -> Iterator[Any]:
    # The one DataFrame of a CSV/TSV/.txt table, a Parquet file or a database URL, or its chunks.
    if isinstance(source, str) and _URL.match(source):
        return _sql_frames(source, options, chunksize)
    path = Path(source).expanduser()
    _options(
        options,
        () if path.suffix.lower() == ".parquet" else ("delimiter", "encoding"),
        f"a {path.suffix} file",
    )
    return (
        _parquet_frames(path, chunksize)
        if path.suffix.lower() == ".parquet"
        else _csv(path, options, chunksize)
    )


def _csv(path: Path, options: dict[str, Any], chunksize: int | None) -> Iterator[Any]:
    pandas = require_pandas()
    encoding, delimiter, _ = _sniff(path, options)
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    # The encoding was sniffed on the first 64 KiB; a later byte may need the next candidate.
    fallbacks = {"utf-8": ["cp1252", "latin-1"], "cp1252": ["latin-1"]}
    for attempt in [encoding] + (
        [] if options.get("encoding") or chunksize else fallbacks.get(encoding, [])
    ):
        try:
            if chunksize is None:
                yield pandas.read_csv(path, sep=delimiter, encoding=attempt)
            else:
                with pandas.read_csv(
                    path, sep=delimiter, encoding=attempt, chunksize=chunksize
                ) as reader:
                    yield from reader
            return
        except UnicodeDecodeError as error:
            failure = f"{error.reason} at byte {error.start} as {attempt}"
        except pandas.errors.EmptyDataError:
            raise _empty(str(path)) from None
        except pandas.errors.ParserError as error:
            raise _malformed(path, str(error), attempt) from None
    raise DataError(
        message(
            "Cannot decode the file.",
            f"{path}: {failure}",
            "text in one encoding",
            "Pass encoding='...' with the file's encoding (e.g. 'cp1252', 'utf-16').",
        )
    )


def _malformed(path: Path, detail: str, encoding: str) -> DataError:
    found = re.search(r"line (\d+)", detail)
    where = f"line {found.group(1)}" if found else "a row"
    if found:  # show the line itself
        with path.open(encoding=encoding, errors="replace", newline="") as handle:
            line = next(itertools.islice(handle, int(found.group(1)) - 1, None), "")
            where += f": {line[:100].rstrip()!r}"
    return DataError(
        message(
            f"Malformed row in {path.name}.",
            f"{where} ({detail.strip()})",
            "every row with as many fields as the header",
            "Fix or remove that line, or quote fields holding the delimiter.",
        )
    )


def _parquet_frames(path: Path, chunksize: int | None) -> Iterator[Any]:
    import pyarrow.parquet  # installed with pandas by lamina[data]

    try:
        file = pyarrow.parquet.ParquetFile(path)
    except (OSError, ValueError) as error:  # ArrowInvalid is a ValueError
        raise DataError(
            message(
                "Cannot read the Parquet file.",
                f"{path}: {error}",
                "a Parquet file",
                "Check that the file is complete and really Parquet.",
            )
        ) from None
    with file:
        batches = [file.read()] if chunksize is None else file.iter_batches(batch_size=chunksize)
        yield from (batch.to_pandas() for batch in batches)


def _read_jsonl(path: Path) -> Any:
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        try:
            rows += [json.loads(line)] if line.strip() else []
        except json.JSONDecodeError as error:
            rows.append(f"{line[:100]!r} ({error.msg})")
        if rows and not isinstance(rows[-1], dict):
            raise DataError(
                message(
                    f"Malformed line in {path.name}.",
                    f"line {number}: {rows[-1]}",
                    "one JSON object per line",
                    "Fix or remove that line.",
                )
            )
    return require_pandas().DataFrame(rows)


def _arrays(path: Path) -> Dataset:
    try:
        loaded = np.load(path, allow_pickle=False)
        arrays = (
            {"x": loaded}
            if isinstance(loaded, np.ndarray)
            else {key: loaded[key] for key in loaded.files}
        )
    except (OSError, ValueError) as error:
        raise DataError(
            message(
                "Cannot read the NumPy file.",
                f"{path}: {error}",
                "arrays from numpy.save or savez",
                "Save numeric arrays (object arrays need pickle, which lamina never loads).",
            )
        ) from None
    key = "x" if "x" in arrays else "x_train" if "x_train" in arrays else None
    if key is None:
        raise DataError(
            message(
                "The npz file has no x array.",
                f"keys {sorted(arrays)} in {path}",
                "keys x and y, or x_train, y_train, x_test, y_test",
                "Save with numpy.savez(path, x=x, y=y).",
            )
        )
    x, y = arrays[key], arrays.get("y" if key == "x" else "y_train")
    getattr(loaded, "close", lambda: None)()  # an npz archive holds the file open
    return _dataset(
        x,
        y,
        _array_modality(x),
        str(path),
        None if y is None else "label",
        x_test=arrays.get("x_test"),
        y_test=arrays.get("y_test"),
    )


def _array_modality(x: np.ndarray) -> str:
    return "image" if x.dtype == np.uint8 and x.ndim in (3, 4) else "array"


class _Gzipped(io.BytesIO):
    """A file's bytes for the gzip-only IDX reader, stored as gzip (level 0) unless they are; repr:
    the path."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        super().__init__(raw if raw[:2] == b"\x1f\x8b" else gzip.compress(raw, compresslevel=0))
        self.path = path

    def __repr__(self) -> str:
        return str(self.path)


def _idx(path: Path) -> Dataset:
    # An images file gets the labels file beside it (*-labels-idx1-ubyte*) as y.
    from lamina.data.datasets._loaders import read_idx

    x, labels = (
        read_idx(cast(Path, _Gzipped(path))),
        path.with_name(path.name.replace("images-idx3", "labels-idx1")),
    )
    y = (
        read_idx(cast(Path, _Gzipped(labels))).astype(np.int64)
        if labels != path and labels.is_file()
        else None
    )
    return _dataset(x, y, _array_modality(x), str(path), None if y is None else "label")


def _folder(path: Path, modality: str | None, options: dict[str, Any]) -> Dataset:
    visible = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    classes = [p.name for p in visible if p.is_dir()]
    groups = (
        [
            sorted(f for f in (path / c).iterdir() if f.is_file() and not f.name.startswith("."))
            for c in classes
        ]
        if classes
        else [[p for p in visible if p.is_file()]]
    )
    suffixes = {f.suffix.lower() for group in groups for f in group}
    kind = (
        modality
        if modality in ("image", "text")
        else "image"
        if suffixes & set(IMAGE_SUFFIXES)
        else "text"
    )
    wanted = IMAGE_SUFFIXES if kind == "image" else (".txt",)
    rows = [
        (file, label)
        for label, group in enumerate(groups)
        for file in group
        if file.suffix.lower() in wanted
    ]
    if not rows:
        raise DataError(
            message(
                "The folder is empty."
                if not suffixes
                else "No images or .txt files in the folder.",
                f"{path} holding {sorted(suffixes) or 'no files'}",
                f"one subfolder per class of images ({' '.join(IMAGE_SUFFIXES)}) or of .txt files",
                "Point load() at one.",
            )
        )
    files = [file for file, _ in rows]
    encoding = options.get("encoding")
    x = (
        _images(files, options.get("size"))
        if kind == "image"
        else [_read_text(f, encoding) for f in files]
    )
    y = np.array([label for _, label in rows], dtype=np.int64) if classes else None
    return _dataset(x, y, kind, str(path), "label" if classes else None, classes or None)


def _images(files: list[Path], size: Any) -> np.ndarray:
    """Images as uint8 ``(N, C, H, W)``: C is 1 when every image is grayscale, else 3 (RGB)."""
    from PIL import Image  # installed with pandas by lamina[data]

    if size is not None and not (
        isinstance(size, (tuple, list)) and [type(n) for n in size] == [int, int] and min(size) > 0
    ):
        raise ConfigError(
            message(
                "size must be (height, width).", repr(size), "two positive ints", "E.g. (28, 28)."
            )
        )
    arrays: list[np.ndarray] = []
    first_of: dict[tuple[int, ...], Path] = {}  # (H, W) -> the first file of that size
    for file in files:
        try:
            with Image.open(file) as opened:
                image = opened.convert("L" if opened.mode in ("1", "L", "LA") else "RGB")
            arrays.append(np.asarray(image if size is None else image.resize((size[1], size[0]))))
        except (OSError, ValueError) as error:
            raise DataError(
                message(
                    "Cannot read an image.",
                    f"{file} ({error})",
                    "an image Pillow can open",
                    "Replace or remove that file.",
                )
            ) from None
        first_of.setdefault(arrays[-1].shape[:2], file)
    if len(first_of) > 1:
        (a, file_a), (b, file_b) = list(first_of.items())[:2]
        raise DataError(
            message(
                "The images differ in size.",
                f"(H, W) = {a} in {file_a} and {b} in {file_b}",
                "every image the same size",
                f"Pass size=(H, W) to resize them all, e.g. size={a}.",
            )
        )
    if any(a.ndim == 3 for a in arrays):
        arrays = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays]
        return np.ascontiguousarray(
            np.stack(arrays).transpose(0, 3, 1, 2)
        )  # (N, H, W, 3) -> (N, 3, H, W)
    return np.stack(arrays)[:, None]  # (N, H, W) -> (N, 1, H, W)


# ---------------------------------------------------------------- databases
def _sql_frames(text: str, options: dict[str, Any], chunksize: int | None) -> Iterator[Any]:
    from lamina.data.sql import sql_frames

    _options(options, ("table", "query"), "a database")
    yield from sql_frames(text, options, chunksize)


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
    path = None if isinstance(source, str) and _URL.match(source) else Path(source).expanduser()
    if path is not None and (path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file()):
        raise DataError(
            message(
                "iter_chunks reads an existing CSV or Parquet file, or SQL.",
                str(path),
                f"a file ending {' '.join(TABLE_SUFFIXES)}, or a database URL",
                "Check the path, or load().",
            )
        )
    return _frames(source, options, chunksize)
