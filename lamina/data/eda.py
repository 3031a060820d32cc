"""Exploratory data analysis: ``profile(data)`` describes a data set in numbers and plain words
before training.

Sections: columns (kind, missing values, distribution, outliers), correlations, target (balance,
mutual information), leakage, duplicates, train/test shift, images, text, time series; and
plain-language ``findings``.

>>> import pandas
>>> sizes = [1.0, 2.0, 3.0, 30.0] * 25
>>> frame = pandas.DataFrame({"id": range(100), "size": sizes, "label": [0, 1] * 50})
>>> report = profile(frame, "label")
>>> suspects = [suspect["column"] for suspect in report.leakage]
>>> report.columns["id"]["kind"], report.target["balance"], suspects
('id', {'0': 50, '1': 50}, ['size'])
"""

from __future__ import annotations

import json
import math
import numbers
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.core.optional import require_pandas
from lamina.data.reference import (
    as_frame,
    clean_json,
    image_features,
    numeric_summary,
    text_features,
    to_floats,
)
from lamina.data.sources import label_task
from lamina.data.splits import is_frame
from lamina.nn.tensors import tokenize

__all__ = ["Profile", "profile"]

SAMPLE_ROWS, MI_ROWS = (
    100_000,
    20_000,
)  # rows sampled above: for correlations and tokens; for mutual information
TOP, MAX_CORRELATED, MAX_LEVELS, LAGS, MAX_CLASSES = 20, 30, 50, 48, 20
LEAK_SCORE = 0.99  # a feature whose holdout score alone reaches this is a leakage suspect
SHIFT_P, SHIFT_EFFECT = (
    0.01,
    0.1,
)  # shifted: p-value below SHIFT_P and KS statistic (numbers) or PSI >= SHIFT_EFFECT
MODALITIES = ("table", "image", "text", "array")
DATE = r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"  # strings that hold dates


@dataclass
class Profile:
    """What ``profile`` found: one JSON-able attribute per section, and ``findings`` in plain
    language."""

    overview: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)
    correlations: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    leakage: list[dict[str, Any]] = field(default_factory=list)
    duplicates: dict[str, Any] = field(default_factory=dict)
    shift: dict[str, Any] | None = None
    images: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    time_series: dict[str, Any] | None = None
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (numbers to 6 significant digits, None for NaN); :meth:`from_dict` reads
        it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile :meth:`to_dict` described."""
        return cls(**data)

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (inline CSS, plots as embedded PNG, no links), also written to
        ``path``."""
        from lamina.data.eda_page import render

        page = render(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def reference(self) -> dict[str, Any]:
        """The training reference kept with a model for monitoring: per column (and for the target)
        its kind or task, missing share, and quantiles and histogram or category frequencies."""

        def compact(part: dict[str, Any]) -> dict[str, Any]:
            counts, present = (
                part.get("top") or part.get("balance") or {},
                self.overview["rows"] - part["missing"],
            )
            return {
                **{
                    k: part[k]
                    for k in ("kind", "task", "missing_share", "quantiles", "histogram")
                    if k in part
                },
                **({"frequencies": {k: n / present for k, n in counts.items()}} if counts else {}),
            }

        return {
            "rows": self.overview["rows"],
            "modality": self.overview["modality"],
            "columns": {name: compact(c) for name, c in self.columns.items()},
            "target": self.target and compact(self.target),
        }

    def __repr__(self) -> str:
        return f"lamina.eda.Profile({self.overview['modality']!r}, rows={self.overview['rows']:,})"


def profile(
    data: Any,
    target: str | None = None,
    *,
    test: Any = None,
    time_column: str | None = None,
    sample_rows: int | None = None,
) -> Profile:
    """Profile a data set: columns, correlations, target, leakage, duplicates, shift, images, text,
    time series.

    Args:
        data: a ``lamina.data.Dataset``, a DataFrame, ``(x, y)`` (``x``: a DataFrame, an array
            ``(N, F)``, images ``(N, H, W)``/``(N, C, H, W)`` or texts), or a 1-D series.
        target: the label column of a DataFrame.
        test: data of the same form for the shift section (default: the Dataset's ``x_test``).
        time_column: the time column (default: the first datetime column) for the time-series
            section.
        sample_rows: rows sampled for correlations and text tokens when there are more (default
            100,000).

    Returns:
        A :class:`Profile`.
    """
    started, limit = time.perf_counter(), SAMPLE_ROWS if sample_rows is None else sample_rows
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 10:
        raise ConfigError(
            message(
                "sample_rows must be an int >= 10.", repr(sample_rows), "an int >= 10", "E.g. 9999."
            )
        )
    read = _read(data, target)
    if test is not None:
        read.x_test = _read(
            test, read.target if read.target in getattr(test, "columns", ()) else None
        ).x
    x, y, modality, x_test, rng = (
        read.x,
        read.y,
        read.modality,
        read.x_test,
        np.random.default_rng(0),
    )
    if (
        read.classes
        and y is not None
        and y.dtype.kind in "iu"
        and 0 <= y.min() <= y.max() < len(read.classes)
    ):
        y = np.asarray(read.classes, dtype=object)[y]  # class ids -> class names
    if len(x) == 0 or len(getattr(x, "columns", [0])) == 0:
        raise DataError(
            message(
                "The data are empty.", f"shape {np.shape(x)}", "rows and columns", "Pass some data."
            )
        )
    sample = None if len(x) <= limit else np.sort(rng.choice(len(x), limit, replace=False))
    report = Profile(
        {
            "rows": len(x),
            "modality": modality,
            "source": read.source,
            "target": read.target,
            "task": None,
            "test_rows": None if x_test is None else len(x_test),
            "sampled": sample is not None
            and (
                f"Correlations and text statistics use a seeded sample of {limit:,} rows, "
                f"mutual information {MI_ROWS:,}."
            ),
        }
    )
    report.images = _images(np.asarray(x), y, rng) if modality == "image" else None
    report.text = _texts(x, y, sample) if modality == "text" else None
    features = {"image": image_features, "text": text_features}.get(
        modality, as_frame
    )  # per-row columns
    frame, test_frame = features(x), None if x_test is None else features(x_test)
    if time_column is not None and time_column not in frame.columns:
        raise DataError(
            message(
                "No such time column.", repr(time_column), f"one of {list(frame)[:50]}", "Pick one."
            )
        )
    unique = {c: int(frame[c].nunique()) for c in frame.columns}
    kinds = {c: _kind(frame[c], unique[c]) for c in frame.columns}
    report.columns = {c: _column(frame[c], kinds[c], unique[c]) for c in frame.columns}
    report.correlations = _correlations(
        frame if sample is None else frame.iloc[sample], kinds, unique
    )
    if y is not None:
        report.overview["task"] = task = read.task or label_task(y[labelled(y)])
        report.target, report.leakage = _target(frame, kinds, y, task, rng, min(limit, MI_ROWS))
    report.duplicates = _duplicates(x, y, modality)
    if test_frame is not None:
        report.shift, leaks = _shift(frame, test_frame, kinds, time_column)
        report.leakage += leaks
    series = _series(frame, kinds, time_column, one_column=len(frame.columns) == 1)
    report.time_series = _time_series(*series) if series else None
    report.overview.update(columns=len(frame.columns), seconds=time.perf_counter() - started)
    report = Profile.from_dict(clean_json(report.to_dict()))  # plain Python numbers from here on
    report.findings = _findings(report)
    return report


# ---------------------------------------------------------------- reading the data
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


def _read(data: Any, target: str | None) -> Data:
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


def _kind(column: Any, unique: int) -> str:
    """numeric, boolean, datetime, text, id (> 95% distinct integers or strings) or categorical."""
    values, kind, many = (
        column.dropna(),
        column.dtype.kind,
        column.count() > 20 and unique > 0.95 * column.count(),
    )
    if kind in "Mmbiuf":
        return (
            "datetime"
            if kind in "Mm"
            else "boolean"
            if kind == "b" or (unique <= 2 and values.isin([0, 1]).all())
            else "id"
            if kind in "iu" and many
            else "numeric"
        )
    head = values.iloc[:: max(1, len(values) // 200)].astype(str)
    return (
        "datetime"
        if len(head) and head.str.match(DATE).all()
        else "text"
        if len(head) and head.str.count(r"\s+").mean() >= 4
        else "id"
        if many
        else "categorical"
    )  # text: five words or more on average


# ---------------------------------------------------------------- columns and correlations
def _column(column: Any, kind: str, unique: int) -> dict[str, Any]:
    rows, missing = len(column), int(column.isna().sum())
    out = {
        "kind": kind,
        "missing": missing,
        "missing_share": missing / rows,
        "unique": unique,
        "unique_share": unique / max(1, rows - missing),
    }
    if kind in ("numeric", "text"):
        out.update(
            numeric_summary(to_floats(column))
            if kind == "numeric"
            else {
                "chars": numeric_summary(
                    column.dropna().astype(str).str.len().to_numpy(dtype=float)
                )
            }
        )
    elif kind == "datetime" and missing < rows:
        known, stamp = to_floats(column)[column.notna().to_numpy()], require_pandas().to_datetime
        out.update(first=str(stamp(known.min(), unit="s")), last=str(stamp(known.max(), unit="s")))
    if kind in ("categorical", "boolean"):
        out["top"] = {str(value): int(n) for value, n in column.value_counts().head(TOP).items()}
    return out


def _correlations(frame: Any, kinds: dict[str, str], unique: dict[str, int]) -> dict[str, Any]:
    """Pearson, Spearman (30 numeric columns of most variance); Cramer's V (30 categorical, most
    levels <= 50)."""
    from scipy.stats.contingency import association

    pandas = require_pandas()
    numeric = pandas.DataFrame(
        {
            c: to_floats(frame[c])
            for c in frame.columns
            if kinds[c] in ("numeric", "boolean") and unique[c] > 1
        },
        index=range(len(frame)),
    )
    numeric = numeric[numeric.var().nlargest(MAX_CORRELATED).index]
    levels = sorted(
        (
            c
            for c in frame.columns
            if kinds[c] in ("categorical", "boolean") and 1 < unique[c] <= MAX_LEVELS
        ),
        key=lambda c: -unique[c],
    )[:MAX_CORRELATED]
    codes, cramer = (
        [pandas.factorize(frame[c])[0] + 1 for c in levels],
        np.eye(len(levels)),
    )  # missing: code 0
    for i, j in [(row, column) for row in range(len(levels)) for column in range(row)]:
        a, b = codes[i], codes[j]
        table = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1)).reshape(
            a.max() + 1, -1
        )
        table = table[table.sum(1) > 0][:, table.sum(0) > 0]
        cramer[i, j] = cramer[j, i] = (
            association(table, method="cramer") if min(table.shape) > 1 else 0.0
        )
    return {
        "numeric": list(numeric.columns),
        "pearson": numeric.corr().to_numpy(),
        "spearman": numeric.corr("spearman").to_numpy(),
        "categorical": levels,
        "cramers_v": cramer,
    }


# ---------------------------------------------------------------- target and leakage
def _target(
    frame: Any, kinds: dict[str, str], y: np.ndarray, task: str, rng: np.random.Generator, rows: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Balance or distribution; on <= ``rows`` rows each feature's mutual information, score alone,
    leakage."""
    from sklearn import metrics
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    keep, classify, pandas, target = (
        labelled(y),
        task == "classification",
        require_pandas(),
        np.zeros(len(y)),
    )
    out: dict[str, Any] = {"task": task, "missing": int(np.count_nonzero(~keep))}
    if classify:
        values, target[keep], counts = np.unique(
            y[keep].astype(str), return_inverse=True, return_counts=True
        )
        out.update(balance=dict(zip(values, counts)), imbalance_ratio=counts.max() / counts.min())
    else:
        target[keep] = y[keep].astype(float)
        out.update(numeric_summary(target[keep]))
    index = rng.permutation(np.flatnonzero(keep))[:rows]
    target, names = (
        target[index].astype(int) if classify else target[index],
        [c for c in frame if kinds[c] != "text"],
    )
    columns = [
        frame[c].iloc[index] for c in names
    ]  # categories and identifiers as sorted codes, times in seconds
    columns = [
        pandas.factorize(part.astype(str).where(part.notna()), sort=True)[0].astype(float)
        if kinds[c] in ("categorical", "id") and part.dtype.kind not in "iuf"
        else to_floats(part)
        for c, part in zip(names, columns)
    ]
    columns = [
        np.where(np.isfinite(v), v, np.nanmedian(v) if np.isfinite(v).any() else 0.0)
        for v in columns
    ]
    if not names or len(index) < 20:
        return out, []
    discrete = np.array([kinds[c] in ("categorical", "boolean") for c in names])
    score, scorer = (
        (mutual_info_classif, metrics.balanced_accuracy_score)
        if classify
        else (mutual_info_regression, metrics.r2_score)
    )
    information = score(
        np.column_stack(columns), target, discrete_features=discrete, random_state=0
    )
    out["mutual_information"] = dict(sorted(zip(names, information), key=lambda pair: -pair[1]))
    half, model = (
        len(index) // 2,
        (DecisionTreeClassifier if classify else DecisionTreeRegressor)(max_depth=8),
    )
    with (
        warnings.catch_warnings()
    ):  # each feature alone: a tree fitted on one half of the rows, scored on the other
        warnings.simplefilter("ignore")  # a class never predicted, or a constant target
        out["alone"] = alone = {
            c: scorer(
                target[half:], model.fit(v[:half, None], target[:half]).predict(v[half:, None])
            )
            for c, v in zip(names, columns)
        }
    metric, chance = ("balanced accuracy", 1 / len(np.unique(target))) if classify else ("R2", 0.0)
    return out, [
        {
            "column": c,
            "score": s,
            "reason": (
                "is an identifier that predicts the target"
                if kinds[c] == "id"
                else "predicts the target almost perfectly on its own"
            )
            + f" (holdout {metric} {s:.3f}, chance "
            f"{chance:.2f})",
        }
        for c, s in alone.items()
        if s >= (chance + 0.1 if kinds[c] == "id" else LEAK_SCORE)
    ]


# ---------------------------------------------------------------- duplicates and shift
def _duplicates(x: Any, y: np.ndarray | None, modality: str) -> dict[str, Any]:
    """Rows repeated exactly (with their target), and rows whose features repeat with another
    target."""
    pandas = require_pandas()
    keys = (
        pandas.util.hash_pandas_object(as_frame(x).astype(str), index=False).to_numpy()
        if modality == "table"
        else np.array([t if modality == "text" else hash(t.tobytes()) for t in x], dtype=object)
    )
    table = pandas.DataFrame({"key": keys, "y": 0 if y is None else y})
    repeated, distinct = int(table.duplicated().sum()), table.groupby("key")["y"].nunique()
    conflicting = None if y is None else int(table["key"].isin(distinct.index[distinct > 1]).sum())
    return {
        "rows": repeated,
        "share": repeated / len(table),
        "conflicting": conflicting,
        "conflicting_share": None if conflicting is None else conflicting / len(table),
    }


def _shift(
    frame: Any, test: Any, kinds: dict[str, str], time_column: str | None
) -> tuple[dict[str, Any], list]:
    """Per column KS or chi-squared, PSI and a flag; and time columns that split training from test
    (leakage)."""
    from scipy import stats

    out, leaks = {}, []
    for c in [c for c in frame.columns if c in test.columns and kinds[c] not in ("text", "id")]:
        numeric = kinds[c] in ("numeric", "datetime")
        if numeric:
            a, b = (v[np.isfinite(v)] for v in (to_floats(frame[c]), to_floats(test[c])))
            if not len(a) or not len(b):
                continue
            statistic, p = stats.ks_2samp(a, b)
            edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))  # train deciles
            counts = [
                np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1)
                for v in (a, b)
            ]
            if (
                (kinds[c] == "datetime" or c == time_column)
                and np.all(np.diff(a) >= 0)
                and a.max() <= b.min()
            ):
                leaks.append(
                    {
                        "column": c,
                        "score": None,
                        "reason": "grows with row order and all test rows come "
                        "later: a split by time (the raw time as a feature, or a shuffled split, "
                        "leaks)",
                    }
                )
        else:
            levels = frame[c].value_counts().index[:TOP]
            counts = [
                np.append(part, len(column) - part.sum())
                for column in (frame[c], test[c])
                for part in [column.value_counts().reindex(levels, fill_value=0).to_numpy()]
            ]
            table = np.array(counts)[:, np.array(counts).sum(0) > 0]
            statistic, p = stats.chi2_contingency(table)[:2] if table.shape[1] > 1 else (0.0, 1.0)
        shares = [np.clip(n / max(1, n.sum()), 1e-4, None) for n in counts]
        psi = float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))
        out[c] = {
            "test": "ks" if numeric else "chi2",
            "statistic": statistic,
            "p_value": p,
            "psi": psi,
            "shifted": bool(p < SHIFT_P and (statistic if numeric else psi) >= SHIFT_EFFECT),
        }
    return out, leaks


# ---------------------------------------------------------------- images, text, time series
def _images(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> dict[str, Any]:
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


def _texts(texts: Any, y: np.ndarray | None, sample: np.ndarray | None) -> dict[str, Any]:
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


def _series(frame: Any, kinds: dict[str, str], time_column: str | None, one_column: bool) -> Any:
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


def _time_series(values: np.ndarray, label: str) -> dict[str, Any]:
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


# ---------------------------------------------------------------- findings and output
def _listed(items: list[str], shown: int = 3) -> str:
    """``'a', 'b', 'c' and 4 more``: at most ``shown`` items named."""
    return ", ".join(items[:shown]) + (
        f" and {len(items) - shown} more" if len(items) > shown else ""
    )


def _findings(p: Profile) -> list[str]:
    """Plain-language sentences about what stands out, one per kind (columns named up to 3, then
    "and N more")."""
    t, d, ts, found = (
        p.target or {},
        p.duplicates,
        p.time_series or {},
        [p.overview["sampled"] or ""],
    )
    columns = p.columns.items()
    ids = [f"'{n}'" for n, c in columns if c["kind"] == "id"]
    constant = [f"'{n}'" for n, c in columns if c["unique"] <= 1]
    missing = [
        f"'{n}' {c['missing_share']:.1%}"
        for n, c in sorted(columns, key=lambda i: -i[1]["missing_share"])
        if c["missing"] > 0
    ]
    outliers = [
        f"'{n}' {(c.get('outliers') or {}).get('iqr_share') or 0:.1%}"
        for n, c in columns
        if ((c.get("outliers") or {}).get("iqr_share") or 0) >= 0.01
    ]
    found += [
        f"{len(ids)} column(s) look like identifiers (nearly every value differs): {_listed(ids)}; "
        "leave them out of the features." * bool(ids),
        f"{len(constant)} column(s) hold a single value and carry no information: "
        f"{_listed(constant)}." * bool(constant),
        f"{len(missing)} column(s) have missing values: {_listed(missing)}." * bool(missing),
        f"{len(outliers)} column(s) have over 1% outliers (far outside their middle half): "
        f"{_listed(outliers)}." * bool(outliers),
    ]
    pairs = []
    for group, key, what in (
        ("numeric", "pearson", "Pearson"),
        ("categorical", "cramers_v", "Cramer's V"),
    ):
        matrix, names = p.correlations.get(key) or [], p.correlations.get(group, [])
        pairs += [
            f"'{a}' and '{b}' ({what} {matrix[i][j]:.2f})"
            for i, a in enumerate(names)
            for j, b in enumerate(names[:i])
            if abs(matrix[i][j] or 0) >= 0.95
        ]
    found += [
        f"{len(pairs)} pair(s) of columns move almost together, so one of each may be redundant: "
        f"{_listed(pairs)}." * bool(pairs)
    ]
    ratio, information = (
        t.get("imbalance_ratio") or 1,
        list(t.get("mutual_information", {}).items())[:1],
    )
    found += [
        f"The classes are imbalanced: the largest is {ratio:.1f} times the smallest."
        * (ratio >= 3),
        f"{t.get('missing', 0):,} rows have no target value." * bool(t.get("missing")),
    ]
    found += [
        f"'{c}' tells the most about the target (mutual information {v:.3f})."
        for c, v in information
    ]
    leaks = [f"'{s['column']}' {s['reason']}" for s in p.leakage]
    found += [f"Possible leakage: {_listed(leaks)}." * bool(leaks)]
    found += [
        f"{d['rows']:,} rows ({d['share']:.1%}) repeat an earlier row exactly." * (d["rows"] > 0),
        f"{d['conflicting'] or 0:,} rows share their features with a row of another target (label "
        "noise, or features that miss something)." * bool(d["conflicting"]),
    ]
    shifted = [
        f"'{c}' ({s['test']} {s['statistic']:.3g}, PSI {s['psi']:.2f})"
        for c, s in (p.shift or {}).items()
        if s["shifted"]
    ]
    found += [
        f"{len(shifted)} column(s) differ between training and test data: {_listed(shifted)}."
        * bool(shifted)
    ]
    season, slope, series = (
        ts.get("season") or 0,
        ts.get("slope") or 0,
        f"The series ({ts.get('series')})",
    )
    found += [
        f"{series} repeats every {season} steps (autocorrelation "
        f"{(ts.get('acf') or [0])[season]:.2f})." * (season > 0),
        f"{series} trends {'up' if slope > 0 else 'down'} by {slope:.3g} per step."
        * bool(ts.get("std") and abs(slope) * ts["steps"] >= ts["std"]),
    ]
    return [sentence for sentence in found if sentence] or ["Nothing unusual stands out."]
