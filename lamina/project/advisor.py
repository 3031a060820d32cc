"""Deep learning or classical? Train both kinds on the same split and recommend honestly.

``advise(data, target)`` fits scikit-learn baselines (logistic or ridge regression, histogram
gradient boosting, k-NN; TF-IDF + logistic regression for texts) and one quick lamina network of
the right family (tabular MLP, CNN, GRU over word ids, MLP) on one split, and returns an
:class:`Advice`: a table of every candidate (metric, fit seconds, latency per row, size,
interpretability) and a recommendation with its reason.

The recommendation rule: the best metric wins, except that the network must beat the best classical
model by more than the noise, ``max(0.005, 2 x the bootstrap standard error of that model's test
metric, its k-fold CV standard deviation when there is one)`` in metric units; otherwise the
simpler classical model is recommended, and the reason says so with the numbers.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(120, 4)).astype("float32")
>>> advice = advise((x, (x[:, 0] + x[:, 1] > 0).astype(int)), time_budget=2)
>>> advice.metric, advice.winner in advice.table()["candidate"].tolist()
('accuracy', True)
"""

from __future__ import annotations

import pickle
import time
import warnings
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.eda import labelled, read_data
from lamina.project.advice import Advice, recommend
from lamina.project.deep_candidate import train_network
from lamina.project.kpi import KPIS, describe, get, minority_class, score
from lamina.project.measure import FOLDS, SMALL, cross_validate, latency, subsample, take
from lamina.project.planning import infer_task

__all__ = ["Advice", "advise", "recommend", "score"]  # score: lamina.kpi.score

# The metrics of lamina.kpi.score that need no probabilities.
SCORES = tuple(name for name, entry in KPIS.items() if not entry.needs_probabilities)
# Rough one-core throughputs that size the subsamples (units per second; measured on 28x28 MNIST):
HGB_RATE = 5e7  # rows x features x trees
LINEAR_RATE = 1.5e7  # rows x features x classes (lbfgs, up to 200 iterations)
KNN_RATE = 2e10  # test rows x training rows x features, at prediction
COLUMNS = (
    "candidate",
    "family",
    "value",
    "cv_mean",
    "cv_sd",
    "fit_seconds",
    "latency_ms",
    "size_bytes",
    "interpretability",
    "note",
)


# ---------------------------------------------------------------- helpers


def _positive(
    classes: np.ndarray, names: list[Any] | None, y: np.ndarray, chosen: Any
) -> tuple[int | None, Any]:
    """The positive class's id among the sorted labels ``classes`` and its name.

    ``(None, None)`` unless the target is binary.
    """
    if len(classes) != 2:
        if chosen is not None:
            raise ConfigError(
                message(
                    "positive_class needs a binary target.",
                    f"{len(classes)} classes",
                    "two classes",
                    "Leave positive_class out: more classes use macro averages.",
                )
            )
        return None, None
    ids = (
        names is not None
        and classes.dtype.kind in "iu"
        and all(0 <= c < len(names) for c in classes)
    )
    shown = [str(names[int(c)]) if ids and names else str(c) for c in classes]
    if chosen is None:
        index = int(minority_class(y))  # y holds the ids 0 and 1
    elif str(chosen) in shown or str(chosen) in [str(c) for c in classes]:
        index = (
            shown.index(str(chosen))
            if str(chosen) in shown
            else [str(c) for c in classes].index(str(chosen))
        )
    else:
        raise ConfigError(
            message(
                "positive_class is not a class of the target.",
                repr(chosen),
                f"one of {shown}",
                "Pass one of those.",
            )
        )
    return index, shown[index]


def _as_strings(frame: Any) -> Any:
    return frame.astype(str)  # categories as strings; missing values become the category "nan"


def _as_floats(frame: Any) -> Any:
    return frame.astype("float64")


# ---------------------------------------------------------------- candidates
def _classical(modality: str, task: str, x: Any) -> list[tuple[str, str, Any]]:
    """``(name, interpretability, estimator)`` for each classical candidate (k-NN last)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    classify = task == "classification"

    def linear() -> Any:
        return (
            LogisticRegression(max_iter=200 if modality == "image" else 1000)
            if classify
            else Ridge()
        )

    linear_name = "logistic regression" if classify else "ridge regression"
    if modality == "text":
        return [
            (
                f"TF-IDF + {linear_name}",
                "high",
                make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), linear()),
            )
        ]
    boosting = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        random_state=0
    )
    knn = KNeighborsClassifier() if classify else KNeighborsRegressor()
    if modality == "table":
        numeric = [c for c in x.columns if x[c].dtype.kind in "iuf"]
        categorical = [c for c in x.columns if c not in numeric]

        def encoded() -> Any:  # standardised numbers with missing indicators, one-hot categories
            return ColumnTransformer(
                [
                    (
                        "numeric",
                        make_pipeline(
                            FunctionTransformer(_as_floats),
                            SimpleImputer(strategy="median", add_indicator=True),
                            StandardScaler(),
                        ),
                        numeric,
                    ),
                    (
                        "categorical",
                        make_pipeline(
                            FunctionTransformer(_as_strings),
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                max_categories=50,
                                sparse_output=False,
                            ),
                        ),
                        categorical,
                    ),
                ]
            )

        codes = ColumnTransformer(
            [
                (
                    "categorical",
                    make_pipeline(
                        FunctionTransformer(_as_strings),
                        OrdinalEncoder(
                            handle_unknown="use_encoded_value",
                            unknown_value=np.nan,
                            max_categories=250,
                        ),
                    ),
                    categorical,
                )
            ],
            remainder=FunctionTransformer(_as_floats),
        )
        # Native categorical splits.
        boosting.set_params(categorical_features=list(range(len(categorical))) or None)
        return [
            (linear_name, "high", make_pipeline(encoded(), linear())),
            ("HistGradientBoosting", "medium", make_pipeline(codes, boosting)),
            ("k-NN (k=5)", "medium", make_pipeline(encoded(), knn)),
        ]
    scaled = modality == "array"  # image pixels are already scaled to [0, 1]
    return [
        (linear_name, "high", make_pipeline(StandardScaler(), linear()) if scaled else linear()),
        ("HistGradientBoosting", "medium", boosting),
        ("k-NN (k=5)", "medium", make_pipeline(StandardScaler(), knn) if scaled else knn),
    ]


def advise(
    data: Any,
    target: Any = None,
    *,
    metric: str | None = None,
    time_budget: float = 120.0,
    seed: int = 0,
    test_fraction: float = 0.2,
    verbose: int = 0,
    keep: bool = False,
    positive_class: Any = None,
) -> Advice:
    """Train classical baselines and one lamina network on the same split; recommend one, honestly.

    Args:
        data: a Dataset-like object, a ``lamina.datasets`` split, a DataFrame (with ``target``) or
            ``(x, y)`` (see ``lamina.plan``). Image pixels are scaled by the training maximum.
        target: the label column of a DataFrame.
        metric: one of ``SCORES`` (``lamina.kpi``); default ``"accuracy"`` (classification) or
            ``"rmse"`` (regression, lower is better).
        time_budget: seconds for training the network (a callback stops it); each classical model
            is fitted on a seeded subsample of rows when a rough cost estimate says it would take
            longer than half of it (the note says so), and k-fold CV runs only when it fits the
            budget.
        seed: the split, subsamples, CV folds and network initialisation.
        test_fraction: the held-out share when ``data`` has no test split (stratified for classes).
        verbose: 1 prints one line per candidate, 2 also the network's epochs.
        keep: keep every fitted candidate in ``Advice.fitted`` as a
            :class:`lamina.fitted.FittedModel` (predicts from raw inputs, saves without pickle).
        positive_class: for a binary target, the class (a label or class name) ``f1``,
            ``precision`` and ``recall`` are of; default the minority class. More classes: macro
            averages.

    Returns:
        An :class:`Advice`; see the module docstring for the recommendation rule.
    """
    from sklearn.model_selection import train_test_split

    if (
        isinstance(time_budget, bool)
        or not isinstance(time_budget, (int, float))
        or not time_budget > 0
    ):
        raise ConfigError(
            message(
                "time_budget must be a positive number of seconds.",
                repr(time_budget),
                "> 0",
                "Pass e.g. time_budget=60.",
            )
        )
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, float)
        or not 0 < test_fraction < 1
    ):
        raise ConfigError(
            message(
                "test_fraction out of range.",
                repr(test_fraction),
                "a float in (0, 1)",
                "Pass e.g. test_fraction=0.2.",
            )
        )
    found = read_data(data, target)
    if found.y is None or not labelled(found.y).any():
        raise DataError(
            message(
                "advise needs labels.",
                "no target" if found.y is None else "every label missing",
                "a label per row",
                "Pass target= (a DataFrame column), or (x, y).",
            )
        )
    notes, has_label = [], labelled(found.y)
    x, y = take(found.x, np.flatnonzero(has_label)), found.y[has_label]
    if not has_label.all():
        notes.append(f"{int((~has_label).sum()):,} rows without a label were dropped.")
    # A task read with unlabelled rows may be off.
    task = (found.task if has_label.all() else None) or infer_task(y)
    classify = task == "classification"
    metric = metric or ("accuracy" if classify else "rmse")
    if metric not in SCORES or KPIS[metric].task != task:
        raise ConfigError(
            message(
                f"Unsupported metric for {task}.",
                repr(metric),
                "one of " + ", ".join(m for m in SCORES if KPIS[m].task == task),
                "Pass one of those, or leave metric=None.",
            )
        )
    if found.x_test is not None and found.y_test is not None:
        x_test, y_test = found.x_test, found.y_test
        notes.append(
            f"Split: the data set's own test split, "
            f"{len(x):,} training / {len(x_test):,} test rows."
        )
    else:
        counts = np.unique(y, return_counts=True)[1] if classify else np.zeros(1)
        strata = y if classify and counts.min() >= 2 else None
        train, test = train_test_split(
            np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=strata
        )
        x, x_test, y, y_test = take(x, train), take(x, test), y[train], y[test]
        notes.append(
            f"Split: {'stratified ' * (strata is not None)}random "
            f"{1 - test_fraction:.0%}/{test_fraction:.0%} "
            f"(seed {seed}), {len(x):,} training / {len(x_test):,} test rows."
        )
    positive = None
    if classify:
        classes = np.unique(
            np.concatenate([y, y_test]).astype(str if y.dtype.kind == "O" else y.dtype)
        )
        y, y_test = (np.searchsorted(classes, v.astype(classes.dtype)) for v in (y, y_test))
        positive, shown = _positive(classes, found.classes, y, positive_class)
        notes.append(f"Metric: {describe(metric, shown, len(classes))}.")
    else:
        y, y_test = y.astype(float), y_test.astype(float)
    scale = 1.0
    if found.modality == "image":
        scale = max(float(np.max(x)), 1.0)  # pixels to [0, 1]
        x, x_test = (np.asarray(v, dtype=np.float32) / scale for v in (x, x_test))
    if found.modality == "array":
        x, x_test = (np.asarray(v, dtype=np.float32).reshape(len(v), -1) for v in (x, x_test))

    def flat(v: Any) -> Any:
        # (N, ...) pixels -> (N, features)
        return v.reshape(len(v), -1) if found.modality == "image" else v

    outputs = len(classes) if classify else 1
    features = int(np.prod(np.shape(flat(x))[1:])) if found.modality != "text" else 0
    rows: list[dict[str, Any]] = []
    results: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    cv = len(y) + len(y_test) < SMALL
    for name, interpretability, estimator in _classical(found.modality, task, x):
        trees = 100 * (outputs if classify and outputs > 2 else 1)
        cap = {
            "HistGradientBoosting": time_budget / 2 * HGB_RATE / max(1, features * trees),
            "k-NN (k=5)": min(50_000, time_budget / 2 * KNN_RATE / max(1, features * len(y_test))),
        }.get(
            name,
            time_budget / 2 * LINEAR_RATE / max(1, features * max(outputs, 1))
            if features
            else np.inf,
        )
        if name.startswith("k-NN") and features > 1000:
            notes.append(f"k-NN skipped: {features:,} features (over 1,000).")
            continue
        subset = subsample(len(y), cap, seed)
        x_fit, y_fit = (flat(x), y) if subset is None else (flat(take(x, subset)), y[subset])
        note = (
            ""
            if subset is None
            else f"fitted on {len(y_fit):,} of {len(y):,} training rows (subsampled to "
            "fit the time budget)"
        )
        start = time.perf_counter()
        # lbfgs may stop at max_iter: say so in the note.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator.fit(x_fit, y_fit)
        seconds = time.perf_counter() - start
        if any(w.category.__name__ == "ConvergenceWarning" for w in caught):
            note = (
                note + "; " if note else ""
            ) + "the solver stopped at its iteration cap before converging"
        results[name] = estimator.predict(flat(x_test))
        row = {
            "candidate": name,
            "family": "classical",
            "value": score(metric, y_test, results[name], positive_class=positive),
            "cv_mean": None,
            "cv_sd": None,
            "fit_seconds": seconds,
            "latency_ms": latency(lambda v: estimator.predict(flat(v)), x_test),  # noqa: B023 (called now)
            "size_bytes": len(pickle.dumps(estimator)),
            "interpretability": interpretability,
            "note": note,
        }
        if cv and seconds * FOLDS <= time_budget:
            folds = cross_validate(estimator, x_fit, y_fit, metric, classify, seed, positive)
            row["cv_mean"], row["cv_sd"] = float(np.mean(folds)), float(np.std(folds, ddof=1))
        elif cv:
            row["note"] = (
                note + "; " if note else ""
            ) + f"CV skipped ({FOLDS} fits of {seconds:.1f} s exceed the time budget)"
        rows.append(row)
        fitted[name] = estimator
        if verbose:
            print(f"{name}: {metric} {row['value']:.4f} in {seconds:.1f} s")
    if cv:
        notes.append(
            f"CV: {FOLDS}-fold cross-validation of the classical models "
            f"on the {len(y):,} training rows."
        )
    deep, results["deep"], network, prep = train_network(
        found.modality, task, x, y, x_test, outputs, time_budget, seed, verbose
    )
    deep["value"] = score(metric, y_test, results["deep"], positive_class=positive)
    rows = [{key: row[key] for key in COLUMNS} for row in [*rows, deep]]
    if verbose:
        print(f"{deep['candidate']}: {metric} {deep['value']:.4f} in {deep['fit_seconds']:.1f} s")
    higher = get(metric).higher
    best = max(
        (r for r in rows if r["family"] == "classical"),
        key=lambda r: r["value"] * (1 if higher else -1),
    )
    draws = np.random.default_rng(seed).integers(0, len(y_test), (200, len(y_test)))
    error = float(
        np.std(
            [
                score(metric, y_test[d], results[best["candidate"]][d], positive_class=positive)
                for d in draws
            ]
        )
    )
    noise = max(0.005, 2 * error, best["cv_sd"] or 0.0)
    spread = "" if best["cv_sd"] is None else f", CV sd {best['cv_sd']:.4f}"
    notes.append(
        f"Noise: max(0.005, 2 x bootstrap standard error {error:.4f}{spread}) = {noise:.4f}, from "
        f"{best['candidate']}."
    )
    winner, recommendation, reason = recommend(rows, metric, noise)
    kept = {}
    if keep:
        from lamina.project.fitted import FittedModel

        common = {
            "modality": found.modality,
            "task": task,
            "scale": scale if found.modality == "image" else 1.0,
            "classes": classes.tolist() if classify else None,
        }
        kept = {
            name: FittedModel(name, "classical", model, common) for name, model in fitted.items()
        }
        kept[deep["candidate"]] = FittedModel(
            deep["candidate"], "deep", network, {**common, **prep}
        )
    definition = describe(
        metric, shown if positive is not None else None, len(classes) if classify else None
    )
    return Advice(rows, metric, winner, recommendation, reason, noise, notes, kept, definition)
