"""The one vocabulary of project KPIs: names, definitions, directions and how each is scored.

Every page and stage (plan, advisor, evaluate, report, feedback, retraining) reads its KPI from
:data:`KPIS` and scores it with :func:`score`, so a KPI means the same thing everywhere. For a
binary target, ``f1``, ``precision`` and ``recall`` are those of the positive class
(``positive_class:`` in ``lamina.yaml``; by default the minority class); with more classes they
are macro averages. :func:`describe` names the definition in words (``"F1 of class
'malignant'"``, ``"macro F1"``).

>>> import numpy as np
>>> y, predicted = np.array(["a", "a", "b", "b"]), np.array(["a", "b", "b", "b"])
>>> round(score("f1", y, predicted, positive_class="b"), 4), describe("f1", positive_class="b")
(0.8, "F1 of class 'b'")
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, message

__all__ = ["KPI", "KPIS", "describe", "get", "minority_class", "score"]


@dataclass(frozen=True)
class KPI:
    """One KPI and its meaning.

    ``task`` (``"classification"``/``"regression"``), ``higher`` (True when higher is better),
    ``top`` (its largest possible value, or None), ``title`` (the plain name) and ``definition``
    (in words).
    """

    name: str
    task: str
    higher: bool
    top: float | None
    title: str
    definition: str
    per_class: bool = (
        False  # f1, precision, recall: of the positive class (binary) or macro-averaged
    )
    needs_probabilities: bool = False


KPIS: dict[str, KPI] = {
    kpi.name: kpi
    for kpi in (
        KPI(
            "accuracy",
            "classification",
            True,
            1.0,
            "accuracy",
            "share of rows classified correctly",
        ),
        KPI(
            "balanced_accuracy",
            "classification",
            True,
            1.0,
            "balanced accuracy",
            "mean recall over the classes",
        ),
        KPI(
            "f1",
            "classification",
            True,
            1.0,
            "F1",
            "harmonic mean of precision and recall",
            per_class=True,
        ),
        KPI(
            "precision",
            "classification",
            True,
            1.0,
            "precision",
            "share of rows said to be the class that are",
            per_class=True,
        ),
        KPI(
            "recall",
            "classification",
            True,
            1.0,
            "recall",
            "share of the class's rows found",
            per_class=True,
        ),
        KPI(
            "roc_auc",
            "classification",
            True,
            1.0,
            "ROC AUC",
            "chance a random positive row scores above a random "
            "negative one (one-vs-rest for more classes)",
            needs_probabilities=True,
        ),
        KPI(
            "log_loss",
            "classification",
            False,
            None,
            "log loss",
            "mean negative log-probability of the true class",
            needs_probabilities=True,
        ),
        KPI("rmse", "regression", False, None, "RMSE", "root mean squared error"),
        KPI("mse", "regression", False, None, "MSE", "mean squared error"),
        KPI("mae", "regression", False, None, "MAE", "mean absolute error"),
        KPI("r2", "regression", True, 1.0, "R²", "share of the target's variance explained"),
        KPI(
            "hr@10",
            "recommend",
            True,
            1.0,
            "hit rate at 10",
            "share of customers whose next new item is in their top 10 recommendations",
        ),
        KPI(
            "ndcg@10",
            "recommend",
            True,
            1.0,
            "NDCG at 10",
            "1 / log2(1 + rank) of the next new item when it is in the top 10, else 0, averaged",
        ),
        KPI(
            "recall@10",
            "recommend",
            True,
            1.0,
            "recall at 10",
            "share of held-out items found in the top 10 (one per customer: the hit rate)",
        ),
        KPI(
            "mrr",
            "recommend",
            True,
            1.0,
            "mean reciprocal rank",
            "1 / rank of the next new item among all items, averaged over customers",
        ),
    )
}


def get(name: Any, where: str | None = None) -> KPI:
    """The :class:`KPI` called ``name``; an unknown name raises ``ConfigError`` listing known ones.

    Args:
        name: a KPI name such as ``"f1"``.
        where: the file the name was read from, named in the error.

    Returns:
        Its :class:`KPI` entry.
    """
    if isinstance(name, str) and name in KPIS:
        return KPIS[name]
    close = difflib.get_close_matches(str(name), KPIS, n=1)
    raise ConfigError(
        message(
            f"Unknown KPI{f' in {where}' if where else ''}.",
            repr(name),
            f"one of {', '.join(KPIS)}",
            f"Did you mean {close[0]!r}?" if close else "Use one of those names.",
        )
    )


def describe(name: str, positive_class: Any = None, classes: int | None = None) -> str:
    """The KPI's definition in a few words, as pages show it.

    Args:
        name: a KPI name.
        positive_class: the positive class of a binary target (None: a multiclass target).
        classes: the number of classes, when known (more than 2 means macro averages).

    Returns:
        E.g. ``"F1 of class 'malignant'"``, ``"macro F1"`` or ``"accuracy"``.
    """
    kpi = get(name)
    if not kpi.per_class:
        return kpi.title
    if positive_class is None or (classes is not None and classes > 2):
        return f"macro {kpi.title}"
    return f"{kpi.title} of class {str(positive_class)!r}"


def minority_class(y: Any) -> Any:
    """The least frequent label of ``y`` (ties: the last in sorted order): the default positive.

    Args:
        y: labels ``(N,)``; missing values are ignored.

    Returns:
        The label, or None when ``y`` has no label.
    """
    import pandas as pd

    values = pd.Series(np.asarray(y, dtype=object)).dropna()
    if values.empty:
        return None
    counts = values.astype(str).value_counts()
    return sorted(label for label, count in counts.items() if count == counts.min())[-1]


def score(
    name: str,
    y_true: Any,
    y_pred: Any = None,
    probabilities: np.ndarray | None = None,
    *,
    positive_class: Any = None,
    classes: Any = None,
) -> float:
    """The KPI ``name`` of predictions ``y_pred`` against ``y_true`` (scikit-learn metrics).

    Args:
        name: a key of :data:`KPIS`.
        y_true: true labels or values ``(N,)``; for a recommendation KPI, the 1-based rank of
            each customer's held-out item among all items (``y_pred`` is not used).
        y_pred: predicted labels or values ``(N,)``.
        probabilities: class probabilities ``(N, classes)`` in the order of ``classes``; needed by
            ``roc_auc`` and ``log_loss``.
        positive_class: for ``f1``/``precision``/``recall``: the class they are of (compared as
            text). None with two labels: the minority class of ``y_true``; with more: macro
            averages.
        classes: the class labels in the order of the columns of ``probabilities`` (default: sorted
            labels).

    Returns:
        The value as a float.
    """
    from sklearn import metrics

    kpi = get(name)
    if kpi.task == "recommend":  # y_true: the 1-based rank of each held-out item
        ranks = np.asarray(y_true, dtype=float)
        if name == "mrr":
            return float(np.mean(1.0 / ranks))
        cut = float(name.split("@")[1])
        if name.startswith("ndcg"):
            return float(np.mean(np.where(ranks <= cut, 1.0 / np.log2(ranks + 1.0), 0.0)))
        return float(np.mean(ranks <= cut))
    if kpi.task == "regression":
        truth, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
        if name == "r2":
            return float(metrics.r2_score(truth, predicted))
        if name == "mae":
            return float(metrics.mean_absolute_error(truth, predicted))
        error = float(metrics.mean_squared_error(truth, predicted))
        return error if name == "mse" else float(np.sqrt(error))
    # Class names as text.
    truth, predicted = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    if name == "accuracy":
        return float(metrics.accuracy_score(truth, predicted))
    if name == "balanced_accuracy":
        return float(metrics.balanced_accuracy_score(truth, predicted))
    if kpi.per_class:
        labels = np.union1d(truth, predicted)
        positive = (
            positive_class
            if positive_class is not None or len(labels) != 2
            else minority_class(truth)
        )
        options: dict[str, Any] = {"zero_division": 0, "average": "macro"}
        if positive is not None:
            # The positive class alone: its own F1, precision or recall.
            options["labels"] = [str(positive)]
        return float(getattr(metrics, f"{name}_score")(truth, predicted, **options))
    if probabilities is None:
        raise ConfigError(
            message(
                f"{name} needs class probabilities.",
                "a model without them",
                "a classifier with predict_proba",
                "Use kpi: accuracy or f1.",
            )
        )
    order = np.asarray(classes).astype(str) if classes is not None else np.unique(truth)
    matrix = np.asarray(probabilities, dtype=float)
    if name == "log_loss":
        return float(metrics.log_loss(truth, matrix, labels=order))
    if matrix.shape[1] == 2:
        return float(metrics.roc_auc_score(truth == order[1], matrix[:, 1]))
    return float(metrics.roc_auc_score(truth, matrix, multi_class="ovr", labels=order))
