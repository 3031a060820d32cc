"""Deep learning or classical? Train both kinds on the same split and recommend honestly.

``advise(data, target)`` fits scikit-learn baselines (logistic or ridge regression, histogram gradient
boosting, k-NN; TF-IDF + logistic regression for texts) and one quick lamina network of the right
family (tabular MLP, CNN, GRU over word ids, MLP) on one split, and returns an :class:`Advice`: a
table of every candidate (metric, fit seconds, latency per row, size, interpretability) and a
recommendation with its reason.

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

import json
import pickle
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.eda import labelled, read_data
from lamina.project.kpi import KPIS, describe, get, minority_class, score
from lamina.project.planning import (
    MAX_TOKENS,
    MIN_COUNT,
    NETWORK_UNITS,
    SMALL_FILTERS,
    TEXT_UNITS,
    infer_task,
    markdown_table,
    uses_lenet,
)
from lamina.train.callbacks import Callback, EarlyStopping

__all__ = ["Advice", "advise", "recommend", "score"]  # score: lamina.kpi.score

SCORES = tuple(
    name for name, entry in KPIS.items() if not entry.needs_probabilities
)  # lamina.kpi.score
FOLDS, SMALL = 10, 5000  # k-fold CV of the classical models for data sets under SMALL rows
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


@dataclass
class Advice:
    """What ``advise`` measured and recommends.

    ``rows`` holds one dict per candidate: ``candidate``, ``family`` (``"classical"``/``"deep"``),
    ``value`` (the test metric), ``cv_mean``/``cv_sd`` (k-fold CV on small data, else None),
    ``fit_seconds``, ``latency_ms`` (prediction time per row, measured on a batch of up to 1,000 rows),
    ``size_bytes`` (scikit-learn: the pickled estimator's length in memory; lamina: the bytes of the
    ``state_dict`` tensors plus its JSON state and vocabulary), ``interpretability`` (``"high"``,
    ``"medium"`` or ``"low"``) and ``note``. ``notes`` say how the data were split, what was skipped
    or subsampled, and how the noise was computed.
    """

    rows: list[dict[str, Any]]
    metric: str
    winner: str
    recommendation: str
    reason: str
    noise: float = 0.0
    notes: list[str] = field(default_factory=list)
    fitted: dict[str, Any] = field(
        default_factory=dict, repr=False, compare=False
    )  # advise(keep=True)
    definition: str = ""  # the metric in words: "F1 of class '>50K'", "macro F1", "accuracy"

    def table(self) -> Any:
        """The rows as a pandas DataFrame, the ``value`` column named after the metric."""
        import pandas

        return pandas.DataFrame(self.rows).rename(columns={"value": self.metric})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field but ``fitted``."""
        return {key: value for key, value in asdict(self).items() if key != "fitted"}

    def to_markdown(self) -> str:
        """The table, the recommendation, the reason and the notes as markdown."""
        headers = [
            "candidate",
            "family",
            self.definition or self.metric,
            "CV",
            "fit s",
            "ms/row",
            "size",
            "interpretability",
            "note",
        ]
        rows = [
            [
                r["candidate"],
                r["family"],
                f"{r['value']:.4f}",
                _cv(r),
                f"{r['fit_seconds']:.1f}",
                f"{r['latency_ms']:.4f}",
                _bytes(r["size_bytes"]),
                r["interpretability"],
                r["note"],
            ]
            for r in self.rows
        ]
        return "\n".join(
            [
                markdown_table(headers, rows),
                "",
                f"**Recommendation**: {self.recommendation}",
                "",
                f"**Why**: {self.reason}",
                "",
                *(f"- {note}" for note in self.notes),
            ]
        )

    def __str__(self) -> str:
        table = (
            self.table()
            .drop(columns=["note"])
            .to_string(index=False, float_format=lambda v: f"{v:.4g}")
        )
        notes = [f"  {r['candidate']}: {r['note']}" for r in self.rows if r["note"]]
        return "\n".join(
            [
                table,
                *notes,
                f"Recommendation: {self.recommendation}",
                f"Why: {self.reason}",
                *(f"- {note}" for note in self.notes),
            ]
        )


def _cv(row: Mapping[str, Any]) -> str:
    return "" if row.get("cv_mean") is None else f"{row['cv_mean']:.4f} +- {row['cv_sd']:.4f}"


def _bytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def recommend(rows: Sequence[Mapping[str, Any]], metric: str, noise: float) -> tuple[str, str, str]:
    """The honest recommendation: ``(winner, recommendation, reason)`` for the candidates in ``rows``.

    The network (family ``"deep"``) is recommended only when it beats the best classical model by
    more than ``noise`` in ``metric`` (whose direction comes from ``lamina.kpi.KPIS``); otherwise
    the best classical model is, and the reason names the numbers.

    >>> rows = [{"candidate": "HGB", "family": "classical", "value": 0.870, "fit_seconds": 3.0, "latency_ms": 0.01},
    ...         {"candidate": "MLP", "family": "deep", "value": 0.873, "fit_seconds": 60.0, "latency_ms": 0.02}]
    >>> recommend(rows, "accuracy", noise=0.005)[0]
    'HGB'
    """
    higher = get(metric).higher
    sign = 1.0 if higher else -1.0
    best = {
        family: max(
            (r for r in rows if r["family"] == family and np.isfinite(r["value"])),
            key=lambda r: sign * r["value"],
            default=None,
        )
        for family in ("classical", "deep")
    }
    classical, deep = best["classical"], best["deep"]
    if classical is None or deep is None:
        only = classical or deep
        if only is None:
            raise DataError(
                message(
                    "No candidate has a finite score.",
                    [r["value"] for r in rows],
                    "at least one finite metric value",
                    "Check the data for NaN labels.",
                )
            )
        return (
            only["candidate"],
            f"Use {only['candidate']}.",
            f"it is the only candidate with a score ({metric} {only['value']:.4f}).",
        )
    gain = sign * (deep["value"] - classical["value"])
    numbers = (
        f"{deep['candidate']} scores {metric} {deep['value']:.4f}, the best classical model "
        f"({classical['candidate']}) {classical['value']:.4f}: the network is "
        f"{'ahead' if gain > 0 else 'behind'} by {abs(gain):.4f}, against a noise level of {noise:.4f}."
    )
    if gain > noise:
        return (
            deep["candidate"],
            f"Use {deep['candidate']}: it beats every classical model by more than the noise.",
            numbers,
        )
    cost = (
        f" Fit: {classical['fit_seconds']:.1f} s vs {deep['fit_seconds']:.1f} s for the network; prediction: "
        f"{classical['latency_ms']:.4f} vs {deep['latency_ms']:.4f} ms per row."
    )
    verdict = (
        "The network is not better by more than the noise, so the simpler classical model is "
        "recommended."
        if gain > 0
        else "The classical model scores at least as well."
    )
    return (
        classical["candidate"],
        f"Use {classical['candidate']} (classical): the network does not beat it "
        "by more than the noise.",
        f"{numbers} {verdict}{cost}",
    )


# ---------------------------------------------------------------- helpers
def _take(x: Any, index: Any) -> Any:
    """Rows ``index`` of a DataFrame, an array or a list."""
    if hasattr(x, "iloc"):
        return x.iloc[index]
    return [x[i] for i in np.arange(len(x))[index]] if isinstance(x, list) else x[index]


def _latency(predict: Callable[[Any], Any], x: Any) -> float:
    """Milliseconds per row of ``predict`` on one batch of up to 1,000 rows."""
    batch = _take(x, slice(0, min(1000, len(x))))
    predict(_take(batch, slice(0, 2)))  # warm-up
    start = time.perf_counter()
    predict(batch)
    return 1e3 * (time.perf_counter() - start) / len(batch)


def _subsample(rows: int, cap: float, seed: int) -> np.ndarray | None:
    """A seeded random subset of ``int(cap)`` rows, or None when all ``rows`` fit."""
    return (
        None
        if rows <= cap
        else np.sort(np.random.default_rng(seed).permutation(rows)[: max(50, int(cap))])
    )


def _positive(
    classes: np.ndarray, names: list[Any] | None, y: np.ndarray, chosen: Any
) -> tuple[int | None, Any]:
    """The positive class's id among the sorted labels ``classes`` and its name; ``(None, None)`` unless binary."""
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


class _Deadline(Callback):
    """Stops ``fit`` at the first batch end after ``seconds`` of training."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.reached = seconds, False

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.end = time.perf_counter() + self.seconds

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if time.perf_counter() > self.end:
            self.reached = self.model.stop_training = True


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
        boosting.set_params(
            categorical_features=list(range(len(categorical))) or None
        )  # native categorical splits
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


def _cross_validate(
    estimator: Any,
    x: Any,
    y: np.ndarray,
    metric: str,
    classify: bool,
    seed: int,
    positive: int | None,
) -> list[float]:
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold

    stratify = classify and np.min(np.unique(y, return_counts=True)[1]) >= FOLDS
    folds = (StratifiedKFold if stratify else KFold)(FOLDS, shuffle=True, random_state=seed)
    return [
        score(
            metric,
            y[test],
            clone(estimator).fit(_take(x, train), y[train]).predict(_take(x, test)),
            positive_class=positive,
        )
        for train, test in folds.split(np.zeros(len(y)), y if stratify else None)
    ]


def _network(
    modality: str,
    task: str,
    x: Any,
    y: np.ndarray,
    x_test: Any,
    outputs: int,
    budget: float,
    seed: int,
    verbose: int,
) -> tuple[dict[str, Any], np.ndarray, Any, dict[str, Any]]:
    """Train the lamina network of ``modality``'s family within ``budget`` seconds; its row and test predictions."""
    from lamina.models.cnn import CNN
    from lamina.models.mlp import MLP
    from lamina.models.rnn import RNN
    from lamina.nn.sequences import pad_sequences
    from lamina.nn.tensors import WordVocabulary, tokenize

    torch.manual_seed(
        seed
    )  # layers made in a constructor (embeddings) draw their initial weights now
    extra, batch, epochs, learning_rate = 0, 256 if len(y) >= 10_000 else 32, 50, 2e-3
    prep: dict[str, Any] = {}  # what prediction needs to repeat (lamina.fitted.FittedModel)
    if modality == "text":
        tokens = [tokenize(text) for text in x]
        vocabulary = WordVocabulary((t for row in tokens for t in row), min_count=MIN_COUNT)

        def ids(texts: Any, known: list[list[str]] | None = None) -> np.ndarray:
            rows = known or [tokenize(text) for text in texts]
            return pad_sequences(
                [list(vocabulary.encode(row)) or [1] for row in rows],
                maxlen=min(MAX_TOKENS, max(len(row) for row in tokens) or 1),
            )

        x, x_test = ids(x, tokens), ids(x_test)
        model: Any = RNN(
            "gru",
            units=TEXT_UNITS,
            outputs=outputs,
            vocabulary_size=len(vocabulary),
            embedding_dim=TEXT_UNITS,
            dropout=0.2,
        )
        name, extra = "GRU (lamina)", len(json.dumps(vocabulary.get_config()))
        prep = {"vocabulary": vocabulary.get_config(), "maxlen": int(x.shape[1])}
    elif modality == "image":
        lenet = uses_lenet(*x.shape[-2:])
        model = (
            CNN(preset="lenet5", outputs=outputs)
            if lenet
            else CNN(filters=SMALL_FILTERS, outputs=outputs)
        )
        name, batch, epochs, learning_rate = f"CNN {'lenet5 ' * lenet}(lamina)", 128, 30, 1e-3
    else:
        model, name = (
            MLP(units=NETWORK_UNITS, outputs=outputs, dropout=0.1, norm="batch"),
            "MLP (lamina)",
        )
        if (
            modality == "array"
        ):  # standardise with the training statistics (DataFrames: the tabular encoder does)
            center, spread = x.mean(axis=0), x.std(axis=0)
            x, x_test = ((v - center) / np.where(spread > 0, spread, 1.0) for v in (x, x_test))
            prep = {"center": center.tolist(), "spread": spread.tolist()}
    classify = task == "classification"
    mean, std = (0.0, 1.0) if classify else (float(np.mean(y)), float(np.std(y)) or 1.0)
    targets = (
        y if classify else ((y - mean) / std).astype(np.float32)[:, None]
    )  # (N, 1) standardised
    order = np.random.default_rng(seed).permutation(len(y))  # validation_split takes the last rows
    x, targets = _take(x, order), targets[order]
    held = 0.1 if len(y) >= 20 else 0.0
    while (
        len(y) - round(held * len(y))
    ) % batch == 1:  # no batch of one row (BatchNorm cannot train on it)
        batch += 1
    model.compile(
        optimizer="adam",
        loss="cross_entropy" if classify else "mse",
        learning_rate=learning_rate,
        metrics=["accuracy"] if classify else None,
    )
    deadline = _Deadline(budget)
    stop = EarlyStopping("val_loss" if held else "loss", patience=3, restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(
        x,
        targets,
        epochs=epochs,
        batch_size=batch,
        validation_split=held,
        seed=seed,
        callbacks=[stop, deadline],
        verbose=2 if verbose > 1 else 0,
    )
    seconds = time.perf_counter() - start
    out = model.predict(x_test)
    predicted = out.argmax(1) if classify else out[:, 0] * std + mean
    state = model.state_dict().values()
    size = extra + sum(
        t.numel() * t.element_size() if hasattr(t, "numel") else len(json.dumps(t)) for t in state
    )
    why = (
        "the time budget"
        if deadline.reached
        else "early stopping"
        if stop.stopped_epoch >= 0
        else "the epoch cap"
    )
    note = (
        f"{len(history.epoch)} epochs, stopped by {why}; trained on {len(y) - round(held * len(y)):,} rows, "
        f"{round(held * len(y)):,} held out for early stopping"
    )
    return (
        {
            "candidate": name,
            "family": "deep",
            "cv_mean": None,
            "cv_sd": None,
            "fit_seconds": seconds,
            "latency_ms": _latency(model.predict, x_test),
            "size_bytes": int(size),
            "interpretability": "low",
            "note": note,
        },
        predicted,
        model,
        {**prep, "mean": mean, "std": std},
    )


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
        metric: one of ``SCORES`` (``lamina.kpi``); default ``"accuracy"`` (classification) or ``"rmse"``
            (regression, lower is better).
        time_budget: seconds for training the network (a callback stops it); each classical model is
            fitted on a seeded subsample of rows when a rough cost estimate says it would take longer
            than half of it (the note says so), and k-fold CV runs only when it fits the budget.
        seed: the split, subsamples, CV folds and network initialisation.
        test_fraction: the held-out share when ``data`` has no test split (stratified for classes).
        verbose: 1 prints one line per candidate, 2 also the network's epochs.
        keep: keep every fitted candidate in ``Advice.fitted`` as a :class:`lamina.fitted.FittedModel`
            (predicts from raw inputs, saves without pickle).
        positive_class: for a binary target, the class (a label or class name) ``f1``, ``precision`` and
            ``recall`` are of; default the minority class. More classes: macro averages.

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
    x, y = _take(found.x, np.flatnonzero(has_label)), found.y[has_label]
    if not has_label.all():
        notes.append(f"{int((~has_label).sum()):,} rows without a label were dropped.")
    task = (found.task if has_label.all() else None) or infer_task(
        y
    )  # a task read with unlabelled rows may be off
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
            f"Split: the data set's own test split, {len(x):,} training / {len(x_test):,} test rows."
        )
    else:
        counts = np.unique(y, return_counts=True)[1] if classify else np.zeros(1)
        strata = y if classify and counts.min() >= 2 else None
        train, test = train_test_split(
            np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=strata
        )
        x, x_test, y, y_test = _take(x, train), _take(x, test), y[train], y[test]
        notes.append(
            f"Split: {'stratified ' * (strata is not None)}random {1 - test_fraction:.0%}/{test_fraction:.0%} "
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
        return (
            v.reshape(len(v), -1) if found.modality == "image" else v
        )  # (N, ...) pixels -> (N, features)

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
        subset = _subsample(len(y), cap, seed)
        x_fit, y_fit = (flat(x), y) if subset is None else (flat(_take(x, subset)), y[subset])
        note = (
            ""
            if subset is None
            else f"fitted on {len(y_fit):,} of {len(y):,} training rows (subsampled to "
            "fit the time budget)"
        )
        start = time.perf_counter()
        with warnings.catch_warnings(
            record=True
        ) as caught:  # lbfgs may stop at max_iter: say so in the note
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
            "latency_ms": _latency(lambda v: estimator.predict(flat(v)), x_test),  # noqa: B023 (called now)
            "size_bytes": len(pickle.dumps(estimator)),
            "interpretability": interpretability,
            "note": note,
        }
        if cv and seconds * FOLDS <= time_budget:
            folds = _cross_validate(estimator, x_fit, y_fit, metric, classify, seed, positive)
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
            f"CV: {FOLDS}-fold cross-validation of the classical models on the {len(y):,} training rows."
        )
    deep, results["deep"], network, prep = _network(
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
