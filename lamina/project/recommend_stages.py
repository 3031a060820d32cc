"""The stages of a recommendation project (``task: recommend``), in the usual run order.

plan (viability of the log), data (the cleaned interactions), eda (customers, items, long tail,
repeat rate; ``eda.html``), prepare (time-ordered split with a leakage check), advise (classical
against network recommenders, ``lamina.project.recommend_advisor``), train (the chosen one refitted
on all training interactions, saved with ``save_recommender``), evaluate (the KPI over the full
catalogue on the held-out purchases, and the answer latency) and report (``report.html`` in the
owner's words). They replace the ``run`` of the built-in stages through
``lamina.project.runner.TASK_STAGES``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from lamina.core.errors import ConfigError, DataError, message
from lamina.project.kpi import describe, get, score
from lamina.project.recommend_advisor import advise_recommend, fit_candidate, test_ranks
from lamina.project.recommend_project import read_interactions, split_interactions
from lamina.project.runner import TASK_STAGES, StageContext

__all__ = ["finding", "plan_findings"]

LATENCY_CUSTOMERS = 200  # customers timed one request at a time in evaluate


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, default=str))


def finding(level: str, text: str, reason: str) -> dict[str, str]:
    """One plan finding as the report shows it."""
    return {"level": level, "message": text, "reason": reason}


def plan_findings(summary: dict[str, Any], repeat_customers: float) -> list[dict[str, str]]:
    """Viability of a purchase log for personalised recommendations, from its summary."""
    found = []
    users, items = summary["users"], summary["items"]
    found.append(
        finding(
            "ok" if summary["interactions"] >= 10_000 else "warning",
            f"{summary['interactions']:,} first purchases of {items:,} items by {users:,} "
            "customers.",
            "Collaborative filtering learns from overlap between customers; tens of thousands "
            "of interactions are a usual minimum.",
        )
    )
    found.append(
        finding(
            "ok" if repeat_customers >= 0.5 else "warning",
            f"{repeat_customers:.0%} of customers bought two or more different items.",
            "Only they can be tested (their latest new item is held out); the others get the "
            "popular items or their basket's neighbours.",
        )
    )
    found.append(
        finding(
            "info",
            f"Density {summary['density']:.2%}; a median customer has "
            f"{summary['per_user'].get('median', 0):.0f} items, a median item "
            f"{summary['per_item'].get('median', 0):.0f} customers.",
            "Sparse logs favour simple item-to-item models; networks need more history per "
            "customer to pull ahead.",
        )
    )
    return found


def _plan(context: StageContext) -> dict[str, Any]:
    project = context.project
    data = read_interactions(context)
    summary = data.summary()
    per_user = data.table.groupby("user").size()
    found = plan_findings(summary, float((per_user >= 2).mean()))
    label = describe(project.kpi)
    lines = [f"# Plan: {project.name}", "", f"Goal: {project.goal or '(not stated)'}", ""]
    lines += [f"KPI: {label} ({get(project.kpi).definition}); success at {project.threshold}.", ""]
    lines += [f"- **{f['level']}** {f['message']} {f['reason']}" for f in found]
    (context.folder("plan") / "plan.md").write_text("\n".join(lines) + "\n")
    for item in found:
        context.say(f"  {item['level']:<8} {item['message']}")
    return {"findings": found, "kpi": project.kpi, "threshold": project.threshold}


def _data(context: StageContext) -> dict[str, Any]:
    data = read_interactions(context)
    summary = dict(data.summary(), source=str(context.project.data["source"]))
    summary["fingerprint"] = context.dataset().fingerprint()
    _write_json(context.folder("data") / "summary.json", summary)
    dropped = ", ".join(f"{count:,} {why}" for why, count in data.dropped.items()) or "none"
    context.say(
        f"  {summary['interactions']:,} interactions, {summary['users']:,} customers, "
        f"{summary['items']:,} items (rows dropped: {dropped})"
    )
    return summary


def _eda(context: StageContext) -> dict[str, Any]:
    from lamina.project.recommend_report import eda_page

    data = read_interactions(context)
    folder = context.folder("eda")
    facts = eda_page(data, folder / "eda.html")
    popularity = data.table.groupby("item").size().sort_values(ascending=False)
    reference = {
        "kind": "recommend",
        "item_counts": {str(k): int(v) for k, v in popularity.items()},
    }
    _write_json(folder / "reference.json", reference)
    context.say(f"  {facts['long_tail']}")
    return dict(facts, html=str(folder / "eda.html"))


def _prepare(context: StageContext) -> dict[str, Any]:
    from lamina.data.interactions import check_time_leakage

    train, test = split_interactions(context)
    findings = check_time_leakage(train, test)
    fatal = [f for f in findings if f["severity"] == "fatal"]
    if fatal:
        raise DataError(
            message(
                "The split lets the future into training.",
                fatal[0]["message"],
                "no test purchase before a training purchase of the same customer",
                "Use the default split (each customer's latest new item) or a time cut.",
            )
        )
    folder = context.folder("prepare")
    test.table.to_parquet(folder / "test.parquet")
    kind = (context.project.prepare or {}).get("split", "leave_last_out")
    context.say(
        f"  {len(train.table):,} training interactions, {len(test.table):,} held-out purchases "
        f"of {test.table['user'].nunique():,} customers ({kind} split); leakage: "
        f"{'; '.join(f['message'] for f in findings) or 'none'}"
    )
    return {
        "kind": kind,
        "train_rows": len(train.table),
        "test_rows": len(test.table),
        "test_customers": int(test.table["user"].nunique()),
        "findings": findings,
        "seed": context.project.seed,
    }


def _candidates(setting: str) -> list[str] | None:
    from lamina.project.recommend_advisor import CANDIDATES

    if setting in ("classical", "deep"):
        return [name for name, (family, _) in CANDIDATES.items() if family == setting]
    if setting == "auto":
        return None
    if setting not in CANDIDATES:
        raise ConfigError(
            message(
                "model: in lamina.yaml names no recommender.",
                repr(setting),
                f"auto, classical, deep or one of {list(CANDIDATES)}",
                "Pick one of those.",
            )
        )
    return [setting]


def _advise(context: StageContext) -> dict[str, Any]:
    project = context.project
    train, _ = split_interactions(context)
    budget = float(project.constraints.get("train_seconds") or 600)
    advice = advise_recommend(
        train, project.kpi, budget=budget, seed=int(project.seed),
        candidates=_candidates(project.model), say=context.say,
    )  # fmt: skip
    chosen = advice["winner"]
    if project.model in ("classical", "deep"):
        chosen = advice["best_classical" if project.model == "classical" else "best_network"]
    chosen = chosen or advice["winner"]
    lines = [f"| candidate | family | {project.kpi} (validation) | seconds |", "|---|---|--:|--:|"]
    lines += [
        f"| {r['candidate']} | {r['family']} | {r['value']:.4f} | {r['seconds']} |"
        for r in advice["rows"]
    ]
    lines += ["", f"Recommendation: **{advice['winner']}**: {advice['reason']}."]
    (context.folder("advise") / "advice.md").write_text("\n".join(lines) + "\n")
    context.say(f"  {advice['reason']}; chosen: {chosen}")
    return dict(advice, chosen=chosen)


def _train(context: StageContext) -> dict[str, Any]:
    from lamina.project.recommender_files import save_recommender

    project = context.project
    advice = context.result("advise")
    chosen = advice["chosen"]
    train, _ = split_interactions(context)
    row = next(r for r in advice["rows"] if r["candidate"] == chosen)
    started = time.perf_counter()
    budget = float(project.constraints.get("train_seconds") or 600)
    model = fit_candidate(
        chosen, train, None, budget, int(project.seed), epochs=row["epochs"], kpi=project.kpi
    )
    seconds = time.perf_counter() - started
    save_recommender(model, context.folder("train") / "model")
    note = f"refitted on all {len(train.table):,} training interactions in {seconds:.1f} s"
    context.say(f"  {chosen}: {note}")
    return {"candidate": chosen, "family": row["family"], "note": note, "seconds": seconds}


def _evaluate(context: StageContext) -> dict[str, Any]:
    from lamina.project.recommender_files import load_recommender

    project = context.project
    model = load_recommender(project.run_path / "train" / "model")
    _, test = split_interactions(context)
    ranks, rows = test_ranks(model, test)
    value = score(project.kpi, ranks)
    held = test.table.iloc[rows].reset_index(drop=True)
    held["rank"] = ranks
    held["hit"] = ranks <= 10
    if "price" in held and "quantity" in held:
        held["revenue"] = pd.to_numeric(held["price"]) * pd.to_numeric(held["quantity"])
    folder = context.folder("evaluate")
    held.to_parquet(folder / "customers.parquet")
    # Latency: one request per customer, as the service answers them.
    customers = held["user"].drop_duplicates().to_numpy()[:LATENCY_CUSTOMERS]
    started = time.perf_counter()
    for customer in customers:
        model.recommend(users=[customer], k=10)
    latency = 1e3 * (time.perf_counter() - started) / max(1, len(customers))
    label = describe(project.kpi)
    met = value >= project.threshold
    name = context.result("train")["candidate"]
    sentence = (
        f"{label} {value:.4f} {'>=' if met else '<'} {project.threshold} on "
        f"{len(ranks):,} held-out purchases: {'MET' if met else 'NOT MET'} ({name})"
    )
    limit = project.constraints.get("max_latency_ms")
    verdict = {
        "kpi": project.kpi, "kpi_label": label, "positive_class": None, "value": value,
        "threshold": project.threshold, "met": bool(met), "model": name, "sentence": sentence,
        "latency_ms": latency,
        "latency_met": None if limit is None else bool(latency <= float(limit)),
    }  # fmt: skip
    _write_json(folder / "verdict.json", verdict)
    context.say(f"  {sentence}; {latency:.2f} ms per answer")
    return {"verdict": verdict, "test_rows": int(len(ranks))}


def _report(context: StageContext) -> dict[str, Any]:
    from lamina.project.recommend_report import write_report

    page = write_report(context)
    context.say(f"  {page}")
    verdict = context.result("evaluate")["verdict"]
    return {"path": str(page), "verdict": verdict["sentence"]}


TASK_STAGES["recommend"] = {
    "plan": _plan,
    "data": _data,
    "eda": _eda,
    "prepare": _prepare,
    "advise": _advise,
    "train": _train,
    "evaluate": _evaluate,
    "report": _report,
}
