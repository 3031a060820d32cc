"""The table sections of ``lamina.eda.profile``: columns, correlations, target, leakage, shift.

Each function takes the per-row feature frame (and its column kinds) and returns the JSON-able
section that :class:`lamina.eda.Profile` stores; duplicates and the train/test shift are here too.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lamina.core.optional import require_pandas
from lamina.data.eda_inputs import labelled
from lamina.data.reference import (
    as_frame,
    numeric_summary,
    to_floats,
)

__all__ = [
    "DATE",
    "LEAK_SCORE",
    "MAX_CLASSES",
    "MAX_CORRELATED",
    "MAX_LEVELS",
    "SHIFT_EFFECT",
    "SHIFT_P",
    "TOP",
    "column_section",
    "correlation_section",
    "duplicate_section",
    "infer_kind",
    "shift_section",
    "target_section",
]

TOP, MAX_CORRELATED, MAX_LEVELS, MAX_CLASSES = 20, 30, 50, 20
LEAK_SCORE = 0.99  # a feature whose holdout score alone reaches this is a leakage suspect
# shifted: p-value below SHIFT_P and KS statistic (numbers) or PSI >= SHIFT_EFFECT
SHIFT_P, SHIFT_EFFECT = 0.01, 0.1
DATE = r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"  # strings that hold dates


def infer_kind(column: Any, unique: int) -> str:
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
def column_section(column: Any, kind: str, unique: int) -> dict[str, Any]:
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


def correlation_section(
    frame: Any, kinds: dict[str, str], unique: dict[str, int]
) -> dict[str, Any]:
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
def target_section(
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
def duplicate_section(x: Any, y: np.ndarray | None, modality: str) -> dict[str, Any]:
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


def shift_section(
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
