"""The built-in project stages: plan, data, eda, prepare, advise, train, evaluate, report.

Each stage reads the project and earlier results through a :class:`lamina.project.StageContext`,
writes its files into ``<run_dir>/<stage>/`` and returns a JSON-able summary. They are registered
in run order when :mod:`lamina.project` is imported; ``register_stage`` replaces one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.project.kpi import describe, get, score
from lamina.project.project import (
    Stage,
    StageContext,
    class_names,
    register_stage,
    split_dataset,
    take_rows,
)

__all__ = ["model_kpi", "named", "split_dataset"]

VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.2


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, default=str))


def _task(context: StageContext) -> str:
    task = context.project.task or context.dataset().task
    if task is None:
        raise DataError(
            message(
                "The project has no target to learn.",
                repr(context.project.data.get("target")),
                "data.target naming the label column",
                "Add data.target to lamina.yaml.",
            )
        )
    return str(task)


def model_kpi(
    kpi: str,
    model: Any,
    y: np.ndarray,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    positive_class: str | None = None,
) -> float:
    """The KPI (``lamina.kpi.score``) of a ``FittedModel``'s predictions against labels ``y``.

    Labels are compared by class name (``prep["class_names"]`` where the data stored ids), so
    ``positive_class`` is a name such as ``">50K"``.
    """
    classes = model.prep.get("classes")
    if classes is None:
        return score(kpi, np.asarray(y, dtype=float), predicted)
    return score(
        kpi,
        named(model, y),
        named(model, predicted),
        probabilities,
        positive_class=positive_class,
        classes=named(model, classes),
    )


def named(model: Any, values: Any) -> np.ndarray:
    """Labels ``values`` as text: the class names the model was trained with.

    The names are ``prep["class_names"]`` where the data stored ids.
    """
    classes = [str(c) for c in model.prep.get("classes") or []]
    names = dict(zip(classes, map(str, model.prep.get("class_names") or classes)))
    return np.array(
        [names.get(str(v), str(v)) for v in np.asarray(values, dtype=object)], dtype=object
    )


# ---------------------------------------------------------------- stages
def _plan(context: StageContext) -> dict[str, Any]:
    from lamina.project.planning import plan

    project = context.project
    constraints = project.constraints
    result = plan(
        context.dataset(),
        goal=project.goal,
        kpi=project.kpi,
        threshold=project.threshold,
        positive_class=context.positive_class(),
        budget_seconds=constraints.get("train_seconds"),
        max_latency_ms=constraints.get("max_latency_ms"),
    )
    folder = context.folder("plan")
    (folder / "plan.md").write_text(result.to_markdown())
    for finding in result.findings:
        context.say(f"  {finding.level:<8} {finding.message}")
    return result.to_dict()  # type: ignore[no-any-return]


def _data(context: StageContext) -> dict[str, Any]:
    dataset = context.dataset()
    folder = context.folder("data")
    summary = dict(dataset.summary(), fingerprint=dataset.fingerprint())
    _write_json(folder / "summary.json", summary)
    context.say(
        f"  {len(dataset)} rows from {dataset.source} "
        f"({dataset.modality}, target {dataset.target!r})"
    )
    return summary  # type: ignore[no-any-return]


def _eda(context: StageContext) -> dict[str, Any]:
    """Profile the data (``lamina.eda``): ``profile.json``, ``eda.html``, monitoring reference."""
    from lamina.data.eda import profile

    found = profile(context.dataset())
    folder = context.folder("eda")
    found.to_json(folder / "profile.json")
    found.to_html(folder / "eda.html")
    _write_json(folder / "reference.json", found.reference())
    for finding in found.findings[:8]:
        context.say(f"  {finding}")
    balance = (found.target or {}).get("balance")
    return {
        "findings": found.findings,
        "class_balance": balance,
        "rows": found.overview["rows"],
        "html": str(folder / "eda.html"),
    }


def _shared_pipeline(frame: Any) -> Any:
    """Steps every candidate gets on a table: datetime parts, then missing values filled.

    The steps are fitted on the training rows only. Scaling and encoding stay with each candidate
    (gradient boosting splits categories natively; the tabular MLP embeds them), so the advisor
    compares models, not preprocessings.
    """
    from lamina.data.prepare import DateTimeFeatures, Impute, Pipeline

    kinds = {column: frame[column].dtype.kind for column in frame.columns}
    steps: list[Any] = [DateTimeFeatures()] if "M" in kinds.values() else []
    numeric = [c for c, kind in kinds.items() if kind in "iuf"]
    categorical = [c for c, kind in kinds.items() if kind not in "iufM"]
    if numeric and frame[numeric].isna().any().any():
        steps.append(Impute("median", add_indicator=True, columns=numeric))
    if categorical and frame[categorical].isna().any().any():
        steps.append(Impute("most_frequent", columns=categorical))
    return Pipeline(steps) if steps else None


def _prepare(context: StageContext) -> dict[str, Any]:
    """Split with leakage checks (the data set's own test split if any); fit the shared pipeline."""
    import shutil

    from lamina.data.prepare import split

    dataset, project = context.dataset(), context.project
    options = dict(project.prepare)
    kind = options.pop("split", "stratified" if _task(context) == "classification" else "random")
    folder = context.folder("prepare")
    given = dataset.x_test is not None
    findings: list[dict[str, Any]] = []
    if given:
        train, test = np.arange(len(dataset)), np.arange(len(dataset.x_test))
    else:
        drawn = split(
            dataset,
            kind,
            test_fraction=float(options.pop("test_fraction", TEST_FRACTION)),
            validation_fraction=0.0,
            seed=project.seed,
            **options,
        )
        train, test, findings = drawn.train, drawn.test, drawn.findings
    np.savez(folder / "split.npz", train=train, test=test)
    for finding in findings:
        context.say(f"  {finding['severity']}: {finding['message']}")
    shutil.rmtree(folder / "pipeline", ignore_errors=True)
    steps: list[str] = []
    if dataset.modality == "table":
        rows = dataset.x if given else take_rows(dataset.x, train)
        pipeline = _shared_pipeline(rows)
        if pipeline is not None:
            pipeline.fit(rows)  # the training rows only
            pipeline.save(folder / "pipeline")
            steps = [type(step).__name__ for step in pipeline.steps]
    context.say(
        f"  {len(train)} training rows, {len(test)} test rows ({'given' if given else kind} split)"
        + (f"; shared preprocessing: {', '.join(steps)}" if steps else "")
    )
    return {
        "given_test": given,
        "kind": "given" if given else kind,
        "train_rows": len(train),
        "test_rows": len(test),
        "seed": project.seed,
        "findings": findings,
        "pipeline": steps,
    }


def _advise(context: StageContext) -> dict[str, Any]:
    from lamina.project.advisor import SCORES, advise

    train, _ = split_dataset(context)
    project = context.project
    budget = float(project.constraints.get("train_seconds") or 120)
    advice = advise(
        train,
        metric=project.kpi if project.kpi in SCORES else None,
        time_budget=budget,
        seed=project.seed,
        keep=True,
        positive_class=context.positive_class(),
    )
    folder = context.folder("advise")
    (folder / "advice.md").write_text(advice.to_markdown())
    context.say(str(advice))
    chosen = _choose(advice.rows, advice.winner, project.model, get(advice.metric).higher)
    advice.fitted[chosen].save(folder / "chosen")
    return dict(advice.to_dict(), chosen=chosen)


def _choose(rows: list[dict[str, Any]], winner: str, setting: str, higher: bool) -> str:
    """The candidate the project's ``model:`` setting picks from the advisor's rows."""
    if setting == "auto":
        return winner
    if setting in ("classical", "deep"):
        pool = [row for row in rows if row["family"] == setting]
        return str(
            max(pool, key=lambda row: row["value"] if higher else -row["value"])["candidate"]
        )
    names = [row["candidate"] for row in rows]
    if setting not in names:
        raise ConfigError(
            message(
                "model: in lamina.yaml names no candidate.",
                repr(setting),
                f"auto, classical, deep or one of {names}",
                "Pick one of those.",
            )
        )
    return setting


def _train(context: StageContext) -> dict[str, Any]:
    """Package the chosen candidate; a classical one is refitted on every training row."""
    from sklearn.base import clone

    from lamina.project.fitted import FittedModel

    fitted = FittedModel.load(context.project.run_path / "advise" / "chosen")
    train, _ = split_dataset(context)
    if (
        fitted.prep.get("classes") is not None
    ):  # the names pages and KPIs show (bundled sets store ids)
        fitted.prep["class_names"] = [
            str(v) for v in class_names(context.dataset(), fitted.prep["classes"])
        ]
    note = (
        "the network trained by the advisor "
        "(early stopping on a held-out tenth of the training rows)"
    )
    if fitted.family == "classical":
        labelled = np.flatnonzero(~missing_labels(train.y))
        x = fitted.transform(take_rows(train.x, labelled))
        y = np.asarray(train.y)[labelled]
        if fitted.prep.get("classes") is not None:  # the advisor trained on class ids 0..K-1
            classes = np.asarray(fitted.prep["classes"], dtype=object)
            y = np.searchsorted(classes.astype(str), y.astype(str))
        fitted.model = clone(fitted.model).fit(x, y)
        note = f"refitted on all {len(labelled):,} labelled training rows"
    if (context.project.run_path / "prepare" / "pipeline").is_dir():
        from lamina.data.prepare import Pipeline

        fitted.pipeline = Pipeline.load(context.project.run_path / "prepare" / "pipeline")
    reference = context.project.run_path / "eda" / "reference.json"
    fitted.reference = json.loads(reference.read_text()) if reference.is_file() else None
    fitted.save(context.folder("train") / "model")
    context.say(f"  {fitted.name}: {note}")
    return {"candidate": fitted.name, "family": fitted.family, "note": note}


def missing_labels(y: Any) -> np.ndarray:
    """Which labels are missing (None, NaN, NaT or ``pd.NA``).

    Args:
        y: labels ``(N,)`` of any dtype.

    Returns:
        A boolean mask ``(N,)``, True where the label is missing.
    """
    import pandas as pd

    return np.asarray(pd.isna(pd.Series(np.asarray(y, dtype=object))))


def _evaluate(context: StageContext) -> dict[str, Any]:
    """Load the saved model, predict the test split and judge the KPI against the threshold."""
    import time

    from lamina.project.fitted import FittedModel

    project = context.project
    model = FittedModel.load(project.run_path / "train" / "model")
    # Raw rows: the saved model applies its own preprocessing.
    _, test = split_dataset(context, prepared=False)
    keep = np.flatnonzero(~missing_labels(test.y))
    x, y = take_rows(test.x, keep), np.asarray(test.y, dtype=object)[keep]
    started = time.perf_counter()
    predicted = model.predict(x)
    latency = 1e3 * (time.perf_counter() - started) / max(1, len(keep))
    probabilities = model.predict_proba(x)
    folder = context.folder("evaluate")
    regression = model.prep["task"] == "regression"

    def shown(values: np.ndarray) -> np.ndarray:
        return values.astype(float) if regression else named(model, values).astype(str)

    saved: dict[str, Any] = {"row": keep, "truth": shown(y), "predicted": shown(predicted)}
    if probabilities is not None:
        # (N, classes) in prep["classes"] order.
        saved["probabilities"] = probabilities.astype(np.float32)
        saved["classes"] = named(model, model.prep["classes"]).astype(str)
    # The report's errors, calibration and slices.
    np.savez_compressed(folder / "predictions.npz", **saved)
    positive = context.positive_class()
    value = model_kpi(project.kpi, model, y, predicted, probabilities, positive)
    classes = None if regression else len(model.prep["classes"])
    label = describe(project.kpi, positive, classes)
    higher = get(project.kpi).higher
    met = value >= project.threshold if higher else value <= project.threshold
    sign = (">=" if met else "<") if higher else ("<=" if met else ">")
    sentence = (
        f"{label} {value:.4f} {sign} {project.threshold} on {len(keep):,} test rows: "
        f"{'MET' if met else 'NOT MET'} ({model.name})"
    )
    limit = project.constraints.get("max_latency_ms")
    verdict = {
        "kpi": project.kpi,
        "kpi_label": label,
        "positive_class": positive,
        "value": value,
        "threshold": project.threshold,
        "met": bool(met),
        "model": model.name,
        "sentence": sentence,
        "latency_ms": latency,
        "latency_met": None if limit is None else bool(latency <= float(limit)),
    }
    _write_json(folder / "verdict.json", verdict)
    context.say(f"  {sentence}")
    return {"verdict": verdict, "test_rows": len(keep)}


def _report(context: StageContext) -> dict[str, Any]:
    """A markdown summary: goal, verdict, plan findings, data and the advisor's table."""
    project = context.project
    verdict = context.result("evaluate")["verdict"]
    plan, advice, data = context.result("plan"), context.result("advise"), context.result("data")
    lines = [
        f"# {project.name}",
        "",
        f"**Goal**: {project.goal or '(not stated)'}",
        "",
        f"**Verdict**: {verdict['sentence']}.",
        "",
    ]
    if verdict["latency_met"] is not None:
        lines += [
            f"Prediction latency {verdict['latency_ms']:.3f} ms per row (limit "
            f"{project.constraints['max_latency_ms']} ms): "
            f"{'met' if verdict['latency_met'] else 'NOT met'}.",
            "",
        ]
    lines += [
        "## Data",
        "",
        f"{data['rows']:,} rows from {data['source']} ({data['modality']}); "
        f"target {data.get('target')!r}.",
        "",
        "## Viability",
        "",
    ]
    lines += [f"- **{f['level']}** {f['message']} {f['reason']}" for f in plan["findings"]]
    lines += [
        "",
        "## Deep learning or classical?",
        "",
        (project.run_path / "advise" / "advice.md").read_text(),
        "",
        f"Chosen for training (model: {project.model}): **{advice['chosen']}**.",
        "",
    ]
    path = context.folder("report") / "report.md"
    path.write_text("\n".join(lines))
    from lamina.project.report import write

    page = write(context)
    context.say(f"  {page}")
    return {"path": str(page), "markdown": str(path), "verdict": verdict["sentence"]}


for _stage in (
    Stage("plan", (), ("goal", "kpi", "threshold", "constraints", "data", "task"), _plan, True),
    Stage("data", (), ("data",), _data, True),
    Stage("eda", ("data",), ("task",), _eda, True),
    Stage("prepare", ("data",), ("seed", "task", "prepare"), _prepare, True),
    Stage(
        "advise",
        ("prepare",),
        ("kpi", "positive_class", "constraints", "seed", "model"),
        _advise,
        True,
    ),
    Stage("train", ("advise", "eda"), (), _train, True),
    Stage(
        "evaluate",
        ("train",),
        ("kpi", "threshold", "positive_class", "constraints"),
        _evaluate,
        True,
    ),
    Stage(
        "report",
        ("plan", "data", "eda", "advise", "evaluate"),
        ("name", "goal", "model", "report"),
        _report,
        True,
    ),
):
    register_stage(_stage)
