"""The project report: one self-contained HTML page a business owner can read.

:func:`write` turns a project's run directory into ``report/report.html``: the goal and the verdict,
the data and the EDA highlights, the advisor's comparison, learning curves, metrics with bootstrap
confidence intervals, the confusion matrix and per-class errors, metrics by slice with large gaps
flagged, calibration, the worst errors, a model card and what is needed to reproduce the run.
Plots are embedded as PNG; the page loads no external file, so it opens offline and can be mailed.
"""

from __future__ import annotations

import html
import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.pages import html_table, png_tag
from lamina.train.plot import new_figure

__all__ = ["SECTIONS", "bootstrap", "write"]

SECTIONS = (
    "verdict",
    "data",
    "advisor",
    "learning",
    "metrics",
    "confusion",
    "slices",
    "calibration",
    "errors",
    "card",
    "reproducibility",
)
GAP = 0.05  # a slice whose metric differs from the whole test set by more than this (and its noise) is flagged
_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.5}h1{margin-bottom:0}h2{border-bottom:2px solid #eee;padding-bottom:.2em;margin-top:2em}
.lead{color:#555}.verdict{font-size:1.3em;padding:.8em 1em;border-radius:8px}.met{background:#e6f4ea;
border-left:6px solid #1e8e3e}.not{background:#fce8e6;border-left:6px solid #d93025}table{border-collapse:collapse;
margin:.6em 0;font-size:.92em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left}th{background:#f6f6f6}
.flag{color:#d93025;font-weight:600}.note{color:#666;font-size:.9em}img{max-width:100%}
.explain{background:#f8f9fa;padding:.5em .8em;border-radius:6px}"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table; headers all empty: no header row (a table of name/value pairs)."""
    head = [[_e(h) for h in headers]] if any(headers) else []
    return html_table(head + [[str(cell) for cell in row] for row in rows], header=bool(head))


def _png(figure: Any) -> str:
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


def _metrics(
    task: str, kpi: str = "accuracy", positive: Any = None, classes: int | None = None
) -> dict[str, Any]:
    """``{name shown: metric(truth, predicted)}`` from ``lamina.kpi``: the usual ones and the project's KPI."""
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


def _section(key: str, title: str, explain: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2><p class="explain">{_e(explain)}</p>{body}</section>'


# ---------------------------------------------------------------- sections
def _verdict(project: Any, verdict: dict[str, Any]) -> str:
    met, kpi = verdict["met"], verdict.get("kpi_label") or verdict["kpi"]
    text = (
        f"The goal is met: {kpi} reached {verdict['value']:.3f} against the target of "
        f"{verdict['threshold']}."
        if met
        else f"The goal is not met yet: {kpi} reached "
        f"{verdict['value']:.3f}, short of the target of {verdict['threshold']}."
    )
    latency = (
        ""
        if verdict.get("latency_met") is None
        else (
            f"<p>Each prediction takes {verdict['latency_ms']:.3f} ms, "
            f"{'within' if verdict['latency_met'] else '<span class=flag>over</span>'} the limit of "
            f"{_e(project.constraints.get('max_latency_ms'))} ms.</p>"
        )
    )
    return (
        f"<p><b>Goal:</b> {_e(project.goal or '(not stated)')}</p>"
        f'<div class="verdict {"met" if met else "not"}">{_e(text)}</div>'
        f'<p class="note">Measured on {_e(verdict.get("test_rows", ""))} test rows the model never saw while '
        f"training. Model: {_e(verdict['model'])}.</p>{latency}"
    )


def _data(
    data: dict[str, Any], plan: dict[str, Any], eda: dict[str, Any], eda_page: Path | None
) -> str:
    rows = [
        f"<li><b>{_e(f['level'])}</b>: {_e(f['message'])}</li>"
        for f in plan.get("findings", [])
        if f["level"] != "ok"
    ] or ["<li>No warning about the data's size, labels or quality.</li>"]
    highlights = [f"<li>{_e(text)}</li>" for text in eda.get("findings", [])[:10]]
    link = (
        f'<p>Full data profile: <a href="../eda/{_e(eda_page.name)}">{_e(eda_page.name)}</a></p>'
        if eda_page
        else ""
    )
    balance = eda.get("class_balance") or (eda.get("target") or {}).get("class_balance")
    classes = (
        ""
        if not balance
        else _table(["class", "rows"], [[_e(k), f"{v:,}"] for k, v in balance.items()])
    )
    return (
        f"<p>{data['rows']:,} rows from {_e(data['source'])} ({_e(data['modality'])}); the model predicts "
        f"<b>{_e(data.get('target'))}</b>.</p>{classes}<h3>Viability</h3><ul>{''.join(rows)}</ul>"
        + (f"<h3>Highlights</h3><ul>{''.join(highlights)}</ul>" if highlights else "")
        + link
    )


def _advisor(advice: dict[str, Any]) -> str:
    rows = [
        [
            _e(r["candidate"]) + (" <b>(chosen)</b>" if r["candidate"] == advice["chosen"] else ""),
            _e(r["family"]),
            f"{r['value']:.4f}",
            "" if r["cv_mean"] is None else f"{r['cv_mean']:.4f} ± {r['cv_sd']:.4f}",
            f"{r['fit_seconds']:.1f}",
            f"{r['latency_ms']:.4f}",
            f"{r['size_bytes'] / 1024:,.0f} KiB",
            _e(r["interpretability"]),
        ]
        for r in advice["rows"]
    ]
    return (
        _table(
            [
                "candidate",
                "kind",
                advice.get("definition") or advice["metric"],
                "cross-validated (10 folds)",
                "training time (s)",
                "prediction time (ms per row)",
                "size",
                "interpretability",
            ],
            rows,
        )
        + f"<p><b>Recommendation:</b> {_e(advice['recommendation'])}</p><p>{_e(advice['reason'])}</p>"
    )


def _learning(history: dict[str, list[float]] | None, model: str) -> str:
    if not history or not history.get("loss"):
        return f"<p>{_e(model)} is not trained in epochs (a classical model), so there are no learning curves.</p>"
    from lamina.train.plot import plot_history

    names = [n for n in history if not n.startswith("val_") and n != "lr"]
    return _png(plot_history(history, metrics=names[:2]))


def _metric_rows(
    measures: dict[str, Any], truth: np.ndarray, predicted: np.ndarray
) -> list[list[str]]:
    return [
        [_e(name), f"{v:.4f}", f"{low:.4f} – {high:.4f}"]
        for name, fn in measures.items()
        for v, low, high in [bootstrap(fn, truth, predicted)]
    ]


def _confusion(truth: np.ndarray, predicted: np.ndarray) -> str:
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
                _e(label),
                f"{support:,}",
                f"{recall:.3f}",
                f"{hits / max(called, 1):.3f}",
                _e(labels[int(wrong.argmax())]) if support - hits else "–",
            ]
        )
    return _png(figure) + _table(
        [
            "class",
            "test rows",
            "found (recall)",
            "right when said (precision)",
            "most often mistaken for",
        ],
        rows,
    )


def _slices(
    columns: Sequence[str],
    frame: Any,
    measures: dict[str, Any],
    truth: np.ndarray,
    predicted: np.ndarray,
) -> str:
    if not columns:
        return "<p>No slice columns were chosen (set <code>report: {slices: [column, ...]}</code> in lamina.yaml).</p>"
    if frame is None or not hasattr(frame, "columns"):
        return "<p>Slices need a table; this data set has none.</p>"
    name, metric = next(iter(measures.items()))
    overall = metric(truth, predicted)
    rows = []
    for column in columns:
        if column not in frame.columns:
            rows.append([_e(column), "(not a column)", "", "", ""])
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
                    _e(column),
                    _e(value),
                    f"{rows_in.sum():,}",
                    f"{score:.4f} ({low:.3f} – {high:.3f})",
                    f'<span class="flag">{gap:+.4f}</span>' if flagged else f"{gap:+.4f}",
                ]
            )
    return (
        f"<p>{_e(name)} on the whole test set: {overall:.4f}. Gaps larger than {GAP} whose interval excludes "
        f"the overall value are flagged in red.</p>"
        + _table(["column", "value", "test rows", name, "gap to overall"], rows)
    )


def _calibration(
    truth: np.ndarray, probabilities: np.ndarray | None, classes: np.ndarray | None
) -> str:
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
        _png(figure)
        + f"<p>Expected calibration error: <b>{error:.3f}</b> (0 is perfect: when the model says "
        f"90% sure it is right 90% of the time).</p>"
    )


def _errors(
    x: Any,
    truth: np.ndarray,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    modality: str,
) -> str:
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
        return _png(figure) + "<p class=note>Titles read true → predicted.</p>"

    def describe(i: int) -> str:
        if hasattr(x, "iloc"):  # a table row: its first 8 fields
            return ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in list(x.iloc[i].items())[:8]
            )
        return str(x[i])[:200]

    shown = [_e(describe(i)) for i in wrong]
    return _table(
        ["input", "true", "predicted", "confidence"],
        [[s, _e(truth[i]), _e(predicted[i]), c] for s, i, c in zip(shown, wrong, sure)],
    )


def _describe_model(model: Any, trained: dict[str, Any]) -> str:
    """The chosen model in words: its kind, its size and how it was trained."""
    if model.family == "deep":
        count = (
            sum(p.numel() for p in model.model.parameters())
            if hasattr(model.model, "parameters")
            else 0
        )
        kind = f"a lamina neural network with {count:,} parameters"
    else:
        last = getattr(model.model, "steps", [("", model.model)])[-1][
            1
        ]  # a pipeline's final estimator
        kind = f"a classical scikit-learn model ({type(last).__name__})"
    return f"{model.name}: {kind}; {trained.get('note', '')}".rstrip("; ")


def _card(
    project: Any,
    data: dict[str, Any],
    verdict: dict[str, Any],
    plan: dict[str, Any],
    flagged: bool,
    model: Any,
    trained: dict[str, Any],
) -> str:
    # The plan's capacity finding is about the default network: a limit only when the network was chosen.
    limits = [
        f["message"]
        for f in plan.get("findings", [])
        if f["level"] != "ok" and (f["topic"] != "capacity" or model.family == "deep")
    ]
    if flagged:
        limits.append(
            "Quality differs between groups (see the slices above): check it is acceptable before use."
        )
    limits.append(
        f"Trained on {data['source']}; data unlike it (other times, places or sources) may be "
        "handled worse. Watch the drift monitor after deployment."
    )
    rows = [
        ["Intended use", _e(project.goal or "(not stated)")],
        ["Model", _e(_describe_model(model, trained))],
        ["Data used", f"{data['rows']:,} rows from {_e(data['source'])}"],
        ["Quality", _e(verdict["sentence"])],
        ["Limits", "<br>".join(_e(text) for text in limits)],
    ]
    return _table(["", ""], rows)


def _reproducibility(project: Any, data: dict[str, Any], hashes: dict[str, str]) -> str:
    import sklearn
    import torch

    import lamina

    versions = {
        "lamina": lamina.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    settings = json.dumps(project.settings(), indent=2, default=str)
    return (
        _table(["package", "version"], [[_e(k), _e(v)] for k, v in versions.items()])
        + f"<p>Data fingerprint (SHA-256 of the content): <code>{_e(data.get('fingerprint', ''))}</code></p>"
        + _table(
            ["stage", "input hash"],
            [[_e(k), f"<code>{_e(v[:16])}…</code>"] for k, v in hashes.items()],
        )
        + f"<p>Project file as run:</p><pre>{_e(settings)}</pre>"
        + "<p class=note>Run <code>lamina run</code> in the project folder to repeat it: unchanged stages "
        "are skipped, changed inputs redo exactly the stages they feed.</p>"
    )


def write(context: Any) -> Path:
    """Write ``<run_dir>/report/report.html`` for a project run (``context``: a ``StageContext``)."""
    from lamina.project.fitted import FittedModel
    from lamina.project.project import split_dataset

    project, run = context.project, context.project.run_path
    verdict = dict(
        context.result("evaluate")["verdict"], test_rows=context.result("evaluate")["test_rows"]
    )
    plan, advice, data, eda = (context.result(name) for name in ("plan", "advise", "data", "eda"))
    with np.load(run / "evaluate" / "predictions.npz", allow_pickle=False) as saved:
        truth, predicted, keep = saved["truth"], saved["predicted"], saved["row"]
        probabilities, classes = (
            saved[key] if key in saved.files else None for key in ("probabilities", "classes")
        )
    model = FittedModel.load(run / "train" / "model")
    history = getattr(getattr(model.model, "history_", None), "history", None)
    _, test = split_dataset(context, prepared=False)
    x = (
        test.x.iloc[keep].reset_index(drop=True)
        if hasattr(test.x, "iloc")
        else [test.x[i] for i in keep]
        if isinstance(test.x, list)
        else test.x[keep]
    )
    task = model.prep["task"]
    pages = sorted((run / "eda").glob("*.html"))
    classes_count = None if task == "regression" else len(model.prep.get("classes") or [])
    measures = _metrics(task, project.kpi, verdict.get("positive_class"), classes_count)
    slices_html = _slices(
        (getattr(project, "report", None) or {}).get("slices", []), x, measures, truth, predicted
    )
    body = {
        "verdict": (
            "Goal and verdict",
            "Did the model reach the business target?",
            _verdict(project, verdict),
        ),
        "data": (
            "The data",
            "What the model learned from, and what to watch in it.",
            _data(data, plan, eda, pages[0] if pages else None),
        ),
        "advisor": (
            "Deep learning or classical?",
            "Every candidate was trained on the same rows and scored on the "
            "same test rows; the simplest model that is as good wins.",
            _advisor(advice),
        ),
        "learning": (
            "Learning curves",
            "How the error fell while training; a gap between the training and "
            "validation curves means memorising rather than learning.",
            _learning(history, model.name),
        ),
        "metrics": (
            "Quality, with its uncertainty",
            "Each number comes with a 95% range: another test set of the "
            "same size would most likely score within it.",
            _table(["metric", "value", "95% interval"], _metric_rows(measures, truth, predicted)),
        ),
        "confusion": (
            "Which mistakes it makes",
            "Rows are the true answers, columns what the model said.",
            _confusion(truth, predicted)
            if task != "regression"
            else "<p>(a regression: see the errors below)</p>",
        ),
        "slices": (
            "Quality by group",
            "The same quality measured on groups of rows, to spot groups the model serves worse.",
            slices_html,
        ),
        "calibration": (
            "Can its confidence be trusted?",
            "Whether a stated 80% confidence is right 80% of the time.",
            _calibration(truth, probabilities, classes),
        ),
        "errors": (
            "Its worst mistakes",
            "The test cases the model got wrong while being most sure.",
            _errors(x, truth, predicted, probabilities, data["modality"]),
        ),
        "card": (
            "Model card",
            "What the model is for, what it was trained on, and its known limits.",
            _card(
                project,
                data,
                verdict,
                plan,
                'class="flag"' in slices_html,
                model,
                context.result("train"),
            ),
        ),
        "reproducibility": (
            "Reproducing this result",
            "Everything needed to run it again and get the same answer.",
            _reproducibility(
                project,
                data,
                {
                    name: json.loads((run / name / "stage.json").read_text())["input_hash"]
                    for name in ("plan", "data", "eda", "prepare", "advise", "train", "evaluate")
                    if (run / name / "stage.json").is_file()
                },
            ),
        ),
    }
    sections = "".join(_section(key, *body[key]) for key in SECTIONS)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(project.name)} report</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
        f'<h1>{_e(project.name)}</h1><p class="lead">Project report</p>{sections}</body></html>'
    )
    path = context.folder("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path  # type: ignore[no-any-return]
