"""The image, text and time-series sections of ``lamina.eda.profile``.

Images: size, per-channel statistics, class means and samples; texts: vocabulary and the words of
each class; a series: trend, autocorrelation and the season it repeats at.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from lamina.core.optional import require_pandas
from lamina.data.eda_tables import MAX_CLASSES, TOP
from lamina.data.reference import (
    to_floats,
)
from lamina.nn.tensors import tokenize

__all__ = ["LAGS", "image_section", "pick_series", "text_section", "time_series_section"]

LAGS = 48  # autocorrelation lags of the time-series section


def image_section(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> dict[str, Any]:
    """Size, per-channel stats, per-class mean images and 16 samples (both shrunk to at most 32
    pixels a side)."""
    images = x[:, None] if x.ndim == 3 else x  # (N, H, W) -> (N, 1, H, W)
    count, channels, height, width = images.shape
    few = images[
        np.sort(rng.choice(count, min(count, 10_000), replace=False))
    ]  # channel stats on <= 10,000 images
    step, picked = (
        max(1, math.ceil(max(height, width) / 32)),
        np.sort(rng.choice(count, min(count, 16), replace=False)),
    )
    small = images[:, :, ::step, ::step]  # at most 32 pixels a side
    low, high = float(images.min()), float(images.max())
    values, codes = np.unique([] if y is None else y.astype(str), return_inverse=True)
    return {
        "count": count,
        "channels": channels,
        "height": height,
        "width": width,
        "dtype": str(x.dtype),
        "min": low,
        "max": high,
        "mean": few.mean((0, 2, 3), dtype=np.float64),
        "shrink": step,
        "std": few.std((0, 2, 3), dtype=np.float64),
        "class_means": {
            values[k]: small[codes == k].mean(0, dtype=np.float64)
            for k in range(min(len(values), MAX_CLASSES))
        },
        "samples": np.round(255 * (small[picked] - low) / max(high - low, 1e-12)).astype(np.uint8),
        "sample_labels": None if y is None else [values[k] for k in codes[picked]],
    }


def text_section(texts: Any, y: np.ndarray | None, sample: np.ndarray | None) -> dict[str, Any]:
    """Vocabulary, frequent words, and per class the most frequent and most distinctive (log-odds)
    words."""
    rows = np.arange(len(texts)) if sample is None else sample
    tokens = [[t for t in tokenize(str(texts[i])) if t[0].isalnum() or t[0] == "_"] for i in rows]
    vocabulary, by_class = Counter(t for words in tokens for t in words), {}
    values, codes = np.unique([] if y is None else y[rows].astype(str), return_inverse=True)
    for k, name in list(enumerate(values))[:MAX_CLASSES]:
        inside = Counter(t for words, code in zip(tokens, codes) if code == k for t in words)
        total, rest, size = inside.total(), vocabulary.total() - inside.total(), len(vocabulary)
        odds = {
            t: (n + 1) / (total + size) * (rest + size) / (vocabulary[t] - n + 1)
            for t, n in inside.items()
        }
        by_class[name] = {
            "top": [t for t, _ in inside.most_common(10)],
            "distinctive": sorted(odds, key=odds.__getitem__, reverse=True)[:10],
        }
    return {
        "documents": len(texts),
        "vocabulary": len(vocabulary),
        "top_tokens": dict(vocabulary.most_common(TOP)),
        "classes": by_class,
    }


def pick_series(
    frame: Any, kinds: dict[str, str], time_column: str | None, one_column: bool
) -> Any:
    """The 1-D input, the first numeric column in time order (times unique) or rows per day, and its
    name."""
    pandas, numeric = (
        require_pandas(),
        [c for c in frame.columns if kinds[c] == "numeric" and c != time_column],
    )
    column = time_column or next((c for c in frame.columns if kinds[c] == "datetime"), None)
    if column is None:
        return (
            (to_floats(frame[numeric[0]]), f"'{numeric[0]}' in row order")
            if one_column and numeric
            else None
        )
    times = pandas.Series(to_floats(frame[column]))
    if times.nunique() == times.count():  # one row per time: the first numeric column in time order
        order = np.argsort(times.to_numpy(), kind="stable")
        return (
            (to_floats(frame[numeric[0]])[order], f"'{numeric[0]}' in order of '{column}'")
            if numeric
            else None
        )
    days = (times.dropna().to_numpy() // 86400).astype(np.int64)  # days since 1970
    return np.bincount(days - days.min()).astype(
        float
    ), f"rows per day of '{column}'"  # days without rows: 0


def time_series_section(values: np.ndarray, label: str) -> dict[str, Any]:
    """Trend (slope, rolling mean), the detrended autocorrelation to 48 lags, peaks (prominent, >
    2/sqrt(N))."""
    values = values[np.isfinite(values)]
    count, steps = len(values), np.arange(len(values))
    if count < 8:
        return {"series": label, "steps": count}
    trend = np.polyfit(steps, values, 1)  # slope, intercept
    residual = values - np.polyval(trend, steps)  # mean 0: least squares with an intercept
    lags, power = min(LAGS, count - 2), float(residual @ residual)
    acf = [1.0] + [
        float(residual[:-k] @ residual[k:]) / power if power > 0 else 0.0
        for k in range(1, lags + 1)
    ]
    peaks = [
        k
        for k in range(2, lags)
        if acf[k - 1] < acf[k] >= acf[k + 1]
        and acf[k] > 2 / math.sqrt(count)
        and acf[k] - min(acf[1:k]) >= 0.1
    ]
    season = max(peaks, key=lambda k: acf[k]) if peaks else None
    window, shown = (
        season or max(2, count // 20),
        np.unique(np.linspace(0, count - 1, min(count, 200)).astype(int)),
    )
    rolling = (
        require_pandas()
        .Series(values)
        .rolling(window, center=True, min_periods=1)
        .mean()
        .to_numpy()
    )
    return {
        "series": label,
        "steps": count,
        "mean": values.mean(),
        "std": values.std(),
        "slope": trend[0],
        "acf": acf,
        "peaks": peaks,
        "season": season,
        "rolling_mean": {"window": window, "steps": shown, "values": rolling[shown]},
    }
