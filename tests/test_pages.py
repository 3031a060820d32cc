"""The shared page helpers (lamina.pages) and the public figure helpers of lamina.plot."""

from __future__ import annotations

import base64

import pytest
from lamina.pages import CSS, html_table, png_panels, png_tag

pytest.importorskip("matplotlib")

from lamina.plot import new_figure, save_figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_html_table_with_and_without_header() -> None:
    expected = "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    assert html_table([["a", "b"], ["1", "2"]]) == expected
    assert (
        html_table([["rows", "3"]], header=False)
        == "<table><tr><td>rows</td><td>3</td></tr></table>"
    )
    assert "table{" in CSS


def test_png_tag_embeds_a_png_without_software_url() -> None:
    figure = new_figure(2.0, 1.5)
    figure.subplots().plot([0, 1], [1, 0])
    tag = png_tag(figure, dpi=50, alt="plot")
    assert tag.startswith('<img alt="plot" src="data:image/png;base64,')
    data = base64.b64decode(tag.split(",", 1)[1].rstrip('">'))
    assert data.startswith(PNG) and b"matplotlib.org" not in data


def test_png_panels_draws_each_panel_and_nothing_for_none() -> None:
    drawn: list[str] = []
    tag = png_panels(
        [("a", lambda ax: drawn.append("a")), ("b", lambda ax: drawn.append("b"))], (1.0, 1.0)
    )
    assert drawn == ["a", "b"] and tag.startswith("<img")
    assert png_panels([]) == ""


def test_save_figure_writes_png_only_given_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    figure = new_figure(2.0, 2.0)
    assert save_figure(figure, None) is figure
    assert save_figure(figure, tmp_path / "f.png") is figure
    assert (tmp_path / "f.png").read_bytes().startswith(PNG)
