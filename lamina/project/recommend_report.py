"""The pages of a recommendation project: the EDA of a purchase log and the owner's report.

:func:`eda_page` draws customers per item (the long tail), items per customer and purchases over
time, with the repeat rate. :func:`write_report` tells the owner, in their words, what share of
customers found their next purchase in their top 10, the revenue of those purchases, how much of
the catalogue the recommendations reach, and shows a few customers: what they bought, what lamina
recommends, what they bought next.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.pages import CSS, html_table, png_panels

__all__ = ["eda_page", "examples", "write_report"]


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}.hit{{background:#d9f2d9}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def eda_page(data: Any, path: str | Path) -> dict[str, Any]:
    """Write the purchase log's EDA page to ``path``; returns its headline facts.

    Args:
        data: ``lamina.data.Interactions``.
        path: the HTML file to write.

    Returns:
        ``customers``, ``items``, ``interactions``, ``repeat_rate``, ``top20_share`` (share of
        purchases on the 20% most bought items) and ``long_tail`` (that fact in words).
    """
    summary = data.summary()
    table = data.table
    per_item = table.groupby("item").size().sort_values(ascending=False)
    per_user = table.groupby("user").size()
    top = max(1, int(round(0.2 * len(per_item))))
    share = float(per_item.iloc[:top].sum() / max(1, per_item.sum()))
    months = table.set_index("time").resample("MS").size()

    def tail(ax: Any) -> None:
        ax.plot(np.arange(1, len(per_item) + 1) / len(per_item), per_item.cumsum() / per_item.sum())
        ax.set_xlabel("share of items (most bought first)")
        ax.set_ylabel("share of purchases")

    def users(ax: Any) -> None:
        ax.hist(per_user, bins=np.logspace(0, np.log10(max(2, per_user.max())), 30))
        ax.set_xscale("log")
        ax.set_xlabel("items per customer")

    def items(ax: Any) -> None:
        ax.hist(per_item, bins=np.logspace(0, np.log10(max(2, per_item.max())), 30))
        ax.set_xscale("log")
        ax.set_xlabel("customers per item")

    def time(ax: Any) -> None:
        ax.bar(range(len(months)), months.to_numpy())
        ax.set_xticks(range(len(months)), [m.strftime("%b %y") for m in months.index], rotation=90)
        ax.set_ylabel("first purchases")

    long_tail = (
        f"the 20% most bought items take {share:.0%} of purchases; "
        f"{summary['repeat_rate']:.0%} of (customer, item) pairs were bought again"
    )
    names = getattr(data, "item_features", None)
    described = names["description"] if names is not None and "description" in names else {}
    rows = [["item", "name", "customers"]] + [
        [html.escape(str(i)), html.escape(str(described.get(i, ""))), f"{n:,}"]
        for i, n in per_item.head(10).items()
    ]
    facts = [
        ["customers", f"{summary['users']:,}"],
        ["items", f"{summary['items']:,}"],
        ["first purchases (customer, item)", f"{summary['interactions']:,}"],
        ["density", f"{summary['density']:.3%}"],
        ["repeat rate", f"{summary['repeat_rate']:.1%}"],
        [
            "rows left out",
            html.escape(
                ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in summary["dropped"].items())
            ),
        ],
    ]
    body = (
        f"<p>{html.escape(long_tail.capitalize())}.</p>{html_table(facts, header=False)}"
        + png_panels(
            [
                ("long tail", tail),
                ("items per customer", users),
                ("customers per item", items),
                ("purchases per month", time),
            ]
        )
        + f"<h2>Most bought items</h2>{html_table(rows)}"
    )
    Path(path).write_text(_page("Purchase log", body), encoding="utf-8")
    return {
        "customers": summary["users"],
        "items": summary["items"],
        "interactions": summary["interactions"],
        "repeat_rate": summary["repeat_rate"],
        "top20_share": share,
        "long_tail": long_tail,
    }


def examples(model: Any, train: Any, held: pd.DataFrame, count: int = 3) -> list[dict[str, Any]]:
    """A few test customers (hits first): history, top 10, and what they bought next."""
    names = model.item_names_ or {}
    chosen = pd.concat([held[held["hit"]].head(count - 1), held[~held["hit"]].head(1)])
    shown = []
    for _, row in chosen.iterrows():
        history = train.table[train.table["user"] == row["user"]].sort_values("time")["item"]
        items, _ = model.recommend(users=[row["user"]], k=10)
        shown.append({
            "customer": row["user"],
            "history": [(item, names.get(item, "")) for item in history.tail(8)],
            "recommended": [(item, names.get(item, "")) for item in items[0]],
            "next": (row["item"], names.get(row["item"], "")),
            "rank": int(row["rank"]),
        })  # fmt: skip
    return shown


def _items(pairs: list[tuple[Any, str]], bought: Any = None) -> str:
    cells = [
        f"<li{' class=hit' if item == bought else ''}>{html.escape(str(item))} "
        f"{html.escape(name)}</li>"
        for item, name in pairs
    ]
    return f"<ol>{''.join(cells)}</ol>"


def write_report(context: Any) -> Path:
    """Write ``report/report.html`` and ``report.md`` of a recommend project; returns the page."""
    from lamina.project.recommend_project import split_interactions
    from lamina.project.recommender_files import load_recommender

    project = context.project
    verdict = context.result("evaluate")["verdict"]
    advice, plan = context.result("advise"), context.result("plan")
    held = pd.read_parquet(project.run_path / "evaluate" / "customers.parquet")
    model = load_recommender(project.run_path / "train" / "model")
    train, _ = split_interactions(context)
    hits = float(held["hit"].mean()) if len(held) else 0.0
    revenue = ""
    if "revenue" in held:
        won, total = float(held.loc[held["hit"], "revenue"].sum()), float(held["revenue"].sum())
        revenue = (
            f"<p>Those purchases were worth <b>{won:,.2f}</b> of the {total:,.2f} that the "
            f"held-out purchases brought in ({won / max(total, 1e-9):.0%}).</p>"
        )
    lists = [model.recommend(users=[u], k=10)[0][0] for u in held["user"].unique()[:500]]
    reached = len({item for items in lists for item in items})
    owner = (
        f"<p><b>{hits:.0%}</b> of {len(held):,} customers found the next new item they bought "
        f"among the 10 lamina would have shown them ({verdict['sentence']}).</p>{revenue}"
        f"<p>The top-10 lists of {len(lists):,} customers use {reached:,} different items, "
        f"{reached / max(1, model.num_items):.0%} of the catalogue of {model.num_items:,}.</p>"
        f"<p>Answer time: {verdict['latency_ms']:.2f} ms per customer.</p>"
    )
    table = [["candidate", "family", f"{project.kpi} (validation)", "seconds"]] + [
        [html.escape(r["candidate"]), r["family"], f"{r['value']:.4f}", str(r["seconds"])]
        for r in advice["rows"]
    ]
    chosen = (
        f"{html_table(table)}<p>{html.escape(advice['reason'])}. Trained and served: "
        f"<b>{html.escape(str(advice['chosen']))}</b>.</p>"
    )
    shown = ""
    for case in examples(model, train, held):
        shown += (
            f"<h3>Customer {html.escape(str(case['customer']))}</h3><table><tr>"
            f"<th>bought before (latest 8)</th><th>lamina recommends</th><th>bought next</th></tr>"
            f"<tr><td>{_items(case['history'])}</td>"
            f"<td>{_items(case['recommended'], case['next'][0])}</td>"
            f"<td>{html.escape(str(case['next'][0]))} {html.escape(case['next'][1])}"
            f"<br>(rank {case['rank']:,})</td></tr></table>"
        )
    viability = "".join(
        f"<li><b>{html.escape(f['level'])}</b> {html.escape(f['message'])}</li>"
        for f in plan["findings"]
    )
    body = (
        f"<p><b>Goal</b>: {html.escape(project.goal or '(not stated)')}</p>"
        f"<h2>What it means for the business</h2>{owner}"
        f"<h2>Which recommender</h2>{chosen}<h2>Example customers</h2>{shown}"
        f"<h2>The data</h2><ul>{viability}</ul>"
        f"<p>EDA: <a href='../eda/eda.html'>eda.html</a></p>"
    )
    folder = context.folder("report")
    page = folder / "report.html"
    page.write_text(_page(f"{project.name}: recommendations", body), encoding="utf-8")
    (folder / "report.md").write_text(
        f"# {project.name}\n\n**Verdict**: {verdict['sentence']}.\n\n"
        f"{hits:.0%} of customers found their next new item in their top 10.\n"
    )
    return page
