"""The findings of a plan, one topic each: the data, labels, size, columns and resources.

Each function judges one topic from the data and the plan's summary and returns :class:`Finding`
objects; ``lamina.project.planning.plan`` builds the summary and gathers them into a ``Plan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.data.eda import Data

__all__ = [
    "FLOPS",
    "Finding",
    "column_findings",
    "data_finding",
    "judge",
    "label_findings",
    "resource_findings",
    "size_findings",
]

# Assumed multiply-adds x 2 per second on one CPU core: an order of magnitude, not a measurement.
FLOPS = 1e10


@dataclass
class Finding:
    """One judgement: ``level`` is ``"ok"``, ``"warning"`` or ``"blocker"``.

    ``topic`` names what was judged, ``message`` the finding and ``reason`` why, with numbers.
    """

    level: str
    topic: str
    message: str
    reason: str


def judge(
    bad: bool, topic: str, text: str, bad_reason: str, good_reason: str, level: str = "warning"
) -> Finding:
    """A :class:`Finding` of ``level`` with ``bad_reason`` when ``bad``, else an ``"ok"`` one."""
    return Finding(level if bad else "ok", topic, text, bad_reason if bad else good_reason)


def data_finding(data: Data, summary: dict[str, Any]) -> Finding:
    """The modality finding: what the inputs are, in numbers.

    Args:
        data: the data read by ``lamina.data.eda.read_data``.
        summary: the plan's summary (``rows``, ``shape``).

    Returns:
        One ``"ok"`` :class:`Finding` on the modality.
    """
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


def label_findings(
    data: Data, summary: dict[str, Any], y: np.ndarray, counts: dict[str, int]
) -> list[Finding]:
    """The label findings: coverage, rows per class, class imbalance, regression targets.

    Args:
        data: the data read by ``lamina.data.eda.read_data``.
        summary: the plan's summary (``rows``, ``unlabelled_rows``, ``task``).
        y: the labelled rows' labels, shape ``(N,)``.
        counts: rows per class name (empty for regression).

    Returns:
        The label :class:`Finding` objects.
    """
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
        judge(
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
            judge(
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


def size_findings(data: Data, summary: dict[str, Any]) -> list[Finding]:
    """The size findings: rows against the default network's parameters and the modality's norm.

    Args:
        data: the data read by ``lamina.data.eda.read_data``.
        summary: the plan's summary (``labelled_rows``, ``network``, ``network_parameters``).

    Returns:
        The size :class:`Finding` objects.
    """
    rows, params = summary["labelled_rows"], summary["network_parameters"]
    out = [
        judge(
            params > 20 * rows,
            "capacity",
            f"the default network ({summary['network']}) has {params:,} "
            f"parameters for {rows:,} labelled rows ({params / max(1, rows):,.1f} per row)",
            "it can memorise the training set; a regularised classical model will likely match it "
            "unless pretrained weights help",
            "enough rows to train it with early stopping",
        )
    ]
    if data.modality == "table":
        out.append(
            judge(
                rows < 10_000,
                "size",
                f"{rows:,} labelled rows in a table",
                "on tables under ~10,000 rows gradient boosting usually wins over neural networks: "
                "try HistGradientBoosting first",
                "gradient boosting is still the reference to beat on tables: "
                "compare with lamina.advise",
            )
        )
    if data.modality == "text" and rows < 10_000:
        out.append(
            Finding(
                "warning",
                "size",
                f"{rows:,} labelled texts",
                "below ~10,000 texts a network trained from scratch rarely beats "
                "TF-IDF + logistic regression; pretrained embeddings help",
            )
        )
    return out


def column_findings(data: Data) -> list[Finding]:
    """The column findings: empty texts, missing values, constant and identifier-like columns.

    Args:
        data: the data read by ``lamina.data.eda.read_data``.

    Returns:
        The column :class:`Finding` objects.
    """
    x, out = data.x, []
    if data.modality == "text":
        empty = sum(not text.strip() for text in x)
        return [
            judge(
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
        # Constant pixels (image borders) are normal.
        array = data.modality == "array" and len(x) >= 20
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


def resource_findings(
    data: Data, summary: dict[str, Any], budget: float | None, latency: float | None
) -> list[Finding]:
    """The resource findings: epochs within the time budget, compute per row against the latency.

    Args:
        data: the data read by ``lamina.data.eda.read_data``.
        summary: the plan's summary (``network_flops_per_row``, ``labelled_rows``).
        budget: training seconds allowed, or None.
        latency: milliseconds allowed per predicted row, or None.

    Returns:
        The budget and latency :class:`Finding` objects.
    """
    flops, rows, out = summary["network_flops_per_row"], summary["labelled_rows"], []
    if budget is not None:
        # A training step costs ~3 forward passes.
        epochs = budget / max(1e-9, rows * 3 * flops / FLOPS)
        out.append(
            judge(
                epochs < 5,
                "budget",
                f"about {epochs:,.1f} epochs of the default network fit in {budget:g} s",
                f"too few to converge (rough estimate: {3 * flops:,} FLOPs per row and step"
                f" at ~{FLOPS / 1e9:.0f} GFLOP/s): raise the budget or subsample",
                f"rough estimate: {3 * flops:,} FLOPs per row and step "
                f"at ~{FLOPS / 1e9:.0f} GFLOP/s (one CPU core)",
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
            judge(
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
