"""Viability planning: judge from the data alone, before any training, what can work and what cannot.

``plan(data, target)`` returns a :class:`Plan`: a JSON-able summary and :class:`Finding` objects
(``"ok"``, ``"warning"`` or ``"blocker"``, each with a reason in words and numbers) on the modality,
label coverage, rows per class, class imbalance, rows against the default network's parameters,
missing values, constant and identifier-like columns, and whether a KPI and its threshold make sense.

``data`` is a ``lamina.sources.Dataset``-like object (``x``, ``y``, ``modality``, ...), a
``lamina.datasets`` split, a DataFrame with its ``target`` column, or ``(x, y)`` where ``x`` is a
DataFrame, a numeric array (3-D ``(N, H, W)`` and 4-D ``(N, C, H, W)`` ones are images) or texts.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(200, 5))
>>> report = plan((x, (x[:, 0] > 0).astype(int)), kpi="accuracy", threshold=0.9)
>>> report.summary["task"], report.summary["rows"], report.viable
('classification', 200, True)
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, message
from lamina.data.eda import Data, labelled, read_data
from lamina.models._tabular import embedding_size_rule
from lamina.nn.tensors import tokenize
from lamina.project import kpi as kpis

__all__ = ["Finding", "Plan", "plan"]

NETWORK_UNITS = (256, 128)  # the default MLP of lamina.advise (BatchNorm, dropout 0.1)
SMALL_FILTERS = (16, 32)  # the CNN for images that are not LeNet-sized
TEXT_UNITS, MIN_COUNT, MAX_TOKENS = (
    64,
    2,
    100,
)  # GRU width = embedding width; vocabulary min_count; ids per text
FLOPS = 1e10  # assumed multiply-adds x 2 per second on one CPU core: an order of magnitude, not a measurement


@dataclass
class Finding:
    """One judgement: ``level`` is ``"ok"``, ``"warning"`` or ``"blocker"``; ``reason`` says why, with numbers."""

    level: str
    topic: str
    message: str
    reason: str


@dataclass
class Plan:
    """What ``plan`` found: ``findings`` (a list of :class:`Finding`) and a JSON-able ``summary`` dict."""

    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def viable(self) -> bool:
        """True when no finding is a blocker."""
        return not any(f.level == "blocker" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back."""
        return {"summary": self.summary, "findings": [asdict(f) for f in self.findings]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """The plan :meth:`to_dict` described."""
        return cls([Finding(**f) for f in data["findings"]], dict(data["summary"]))

    def to_markdown(self) -> str:
        """The summary as a bullet list and the findings as a table."""
        lines = [f"## Plan: {self.summary.get('source', 'data')}", ""]
        lines += [f"- **{key}**: {value}" for key, value in self.summary.items()]
        rows = [[f.level, f.topic, f.message, f.reason] for f in self.findings]
        return "\n".join(
            [*lines, "", markdown_table(["level", "topic", "finding", "reason"], rows)]
        )

    def __str__(self) -> str:
        head = ", ".join(
            f"{k}={v}"
            for k, v in self.summary.items()
            if k in ("modality", "task", "rows", "classes")
        )
        return "\n".join(
            [f"Plan ({head})"]
            + [f"[{f.level.upper()}] {f.topic}: {f.message} -- {f.reason}" for f in self.findings]
        )


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table (``|`` in cells escaped)."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def infer_task(y: np.ndarray) -> str:
    """``"classification"`` for strings, bools and at most 50 distinct whole numbers, else ``"regression"``."""
    if y.dtype.kind not in "iuf":
        return "classification"
    values = np.unique(y)
    whole = y.dtype.kind in "iu" or bool(np.all(values == np.round(values)))
    return "classification" if whole and len(values) <= 50 else "regression"


# ---------------------------------------------------------------- the default network, in numbers
def uses_lenet(height: int, width: int) -> bool:
    """LeNet-5 for digit-sized images (24 to 32 pixels a side); a small conv stack otherwise."""
    return 24 <= height <= 32 and 24 <= width <= 32


def _dense(sizes: list[int]) -> tuple[int, int]:
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return weights + sum(sizes[1:]), 2 * weights  # parameters, FLOPs per row


def network(
    data: Data, outputs: int, tokens: list[list[str]] | None = None
) -> tuple[str, int, int]:
    """The default network for ``data``: its name, parameter count and FLOPs per row (forward pass)."""
    x = data.x
    if data.modality in ("table", "array"):
        codes, width = [], int(np.prod(x.shape[1:]))
        if data.modality == "table":
            numeric = [c for c in x.columns if x[c].dtype.kind in "iuf"]
            codes = [
                int(x[c].nunique()) + 1 for c in x.columns if c not in numeric
            ]  # categories + unknown
            width = (
                len(numeric)
                + sum(bool(x[c].isna().any()) for c in numeric)
                + sum(map(embedding_size_rule, codes))
            )
        params, flops = _dense([width, *NETWORK_UNITS, outputs])
        embeddings = sum(
            k * embedding_size_rule(k) for k in codes
        )  # + BatchNorm scale and shift below
        return (
            f"{'tabular ' * (data.modality == 'table')}MLP 256-128",
            params + embeddings + 2 * 384,
            flops,
        )
    if data.modality == "image":
        channels, (height, width) = (x.shape[1] if x.ndim == 4 else 1), x.shape[-2:]
        if uses_lenet(height, width):
            h, w = height // 2 - 4, width // 2 - 4  # after conv 5x5 (pad 2), pool, conv 5x5
            params, flops = _dense([16 * (h // 2) * (w // 2), 120, 84, outputs])
            return (
                "CNN lenet5",
                channels * 150 + 6 + 2416 + params,
                flops + 2 * 150 * (channels * height * width + 16 * h * w),
            )
        first, second = SMALL_FILTERS
        params, flops = _dense([second * (height // 4) * (width // 4), outputs])
        convolutions = (
            9 * first * (channels * height * width + second * (height // 2) * (width // 2))
        )
        return (
            f"CNN {first}-{second}",
            (9 * channels + 3) * first + (9 * first + 3) * second + params,
            2 * convolutions + flops,
        )  # conv weights + bias + BatchNorm scale and shift
    tokens = [tokenize(text) for text in x] if tokens is None else tokens
    counts = Counter(token for row in tokens for token in row)
    steps = min(MAX_TOKENS, sum(counts.values()) / max(1, len(x)))
    recurrent = 3 * 2 * TEXT_UNITS * TEXT_UNITS  # GRU: 3 gates, input and hidden weights
    head, flops = _dense([TEXT_UNITS, outputs])
    vocabulary = 2 + sum(n >= MIN_COUNT for n in counts.values())
    return (
        "GRU 64 over word ids",
        vocabulary * TEXT_UNITS + recurrent + 6 * TEXT_UNITS + head,
        int(2 * steps * recurrent) + flops,
    )


# ---------------------------------------------------------------- findings
def _judge(
    bad: bool, topic: str, text: str, bad_reason: str, good_reason: str, level: str = "warning"
) -> Finding:
    return Finding(level if bad else "ok", topic, text, bad_reason if bad else good_reason)


def _number(value: Any, name: str, positive: bool = False) -> float | None:
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or (positive and value <= 0)
    ):
        raise ConfigError(
            message(
                f"{name} must be a {'positive ' * positive}number.",
                f"{name}={value!r}",
                "a finite float" + " > 0" * positive,
                f"Pass e.g. {name}={60 if positive else 0.8}.",
            )
        )
    return None if value is None else float(value)


def _describe(data: Data, summary: dict[str, Any]) -> Finding:
    rows, shape, x = summary["rows"], summary.get("shape", []), data.x
    if data.modality == "table":
        numeric = sum(x[c].dtype.kind in "iuf" for c in x.columns)
        return Finding(
            "ok",
            "modality",
            f"table: {rows:,} rows x {x.shape[1]} columns ({numeric} numeric, "
            f"{x.shape[1] - numeric} categorical)",
            "gradient-boosted trees are the classical reference on "
            "tables; lamina's tabular MLP embeds the categorical columns",
        )
    if data.modality == "image":
        large = "; images this large call for transfer learning (lamina.models.transfer)" * (
            max(shape) > 64
        )
        return Finding(
            "ok",
            "modality",
            f"images {'x'.join(map(str, shape))}",
            "a CNN is the network family; classical models read flattened pixels" + large,
        )
    if data.modality == "text":
        return Finding(
            "ok",
            "modality",
            f"text: {rows:,} texts, {summary['mean_tokens']:.1f} tokens on average, "
            f"{summary['distinct_tokens']:,} distinct",
            "TF-IDF + a linear model is the classical reference; the network reads word ids",
        )
    return Finding(
        "ok",
        "modality",
        f"numeric array, rows of shape {tuple(shape)}",
        "an MLP on standardised features; linear models, gradient boosting and k-NN as references",
    )


def _label_findings(
    data: Data, summary: dict[str, Any], y: np.ndarray, counts: dict[str, int]
) -> list[Finding]:
    rows, missing, out = summary["rows"], summary["unlabelled_rows"], []
    if missing:
        out.append(
            Finding(
                "warning",
                "label coverage",
                f"{missing:,} of {rows:,} rows ({missing / rows:.1%}) have no label",
                "they cannot train a supervised model: they are dropped (or use them to pretrain)",
            )
        )
    if summary["task"] == "regression":
        std = float(np.std(y.astype(float)))
        return out + [
            Finding(
                "ok",
                "target",
                f"regression target: mean {np.mean(y):.4g}, sd {std:.4g}, range "
                f"[{np.min(y):.4g}, {np.max(y):.4g}]",
                f"predicting the mean gives RMSE {std:.4g}",
            )
        ]
    if len(counts) < 2:
        return out + [
            Finding(
                "blocker",
                "classes",
                f"only one class ({next(iter(counts))!r})",
                "a classifier needs at least two classes to tell apart",
            )
        ]
    rare = ", ".join(f"{k!r} ({n})" for k, n in counts.items() if n < 10)
    if rare:
        out.append(
            Finding(
                "warning",
                "label coverage",
                f"classes with fewer than 10 rows: {rare}",
                "too few to learn or to measure: collect more, merge them or drop them",
            )
        )
    ordered = sorted(counts, key=counts.__getitem__)
    smallest, largest = ordered[0], ordered[-1]
    ratio, share = counts[largest] / counts[smallest], counts[largest] / sum(counts.values())
    out.append(
        _judge(
            ratio >= 10,
            "imbalance",
            f"class imbalance ratio {ratio:.1f}: {largest!r} has "
            f"{counts[largest]:,} rows ({share:.1%}), {smallest!r} {counts[smallest]:,}",
            f"predicting {largest!r} alone scores accuracy {share:.3f}: weight the classes "
            "(class_weight=) and judge by f1 or balanced accuracy",
            "balanced enough for plain accuracy",
        )
    )
    per = sum(counts.values()) / len(counts)
    if data.modality == "image":
        out.append(
            _judge(
                per < 100,
                "rows per class",
                f"{per:,.0f} rows per class ({counts[smallest]:,} in the smallest)",
                "too few for a CNN from scratch; consider transfer learning "
                "(lamina.models.transfer) or classical ML",
                "enough for a small CNN (with augmentation below ~1,000 per class)",
            )
        )
    elif per < 50:
        out.append(
            Finding(
                "warning",
                "rows per class",
                f"{per:,.0f} rows per class",
                "every score is noisy at this "
                "size: compare models by k-fold cross-validation, not one split",
            )
        )
    return out


def _size_findings(data: Data, summary: dict[str, Any]) -> list[Finding]:
    rows, params = summary["labelled_rows"], summary["network_parameters"]
    out = [
        _judge(
            params > 20 * rows,
            "capacity",
            f"the default network ({summary['network']}) has {params:,} "
            f"parameters for {rows:,} labelled rows ({params / max(1, rows):,.1f} per row)",
            "it can memorise the"
            " training set; a regularised classical model will likely match it unless pretrained weights help",
            "enough rows to train it with early stopping",
        )
    ]
    if data.modality == "table":
        out.append(
            _judge(
                rows < 10_000,
                "size",
                f"{rows:,} labelled rows in a table",
                "on tables under ~10,000 rows "
                "gradient boosting usually wins over neural networks: try HistGradientBoosting first",
                "gradient boosting is still the reference to beat on tables: compare with lamina.advise",
            )
        )
    if data.modality == "text" and rows < 10_000:
        out.append(
            Finding(
                "warning",
                "size",
                f"{rows:,} labelled texts",
                "below ~10,000 texts a network trained "
                "from scratch rarely beats TF-IDF + logistic regression; pretrained embeddings help",
            )
        )
    return out


def _column_findings(data: Data) -> list[Finding]:
    x, out = data.x, []
    if data.modality == "text":
        empty = sum(not text.strip() for text in x)
        return [
            _judge(
                empty > 0,
                "missing values",
                f"{empty:,} empty texts",
                "they carry no signal: drop them",
                "every row has some text",
            )
        ]
    if data.modality == "table":
        shares = {str(c): float(s) for c, s in x.isna().mean().items() if s > 0}
        constant = [str(c) for c in x.columns if x[c].nunique(dropna=False) <= 1]
        ids = [
            str(c)
            for c in x.columns
            if x[c].dtype.kind in "iuOSU" and len(x) >= 20 and x[c].nunique() == len(x)
        ]
    else:
        flat = x.reshape(len(x), -1)  # (N, features), a view
        nan = np.isnan(flat).mean(axis=0) if flat.dtype.kind == "f" and flat.size else np.zeros(0)
        shares = {str(i): float(s) for i, s in enumerate(nan) if s > 0}
        array = (
            data.modality == "array" and len(x) >= 20
        )  # constant pixels (image borders) are normal
        constant = (
            [str(i) for i in np.flatnonzero(np.nanmax(flat, 0) == np.nanmin(flat, 0))]
            if array
            else []
        )
        ids = [
            str(i)
            for i in range(flat.shape[1] if array else 0)
            if np.all(np.diff(flat[:, i]) > 0) and np.all(flat[:, i] == np.round(flat[:, i]))
        ]
    worst = sorted(shares.items(), key=lambda item: -item[1])
    mostly, table = bool(worst) and worst[0][1] > 0.5, data.modality == "table"
    total = sum(shares.values()) / max(1, int(np.prod(x.shape[1:])))
    out.append(
        Finding(
            "warning" if mostly or (worst and not table) else "ok",
            "missing values",
            f"{total:.1%} of cells missing, in {len(worst)} column(s): "
            + ", ".join(f"{c!r} {s:.1%}" for c, s in worst[:5]),
            "HistGradientBoosting handles NaN and the tabular "
            "MLP imputes the median with a missing indicator"
            + "; a mostly empty column is rarely worth "
            "keeping" * mostly
            if table
            else "networks cannot train on NaN (lamina raises): impute or drop",
        )
        if worst
        else Finding("ok", "missing values", "no missing values", "nothing to impute")
    )
    if constant:
        out.append(
            Finding(
                "warning",
                "constant columns",
                f"{len(constant)} constant column(s): {', '.join(constant[:10])}",
                "a column with one value carries no information: drop it",
            )
        )
    if ids:
        out.append(
            Finding(
                "warning",
                "identifier",
                f"{', '.join(map(repr, ids[:5]))} look(s) like an identifier: "
                f"{len(x):,} distinct values in {len(x):,} rows",
                "a model can only memorise an identifier "
                "(or free text) and it may leak the row order: drop it",
            )
        )
    return out


def _baseline(
    kpi: str, y: np.ndarray, counts: dict[str, int], positive: str | None
) -> tuple[float, str] | None:
    if kpis.get(kpi).task == "classification":
        shares = np.array(sorted(counts.values(), reverse=True), dtype=float) / sum(counts.values())
        majority = f"always predicting {max(counts, key=counts.__getitem__)!r}"
        if (
            positive is not None and positive in counts and len(counts) == 2
        ):  # always saying the positive class
            share = counts[positive] / sum(counts.values())
            return {
                "f1": (2 * share / (1 + share), f"always predicting {positive!r}"),
                "recall": (1.0, f"always predicting {positive!r}"),
                "precision": (share, f"always predicting {positive!r}"),
            }.get(kpi) or _baseline(kpi, y, counts, None)
        return {
            "accuracy": (shares[0], majority),
            "balanced_accuracy": (1 / len(shares), majority),
            "f1": (2 * shares[0] / (1 + shares[0]) / len(shares), majority + ", macro F1"),
            "roc_auc": (0.5, "a constant score"),
            "log_loss": (float(-(shares * np.log(shares)).sum()), "predicting the class shares"),
        }.get(kpi)
    y = y.astype(float)
    return {
        "rmse": (float(np.std(y)), "predicting the mean"),
        "mse": (float(np.var(y)), "predicting the mean"),
        "mae": (float(np.mean(np.abs(y - np.median(y)))), "predicting the median"),
        "r2": (0.0, "predicting the mean"),
    }[kpi]


def _kpi_findings(
    summary: dict[str, Any],
    y: np.ndarray | None,
    counts: dict[str, int],
    kpi: Any,
    threshold: float | None,
    positive: str | None,
) -> list[Finding]:
    task = summary["task"]
    kpi = (
        kpi
        if kpi is not None or threshold is None
        else "accuracy"
        if task == "classification"
        else "rmse"
    )
    if kpi is None:
        return []
    entry, summary["kpi"] = kpis.get(kpi), kpi
    kind, higher, top = entry.task, entry.higher, entry.top
    if task is None or y is None:
        return []
    positive = (
        None
        if len(counts) != 2
        else positive
        if positive is not None
        else kpis.minority_class(np.repeat(list(counts), list(counts.values())))
    )
    summary["kpi_definition"] = kpis.describe(kpi, positive, len(counts) or None)
    if kind != task:
        return [
            Finding(
                "blocker",
                "kpi",
                f"{kpi!r} is a {kind} metric but the task is {task}",
                "use "
                + (
                    "rmse, mae or r2"
                    if task == "regression"
                    else "accuracy, f1 or balanced_accuracy"
                )
                + f" for {task}",
            )
        ]
    share = max(counts.values()) / sum(counts.values()) if counts else 0.0
    out = [
        _judge(
            kpi == "accuracy" and share >= 0.9,
            "kpi",
            f"{summary['kpi_definition']} for a {task} task"
            + (f" with a majority class of {share:.1%}" if counts else ""),
            "accuracy rewards predicting the majority class "
            "alone: judge by f1 or balanced_accuracy",
            "higher is better" if higher else "lower is better",
        )
    ]
    if threshold is None:
        return out
    if (top is not None and threshold > top) or (threshold < 0 and kpi != "r2"):
        return out + [
            Finding(
                "blocker",
                "threshold",
                f"threshold {threshold:g} is outside the range of {kpi}",
                f"{kpi} lies in [0, {top:g}]: write a share as a fraction (0.85, not 85)"
                if top
                else f"{kpi} is never negative",
            )
        ]
    base = _baseline(kpi, y, counts, positive)
    if base is None:
        return out + [
            Finding(
                "ok", "threshold", f"threshold {threshold:g} for {kpi}", "no trivial baseline known"
            )
        ]
    value, how = base
    return out + [
        _judge(
            threshold <= value if higher else threshold >= value,
            "threshold",
            f"threshold {threshold:g} vs the trivial baseline {value:.4g} ({how})",
            "a model that ignores the input "
            "already reaches it: raise the bar or choose another KPI",
            f"a model must beat the trivial baseline by {abs(threshold - value):.4g}",
        )
    ]


def _resource_findings(
    data: Data, summary: dict[str, Any], budget: float | None, latency: float | None
) -> list[Finding]:
    flops, rows, out = summary["network_flops_per_row"], summary["labelled_rows"], []
    if budget is not None:
        epochs = budget / max(
            1e-9, rows * 3 * flops / FLOPS
        )  # a training step costs ~3 forward passes
        out.append(
            _judge(
                epochs < 5,
                "budget",
                f"about {epochs:,.1f} epochs of the default network fit in {budget:g} s",
                f"too few to converge (rough estimate: {3 * flops:,} FLOPs per row and step"
                f" at ~{FLOPS / 1e9:.0f} GFLOP/s): raise the budget or subsample",
                f"rough estimate: "
                f"{3 * flops:,} FLOPs per row and step at ~{FLOPS / 1e9:.0f} GFLOP/s (one CPU core)",
            )
        )
    if latency is not None:
        network_ms = 1e3 * flops / FLOPS
        slow = [f"the network (~{network_ms:.3g} ms)"] if network_ms > latency else []
        if data.modality != "text":
            knn_ms = 1e3 * 2 * rows * int(np.prod(data.x.shape[1:])) / FLOPS
            slow += [f"k-NN (~{knn_ms:.3g} ms: it compares each query with {rows:,} rows)"] * (
                knn_ms > latency
            )
        out.append(
            _judge(
                bool(slow),
                "latency",
                f"{latency:g} ms per row allowed; rough compute per row: network "
                f"~{network_ms:.3g} ms",
                "too slow: " + ", ".join(slow),
                "the default network's compute "
                "fits; Python overhead per call (~0.1 ms) comes on top",
            )
        )
    return out


def plan(
    data: Any,
    target: Any = None,
    *,
    goal: str | None = None,
    kpi: str | None = None,
    threshold: float | None = None,
    budget_seconds: float | None = None,
    max_latency_ms: float | None = None,
    positive_class: str | None = None,
) -> Plan:
    """Judge from the data, before any training, whether a model can work and which kind.

    Args:
        data: a Dataset-like object, a DataFrame (with ``target``), or ``(x, y)`` (see the module docstring).
        target: the label column of a DataFrame.
        goal: what the model is for, in words; ``"classification"``/``"regression"`` is checked against the labels.
        kpi: the metric the project is judged by, a key of ``lamina.kpi.KPIS`` (``"accuracy"``, ``"f1"``,
            ``"balanced_accuracy"``, ``"roc_auc"``, ``"rmse"``, ``"mae"``, ``"r2"``, ...).
        threshold: the KPI value to reach; compared with the metric's range and a trivial baseline.
        budget_seconds: training time allowed, compared with a rough estimate of an epoch's cost.
        max_latency_ms: prediction time allowed per row, compared with rough compute estimates.
        positive_class: for a binary target, the class ``f1``/``precision``/``recall`` are of (by name; default
            the minority class); multiclass targets use macro averages.

    Returns:
        A :class:`Plan`; ``plan.viable`` is False when a finding is a blocker.
    """
    threshold = _number(threshold, "threshold")
    budget, latency = (
        _number(budget_seconds, "budget_seconds", True),
        _number(max_latency_ms, "max_latency_ms", True),
    )
    if goal is not None and not isinstance(goal, str):
        raise ConfigError(
            message(
                "goal must be a string.",
                repr(goal),
                "words such as 'classification'",
                "Pass goal='classification' or a sentence.",
            )
        )
    data = read_data(data, target)
    rows, x = len(data.x), data.x
    y = None if data.y is None else data.y[labelled(data.y)]
    task = (
        None
        if y is None or not len(y)
        else (data.task if len(y) == rows else None) or infer_task(y)
    )
    counts: dict[str, int] = {}
    if task == "classification" and y is not None:
        values, sizes = np.unique(y.astype(str) if y.dtype.kind == "O" else y, return_counts=True)
        names = (
            data.classes
            if data.classes
            and y.dtype.kind in "iu"
            and values.min() >= 0
            and values.max() < len(data.classes)
            else None
        )
        counts = {str(names[int(v)] if names else v): int(n) for v, n in zip(values, sizes)}
    summary: dict[str, Any] = {
        "source": data.source,
        "target": data.target,
        "modality": data.modality,
        "task": task,
        "rows": rows,
        "labelled_rows": 0 if y is None else len(y),
        "unlabelled_rows": 0 if y is None else rows - len(y),
    }
    if data.x_test is not None:
        summary["test_rows"] = len(data.x_test)
    tokens = [tokenize(text) for text in x] if data.modality == "text" else None
    if tokens is not None:
        summary.update(
            {
                "mean_tokens": float(np.mean([len(t) for t in tokens])) if rows else 0.0,
                "distinct_tokens": len({t for row in tokens for t in row}),
                "missing_share": float(np.mean([not text.strip() for text in x])) if rows else 0.0,
            }
        )
    else:
        missing = (
            x.isna().to_numpy().mean()
            if data.modality == "table"
            else np.isnan(x).mean()
            if x.dtype.kind == "f"
            else 0.0
        )
        summary.update(
            {
                "shape": [int(s) for s in x.shape[1:]],
                "missing_share": float(missing) if rows else 0.0,
            }
        )
    name, params, flops = network(data, max(1, len(counts)), tokens)
    summary.update(
        {
            "classes": len(counts) or None,
            "rows_per_class": counts or None,
            "network": name,
            "network_parameters": params,
            "network_flops_per_row": flops,
            "goal": goal,
        }
    )
    findings = [_describe(data, summary)]
    if goal in ("classification", "regression") and task is not None and goal != task:
        findings.append(
            Finding(
                "warning",
                "goal",
                f"the goal says {goal} but the labels look like {task}",
                "check the target column, or convert it (e.g. bin a number into classes)",
            )
        )
    if y is None or not len(y):
        findings.append(
            Finding(
                "blocker",
                "labels",
                "no labels" + " (no target given)" * (data.y is None),
                "supervised training needs a target: pass target= (a DataFrame column) or (x, y); "
                "without labels only unsupervised models (autoencoders, clustering) apply",
            )
        )
    else:
        findings += _label_findings(data, summary, y, counts)
    findings += (
        _size_findings(data, summary)
        + _column_findings(data)
        + _kpi_findings(summary, y, counts, kpi, threshold, positive_class)
    )
    summary.update({"threshold": threshold, "budget_seconds": budget, "max_latency_ms": latency})
    return Plan(findings + _resource_findings(data, summary, budget, latency), summary)
