"""Recommendation projects: ``task: recommend`` in ``lamina.yaml``, from a purchase log.

``data:`` names the log's columns besides ``source``: ``user``, ``item`` and ``time`` (required)
and, when the log has them, ``invoice`` (cancellations, ``C...``, dropped), ``quantity``
(non-positive rows dropped), ``price`` (revenue of hit items in the report), ``description``
(item names) and ``country`` (a customer feature). The KPI is a ranking metric over the full
catalogue (``hr@10``, ``ndcg@10``, ``recall@10`` or ``mrr``); ``prepare: {split: time, cut:
"2011-11-01"}`` splits at a date instead of holding out each customer's latest new item.

    lamina init shop --data online_retail.parquet --task recommend --user CustomerID \\
        --item StockCode --time InvoiceDate --kpi hr@10 --threshold 0.2
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from lamina.core.errors import ConfigError, message
from lamina.project import kpi as _kpi

__all__ = [
    "COLUMNS",
    "COLUMN_HELP",
    "OPTIONAL",
    "RECOMMEND_KPIS",
    "check_settings",
    "read_interactions",
    "split_interactions",
    "write_project",
]

COLUMNS = ("user", "item", "time")
OPTIONAL = ("invoice", "quantity", "price", "description", "country")
RECOMMEND_KPIS = tuple(name for name, entry in _kpi.KPIS.items() if entry.task == "recommend")
# How init recognises the optional columns of a retail log (lower-case substrings).
_HINTS = {
    "invoice": ("invoice", "order"),
    "quantity": ("quantity", "qty"),
    "price": ("price",),
    "description": ("description", "title", "name"),
    "country": ("country",),
}
# lamina init --task recommend: what each column flag names (the optional ones are also
# recognised by name).
COLUMN_HELP = {
    "user": "customer",
    "item": "product",
    "time": "purchase time",
    "invoice": "invoice (cancellations start with C)",
    "quantity": "quantity",
    "price": "unit price",
    "description": "product name",
    "country": "customer country",
}
_NOTES = {
    "invoice": "invoices starting with C (cancellations) are dropped",
    "quantity": "rows with a quantity <= 0 are dropped",
    "price": "the revenue of recommended items the customer bought",
    "description": "item names in answers and the report",
    "country": "a customer feature",
}

_TEMPLATE = """\
# lamina project file (a recommender): `lamina run` executes
# plan -> data -> eda -> prepare -> advise -> train -> evaluate -> report.
name: {name}
goal: {goal}
task: recommend
kpi: {kpi}              # {kpis}
threshold: {threshold}        # success when the KPI reaches this on the held-out purchases
data:
  source: {source}      # a file or folder (relative to this file) or an SQL URL
{columns}
model: auto             # auto (the advisor's pick) | classical | deep | an advisor candidate
constraints:
  max_latency_ms: {{latency}}   # per /recommend answer
  train_seconds: {{seconds}}    # training budget per network
seed: 0
run_dir: runs
# prepare: {{{{split: time, cut: "2011-11-01"}}}}   # default: each customer's latest new item
"""


def check_settings(data: dict[str, Any], kpi: str, where: str) -> None:
    """Refuse a recommend project without the log's columns or with a non-ranking KPI."""
    missing = [key for key in COLUMNS if not data.get(key)]
    if missing:
        raise ConfigError(
            message(
                f"data in {where} does not name the purchase log's columns.",
                missing,
                "data: {source: ..., user: <customer column>, item: <product column>, "
                "time: <date column>}",
                "Add them (lamina init --task recommend --user ... --item ... --time ...).",
            )
        )
    if kpi not in RECOMMEND_KPIS:
        raise ConfigError(
            message(
                f"kpi in {where} is not a ranking metric.",
                repr(kpi),
                f"one of {', '.join(RECOMMEND_KPIS)}",
                "A recommender is judged by where the next purchase ranks: use hr@10.",
            )
        )


def _columns(folder: Path, source: str, given: dict[str, str]) -> dict[str, str]:
    """The named columns, checked against the log, plus the optional ones recognised in it."""
    from lamina.data import datasets
    from lamina.data.sources import load

    path = folder / os.path.expandvars(source)
    if "://" in source:
        return dict(given)
    if not path.exists() and source not in datasets.names():
        raise ConfigError(
            message(
                "The data path does not exist.",
                str(path),
                "a purchase log file or folder relative to the project folder, or an SQL URL",
                "Check the path and pass --data.",
            )
        )
    frame = load(str(path) if path.exists() else source).x
    names = [str(column) for column in frame.columns]
    found: dict[str, str] = {}
    for key in COLUMNS + OPTIONAL:
        column = given.get(key)
        if column is None and key in OPTIONAL:
            lowered = {name.lower(): name for name in names}
            column = next(
                (name for low, name in lowered.items() if any(h in low for h in _HINTS[key])),
                None,
            )
            column = column if column not in found.values() else None
        if column is None:
            continue
        if column not in names:
            close = difflib.get_close_matches(column, names, n=1)
            raise ConfigError(
                message(
                    f"The {key} column is not in {source}.",
                    repr(column),
                    f"one of {names[:20]}",
                    f"Did you mean {close[0]!r}?" if close else f"Pass --{key} naming a column.",
                )
            )
        found[key] = column
    return found


def write_project(
    folder: Path,
    name: str | None,
    goal: str,
    kpi: str,
    threshold: float,
    data: str,
    columns: dict[str, str],
) -> str:
    """The text of a recommend project's ``lamina.yaml`` (``{latency}``, ``{seconds}`` left).

    Raises:
        ConfigError: a required column is not given or not in the log, or the KPI is not a
            ranking metric.
    """
    check_settings({key: columns.get(key) for key in COLUMNS}, kpi, "lamina init")
    found = _columns(folder, data, columns)
    quote = json.dumps
    lines = [
        f"  {key}: {quote(column)}" + (f"   # {_NOTES[key]}" if key in _NOTES else "")
        for key, column in found.items()
    ]
    return _TEMPLATE.format(
        name=quote(name or folder.resolve().name),
        goal=quote(goal),
        kpi=kpi,
        kpis=" | ".join(RECOMMEND_KPIS),
        threshold=threshold,
        source=quote(data),
        columns="\n".join(lines),
    )


def read_interactions(context: Any) -> Any:
    """The project's purchase log as ``lamina.data.Interactions`` (cached on the context)."""
    if "interactions" in context.cache:
        return context.cache["interactions"]
    from lamina.data.interactions import interactions

    spec = context.project.data
    named = {key: spec[key] for key in COLUMNS}
    extra = {key: spec[key] for key in OPTIONAL if spec.get(key)}
    dataset = context.dataset()
    log = dataset.x  # a bundled log's given split is joined: the project splits by time itself
    if dataset.x_test is not None:
        import pandas as pd

        log = pd.concat([dataset.x, dataset.x_test], ignore_index=True)
    found = interactions(log, **named, **extra)
    context.cache["interactions"] = found
    return found


def split_interactions(context: Any) -> tuple[Any, Any]:
    """``(train, test)`` by the project's ``prepare:`` (default: each latest new item)."""
    from lamina.data.interactions import leave_last_out, time_cut

    data = read_interactions(context)
    options = context.project.prepare or {}
    kind = options.get("split", "leave_last_out")
    if kind == "time":
        if not options.get("cut"):
            raise ConfigError(
                message(
                    "prepare: {split: time} needs a cut date.",
                    repr(options),
                    "prepare: {split: time, cut: '2011-11-01'}",
                    "Add cut: the first day of the test period.",
                )
            )
        return time_cut(data, options["cut"])
    if kind != "leave_last_out":
        raise ConfigError(
            message(
                "Unknown split for a recommend project.",
                repr(kind),
                "leave_last_out (default) or time",
                "Fix prepare: split.",
            )
        )
    return leave_last_out(data, min_items=2, seed=int(context.project.seed))
