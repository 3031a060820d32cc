"""Training plots: the PNG is written and the figure holds the history's numbers."""

import sys

import numpy as np
import pytest
from lamina.lr_find import lr_find
from lamina.plot import plot_history

import lamina

PNG = b"\x89PNG\r\n\x1a\n"


def lines(ax):
    return {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
    }


def test_plot_history_draws_train_and_validation_curves(tmp_path):
    pyplot_before = "matplotlib.pyplot" in sys.modules
    x, y = lamina.testing.tiny_classification()
    model = lamina.Sequential([lamina.layers.Dense(8, activation="relu"), lamina.layers.Dense(3)])
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    path = tmp_path / "history.png"
    figure = plot_history(history, path)
    assert path.read_bytes()[:8] == PNG
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    for ax, name in zip(figure.axes, ["loss", "accuracy"]):
        drawn = lines(ax)
        assert sorted(drawn) == [name, f"val_{name}"]
        for key, (epochs, values) in drawn.items():
            assert epochs == [1, 2, 3] and values == pytest.approx(history.history[key])
    assert pyplot_before or "matplotlib.pyplot" not in sys.modules  # drawn without pyplot


def test_plot_history_takes_a_dict_a_subset_and_log_scales_lr():
    logs = {"loss": [1.0, 0.5], "lr": [0.1, 0.01], "f1": [0.2, 0.4], "val_f1": [0.1, 0.3]}
    figure = plot_history(logs)
    assert len(figure.axes) == 3 and figure.axes[1].get_yscale() == "log"
    subset = plot_history(logs, metrics=["f1"])
    assert len(subset.axes) == 1 and lines(subset.axes[0])["val_f1"][1] == [0.1, 0.3]
    many = plot_history({f"m{i}": [float(i)] for i in range(5)})
    assert len(many.axes) == 5  # a 2x3 grid without the empty sixth panel


def test_plot_history_errors():
    with pytest.raises(lamina.errors.ConfigError, match="accuracy"):
        plot_history({"loss": [1.0]}, metrics=["accuracy"])
    with pytest.raises(lamina.errors.ConfigError, match="nothing to plot"):
        plot_history(lamina.callbacks.History())


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_history({"loss": [1.0]})


def test_lr_finder_plot_marks_the_suggestion(tmp_path):
    x, y = lamina.testing.tiny_classification()
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(
        optimizer="sgd", loss="cross_entropy"
    )
    result = lr_find(model, x, y, min_lr=1e-4, max_lr=1e2, steps=40)
    path = tmp_path / "lr.png"
    figure = result.plot(path)
    assert path.read_bytes()[:8] == PNG
    (ax,) = figure.axes
    assert ax.get_xscale() == "log"
    curve, marker = ax.get_lines()
    assert list(curve.get_xdata()) == result.lrs and list(curve.get_ydata()) == result.losses
    assert np.allclose(marker.get_xdata(), result.suggestion)
