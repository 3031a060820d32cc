"""Shared HTML/PNG helpers for lamina's self-contained pages (EDA profile, drift monitor, feedback, report).

Every page loads no external file: styles are inline and plots are embedded as base64 PNG.

>>> html_table([["name", "value"], ["rows", "3"]])
'<table><tr><th>name</th><th>value</th></tr><tr><td>rows</td><td>3</td></tr></table>'
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

__all__ = ["CSS", "html_table", "png_panels", "png_tag"]

CSS = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;display:block;"
       "overflow-x:auto}td,th{border:1px solid #ccc;padding:3px;vertical-align:top;font-size:14px}img{display:block;"
       "max-width:100%}")


def html_table(rows: list[list[str]], header: bool = True) -> str:
    """An HTML table of cells that are already HTML (escape text before).

    Args:
        rows: the rows of cells; with ``header`` the first row is the header.
        header: False: a table of name/value pairs, every row a ``<td>`` row.

    Returns:
        The ``<table>`` as a string.
    """
    tags = [("th", rows[0])] + [("td", row) for row in rows[1:]] if header else [("td", row) for row in rows]
    return "<table>" + "".join("<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in row) + "</tr>"
                               for tag, row in tags) + "</table>"


def png_tag(figure: Any, dpi: int = 80, alt: str = "") -> str:
    """A matplotlib figure as an ``<img>`` holding the PNG inline (base64), with no software URL in the file.

    Args:
        figure: a ``matplotlib.figure.Figure`` (e.g. from ``lamina.plot.new_figure``).
        dpi: the PNG's resolution.
        alt: the image's alternative text.

    Returns:
        The ``<img>`` tag as a string.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def png_panels(panels: list[tuple[str, Any]], size: tuple[float, float] = (3.2, 2.4)) -> str:
    """One inline PNG of titled panels, 4 to a row.

    Args:
        panels: ``(title, draw)`` pairs; ``draw(axes)`` fills one panel.
        size: width and height of one panel in inches.

    Returns:
        The ``<img>`` tag, or "" when there are no panels.
    """
    from lamina.plot import new_figure

    if not panels:
        return ""
    rows, columns = math.ceil(len(panels) / 4), min(len(panels), 4)
    figure = new_figure(size[0] * columns, size[1] * rows)
    for ax, (title, draw) in zip(figure.subplots(rows, columns, squeeze=False).ravel(), panels + [("", None)] * 3):
        ax.set_title(title, fontsize=9)
        _ = draw(ax) if draw else ax.axis("off")
    return png_tag(figure)
