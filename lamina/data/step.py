"""The base of the preprocessing steps of ``lamina.prepare``, and the helpers the steps share.

A :class:`Step` keeps its constructor arguments (``get_config``) and learns a JSON-able state in
``fit``; table steps pick their columns by kind (:func:`column_kind`). The steps themselves are in
``lamina.data.table_steps`` (tables) and ``lamina.data.media_steps`` (texts and images).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, NotBuiltError, message
from lamina.data.splits import is_frame

__all__ = [
    "Step",
    "category_key",
    "check_columns",
    "check_count",
    "column_kind",
    "json_scalar",
    "top_categories",
]


def column_kind(dtype: Any) -> str:
    """``"datetime"``, ``"numeric"`` (ints, floats) or ``"categorical"`` (bools, strings, category,
    objects)."""
    from pandas.api import types

    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return (
        "numeric"
        if types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)
        else "categorical"
    )


def category_key(value: Any) -> str:
    """A category as a string; 5 and 5.0 are one (an int column with a missing value turns
    float)."""
    return (
        str(int(value))
        if isinstance(value, (float, np.floating)) and float(value).is_integer()
        else str(value)
    )


def top_categories(series: Any, limit: int | None = None) -> list[str]:
    """The sorted categories of ``series``: its ``limit`` most frequent ones (ties:
    alphabetical)."""
    counts = series.dropna().map(category_key).value_counts()
    return sorted(
        key for key, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    )


def json_scalar(value: Any) -> Any:
    """``value`` as a JSON number when it is a NumPy scalar, else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def check_count(what: str, value: Any, minimum: int) -> None:
    """Raise ConfigError unless ``value`` (the argument ``what``) is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            message(
                f"{what} out of range.", repr(value), f"an int >= {minimum}", f"Pass {what}=..."
            )
        )


def check_columns(frame: Any, names: Sequence[Any], what: str) -> None:
    """Raise DataError (its message starts with ``what``) when ``frame`` lacks one of ``names``."""
    absent = [name for name in names if name not in frame.columns]
    if absent:
        raise DataError(
            message(
                what,
                f"missing {absent}",
                f"columns among {[str(c) for c in frame.columns][:30]}",
                "Fix the names, or pass those columns.",
            )
        )


class Step:
    """A step: arguments in ``get_config()``, what ``fit`` learns in ``state_`` (JSON values or
    NumPy arrays). Table steps work on ``columns`` (default: those of the step's ``kind``: numeric
    for Impute and Scale, categorical for OneHot and Ordinal, datetime for DateTimeFeatures) and
    keep the other columns."""

    kind = ""  # the column kind a table step takes by default
    inputs: tuple[str, ...] = (
        "table",
    )  # of "table" (DataFrame), "array" (numeric ndarray), "text" (list of str)

    def __init__(self, **config: Any) -> None:
        self._config = config
        self.state_: dict[str, Any] | None = None

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"lamina.prepare.{type(self).__name__}({arguments})"

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return dict(self._config)

    def _check(self, x: Any) -> bool:
        what = (
            "table"
            if is_frame(x)
            else "array"
            if isinstance(x, np.ndarray) and x.dtype.kind in "biuf"
            else "text"
            if isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x)
            else type(x).__name__
        )
        if what not in self.inputs:
            raise DataError(
                message(
                    f"{type(self).__name__} cannot take this input.",
                    what,
                    f"one of {self.inputs}",
                    "Pass a DataFrame (table), a numeric ndarray (array) or a list of str (text).",
                )
            )
        return what == "table"

    def fit(self, x: Any, y: Any = None) -> Step:
        """Learn the state from the training rows ``x``. Returns self."""
        state: dict[str, Any] = {}
        if self._check(x):
            names = self._config.get("columns")
            state["columns"] = (
                [c for c in x.columns if column_kind(x[c].dtype) == self.kind]
                if names is None
                else names
            )
            check_columns(
                x,
                state["columns"],
                f"{type(self).__name__} names columns the DataFrame does not have.",
            )
        self._fit(x, state)
        self.state_ = state
        return self

    def transform(self, x: Any, training: bool = False) -> Any:
        """Apply the learned state to ``x`` (``training=True``: also the random training-only
        changes)."""
        if self.state_ is None:
            raise NotBuiltError(
                message(
                    f"{type(self).__name__} is not fitted.",
                    "an unfitted step",
                    "fit(x) first",
                    "Fit the pipeline on the training rows.",
                )
            )
        if self._check(x):
            check_columns(
                x, self.state_["columns"], "The DataFrame lacks columns the pipeline was fitted on."
            )
        return self._transform(x, self.state_, training)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        raise NotImplementedError
