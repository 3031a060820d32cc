"""Preprocessing steps for tables: impute, scale, encode categories, and date parts as numbers.

Each step works on the DataFrame columns of its kind (``Step.kind``) or on those it is given, and
keeps the other columns; ``Scale`` also takes numeric arrays. All are public in ``lamina.prepare``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.data.splits import check_choice, is_frame
from lamina.data.step import (
    Step,
    category_key,
    check_count,
    column_kind,
    json_scalar,
    top_categories,
)

__all__ = ["CYCLES", "DateTimeFeatures", "Impute", "OneHot", "Ordinal", "Scale"]

CYCLES = {
    "month": 12,
    "day": 31,
    "dayofweek": 7,
    "hour": 24,
    "minute": 60,
}  # periods of the cyclical date parts


class Impute(Step):
    """Fill missing values with a statistic of the training rows.

    Args:
        strategy: ``"median"``, ``"mean"``, ``"most_frequent"`` (ties: the smallest) or
            ``"constant"``.
        add_indicator: add a 0/1 column ``<name>_missing`` per column with a missing training value.
        fill_value: the ``"constant"`` value; default 0, or ``"missing"`` in non-numeric columns.
    """

    kind = "numeric"

    def __init__(
        self,
        strategy: str = "median",
        add_indicator: bool = False,
        *,
        fill_value: Any = None,
        columns: Sequence[Any] | None = None,
    ) -> None:
        check_choice("Impute strategy", strategy, ("median", "mean", "most_frequent", "constant"))
        super().__init__(
            strategy=strategy, add_indicator=add_indicator, fill_value=fill_value, columns=columns
        )

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        strategy, given, fills = self._config["strategy"], self._config["fill_value"], []
        for column in state["columns"]:
            observed, numeric = x[column].dropna(), column_kind(x[column].dtype) == "numeric"
            if strategy != "constant" and (
                observed.empty or (strategy != "most_frequent" and not numeric)
            ):
                raise DataError(
                    message(
                        f"Impute cannot take the {strategy} of column {column!r}.",
                        f"dtype {x[column].dtype}, {len(observed)} values",
                        "numbers seen in training",
                        "Use strategy='most_frequent' or 'constant', or drop the column.",
                    )
                )
            if strategy == "constant":
                fills.append(given if given is not None else 0.0 if numeric else "missing")
            elif strategy == "most_frequent":
                fills.append(json_scalar(observed.mode()[0]))  # ties: the smallest value
            else:
                fills.append(float(observed.median() if strategy == "median" else observed.mean()))
        state.update(
            fill=fills,
            indicators=[
                c for c in state["columns"] if self._config["add_indicator"] and x[c].isna().any()
            ],
        )

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        out = x.copy()
        for column, fill in zip(state["columns"], state["fill"]):
            out[column] = (
                x[column].astype(object) if str(x[column].dtype) == "category" else x[column]
            ).fillna(fill)
        for column in state["indicators"]:
            out[f"{column}_missing"] = x[column].isna().to_numpy(np.float64)
        return out


class Scale(Step):
    """Rescale numbers with statistics of the training rows; missing values stay missing.

    Args:
        method: ``"standard"`` (mean 0, std 1), ``"minmax"`` (to [0, 1]) or ``"robust"`` (median 0,
            interquartile range 1); a constant feature is only shifted. Arrays ``(N, ...)``: float32
            out.
    """

    kind, inputs = "numeric", ("table", "array")

    def __init__(self, method: str = "standard", *, columns: Sequence[Any] | None = None) -> None:
        check_choice("Scale method", method, ("standard", "minmax", "robust"))
        super().__init__(method=method, columns=columns)

    def _values(self, x: Any, state: dict[str, Any]) -> np.ndarray:
        if not is_frame(x):
            return np.asarray(x.reshape(len(x), -1), dtype=np.float64)  # (N, ...) -> (N, features)
        try:
            return x[state["columns"]].to_numpy(dtype=np.float64, na_value=np.nan)  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            raise DataError(
                message(
                    "Scale takes numeric columns.",
                    {c: str(x[c].dtype) for c in state["columns"]},
                    "numbers",
                    "Pass numeric columns= only.",
                )
            ) from None

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        values, method = self._values(x, state), self._config["method"]
        with warnings.catch_warnings():  # an all-missing feature gets NaN statistics
            warnings.simplefilter("ignore", RuntimeWarning)
            if method == "standard":
                center, spread = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
            else:
                # minmax: the minimum and the range; robust: the median and the interquartile range
                low, median, high = np.nanpercentile(
                    values, [0, 50, 100] if method == "minmax" else [25, 50, 75], 0
                )
                center, spread = low if method == "minmax" else median, high - low
        state.update(center=center, scale=np.where(np.isfinite(spread) & (spread > 0), spread, 1.0))

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        values = (self._values(x, state) - state["center"]) / state["scale"]
        if not is_frame(x):
            return values.reshape(x.shape).astype(np.float32)
        out = x.copy()
        out[state["columns"]] = values
        return out


class OneHot(Step):
    """In place of each column, one 0/1 column ``<name>=<category>`` per training category.

    Args:
        max_categories: keep each column's most frequent categories up to this many; the rest are
            unknown.
        handle_unknown: ``"ignore"`` (unknown or missing: all zeros) or ``"error"``.
    """

    kind = "categorical"

    def __init__(
        self,
        max_categories: int = 50,
        handle_unknown: str = "ignore",
        *,
        columns: Sequence[Any] | None = None,
    ) -> None:
        check_count("max_categories", max_categories, 1)
        check_choice("OneHot handle_unknown", handle_unknown, ("ignore", "error"))
        super().__init__(
            max_categories=max_categories, handle_unknown=handle_unknown, columns=columns
        )

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        state["categories"] = [
            top_categories(x[c], self._config["max_categories"]) for c in state["columns"]
        ]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas

        blocks = {}
        for column, kept in zip(state["columns"], state["categories"]):
            keys = x[column].map(category_key, na_action="ignore")
            unknown = sorted(set(keys.dropna()) - set(kept))
            if unknown and self._config["handle_unknown"] == "error":
                raise DataError(
                    message(
                        f"Column {column!r} has categories not kept in training.",
                        unknown[:10],
                        f"one of {kept[:20]}",
                        "Pass handle_unknown='ignore' (all zeros).",
                    )
                )
            blocks.update({f"{column}={key}": (keys == key).to_numpy(np.float64) for key in kept})
        return pandas.concat(
            [x.drop(columns=state["columns"]), pandas.DataFrame(blocks, index=x.index)], axis=1
        )


class Ordinal(Step):
    """Categories -> int64 ids ``0..K-1`` (the sorted training categories), e.g. for entity
    embeddings.

    Args:
        unknown: the id of unseen and missing values.
    """

    kind = "categorical"

    def __init__(self, unknown: int = -1, *, columns: Sequence[Any] | None = None) -> None:
        super().__init__(unknown=unknown, columns=columns)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        state["categories"] = [top_categories(x[c]) for c in state["columns"]]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        out = x.copy()
        for column, kept in zip(state["columns"], state["categories"]):
            ids = (
                x[column]
                .map(category_key, na_action="ignore")
                .map(dict(zip(kept, range(len(kept)))))
            )  # unseen: NaN
            out[column] = ids.fillna(self._config["unknown"]).to_numpy(np.int64)
        return out


class DateTimeFeatures(Step):
    """In place of each column, date parts as numbers (in UTC); missing times get the training
    median.

    Args:
        parts: of ``"year"``, ``"month"``, ``"day"``, ``"dayofweek"``, ``"hour"``, ``"minute"``.
        cyclical: periodic parts as ``<name>_<part>_sin``/``_cos`` (December next to January);
            otherwise, and for the year, one column ``<name>_<part>``. Named string columns are
            parsed as dates.
    """

    kind = "datetime"

    def __init__(
        self,
        parts: Sequence[str] = ("year", "month", "day", "dayofweek", "hour"),
        cyclical: bool = True,
        *,
        columns: Sequence[Any] | None = None,
    ) -> None:
        for part in parts:
            check_choice("DateTimeFeatures part", part, ("year", *CYCLES))
        super().__init__(parts=parts, cyclical=cyclical, columns=columns)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        import pandas

        times = [
            pandas.to_datetime(x[c], errors="coerce", utc=True).dropna() for c in state["columns"]
        ]
        if any(t.empty for t in times):
            raise DataError(
                message(
                    "A datetime column has no dates in the training rows.",
                    state["columns"],
                    "dates in each column",
                    "Drop the column or fix its values.",
                )
            )
        state["fill"] = [t.median().isoformat() for t in times]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas

        new = {}
        for column, fill in zip(state["columns"], state["fill"]):
            times = (
                pandas.to_datetime(x[column], errors="coerce", utc=True)
                .fillna(pandas.Timestamp(fill))
                .dt
            )
            for part in self._config["parts"]:
                value = getattr(times, "day_of_week" if part == "dayofweek" else part).to_numpy(
                    np.float64
                )
                if self._config["cyclical"] and part in CYCLES:
                    angle = (
                        2 * np.pi * (value - (part in ("month", "day"))) / CYCLES[part]
                    )  # months, days from 1
                    new[f"{column}_{part}_sin"], new[f"{column}_{part}_cos"] = (
                        np.sin(angle),
                        np.cos(angle),
                    )
                else:
                    new[f"{column}_{part}"] = value
        return pandas.concat(
            [x.drop(columns=state["columns"]), pandas.DataFrame(new, index=x.index)], axis=1
        )
