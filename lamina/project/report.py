"""The project report: one self-contained HTML page a business owner can read.

:func:`write` turns a project's run directory into ``report/report.html``: the goal and the verdict,
the data and the EDA highlights, the advisor's comparison, learning curves, metrics with bootstrap
confidence intervals, the confusion matrix and per-class errors, metrics by slice with large gaps
flagged, calibration, the worst errors, a model card and what is needed to reproduce the run.
Plots are embedded as PNG; the page loads no external file, so it opens offline and can be mailed.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from lamina.project.report_quality import (
    bootstrap,
    calibration,
    confusion,
    errors,
    escape,
    metric_functions,
    metric_rows,
    png,
    slices,
    table,
)

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
_CSS = """\
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.5}h1{margin-bottom:0}h2{border-bottom:2px solid #eee;
padding-bottom:.2em;margin-top:2em}.lead{color:#555}.verdict{font-size:1.3em;padding:.8em 1em;
border-radius:8px}.met{background:#e6f4ea;border-left:6px solid #1e8e3e}
.not{background:#fce8e6;border-left:6px solid #d93025}table{border-collapse:collapse;
margin:.6em 0;font-size:.92em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left}
th{background:#f6f6f6}.flag{color:#d93025;font-weight:600}.note{color:#666;font-size:.9em}
img{max-width:100%}.explain{background:#f8f9fa;padding:.5em .8em;border-radius:6px}"""


def _section(key: str, title: str, explain: str, body: str) -> str:
    return (
        f'<section id="{key}"><h2>{escape(title)}</h2>'
        f'<p class="explain">{escape(explain)}</p>{body}</section>'
    )


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
            f"{'within' if verdict['latency_met'] else '<span class=flag>over</span>'} "
            "the limit of "
            f"{escape(project.constraints.get('max_latency_ms'))} ms.</p>"
        )
    )
    return (
        f"<p><b>Goal:</b> {escape(project.goal or '(not stated)')}</p>"
        f'<div class="verdict {"met" if met else "not"}">{escape(text)}</div>'
        f'<p class="note">Measured on {escape(verdict.get("test_rows", ""))} test rows '
        f"the model never saw while training. Model: {escape(verdict['model'])}.</p>{latency}"
    )


def _data(
    data: dict[str, Any], plan: dict[str, Any], eda: dict[str, Any], eda_page: Path | None
) -> str:
    rows = [
        f"<li><b>{escape(f['level'])}</b>: {escape(f['message'])}</li>"
        for f in plan.get("findings", [])
        if f["level"] != "ok"
    ] or ["<li>No warning about the data's size, labels or quality.</li>"]
    highlights = [f"<li>{escape(text)}</li>" for text in eda.get("findings", [])[:10]]
    link = (
        f'<p>Full data profile: <a href="../eda/{escape(eda_page.name)}">'
        f"{escape(eda_page.name)}</a></p>"
        if eda_page
        else ""
    )
    balance = eda.get("class_balance") or (eda.get("target") or {}).get("class_balance")
    classes = (
        ""
        if not balance
        else table(["class", "rows"], [[escape(k), f"{v:,}"] for k, v in balance.items()])
    )
    return (
        f"<p>{data['rows']:,} rows from {escape(data['source'])} ({escape(data['modality'])}); "
        f"the model predicts <b>{escape(data.get('target'))}</b>.</p>{classes}"
        f"<h3>Viability</h3><ul>{''.join(rows)}</ul>"
        + (f"<h3>Highlights</h3><ul>{''.join(highlights)}</ul>" if highlights else "")
        + link
    )


def _advisor(advice: dict[str, Any]) -> str:
    rows = [
        [
            escape(r["candidate"])
            + (" <b>(chosen)</b>" if r["candidate"] == advice["chosen"] else ""),
            escape(r["family"]),
            f"{r['value']:.4f}",
            "" if r["cv_mean"] is None else f"{r['cv_mean']:.4f} ± {r['cv_sd']:.4f}",
            f"{r['fit_seconds']:.1f}",
            f"{r['latency_ms']:.4f}",
            f"{r['size_bytes'] / 1024:,.0f} KiB",
            escape(r["interpretability"]),
        ]
        for r in advice["rows"]
    ]
    return (
        table(
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
        + f"<p><b>Recommendation:</b> {escape(advice['recommendation'])}</p>"
        + f"<p>{escape(advice['reason'])}</p>"
    )


def _learning(history: dict[str, list[float]] | None, model: str) -> str:
    if not history or not history.get("loss"):
        return (
            f"<p>{escape(model)} is not trained in epochs (a classical model), "
            "so there are no learning curves.</p>"
        )
    from lamina.train.plot import plot_history

    names = [n for n in history if not n.startswith("val_") and n != "lr"]
    return png(plot_history(history, metrics=names[:2]))


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
        # A pipeline's final estimator.
        last = getattr(model.model, "steps", [("", model.model)])[-1][1]
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
    # The plan's capacity finding is about the default network: a limit only when the network was
    # chosen.
    limits = [
        f["message"]
        for f in plan.get("findings", [])
        if f["level"] != "ok" and (f["topic"] != "capacity" or model.family == "deep")
    ]
    if flagged:
        limits.append(
            "Quality differs between groups (see the slices above): "
            "check it is acceptable before use."
        )
    limits.append(
        f"Trained on {data['source']}; data unlike it (other times, places or sources) may be "
        "handled worse. Watch the drift monitor after deployment."
    )
    rows = [
        ["Intended use", escape(project.goal or "(not stated)")],
        ["Model", escape(_describe_model(model, trained))],
        ["Data used", f"{data['rows']:,} rows from {escape(data['source'])}"],
        ["Quality", escape(verdict["sentence"])],
        ["Limits", "<br>".join(escape(text) for text in limits)],
    ]
    return table(["", ""], rows)


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
        table(["package", "version"], [[escape(k), escape(v)] for k, v in versions.items()])
        + "<p>Data fingerprint (SHA-256 of the content): "
        + f"<code>{escape(data.get('fingerprint', ''))}</code></p>"
        + table(
            ["stage", "input hash"],
            [[escape(k), f"<code>{escape(v[:16])}…</code>"] for k, v in hashes.items()],
        )
        + f"<p>Project file as run:</p><pre>{escape(settings)}</pre>"
        + "<p class=note>Run <code>lamina run</code> in the project folder to repeat it: "
        "unchanged stages are skipped, changed inputs redo exactly the stages they feed.</p>"
    )


def write(context: Any) -> Path:
    """Write ``<run_dir>/report/report.html`` for a project run.

    Args:
        context: the run's ``StageContext``.

    Returns:
        The path of the page.
    """
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
    measures = metric_functions(task, project.kpi, verdict.get("positive_class"), classes_count)
    slices_html = slices(
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
            table(["metric", "value", "95% interval"], metric_rows(measures, truth, predicted)),
        ),
        "confusion": (
            "Which mistakes it makes",
            "Rows are the true answers, columns what the model said.",
            confusion(truth, predicted)
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
            calibration(truth, probabilities, classes),
        ),
        "errors": (
            "Its worst mistakes",
            "The test cases the model got wrong while being most sure.",
            errors(x, truth, predicted, probabilities, data["modality"]),
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
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(project.name)} report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{escape(project.name)}</h1><p class="lead">Project report</p>{sections}</body></html>'
    )
    path = context.folder("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path  # type: ignore[no-any-return]
