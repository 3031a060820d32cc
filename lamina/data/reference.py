"""The features of the training-time reference profile, shared by profiling (``lamina.eda``) and
monitoring.

``lamina.eda.profile`` builds the profile from these per-row features and per-column summaries, and
``Profile.reference()`` keeps the compact part a model carries as ``reference_profile.json``.
``lamina.monitor`` and ``lamina.feedback`` compute the same features and summaries on live data, so
both sides match exactly.

>>> float(numeric_summary(np.arange(100.0))["quantiles"]["p50"])
49.5
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.core.optional import require_pandas

__all__ = [
    "BINS",
    "QUANTILES",
    "as_frame",
    "category_key",
    "clean_json",
    "image_features",
    "numeric_summary",
    "text_features",
    "to_floats",
]

BINS = 20  # histogram bins over [p1, p99]
QUANTILES = {"p1": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}


def as_frame(x: Any) -> Any:
    """A table's per-row columns as the profile reads them.

    Args:
        x: a DataFrame, a Series, or an array ``(N, ...)`` (flattened into columns ``x0``, ``x1``,
            ...).

    Returns:
        A DataFrame with string column names; a DatetimeIndex becomes a column, and columns holding
        lists or dicts become strings.
    """
    pandas = require_pandas()
    if not hasattr(x, "columns") and not hasattr(
        x, "to_frame"
    ):  # an array (N, ...): columns x0, x1, ...
        x = pandas.DataFrame(np.asarray(x).reshape(len(x), -1)).add_prefix("x")
    x = x.to_frame(x.name if x.name is not None else "value") if hasattr(x, "to_frame") else x
    x = (x.reset_index() if isinstance(x.index, pandas.DatetimeIndex) else x).rename(columns=str)
    return x.astype(
        {
            c: str
            for c in x
            if x[c].dtype.kind == "O" and x[c].head(100).map(type).isin([list, dict]).any()
        }
    )


def to_floats(column: Any) -> np.ndarray:
    """A column's values as numbers.

    Args:
        column: a pandas Series (numbers, times or text).

    Returns:
        float64 values ``(N,)``: NaN when missing or not a number; times in seconds since 1970.
    """
    pandas = require_pandas()
    if column.dtype.kind in "Mm" or not pandas.api.types.is_numeric_dtype(column):
        stamps = pandas.to_datetime(column, errors="coerce", format="mixed", utc=True)
        return np.where(
            stamps.isna(), np.nan, stamps.to_numpy("datetime64[ns]").astype(np.int64) / 1e9
        )
    return np.asarray(
        pandas.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    )


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """The summary of a numeric column: what the reference keeps and the monitor compares against.

    Args:
        values: numbers ``(N,)``; NaN and infinity are left out.

    Returns:
        ``mean``, ``std``, ``min``, ``max``, ``quantiles`` (``QUANTILES``), ``skew``, ``histogram``
        (``BINS`` bins over [p1, p99], values beyond clipped into the end bins) and ``outliers``
        (IQR rule, None when the IQR is 0; beyond 4 std); ``{}`` when no value is finite.
    """
    from scipy import stats

    values = values[np.isfinite(values)]
    if not len(values):
        return {}
    q = np.quantile(values, list(QUANTILES.values()))
    mean, std, reach = (
        values.mean(),
        values.std(ddof=1) if len(values) > 1 else 0.0,
        1.5 * (q[3] - q[1]),
    )
    iqr = (
        int(np.count_nonzero((values < q[1] - reach) | (values > q[3] + reach)))
        if reach > 0
        else None
    )
    counts, edges = np.histogram(np.clip(values, q[0], q[4]), bins=BINS)
    return {
        "mean": mean,
        "std": std,
        "min": values.min(),
        "max": values.max(),
        "quantiles": dict(zip(QUANTILES, q)),
        "skew": stats.skew(values, bias=False) if std > 0 else 0.0,
        "histogram": {"edges": edges, "counts": counts},
        "outliers": {
            "iqr": iqr,
            "iqr_share": None if iqr is None else iqr / len(values),
            "z4": int(np.count_nonzero(np.abs(values - mean) > 4 * std)) if std > 0 else 0,
        },
    }


def image_features(images: Any) -> Any:
    """The per-row columns of images, 4096 images at a time.

    Args:
        images: an array ``(N, ...)``.

    Returns:
        A DataFrame with ``brightness`` (each image's mean) and ``contrast`` (its standard
        deviation).
    """
    chunks = np.array_split(
        np.asarray(images).reshape(len(images), -1), max(1, math.ceil(len(images) / 4096))
    )
    return require_pandas().DataFrame(
        {
            "brightness": np.concatenate([c.mean(1, dtype=np.float64) for c in chunks]),
            "contrast": np.concatenate([c.std(1, dtype=np.float64) for c in chunks]),
        }
    )


def text_features(texts: Any) -> Any:
    """The per-row columns of texts.

    Args:
        texts: a sequence of strings.

    Returns:
        A DataFrame with ``chars`` and ``words`` (whitespace-separated) per text.
    """
    return require_pandas().DataFrame(
        {"chars": [len(str(t)) for t in texts], "words": [len(str(t).split()) for t in texts]}
    )


def category_key(value: Any) -> str:
    """A category as the profile names it: 1.0 and 1 both read "1".

    Args:
        value: a label or category value.

    Returns:
        Its name in the profile's frequencies and balance.
    """
    return (
        str(int(value))
        if isinstance(value, (float, np.floating)) and float(value).is_integer()
        else str(value)
    )


def clean_json(value: Any) -> Any:
    """A JSON-able copy: dict keys as str, arrays as lists, floats to 6 significant digits, NaN and
    infinity as None.

    Args:
        value: nested dicts, lists, tuples, arrays and scalars.

    Returns:
        The same structure in plain Python types (anything else as its ``str``).
    """
    if isinstance(value, (dict, list, tuple, np.ndarray)):
        return (
            {str(k): clean_json(v) for k, v in value.items()}
            if isinstance(value, dict)
            else [
                clean_json(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)
            ]
        )
    if isinstance(value, (float, np.floating)):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    value = value.item() if isinstance(value, np.generic) else value
    return value if value is None or isinstance(value, (str, bool, int)) else str(value)
