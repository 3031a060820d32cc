"""Test helpers: ``check_model`` runs the model contract; tiny fixtures to run it on.

>>> import lamina
>>> x, y = lamina.testing.tiny_classification()
>>> model = lamina.Sequential([lamina.layers.Dense(16, activation="relu"), lamina.layers.Dense(3)])
>>> report = lamina.testing.check_model(model, x, y, loss="cross_entropy")
>>> report["loss_fell"]
True
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import torch

__all__ = ["check_model", "tiny_classification", "tiny_regression"]


def tiny_classification(
    rows: int = 96, features: int = 6, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small, learnable classification set: labels come from a random linear map."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x @ rng.normal(size=(features, classes))).argmax(axis=1).astype(np.int64)
    return x, y


def tiny_regression(
    rows: int = 96, features: int = 6, outputs: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small linear regression set with a little noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = x @ rng.normal(size=(features, outputs)) + 0.01 * rng.normal(size=(rows, outputs))
    return x, y.astype(np.float32)


def _fail(check: str, detail: str) -> AssertionError:
    return AssertionError(f"check_model: {check} failed: {detail}")


def _rows(x: Any) -> int:
    """Rows ``predict(x)`` returns: one per node for a single graph (an object with ``num_nodes``),
    else ``len(x)``."""
    num_nodes = getattr(x, "num_nodes", None)
    return num_nodes if isinstance(num_nodes, int) and not hasattr(x, "num_graphs") else len(x)


def check_model(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str = "cross_entropy",
    optimizer: str = "adam",
    learning_rate: float = 1e-2,
    epochs: int = 15,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Check the lamina model contract on ``model`` and tiny data ``(x, y)``.

    ``y`` may be None when ``x`` carries its targets: a graph (``torch_geometric.data.Data``, where
    ``predict`` gives one row per node) or a list of graphs (one row per graph).

    Checks, in order: it is an ``nn.Module`` with a ``lamina.`` repr; ``get_params`` returns the
    constructor arguments and ``clone`` rebuilds an unfitted twin with equal params;
    ``set_params`` round-trips; ``fit`` returns a ``History`` and the training loss falls;
    ``predict`` returns one row per input; ``save``/``load`` round-trips predictions exactly.
    Raises ``AssertionError`` naming the first failed check; returns a report dict.
    """
    import lamina

    report: dict[str, Any] = {}
    if not isinstance(model, torch.nn.Module) or not isinstance(model, lamina.Model):
        raise _fail("is a lamina.Model (nn.Module)", type(model).__name__)
    if type(model).__module__.startswith("lamina.") and not repr(model).startswith("lamina."):
        raise _fail("repr shows lamina.X", repr(model)[:80])
    params = model.get_params()
    twin = model.clone()
    if type(twin) is not type(model) or twin is model:
        raise _fail("clone", f"got {type(twin).__name__}")
    if repr(twin.get_params()) != repr(params):
        raise _fail("clone keeps params", f"{twin.get_params()} != {params}")
    if params:
        key = next(iter(params))
        twin.set_params(**{key: params[key]})
        if repr(twin.get_params()) != repr(params):
            raise _fail("set_params round trip", f"{twin.get_params()} != {params}")
    model.compile(optimizer=optimizer, loss=loss, learning_rate=learning_rate)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=0)
    if not isinstance(history, lamina.callbacks.History):
        raise _fail("fit returns a History", type(history).__name__)
    losses = history.history["loss"]
    report["losses"] = losses
    report["loss_fell"] = (
        losses[-1] < 0.99 * losses[0]
    )  # a real drop, not float noise from reordering
    if not report["loss_fell"]:
        raise _fail("loss falls on a tiny set", f"first {losses[0]:.4g}, last {losses[-1]:.4g}")
    if repr(model.get_params()) != repr(params):
        raise _fail("fit leaves constructor params unchanged", f"{model.get_params()} != {params}")
    prediction = model.predict(x)
    if len(prediction) != _rows(x):
        raise _fail(
            "predict returns one row per input", f"{len(prediction)} rows for {_rows(x)} inputs"
        )
    report["output_shape"] = prediction.shape
    with tempfile.TemporaryDirectory() as directory:
        path = model.save(f"{directory}/model")
        reloaded = lamina.load(
            path, device=model
        )  # the same device: identical kernels, identical numbers
        again = reloaded.predict(x)
    if type(reloaded) is not type(model) or not np.array_equal(prediction, again):
        raise _fail("save/load round trip", "reloaded predictions differ")
    report["parameters"] = sum(p.numel() for p in model.parameters())
    return report
