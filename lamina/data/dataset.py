"""The ``Dataset`` that ``lamina.data.load`` returns, and the constructors its readers share.

A :class:`Dataset` holds ``x`` and ``y`` (and a test split when the source gives one), its
modality, target and source. :func:`make_dataset` checks lengths and emptiness;
:func:`table_dataset` takes the target column out of a DataFrame.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.core.optional import require_pandas

__all__ = ["Dataset", "empty_error", "is_pandas", "label_task", "make_dataset", "table_dataset"]


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
    if is_pandas(part):
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


def is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and type(data).__name__ in (
        "DataFrame",
        "Series",
    )


def empty_error(source: str) -> DataError:
    return DataError(
        message(
            "The source is empty.", f"{source}: no rows", "at least one row", "Load one with data."
        )
    )


def make_dataset(
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
        raise empty_error(source)
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


def table_dataset(frame: Any, target: str | None, source: str) -> Dataset:
    if target is None or frame is None or len(frame) == 0:
        return make_dataset(frame, None, "table", source)
    if target not in frame.columns:
        raise DataError(
            message(
                "The target column is not in the table.",
                repr(target),
                f"one of {[str(c) for c in frame.columns][:50]}",
                "Pass one of those names (case matters).",
            )
        )
    return make_dataset(
        frame.drop(columns=[target]), frame[target].to_numpy(), "table", source, target
    )
