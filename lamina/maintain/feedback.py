"""Label feedback: record the true labels of logged predictions and measure the live performance.

``record`` appends labels to ``labels.jsonl`` beside the prediction log (a later label for an id
wins); ``performance`` joins them with the log by request id (classification: accuracy, F1
(``lamina.kpi``), per-class recall, confusion counts; regression: MAE, RMSE, R2; the main metric per
window and per model version). ``degraded``: the main metric (the project's KPI, else accuracy or
RMSE) is worse than the training-time test value by more than ``TOLERANCE`` = 0.05 (absolute for
scores such as accuracy, F1 and R2; relative for errors such as RMSE and MAE, whose scale is the
target's), or misses the project's threshold. A retraining trigger reads
``performance(...).degraded``, ``.value`` and ``.metrics``.

>>> import tempfile
>>> from lamina.predlog import PredictionLog
>>> log = PredictionLog(tempfile.mkdtemp() + "/predictions.jsonl")
>>> log.write([{"request_id": i, "outputs": {"predictions": [p]}}
...            for i, p in [("a", "cat"), ("b", "dog")]])
>>> _ = record([{"request_id": "a", "label": "cat"}, {"request_id": "b", "label": "cat"}], log.path)
>>> report = performance(log.path, reference=0.9)
>>> report.metric, report.value, report.labelled, report.degraded
('accuracy', 0.5, 2, True)
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.reference import category_key  # a class as text: 1, 1.0 and "1" are the same class
from lamina.deploy.predlog import jsonable, read
from lamina.maintain.feedback_report import TOLERANCE, PerformanceReport
from lamina.project.kpi import get, score

__all__ = ["TOLERANCE", "PerformanceReport", "labels_path", "performance", "record"]


def labels_path(log_path: str | Path) -> Path:
    """Where the labels of the prediction log at ``log_path`` are kept: ``labels.jsonl`` in the same
    folder."""
    return Path(log_path).with_name("labels.jsonl")


def record(
    labels: Any, log_path: str | Path, *, id_column: str = "request_id", label_column: str = "label"
) -> Path:
    """Append labels of logged predictions to ``labels.jsonl`` beside the log, durably.

    Args:
        labels: a CSV or JSON-lines file, a DataFrame, or a list of ``{"request_id": ..., "label":
            ...}`` dicts.
        log_path: the prediction log (``lamina.predlog.PredictionLog``'s file).
        id_column: the column holding the request ids (``X-Request-Id`` of the served replies).
        label_column: the column holding the true labels (a list for a request of several rows).

    Returns:
        The labels file; ids not in the log are kept (their predictions may come later) and named in
        a warning.
    """
    rows = _label_rows(labels, id_column, label_column)
    if not Path(log_path).is_file():
        raise DataError(
            message(
                "No prediction log there.",
                str(log_path),
                "the log lamina serve writes",
                "Pass the log file (serve --log PATH), or the project whose model is served.",
            )
        )
    logged = {str(r.get("request_id")) for r in read(log_path)}
    unknown = [i for i, _ in rows if i not in logged]
    if unknown:
        warnings.warn(
            f"{len(unknown)} of {len(rows)} labels name request ids not in the log, e.g. "
            f"{unknown[:5]}; kept, they count once their predictions are logged.",
            stacklevel=2,
        )
    now, path = time.time(), labels_path(log_path)
    data = "".join(
        json.dumps({"request_id": i, "label": label, "received_at": now}, separators=(",", ":"))
        + "\n"
        for i, label in rows
    ).encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size  # a line torn by a crash is closed first
        data = b"\n" * bool(size and os.pread(fd, 1, size - 1) != b"\n") + data
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _label_rows(labels: Any, id_column: str, label_column: str) -> list[tuple[str, Any]]:
    """(request id, label or None) pairs from a file, a DataFrame or a list of dicts."""
    if isinstance(labels, (str, Path)):
        path = Path(labels)
        if not path.is_file() or path.stat().st_size == 0:
            raise DataError(
                message(
                    "The labels file is missing or empty.",
                    str(path),
                    f"a CSV or JSON-lines file with {id_column!r} and {label_column!r}",
                    "Check the path and the file.",
                )
            )
        if path.suffix in (".jsonl", ".ndjson", ".json"):
            rows = list(read(path, rotated=False))  # lines that are not JSON objects are skipped
        else:
            from lamina.core.optional import require_pandas

            rows = require_pandas().read_csv(path, dtype={id_column: str}).to_dict(orient="records")
    elif hasattr(labels, "to_dict") and hasattr(labels, "columns"):
        rows = labels.to_dict(orient="records")
    else:
        rows = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    if not rows or not all(isinstance(row, dict) for row in rows):
        raise DataError(
            message(
                "No label rows.",
                f"{type(labels).__name__} with {len(rows)} rows",
                "a CSV/JSON-lines path, a DataFrame or a list of dicts, not empty",
                f"Pass e.g. [{{{id_column!r}: ..., {label_column!r}: ...}}].",
            )
        )
    absent = [c for c in (id_column, label_column) if any(c not in row for row in rows)]
    if absent:
        found = list(dict.fromkeys(key for row in rows for key in row))
        raise DataError(
            message(
                f"The labels lack the column(s) {absent}.",
                f"columns {found}",
                f"an id column {id_column!r} and a label column {label_column!r}",
                "Rename them, or pass id_column=/label_column= (--id-column, --label-column).",
            )
        )
    empty = [
        row[id_column]
        for row in rows
        if row[label_column] is None or row[label_column] != row[label_column]
    ]
    if empty:  # None or NaN
        raise DataError(
            message(
                "Rows without a label.",
                f"ids {empty[:5]} ({len(empty)} rows)",
                "a label in every row",
                "Drop the rows whose label is not known yet.",
            )
        )
    return [(str(row[id_column]), jsonable(row[label_column])) for row in rows]


def performance(
    log_path: str | Path,
    *,
    task: str | None = None,
    reference: Any = None,
    window: int | None = None,
    tolerance: float = TOLERANCE,
) -> PerformanceReport:
    """Join the prediction log with its labels by request id and measure the live performance.

    Args:
        log_path: the prediction log (its rotated files are read too); the labels lie beside it
            (:func:`record`).
        task: ``"classification"`` or ``"regression"``; default: the reference's, else inferred
            (texts, whole numbers or score vectors mean classification).
        reference: a number (accuracy or RMSE), a dict or file like ``runs/evaluate/verdict.json``
            (``kpi``, ``value``, ``threshold``, ``task``), or a ``lamina.Project`` or its path
            (verdict, KPI, threshold).
        window: labelled predictions per trend point (default: a tenth of them, at least 10).
        tolerance: how much worse than the reference the live metric may be (module docstring).

    Returns:
        A :class:`PerformanceReport`.
    """
    ref = _reference(reference)
    labels = {
        str(row.get("request_id")): row.get("label")
        for row in read(labels_path(log_path), rotated=False)
    }
    joined: list[
        tuple[Any, Any, Any, str]
    ] = []  # per labelled row: truth, prediction, probabilities, version
    seen: set[str] = set()
    unlabelled = mismatched = vectors = 0
    for entry in read(log_path):
        rid, (values, probabilities, vector) = (
            str(entry.get("request_id")),
            _outputs(entry.get("outputs")),
        )
        vectors |= vector  # score vectors per row: a classifier's raw outputs
        if rid not in labels:
            unlabelled += len(values)
            continue
        if rid in seen:
            continue
        seen.add(rid)
        label = labels[rid]
        given = label if isinstance(label, list) else [label]  # a request of N rows takes N labels
        if len(given) != len(values):
            mismatched += 1
            continue
        version = str(entry.get("version"))
        joined += [(t, v, ps, version) for t, v, ps in zip(given, values, probabilities)]
    truth, predicted, scores, versions = (
        (list(part) for part in zip(*joined)) if joined else ([], [], [], [])
    )
    findings = []
    if set(labels) - seen:
        findings.append(f"{len(set(labels) - seen)} labels name request ids not in the log (yet).")
    if mismatched:
        findings.append(
            f"{mismatched} labelled requests have a label count unlike their rows; skipped."
        )
    task = task or ref.get("task") or _infer(truth, predicted, vectors)
    if task not in ("classification", "regression"):
        raise ConfigError(
            message("Unknown task.", repr(task), "'classification' or 'regression'", "Fix task=.")
        )
    metric = ref.get("kpi") or ("accuracy" if task == "classification" else "rmse")
    report = PerformanceReport(
        task, metric, None, {}, len(truth), unlabelled, False, [], ref, tolerance, findings=findings
    )
    if not truth:
        return report
    convert = category_key if task == "classification" else float
    y, p = (
        np.asarray([convert(v) for v in part], dtype=object if convert is category_key else float)
        for part in (truth, predicted)
    )
    positive = ref.get("positive_class")  # binary f1/precision/recall: of this class (lamina.kpi)
    report.metrics = _metrics(task, y, p, positive)
    matrix = np.asarray(scores, dtype=float) if all(s is not None for s in scores) else None
    report.value = report.metrics[metric] = _metric(metric, y, p, matrix, report.findings, positive)
    if task == "classification":
        from sklearn.metrics import confusion_matrix

        names = sorted(set(y) | set(p))
        counts = confusion_matrix(y, p, labels=names)
        report.confusion = {"labels": names, "counts": counts.tolist()}
        report.per_class = {
            k: {"recall": float(counts[i, i] / max(1, n)), "support": int(n)}
            for i, (k, n) in enumerate(zip(names, counts.sum(1)))
        }
    size = window or max(10, math.ceil(len(y) / 10))
    report.trend = [
        {
            "start": s,
            "count": len(y[s : s + size]),
            "value": _metric(metric, y[s : s + size], p[s : s + size], positive=positive),
        }
        for s in range(0, len(y), size)
    ]
    by_version = {v: np.flatnonzero(np.asarray(versions) == v) for v in dict.fromkeys(versions)}
    report.versions = {
        v: {"count": len(i), "value": _metric(metric, y[i], p[i], positive=positive)}
        for v, i in by_version.items()
    }
    if len(y) < 100:
        report.findings.append(
            f"Only {len(y)} labelled predictions: the live metric is still noisy."
        )
    report.reasons = _reasons(metric, report.value, ref, tolerance)
    report.degraded = bool(report.reasons)
    return report


def _outputs(outputs: Any) -> tuple[list[Any], list[Any], bool]:
    """(per-row predictions, per-row probabilities or Nones, whether rows held score vectors) of
    ``outputs``."""
    if not isinstance(outputs, dict) or not outputs:
        return [], [], False
    values = outputs.get("predictions", outputs.get("output", next(iter(outputs.values()))))
    values = values if isinstance(values, list) else [values]
    # raw scores: the class is the largest
    vector = any(isinstance(v, list) and len(v) > 1 for v in values)
    values = [
        int(np.argmax(v)) if vector else v[0] if isinstance(v, list) and v else v for v in values
    ]
    found = outputs.get("probabilities")
    return (
        values,
        found if isinstance(found, list) and len(found) == len(values) else [None] * len(values),
        vector,
    )


def _infer(truth: list[Any], predicted: list[Any], vectors: int) -> str:
    """Classification for texts, booleans, whole numbers or score vectors; regression otherwise."""
    whole = [
        not isinstance(v, (int, float)) or isinstance(v, bool) or float(v).is_integer()
        for v in truth + predicted
    ]
    return "classification" if vectors or all(whole) else "regression"


def _metrics(
    task: str, y: np.ndarray, p: np.ndarray, positive: Any = None
) -> dict[str, float | None]:
    if task == "classification":
        return {
            "accuracy": score("accuracy", y, p),
            "f1": score("f1", y, p, positive_class=positive),
        }
    return {
        "mae": score("mae", y, p),
        "rmse": score("rmse", y, p),
        "r2": score("r2", y, p) if len(y) > 1 and np.ptp(y) > 0 else None,
    }


def _metric(
    name: str,
    y: np.ndarray,
    p: np.ndarray,
    probabilities: np.ndarray | None = None,
    findings: list[str] | None = None,
    positive: Any = None,
) -> float | None:
    """The metric ``name`` (``lamina.kpi``) of ``p`` against ``y``; None (with a finding) when it
    cannot be had."""
    try:
        value = score(name, y, p, probabilities, positive_class=positive)
    except (ValueError, IndexError) as error:
        (findings if findings is not None else []).append(
            f"{name} not measured: {str(error).splitlines()[0]}"
        )
        return None
    return value if math.isfinite(value) else None


def _reasons(metric: str, value: float | None, ref: dict[str, Any], tolerance: float) -> list[str]:
    """Why the live value counts as degraded (empty: it does not)."""
    if value is None:
        return []
    lower, base, threshold = not get(metric).higher, ref.get("value"), ref.get("threshold")
    worse = base is not None and (
        value > base * (1 + tolerance) if lower else value < base - tolerance
    )
    missed = threshold is not None and (value > threshold if lower else value < threshold)
    reasons = []
    if worse:
        reasons.append(
            f"live {metric} {value:.4f} is worse than the training-time {base} by more than the "
            f"tolerance {tolerance:g}{' (relative)' if lower else ''}"
        )
    if missed:
        reasons.append(f"live {metric} {value:.4f} misses the project's threshold {threshold}")
    return reasons


def _reference(reference: Any) -> dict[str, Any]:
    """``{"kpi", "value", "threshold", "task"}`` (those known) from a number, dict, verdict file or
    project."""
    if reference is None:
        return {}
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return {"value": float(reference)}
    if isinstance(reference, (str, Path)):
        # a project's lamina.yaml or folder, else a verdict.json
        from lamina.project.project import (
            Project,
        )

        path = Path(reference)
        reference = (
            json.loads(path.read_text("utf-8")) if path.suffix == ".json" else Project.load(path)
        )
    if hasattr(reference, "run_path") and hasattr(reference, "kpi"):  # a lamina.Project
        found = _from_runs(reference.run_path)
        reference = {
            **found,
            "kpi": reference.kpi,
            "threshold": reference.threshold,
            "task": reference.task or found["task"],
        }
    if isinstance(reference, dict):
        return {
            k: reference.get(k)
            for k in ("kpi", "value", "threshold", "task", "positive_class")
            if reference.get(k) is not None
        }
    raise ConfigError(
        message(
            "Unknown reference.",
            type(reference).__name__,
            "a number, a dict, a verdict.json or a project",
            "Pass e.g. reference=0.93 or the project folder.",
        )
    )


def for_monitor(model: str | Path, log: str | Path | None = None) -> PerformanceReport | None:
    """What ``lamina monitor`` adds: the performance on ``log`` (default: beside a project's model
    folder ``runs/train/model``, ``runs/serve/predictions.jsonl``) against ``runs/evaluate``; None
    without labels."""
    runs = Path(model).resolve().parent.parent
    path = Path(log) if log else runs / "serve" / "predictions.jsonl"
    return performance(path, reference=_from_runs(runs)) if labels_path(path).is_file() else None


def _from_runs(runs: Path) -> dict[str, Any]:
    """The evaluate verdict (kpi, value, threshold) and the trained model's task in a project's run
    folder."""
    verdict, prep = runs / "evaluate" / "verdict.json", runs / "train" / "model" / "prep.json"
    found = json.loads(verdict.read_text(encoding="utf-8")) if verdict.is_file() else {}
    return {
        **found,
        "task": json.loads(prep.read_text())["prep"].get("task") if prep.is_file() else None,
    }
