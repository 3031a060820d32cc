"""The HTML page of a ``lamina.eda.Profile``: one section per part, a plain-language note, tables
and plots.

Written for a reader who owns the business question: findings grouped by kind, plain column
headings, every column plotted or named as not plotted (with the reason), and a correlation heatmap
sized to its columns.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from lamina.core.pages import CSS, html_table, png_panels

__all__ = ["render"]

MAX_PLOTS = 24  # column plots on the page; the others are named below them
_HIDDEN = {
    "histogram",
    "acf",
    "rolling_mean",
    "samples",
    "sample_labels",
    "class_means",
    "pearson",
    "spearman",
    "cramers_v",
    "numeric",
    "categorical",
    "sampled",
    "mutual_information",
    "alone",
    "classes",
}  # shown apart
_WORDS = {
    "seconds": "profiling time (s)",
    "shrink": "pixel step of the statistics",
    "iqr_share": "outlier share",
    "unique_share": "distinct share",
    "std_4_share": "share beyond 4 std",
    "psi": "PSI (change)",
}
_NOTES = {
    "overview": "What the data hold and what stands out.",
    "leakage": "Columns that may hand a model the answer.",
    "columns": (
        "Per column: kind, missing and distinct values, spread, outliers (far outside the middle "
        "half)."
    ),
    "correlations": (
        "How columns move together: -1 to 1 for numbers, 0 to 1 for categories (Cramer's V)."
    ),
    "target": (
        "The label: its balance, and how much each column tells about it (mutual information)."
    ),
    "duplicates": "Rows that repeat; repeats with another label point at label noise.",
    "shift": (
        "Do test data look like training data? (KS or chi-squared test; a PSI over 0.1 is a "
        "notable change)"
    ),
    "images": "Image size, pixel statistics, the mean image of each class, samples.",
    "text": "Vocabulary and words per class (the lengths are in the columns section).",
    "time_series": "The trend (rolling mean), and how the series repeats (autocorrelation by lag).",
}
_EMPTY = {
    "shift": (
        "No test split yet: the shift between training and test data is measured once there is one."
    ),
    "leakage": "No column looks like it hands the model the answer.",
}


def _word(key: Any) -> str:
    return html.escape(_WORDS.get(str(key), str(key).replace("_", " ")))


def _render(value: Any, nested: bool = False) -> str:
    """HTML: a dict or list of dicts as a table of rows, a dict as a table (in a cell: pairs), a
    list as commas."""
    records = (
        list(value.values())
        if isinstance(value, dict)
        else value
        if isinstance(value, list)
        else None
    )
    if records and all(isinstance(r, dict) for r in records) and not nested:
        keys = list(dict.fromkeys(k for r in records for k in r if k not in _HIDDEN))
        names = (
            [html.escape(str(n)) for n in value] if isinstance(value, dict) else [""] * len(records)
        )
        return html_table(
            [["", *(_word(k) for k in keys)]]
            + [[n, *(_render(r.get(k), True) for k in keys)] for n, r in zip(names, records)]
        )
    if isinstance(value, dict):
        shown = [
            [_word(str(k)[:30]), _render(v, True)]
            for k, v in list(value.items())[: 10 if nested else None]
            if k not in _HIDDEN
        ]
        return (
            ", ".join(f"{k} {v}" for k, v in shown)
            if nested
            else html_table(shown, header=False)
            if shown
            else ""
        )
    if isinstance(value, list):
        return ", ".join(_render(v, True) for v in value[:20])
    return (
        ""
        if value is None
        else f"{value:.4g}"
        if isinstance(value, float)
        else html.escape(str(value))
    )


def _picture(ax: Any, image: Any) -> None:
    """An image ``(C, H, W)`` on ``ax``, scaled to [0, 1]: gray for one channel, RGB for three."""
    array = ((raw := np.asarray(image, dtype=float)) - raw.min()) / max(float(np.ptp(raw)), 1e-12)
    ax.imshow(array[0] if array.shape[0] != 3 else array.transpose(1, 2, 0), cmap="gray")
    ax.axis("off")


def _heatmap(names: list[str], matrix: Any, what: str) -> str:
    """A correlation heatmap whose size and label font follow the number of columns (readable at 30
    and more)."""
    count = len(names)
    side, font = max(4.5, 0.32 * count + 2), 9 if count <= 12 else 7 if count <= 30 else 5
    labels = [name if len(name) <= 18 else name[:17] + "…" for name in names]

    def draw(ax: Any) -> None:
        ax.imshow(np.array(matrix, dtype=float), vmin=-1, vmax=1, cmap="coolwarm")
        ax.set_xticks(range(count), labels, rotation=90, fontsize=font)
        ax.set_yticks(range(count), labels, fontsize=font)

    return png_panels([(what, draw)], (side, side))


def _columns(columns: dict[str, Any]) -> str:
    """Histograms of numeric columns and bars of category counts; a note names the columns not
    plotted and why."""

    def bars(ax: Any, top: dict[str, int]) -> None:
        ax.barh([str(k)[:14] for k in top][::-1], list(top.values())[::-1])
        ax.tick_params(labelsize=7)

    drawable = [
        (
            name,
            (lambda ax, h=c["histogram"]: ax.stairs(h["counts"], h["edges"], fill=True))
            if "histogram" in c
            else (lambda ax, t=c["top"]: bars(ax, t)),
        )
        for name, c in columns.items()
        if "histogram" in c or c.get("top")
    ]
    plotted = {name for name, _ in drawable[:MAX_PLOTS]}
    left = [name for name in columns if name not in plotted]
    why = {
        name: f"beyond the first {MAX_PLOTS} plots"
        if any(name == n for n, _ in drawable)
        else f"{columns[name]['kind']}: no distribution to draw"
        for name in left
    }
    note = (
        ""
        if not left
        else "<p>Not plotted: "
        + "; ".join(f"{html.escape(name)} ({html.escape(why[name])})" for name in left)
        + ".</p>"
    )
    return png_panels(drawable[:MAX_PLOTS]) + note


def render(p: Any) -> str:
    """The self-contained HTML page of profile ``p`` (inline CSS, plots as embedded PNG, no links).

    Args:
        p: a ``lamina.eda.Profile``.

    Returns:
        The page as a string.
    """
    c, i, t, ts = p.correlations, p.images or {}, p.target or {}, p.time_series or {}
    plots = {
        "overview": "<h3>Findings</h3><ul>"
        + "".join(f"<li>{html.escape(f)}</li>" for f in p.findings)
        + "</ul>",
        "columns": _columns(p.columns),
        "correlations": "".join(
            _heatmap(c[group], c[key], what)
            for group, key, what in (
                ("numeric", "pearson", "Pearson"),
                ("categorical", "cramers_v", "Cramer's V"),
            )
            if len(c[group]) > 1
        ),
        "target": _render(
            {
                c: {"mutual information": v, "holdout score alone": t["alone"][c]}
                for c, v in t.get("mutual_information", {}).items()
            }
        ),
        "text": _render((p.text or {}).get("classes", {})),
        "images": "".join(
            png_panels([(str(n), lambda ax, m=m: _picture(ax, m)) for n, m in pictures], (1.6, 1.6))
            for pictures in (
                i.get("class_means", {}).items(),
                zip(i.get("sample_labels") or [""] * 16, i.get("samples", [])),
            )
        ),
        "time_series": png_panels(
            [
                (
                    "rolling mean",
                    lambda ax: ax.plot(ts["rolling_mean"]["steps"], ts["rolling_mean"]["values"]),
                ),
                ("autocorrelation by lag", lambda ax: ax.bar(range(len(ts["acf"])), ts["acf"])),
            ],
            (4.5, 2.8),
        )
        if "acf" in ts
        else "",
    }

    def content(key: str) -> str:
        value = getattr(p, key)
        if value:
            return _render(value)
        return "" if key in plots else f"<p>{html.escape(_EMPTY.get(key, 'Nothing found.'))}</p>"

    body = "".join(
        f'<section id="{key}"><h2>{key.replace("_", " ").capitalize()}</h2><p class="note">'
        f"{html.escape(note)}</p>{content(key)}{plots.get(key, '')}</section>"
        for key, note in _NOTES.items()
        if key not in ("images", "text", "time_series") or getattr(p, key)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Data "
        f"profile</title><style>{CSS}</style></head><body><h1>Data profile: "
        f"{html.escape(str(p.overview['source']))}</h1>{body}</body></html>"
    )
