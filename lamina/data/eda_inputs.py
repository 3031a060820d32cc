"""The inputs of ``lamina.eda.profile`` (and of ``plan`` and ``advise``): ``x``, labels, modality.

:func:`read_data` reads a ``lamina.data.Dataset``, a DataFrame, ``(x, y)`` or a 1-D series into a
:class:`Data`; :func:`labelled` marks the rows whose label is present.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.core.optional import require_pandas
from lamina.data.reference import (
    as_frame,
)
from lamina.data.splits import is_frame

__all__ = ["Data", "MODALITIES", "labelled", "read_data", "read_for_profile"]

MODALITIES = ("table", "image", "text", "array")


@dataclass
class Data:
    """Inputs as ``profile``, ``plan`` and ``advise`` read them: ``x`` (DataFrame, array or texts),
    labels, modality."""

    x: Any
    y: np.ndarray | None
    modality: str
    source: str = "data"
    target: str | None = None
    x_test: Any = None
    y_test: np.ndarray | None = None
    classes: list[Any] | None = None
    task: str | None = None


def _is_text(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return x.ndim == 1 and x.dtype.kind in "OUS" and all(isinstance(v, str) for v in x[:100])
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(v, str) for v in x)


def _modality(x: Any) -> str:
    if is_frame(x):
        return "table"
    if _is_text(x):
        return "text"
    array = np.asarray(x) if isinstance(x, (np.ndarray, list, tuple)) else None
    if array is None or array.ndim < 1 or array.dtype.kind not in "biuf":
        raise DataError(
            message(
                "Cannot tell what kind of data this is.",
                f"{type(x).__name__}"
                + (f" of dtype {array.dtype}, shape {array.shape}" if array is not None else ""),
                "a DataFrame, a numeric array (N, ...) or a list of str",
                "Pass a DataFrame, an array with one row per example, or a list of texts.",
            )
        )
    return "image" if array.ndim in (3, 4) else "array"


def _inputs(x: Any, modality: str) -> Any:
    if modality == "table":
        return x
    return [str(v) for v in x] if modality == "text" else np.asarray(x)


def _labels(y: Any, rows: int) -> np.ndarray | None:
    if y is None:
        return None
    array = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    array = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    if array.ndim != 1 or len(array) != rows:
        raise DataError(
            message(
                "The labels do not match the rows.",
                f"labels of shape {array.shape}, {rows} rows",
                "one label per row, shape (N,)",
                "Align x and y before calling.",
            )
        )
    if array.dtype.kind == "O" and all(
        v is None or isinstance(v, numbers.Real) and not isinstance(v, bool) for v in array
    ):
        array = np.array([np.nan if v is None else v for v in array], dtype=np.float64)
    return array


def read_data(data: Any, target: Any = None) -> Data:
    """Normalise any accepted input (see the module docstring) into :class:`Data`."""
    if is_frame(data):
        if target is not None and target not in data.columns:
            raise DataError(
                message(
                    "The target column is not in the DataFrame.",
                    repr(target),
                    f"one of {list(data.columns)[:30]}",
                    "Pass target= one of those names.",
                )
            )
        x = data if target is None else data.drop(columns=[target])
        return Data(
            x,
            None if target is None else _labels(data[target], len(data)),
            "table",
            "DataFrame",
            target,
        )
    if isinstance(data, tuple) and len(data) == 2:
        modality = _modality(data[0])
        x = _inputs(data[0], modality)
        return Data(x, _labels(data[1], len(x)), modality, "arrays")
    splits = hasattr(data, "x_train")  # a lamina.datasets split, else a lamina.sources.Dataset
    if not splits and not (hasattr(data, "x") and hasattr(data, "modality")):
        raise DataError(
            message(
                "lamina cannot read this data.",
                type(data).__name__,
                "a Dataset, a DataFrame with target=, or a tuple (x, y)",
                "Pass (x, y), or a DataFrame and the name of its target column.",
            )
        )
    x, y = (data.x_train, data.y_train) if splits else (data.x, getattr(data, "y", None))
    modality = _modality(x) if splits else data.modality
    if modality not in MODALITIES:
        raise DataError(
            message(
                "Unknown modality.", repr(modality), f"one of {MODALITIES}", "Fix the modality."
            )
        )
    x, x_test, y_test = (
        _inputs(x, modality),
        getattr(data, "x_test", None),
        getattr(data, "y_test", None),
    )
    x_test = None if x_test is None or y_test is None else _inputs(x_test, modality)
    task = None if splits else getattr(data, "task", None)
    return Data(
        x,
        _labels(y, len(x)),
        modality,
        str(getattr(data, "name" if splits else "source", "dataset")),
        getattr(data, "target", None),
        x_test,
        None if x_test is None else _labels(y_test, len(x_test)),
        getattr(data, "classes", None),
        task if task in ("classification", "regression") else None,
    )


def labelled(y: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows that have a label (not NaN or None)."""
    if y.dtype.kind == "f":
        return ~np.isnan(y)  # type: ignore[no-any-return]
    if y.dtype.kind == "O":
        return np.array([v is not None and v == v for v in y], dtype=bool)
    return np.ones(len(y), dtype=bool)


def read_for_profile(data: Any, target: str | None) -> Data:
    """``data`` as :class:`Data` (with ``x_test`` even without ``y_test``); a 1-D series as a
    table."""
    series = isinstance(data, require_pandas().Series) or (
        isinstance(data, np.ndarray) and data.ndim == 1
    )
    read = read_data(as_frame(data) if series else data, target)
    read.x_test, read.target = (
        getattr(data, "x_test", None),
        read.target or (None if read.y is None else "target"),
    )
    return read
