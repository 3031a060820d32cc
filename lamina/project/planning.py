"""Viability planning: judge from the data alone, before any training, what can work and what not.

``plan(data, target)`` returns a :class:`Plan`: a JSON-able summary and :class:`Finding` objects
(``"ok"``, ``"warning"`` or ``"blocker"``, each with a reason in words and numbers) on the modality,
label coverage, rows per class, class imbalance, rows against the default network's parameters,
missing values, constant and identifier-like columns, and whether a KPI and its threshold make
sense. The findings themselves are judged in ``lamina.project.findings``.

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
from lamina.project.findings import (
    Finding,
    column_findings,
    data_finding,
    judge,
    label_findings,
    resource_findings,
    size_findings,
)

__all__ = ["Finding", "Plan", "plan"]

NETWORK_UNITS = (256, 128)  # the default MLP of lamina.advise (BatchNorm, dropout 0.1)
SMALL_FILTERS = (16, 32)  # the CNN for images that are not LeNet-sized
# GRU width = embedding width; vocabulary min_count; ids per text.
TEXT_UNITS, MIN_COUNT, MAX_TOKENS = 64, 2, 100


@dataclass
class Plan:
    """What ``plan`` found: ``findings`` (:class:`Finding` objects) and a JSON-able ``summary``."""

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
    """The task labels ``y`` suggest.

    ``"classification"`` for strings, bools and at most 50 distinct whole numbers, else
    ``"regression"``.
    """
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
    """The default network for ``data``: its name, parameters and FLOPs per row (forward pass)."""
    x = data.x
    if data.modality in ("table", "array"):
        codes, width = [], int(np.prod(x.shape[1:]))
        if data.modality == "table":
            numeric = [c for c in x.columns if x[c].dtype.kind in "iuf"]
            # Categories + unknown.
            codes = [int(x[c].nunique()) + 1 for c in x.columns if c not in numeric]
            width = (
                len(numeric)
                + sum(bool(x[c].isna().any()) for c in numeric)
                + sum(map(embedding_size_rule, codes))
            )
        params, flops = _dense([width, *NETWORK_UNITS, outputs])
        # + BatchNorm scale and shift below.
        embeddings = sum(k * embedding_size_rule(k) for k in codes)
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
        # Conv weights + bias + BatchNorm scale and shift.
        return (
            f"CNN {first}-{second}",
            (9 * channels + 3) * first + (9 * first + 3) * second + params,
            2 * convolutions + flops,
        )
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


# ---------------------------------------------------------------- the KPI
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
    """The KPI findings: the metric fits the task, the threshold its range and a trivial baseline.

    Args:
        summary: the plan's summary (``task``, ``classes``).
        y: the labelled rows' labels, or None without labels.
        counts: rows per class name (empty for regression).
        kpi: a key of ``lamina.kpi.KPIS``, or None.
        threshold: the KPI value to reach, or None.
        positive: the positive class's name of a binary target, or None.

    Returns:
        The KPI :class:`Finding` objects.
    """
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
        judge(
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
        judge(
            threshold <= value if higher else threshold >= value,
            "threshold",
            f"threshold {threshold:g} vs the trivial baseline {value:.4g} ({how})",
            "a model that ignores the input "
            "already reaches it: raise the bar or choose another KPI",
            f"a model must beat the trivial baseline by {abs(threshold - value):.4g}",
        )
    ]


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
        data: a Dataset-like object, a DataFrame (with ``target``), or ``(x, y)`` (see the module
            docstring).
        target: the label column of a DataFrame.
        goal: what the model is for, in words; ``"classification"``/``"regression"`` is checked
            against the labels.
        kpi: the metric the project is judged by, a key of ``lamina.kpi.KPIS`` (``"accuracy"``,
            ``"f1"``, ``"balanced_accuracy"``, ``"roc_auc"``, ``"rmse"``, ``"mae"``, ``"r2"``, ...).
        threshold: the KPI value to reach; compared with the metric's range and a trivial baseline.
        budget_seconds: training time allowed, compared with a rough estimate of an epoch's cost.
        max_latency_ms: prediction time allowed per row, compared with rough compute estimates.
        positive_class: for a binary target, the class ``f1``/``precision``/``recall`` are of (by
            name; default the minority class); multiclass targets use macro averages.

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
    findings = [data_finding(data, summary)]
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
        findings += label_findings(data, summary, y, counts)
    findings += (
        size_findings(data, summary)
        + column_findings(data)
        + _kpi_findings(summary, y, counts, kpi, threshold, positive_class)
    )
    summary.update({"threshold": threshold, "budget_seconds": budget, "max_latency_ms": latency})
    return Plan(findings + resource_findings(data, summary, budget, latency), summary)
