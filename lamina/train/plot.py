"""Training plots as PNG files: loss and metric curves, and the learning-rate finder.

Figures are drawn with matplotlib's Agg canvas directly (no ``pyplot``), so no window opens,
no backend is switched and no global figure list grows. matplotlib is imported only when a
plot is drawn: ``pip install matplotlib`` (or ``pip install 'lamina[plot]'``).

>>> from lamina.plot import plot_history
>>> figure = plot_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7]})
>>> [line.get_label() for line in figure.axes[0].get_lines()]
['loss', 'val_loss']
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lamina.core.errors import ConfigError, message
from lamina.core.pages import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lamina.train.lr_find import LRFinderResult

__all__ = ["new_figure", "plot_history", "plot_lr_find", "save_figure"]


def plot_history(
    history: Any, path: str | os.PathLike[str] | None = None, metrics: Sequence[str] | None = None
) -> Figure:
    """One subplot per metric with its training and ``val_`` curves against the epoch.

    Args:
        history: a ``lamina.callbacks.History`` (what ``fit`` returns) or its ``.history`` dict.
        path: where to write the figure as PNG; None only returns it.
        metrics: names to plot, e.g. ``["loss", "accuracy"]``; default every name in the history
            (``val_x`` is drawn on ``x``'s axes; ``lr`` gets a log scale).

    Returns:
        The ``matplotlib.figure.Figure`` (``figure.axes`` has one ``Axes`` per metric).
    """
    logs: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not any(len(v) for v in logs.values()):
        raise ConfigError(
            message(
                "plot_history() got nothing to plot.",
                f"{type(history).__name__} {logs!r}"[:200],
                "a History or a dict of per-epoch lists",
                "Pass the History that fit() returned.",
            )
        )
    available = list(dict.fromkeys(key.removeprefix("val_") for key in logs))
    names = list(metrics) if metrics is not None else available
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ConfigError(
            message(
                "plot_history() was asked for metrics the history lacks.",
                unknown or names,
                f"names among {available}",
                "Pick names from history.history.",
            )
        )
    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    figure = new_figure(4.5 * columns, 3.5 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        figure.delaxes(ax)
    for ax, name in zip(axes, names):
        for key in (name, f"val_{name}"):
            if key in logs:
                values = [float(v) for v in logs[key]]
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
        if name == "lr":
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(figure, path)


def plot_lr_find(result: LRFinderResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Smoothed loss against learning rate on a log axis, with the suggestion marked."""
    figure = new_figure(6.0, 4.0)
    ax = figure.subplots()
    ax.plot(result.lrs, result.losses, label="smoothed loss")
    if result.suggestion is not None:
        ax.axvline(
            result.suggestion,
            color="C3",
            linestyle="--",
            label=f"suggestion {result.suggestion:.2g}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate finder")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(figure, path)
