"""How the advisor measures a candidate: rows taken, seeded subsamples, latency, k-fold CV.

Every candidate, classical or deep, is measured the same way: on rows taken by :func:`take`, its
prediction time per row by :func:`latency`, and on small data its k-fold CV by
:func:`cross_validate`; :func:`subsample` caps the rows a slow classical model is fitted on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.project.kpi import score

__all__ = ["FOLDS", "SMALL", "cross_validate", "latency", "subsample", "take"]

FOLDS, SMALL = 10, 5000  # k-fold CV of the classical models for data sets under SMALL rows


def take(x: Any, index: Any) -> Any:
    """Rows ``index`` of a DataFrame, an array or a list."""
    if hasattr(x, "iloc"):
        return x.iloc[index]
    return [x[i] for i in np.arange(len(x))[index]] if isinstance(x, list) else x[index]


def latency(predict: Callable[[Any], Any], x: Any) -> float:
    """Milliseconds per row of ``predict`` on one batch of up to 1,000 rows."""
    batch = take(x, slice(0, min(1000, len(x))))
    predict(take(batch, slice(0, 2)))  # warm-up
    start = time.perf_counter()
    predict(batch)
    return 1e3 * (time.perf_counter() - start) / len(batch)


def subsample(rows: int, cap: float, seed: int) -> np.ndarray | None:
    """A seeded random subset of ``int(cap)`` rows, or None when all ``rows`` fit."""
    return (
        None
        if rows <= cap
        else np.sort(np.random.default_rng(seed).permutation(rows)[: max(50, int(cap))])
    )


def cross_validate(
    estimator: Any,
    x: Any,
    y: np.ndarray,
    metric: str,
    classify: bool,
    seed: int,
    positive: int | None,
) -> list[float]:
    """The test ``metric`` of ``estimator`` refitted on each of ``FOLDS`` folds of ``(x, y)``.

    Args:
        estimator: an unfitted scikit-learn estimator (cloned for each fold).
        x: the training inputs (a DataFrame, an array or a list of texts).
        y: their labels or targets, shape ``(N,)``.
        metric: a name of ``lamina.kpi.KPIS``.
        classify: stratify the folds when every class has at least ``FOLDS`` rows.
        seed: the shuffle of the folds.
        positive: the positive class id of a binary target, else None.

    Returns:
        One metric value per fold.
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold

    stratify = classify and np.min(np.unique(y, return_counts=True)[1]) >= FOLDS
    folds = (StratifiedKFold if stratify else KFold)(FOLDS, shuffle=True, random_state=seed)
    return [
        score(
            metric,
            y[test],
            clone(estimator).fit(take(x, train), y[train]).predict(take(x, test)),
            positive_class=positive,
        )
        for train, test in folds.split(np.zeros(len(y)), y if stratify else None)
    ]
