"""Shared HTML/PNG helpers for lamina's self-contained pages (EDA, drift monitor, feedback, report).

Every page loads no external file: styles are inline and plots are embedded as base64 PNG.

>>> html_table([["name", "value"], ["rows", "3"]])
'<table><tr><th>name</th><th>value</th></tr><tr><td>rows</td><td>3</td></tr></table>'
"""

from __future__ import annotations

import base64
import io
import math
import os
from typing import TYPE_CHECKING, Any

from lamina.core.errors import message

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CSS", "html_table", "new_figure", "png_panels", "png_tag", "save_figure"]

CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;display:block;overflow-x:auto}"
    "td,th{border:1px solid #ccc;padding:3px;vertical-align:top;font-size:14px}"
    "img{display:block;max-width:100%}"
)


def html_table(rows: list[list[str]], header: bool = True) -> str:
    """An HTML table of cells that are already HTML (escape text before).

    Args:
        rows: the rows of cells; with ``header`` the first row is the header.
        header: False: a table of name/value pairs, every row a ``<td>`` row.

    Returns:
        The ``<table>`` as a string.
    """
    tags = (
        [("th", rows[0])] + [("td", row) for row in rows[1:]]
        if header
        else [("td", row) for row in rows]
    )
    return (
        "<table>"
        + "".join(
            "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in row) + "</tr>"
            for tag, row in tags
        )
        + "</table>"
    )


def png_tag(figure: Any, dpi: int = 80, alt: str = "") -> str:
    """A matplotlib figure as an ``<img>`` holding the PNG inline (base64), with no software URL.

    Args:
        figure: a ``matplotlib.figure.Figure`` (e.g. from ``lamina.plot.new_figure``).
        dpi: the PNG's resolution.
        alt: the image's alternative text.

    Returns:
        The ``<img>`` tag as a string.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{alt}" src="data:image/png;base64,{encoded}">'


def png_panels(panels: list[tuple[str, Any]], size: tuple[float, float] = (3.2, 2.4)) -> str:
    """One inline PNG of titled panels, 4 to a row.

    Args:
        panels: ``(title, draw)`` pairs; ``draw(axes)`` fills one panel.
        size: width and height of one panel in inches.

    Returns:
        The ``<img>`` tag, or "" when there are no panels.
    """
    if not panels:
        return ""
    rows, columns = math.ceil(len(panels) / 4), min(len(panels), 4)
    figure = new_figure(size[0] * columns, size[1] * rows)
    for ax, (title, draw) in zip(
        figure.subplots(rows, columns, squeeze=False).ravel(), panels + [("", None)] * 3
    ):
        ax.set_title(title, fontsize=9)
        if draw:
            draw(ax)
        else:
            ax.axis("off")
    return png_tag(figure)


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure on its own Agg canvas (no ``pyplot``, no window, no global figure list).

    Args:
        width: width in inches.
        height: height in inches.

    Returns:
        A ``matplotlib.figure.Figure`` with the constrained layout; an ``ImportError`` that says how
        to install matplotlib when it is missing.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            message(
                "Plotting needs matplotlib, which is not installed.",
                "ModuleNotFoundError: matplotlib",
                "matplotlib installed",
                "pip install matplotlib (or pip install 'lamina[plot]')",
            )
        ) from None
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str] | None) -> Figure:
    """Write ``figure`` as PNG (100 dpi) to ``path`` unless it is None.

    Args:
        figure: a figure from :func:`new_figure`.
        path: where to write the PNG; None writes nothing.

    Returns:
        ``figure`` itself, so a plot function can end with ``return save_figure(figure, path)``.
    """
    if path is not None:
        figure.savefig(os.fspath(path), format="png", dpi=100)
    return figure
