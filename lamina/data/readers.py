"""The file and folder readers of ``lamina.data.load``: tables, NumPy and IDX arrays, folders.

CSV/TSV (encoding and delimiter sniffed), Parquet and JSON lines give DataFrames (``table_frames``
streams them in chunks, SQL included); ``.npy``/``.npz`` and IDX files give arrays; a folder of
class subfolders gives images or texts. pandas, pyarrow and Pillow are imported only when needed.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
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
from lamina.data.dataset import Dataset, empty_error, make_dataset

__all__ = [
    "IMAGE_SUFFIXES",
    "URL_PATTERN",
    "check_options",
    "read_arrays",
    "read_folder",
    "read_idx_file",
    "read_jsonl",
    "read_text",
    "sniff",
    "table_frames",
]

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
URL_PATTERN = re.compile(r"^[A-Za-z][\w+.-]*://")  # a database URL, not a path
_SNIFF_BYTES = 65536


def check_options(options: dict[str, Any], accepted: Iterable[str], what: str) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        expected = f"one of {sorted(accepted)}" if accepted else "no options"
        raise ConfigError(
            message(f"Unknown option for {what}.", unknown, expected, "Drop or rename the option.")
        )


def guess_encoding(raw: bytes, final: bool) -> str:
    """utf-8 (utf-8-sig after a byte order mark), else cp1252, else latin-1 (which decodes any
    bytes)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        with contextlib.suppress(UnicodeDecodeError):
            codecs.getincrementaldecoder(encoding)().decode(raw, final=final)
            return encoding
    return "latin-1"


def read_text(path: Path, encoding: str | None = None) -> str:
    raw = path.read_bytes()
    return raw.decode(encoding or guess_encoding(raw, final=True))


def sniff(path: Path, options: dict[str, Any]) -> tuple[str, str | None, bool]:
    """The encoding, the delimiter (None when not found) and whether the first lines split evenly on
    it."""
    with path.open("rb") as handle:
        raw = handle.read(_SNIFF_BYTES)
    encoding = options.get("encoding") or guess_encoding(raw, final=len(raw) < _SNIFF_BYTES)
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


def table_frames(
    source: str | Path, options: dict[str, Any], chunksize: int | None
) -> Iterator[Any]:
    # The one DataFrame of a CSV/TSV/.txt table, a Parquet file or a database URL, or its chunks.
    if isinstance(source, str) and URL_PATTERN.match(source):
        return sql_table_frames(source, options, chunksize)
    path = Path(source).expanduser()
    check_options(
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
    encoding, delimiter, _ = sniff(path, options)
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
            raise empty_error(str(path)) from None
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


def read_jsonl(path: Path) -> Any:
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
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


def read_arrays(path: Path) -> Dataset:
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
    return make_dataset(
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


def read_idx_file(path: Path) -> Dataset:
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
    return make_dataset(x, y, _array_modality(x), str(path), None if y is None else "label")


def read_folder(path: Path, modality: str | None, options: dict[str, Any]) -> Dataset:
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
        else [read_text(f, encoding) for f in files]
    )
    y = np.array([label for _, label in rows], dtype=np.int64) if classes else None
    return make_dataset(x, y, kind, str(path), "label" if classes else None, classes or None)


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


def sql_table_frames(text: str, options: dict[str, Any], chunksize: int | None) -> Iterator[Any]:
    from lamina.data.sql import sql_frames

    check_options(options, ("table", "query"), "a database")
    yield from sql_frames(text, options, chunksize)
