"""The report's quality sections and the HTML pieces every section is made of.

Metrics with 95% bootstrap confidence intervals (:func:`bootstrap`), the confusion matrix and
per-class errors, metrics by slice with large gaps flagged, calibration and the worst errors, each
as an HTML fragment with its plot embedded as PNG; ``lamina.project.report`` puts them on the page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.core.pages import html_table, png_tag
from lamina.train.plot import new_figure

__all__ = [
    "GAP",
    "bootstrap",
    "calibration",
    "confusion",
    "errors",
    "escape",
    "metric_functions",
    "metric_rows",
    "png",
    "slices",
    "table",
]

# A slice whose metric differs from the whole test set by more than this (and its noise) is flagged.
GAP = 0.05


def escape(value: Any) -> str:
    """``value`` as text, HTML-escaped."""
    return html.escape(str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table; headers all empty: no header row (a table of name/value pairs)."""
    head = [[escape(h) for h in headers]] if any(headers) else []
    return html_table(head + [[str(cell) for cell in row] for row in rows], header=bool(head))


def png(figure: Any) -> str:
    """A matplotlib figure as an embedded ``<img>`` at the report's resolution."""
    return png_tag(figure, dpi=90, alt="plot")


def bootstrap(
    metric: Any, truth: np.ndarray, predicted: np.ndarray, draws: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """``(value, low, high)``: the metric and its 95% bootstrap interval over test rows.

    >>> truth, predicted = np.array([1, 1, 0, 1]), np.array([1, 0, 0, 1])
    >>> value, low, high = bootstrap(lambda t, p: float(np.mean(t == p)), truth, predicted)
    >>> value, low <= value <= high
    (0.75, True)
    """
    value = metric(truth, predicted)
    rows = np.random.default_rng(seed).integers(0, len(truth), (draws, len(truth)))
    samples = [metric(truth[r], predicted[r]) for r in rows]
    return float(value), float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def metric_functions(
    task: str, kpi: str = "accuracy", positive: Any = None, classes: int | None = None
) -> dict[str, Any]:
    """``{name shown: metric(truth, predicted)}`` from ``lamina.kpi``.

    Args:
        task: ``"classification"`` or ``"regression"``.
        kpi: the project's KPI, added to the usual metrics of the task.
        positive: the positive class of a binary target, or None.
        classes: the number of classes, for the names shown.

    Returns:
        The usual metrics of the task and the project's KPI, by the name shown.
    """
    from lamina.project.kpi import KPIS, describe, score

    names = (
        ["rmse", "mae", "r2"] if task == "regression" else ["accuracy", "balanced_accuracy", "f1"]
    )
    if kpi not in names and KPIS[kpi].task == task and not KPIS[kpi].needs_probabilities:
        names.append(kpi)
    return {
        describe(name, positive, classes): lambda t, p, name=name: score(
            name, t, p, positive_class=positive
        )
        for name in names
    }


def metric_rows(
    measures: dict[str, Any], truth: np.ndarray, predicted: np.ndarray
) -> list[list[str]]:
    """One table row per metric: its name, value on the test rows and 95% bootstrap interval.

    Args:
        measures: ``{name shown: metric(truth, predicted)}`` (:func:`metric_functions`).
        truth: the test labels ``(N,)``.
        predicted: the predictions ``(N,)``.

    Returns:
        Rows of escaped cells for :func:`table`.
    """
    return [
        [escape(name), f"{v:.4f}", f"{low:.4f} – {high:.4f}"]
        for name, fn in measures.items()
        for v, low, high in [bootstrap(fn, truth, predicted)]
    ]


def confusion(truth: np.ndarray, predicted: np.ndarray) -> str:
    """The confusion matrix as a plot and the per-class errors as a table.

    Args:
        truth: the test labels ``(N,)``.
        predicted: the predictions ``(N,)``.

    Returns:
        An HTML fragment.
    """
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(truth.tolist()) | set(predicted.tolist()))
    matrix = confusion_matrix(truth, predicted, labels=labels)  # rows: truth, columns: predicted
    figure = new_figure(5.5, 4.5)
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    shown = labels if len(labels) <= 20 else []
    axes.set_xticks(range(len(shown)), shown, rotation=45)
    axes.set_yticks(range(len(shown)), shown)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(labels) <= 12:
        for (i, j), count in np.ndenumerate(matrix):
            dark = count >= matrix.max() / 2
            axes.text(
                j, i, str(count), ha="center", va="center", color="white" if dark else "black"
            )
    rows = []
    for i, label in enumerate(labels):
        support, hits = matrix[i].sum(), matrix[i, i]
        recall, called = hits / max(support, 1), matrix[:, i].sum()
        wrong = matrix[i].copy()
        wrong[i] = -1
        rows.append(
            [
                escape(label),
                f"{support:,}",
                f"{recall:.3f}",
                f"{hits / max(called, 1):.3f}",
                escape(labels[int(wrong.argmax())]) if support - hits else "–",
            ]
        )
    return png(figure) + table(
        [
            "class",
            "test rows",
            "found (recall)",
            "right when said (precision)",
            "most often mistaken for",
        ],
        rows,
    )


def slices(
    columns: Sequence[str],
    frame: Any,
    measures: dict[str, Any],
    truth: np.ndarray,
    predicted: np.ndarray,
) -> str:
    """The first metric per value of each slice column, gaps over :data:`GAP` flagged.

    Args:
        columns: the table columns to slice by (``report: {slices: [...]}`` of lamina.yaml).
        frame: the test inputs (a DataFrame), or None.
        measures: ``{name shown: metric(truth, predicted)}``; the first one is sliced.
        truth: the test labels ``(N,)``.
        predicted: the predictions ``(N,)``.

    Returns:
        An HTML fragment.
    """
    if not columns:
        return (
            "<p>No slice columns were chosen "
            "(set <code>report: {slices: [column, ...]}</code> in lamina.yaml).</p>"
        )
    if frame is None or not hasattr(frame, "columns"):
        return "<p>Slices need a table; this data set has none.</p>"
    name, metric = next(iter(measures.items()))
    overall = metric(truth, predicted)
    rows = []
    for column in columns:
        if column not in frame.columns:
            rows.append([escape(column), "(not a column)", "", "", ""])
            continue
        values = frame[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            rows_in = values == value
            if rows_in.sum() < 10:
                continue
            score, low, high = bootstrap(metric, truth[rows_in], predicted[rows_in], draws=100)
            gap = score - overall
            flagged = abs(gap) > GAP and (low > overall or high < overall)
            rows.append(
                [
                    escape(column),
                    escape(value),
                    f"{rows_in.sum():,}",
                    f"{score:.4f} ({low:.3f} – {high:.3f})",
                    f'<span class="flag">{gap:+.4f}</span>' if flagged else f"{gap:+.4f}",
                ]
            )
    return (
        f"<p>{escape(name)} on the whole test set: {overall:.4f}. "
        f"Gaps larger than {GAP} whose interval excludes the overall value are flagged in red.</p>"
        + table(["column", "value", "test rows", name, "gap to overall"], rows)
    )


def calibration(
    truth: np.ndarray, probabilities: np.ndarray | None, classes: np.ndarray | None
) -> str:
    """Accuracy against confidence in ten bins, as a plot.

    Args:
        truth: the test labels ``(N,)``.
        probabilities: class probabilities ``(N, classes)``, or None.
        classes: the class labels in the order of the probabilities' columns, or None.

    Returns:
        An HTML fragment.
    """
    if probabilities is None or classes is None:
        return "<p>This model gives no probabilities, so its calibration cannot be shown.</p>"
    confidence = probabilities.max(1)
    correct = classes[probabilities.argmax(1)] == truth
    edges = np.linspace(0, 1, 11)
    bins = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
    used = [b for b in range(10) if (bins == b).any()]
    said = np.array([confidence[bins == b].mean() for b in used])
    right = np.array([correct[bins == b].mean() for b in used])
    counts = np.array([(bins == b).sum() for b in used])
    error = float(np.sum(counts * np.abs(said - right)) / len(truth))
    figure = new_figure(4.5, 4)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], "--", color="gray", label="perfectly calibrated")
    axes.plot(said, right, "o-", label="this model")
    axes.set_xlabel("confidence the model stated")
    axes.set_ylabel("share that was right")
    axes.legend()
    return (
        png(figure)
        + f"<p>Expected calibration error: <b>{error:.3f}</b> (0 is perfect: when the model says "
        f"90% sure it is right 90% of the time).</p>"
    )


def errors(
    x: Any,
    truth: np.ndarray,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    modality: str,
) -> str:
    """The test rows the model gets wrong, surest first (images drawn, other rows listed).

    Args:
        x: the test inputs.
        truth: the test labels ``(N,)``.
        predicted: the predictions ``(N,)``.
        probabilities: class probabilities ``(N, classes)``, or None.
        modality: ``"table"``, ``"image"``, ``"text"`` or ``"array"``.

    Returns:
        An HTML fragment.
    """
    wrong = (
        np.flatnonzero(truth != predicted)
        if truth.dtype.kind in "OUS"
        else np.argsort(-np.abs(truth.astype(float) - predicted.astype(float)))[:10]
    )
    if probabilities is not None and len(wrong):
        wrong = wrong[np.argsort(-probabilities[wrong].max(1))]
    wrong = wrong[:10]
    if not len(wrong):
        return "<p>The model made no error on the test set.</p>"
    sure = [f"{probabilities[i].max():.0%}" if probabilities is not None else "" for i in wrong]
    if modality == "image":
        figure = new_figure(1.6 * len(wrong), 2.0)
        for k, i in enumerate(wrong):
            axes = figure.add_subplot(1, len(wrong), k + 1)
            image = np.asarray(x[i], dtype=np.float32)
            axes.imshow(image[0] if image.ndim == 3 and image.shape[0] == 1 else image, cmap="gray")
            axes.set_title(f"{truth[i]}→{predicted[i]}", fontsize=9)
            axes.axis("off")
        return png(figure) + "<p class=note>Titles read true → predicted.</p>"

    def describe(i: int) -> str:
        if hasattr(x, "iloc"):  # a table row: its first 8 fields
            return ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in list(x.iloc[i].items())[:8]
            )
        return str(x[i])[:200]

    shown = [escape(describe(i)) for i in wrong]
    return table(
        ["input", "true", "predicted", "confidence"],
        [[s, escape(truth[i]), escape(predicted[i]), c] for s, i, c in zip(shown, wrong, sure)],
    )
