"""Graph data for ``lamina.models.GCN``, ``GAT`` and ``GraphSAGE``: torch_geometric graphs, checked.

:func:`to_graph` turns a dict of arrays (or a ``lamina.datasets`` split) into a
``torch_geometric.data.Data``; :func:`check_graph` says what is wrong with a graph before the first
batch; :func:`node_mask` reads a mask name (``"train"``, ``"val"``, ``"test"``) or a bool mask;
:class:`GraphBatches` moves the batches of a torch_geometric loader to the device as they are
drawn. :class:`GraphInputsMixin` gives the graph networks the data side of ``fit``, ``evaluate``
and ``predict``: one graph for node tasks, a list, Dataset or DataLoader of graphs for graph tasks.

>>> from lamina.models.gnn_data import node_mask, to_graph
>>> graph = to_graph({"x": np.eye(3, dtype="float32"), "edge_index": [[0, 1], [1, 2]],
...                   "y": [0, 1, 1], "train_mask": [True, True, False]})
>>> node_mask(graph, "train").tolist()
[True, True, False]
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.nn import tensors as data_lib
from lamina.train.engine import Engine

__all__ = [
    "GraphBatches",
    "GraphInputsMixin",
    "check_graph",
    "graph_on",
    "import_pyg",
    "is_graph",
    "node_mask",
    "to_graph",
]

_GRAPH_KEYS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")


def import_pyg() -> Any:
    """The torch_geometric package (with ``nn``, ``data`` and ``loader``), or a ConfigError saying
    how to get it."""
    try:
        import torch_geometric
        import torch_geometric.data
        import torch_geometric.loader
        import torch_geometric.nn
    except ImportError:
        raise ConfigError(
            message(
                "Graph models need torch_geometric.",
                "no module named torch_geometric",
                "torch_geometric >= 2.5 installed",
                'Run pip install "lamina[graph]" (or pip install torch_geometric).',
            )
        ) from None
    return torch_geometric


def is_graph(value: Any) -> bool:
    return isinstance(value, import_pyg().data.Data)


def to_graph(splits: Any, *, normalize: bool = False) -> Any:
    """A ``torch_geometric.data.Data`` from ``lamina.datasets.load("cora")`` or a mapping of arrays.

    Args:
        splits: a ``DatasetSplits`` whose ``extra`` holds the graph (Cora), or a mapping with ``x``,
            ``edge_index`` and optionally ``y``, ``train_mask``, ``val_mask``, ``test_mask``.
        normalize: divide each feature row by its sum (rows of zeros stay zero), as GCN and GAT
            preprocess the Planetoid graphs.

    Returns:
        ``Data`` with ``x`` (num_nodes, features) float32, ``edge_index`` (2, num_edges) int64,
        ``y`` (num_nodes,) and bool masks (num_nodes,), as present in the input.

    >>> to_graph({"x": np.ones((3, 2)), "edge_index": [[0], [1]]})
    Data(x=[3, 2], edge_index=[2, 1])
    """
    pyg = import_pyg()
    fields = getattr(splits, "extra", splits)
    if not isinstance(fields, Mapping) or not {"x", "edge_index"} <= set(fields):
        raise DataError(
            message(
                "to_graph needs node features and edges.",
                type(splits).__name__,
                "lamina.datasets.load('cora') or a mapping with 'x' and 'edge_index'",
                "Pass e.g. {'x': features, 'edge_index': edges, 'y': labels, 'train_mask': mask}.",
            )
        )
    graph = {key: torch.as_tensor(np.asarray(fields[key])) for key in _GRAPH_KEYS if key in fields}
    x = graph["x"].float()
    if normalize:
        sums = x.sum(dim=1, keepdim=True)
        x = x / torch.where(sums == 0, torch.ones_like(sums), sums)
    graph["x"], graph["edge_index"] = x, graph["edge_index"].long()
    return pyg.data.Data(**graph)


# ---------------------------------------------------------------- input checks
def check_graph(graph: Any, task: str, labels: bool) -> None:
    """Raise a lamina error for a graph the models cannot read; ``labels``: ``y`` is required."""
    x, edge_index = getattr(graph, "x", None), getattr(graph, "edge_index", None)
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ShapeError(
            message(
                "graph.x must hold the node features.",
                _describe(x),
                "a (num_nodes, features) float tensor",
                "Set graph.x = torch.tensor(features, dtype=torch.float32).",
            )
        )
    data_lib.check_finite(x, "graph.x")
    if (
        not isinstance(edge_index, torch.Tensor)
        or edge_index.dim() != 2
        or edge_index.shape[0] != 2
    ):
        transposed = (
            isinstance(edge_index, torch.Tensor)
            and edge_index.dim() == 2
            and edge_index.shape[1] == 2
        )
        raise ShapeError(
            message(
                "graph.edge_index must have shape (2, num_edges): sources, then targets.",
                _describe(edge_index),
                "a (2, num_edges) int64 tensor",
                "Transpose it: graph.edge_index = edge_index.t().contiguous()."
                if transposed
                else "Build it as torch.tensor([sources, targets], dtype=torch.long).",
            )
        )
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise DataError(
            message(
                "graph.edge_index must hold integer node ids.",
                f"dtype {edge_index.dtype}",
                "torch.long",
                "Use graph.edge_index = graph.edge_index.long().",
            )
        )
    num_nodes = len(x)
    if edge_index.numel():
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            bad = low if low < 0 else high
            raise DataError(
                message(
                    f"graph.edge_index names node {bad}, but the graph has {num_nodes} nodes.",
                    f"node ids from {low} to {high}",
                    f"ids in 0..{num_nodes - 1}",
                    "Renumber the nodes from 0, or add the missing rows to graph.x.",
                )
            )
    y = getattr(graph, "y", None)
    if not labels:
        return
    expected = num_nodes if task == "node" else 1
    if not isinstance(y, torch.Tensor) or y.dim() == 0 or len(y) != expected:
        raise DataError(
            message(
                f"A {task}-task graph needs graph.y with one label per {task}.",
                _describe(y),
                f"a tensor with {expected} row(s)",
                "Set graph.y (class ids as torch.long).",
            )
        )


def graph_on(graph: Any, device: torch.device) -> Any:
    """A shallow copy of ``graph`` on ``device``: the caller's graph is left where it is."""
    return copy.copy(graph).to(device)


def _describe(value: Any) -> str:
    return (
        f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
    )


def node_mask(graph: Any, mask: Any) -> torch.Tensor | None:
    """``mask`` (a name such as ``"test"``, a bool mask, or None for every node) as a bool tensor or
    None."""
    if mask is None:
        return None
    num_nodes = len(graph.x)
    if isinstance(mask, str):
        name = mask if mask.endswith("_mask") else f"{mask}_mask"
        value = getattr(graph, name, None)
        if value is None:
            raise DataError(
                message(
                    f"The graph has no {name} to pick the nodes with.",
                    f"graph keys {sorted(graph.keys())}",
                    f"graph.{name}, a bool tensor with one entry per node",
                    f"Add graph.{name} = torch.zeros({num_nodes}, dtype=torch.bool) "
                    "with True for the nodes to use (or pass mask=None to use every node).",
                )
            )
    else:
        name, value = (
            "mask",
            torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask),
        )
    if (
        not isinstance(value, torch.Tensor)
        or value.dtype != torch.bool
        or value.shape != (num_nodes,)
    ):
        raise ShapeError(
            message(
                f"{name} must be a bool tensor with one entry per node.",
                _describe(value)
                + (f", dtype {value.dtype}" if isinstance(value, torch.Tensor) else ""),
                f"shape ({num_nodes},), dtype torch.bool",
                "Build it with torch.zeros(graph.num_nodes, dtype=torch.bool) and set the "
                "wanted nodes.",
            )
        )
    if not bool(value.any()):
        raise DataError(
            message(
                f"{name} selects no nodes.",
                "an all-False mask",
                "at least one True entry",
                "Mark the nodes to use with True.",
            )
        )
    return value.to(graph.x.device)


class GraphBatches:
    """Graph batches of a torch_geometric loader, moved to ``device`` as they are drawn; each is
    ``(graph,)``."""

    def __init__(self, loader: Any, device: torch.device) -> None:
        self.loader, self.device = loader, device
        self.generator = getattr(
            loader, "generator", None
        )  # checkpoints save it to resume the batch order

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any]]:
        return (
            (batch.to(self.device),) for batch in self.loader
        )  # fresh batches: moving in place is fine


class GraphInputsMixin:
    """Graph data for ``fit``, ``evaluate`` and ``predict`` of the graph networks: checks, masks and
    loaders on the engine's device."""

    task: str
    _check_input: Any

    def _graphs(self, x: Any, y: Any, what: str, labels: bool) -> Any:
        """``x`` as one checked ``Data`` (node task) or a list / Dataset / DataLoader of graphs
        (graph task)."""
        pyg = import_pyg()
        if y is not None:
            raise ConfigError(
                message(
                    f"{type(self).__name__}.{what}() reads the labels from the graphs.",
                    f"y of type {type(y).__name__}",
                    "y=None, with labels in graph.y",
                    "Set graph.y and drop the y argument.",
                )
            )
        if hasattr(x, "extra") or isinstance(x, Mapping):
            x = to_graph(x)
        if self.task == "node":
            if not is_graph(x):
                raise DataError(
                    message(
                        "A node-task model takes one graph.",
                        type(x).__name__,
                        "a torch_geometric.data.Data (or lamina.datasets.load('cora'))",
                        "Build Data(x=..., edge_index=..., y=..., train_mask=...).",
                    )
                )
            check_graph(x, "node", labels)
            self._check_input(x.x)
            return x
        if is_graph(x):
            x = [x]
        if isinstance(x, (list, tuple)):
            if not x or not all(is_graph(g) for g in x):
                raise DataError(
                    message(
                        "A graph-task model takes a list of graphs.",
                        f"{type(x).__name__} of {sorted({type(g).__name__ for g in x})}",
                        "a non-empty list of torch_geometric.data.Data",
                        "Pass [Data(x=..., edge_index=..., y=...), ...].",
                    )
                )
            graphs = list(x)
        elif isinstance(x, (pyg.loader.DataLoader, pyg.data.Dataset)):
            graphs = [
                (x.dataset if isinstance(x, pyg.loader.DataLoader) else x)[0]
            ]  # check the first one
        else:
            raise DataError(
                message(
                    "A graph-task model takes graphs.",
                    type(x).__name__,
                    "a list of Data, a torch_geometric Dataset or DataLoader",
                    "Pass [Data(...), ...].",
                )
            )
        for graph in graphs:
            check_graph(graph, "graph", labels)
            self._check_input(graph.x)
        return list(x) if isinstance(x, (list, tuple)) else x

    def _loader(
        self,
        graphs: Any,
        batch_size: int,
        shuffle: bool,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> GraphBatches:
        pyg = import_pyg()
        if not isinstance(graphs, pyg.loader.DataLoader):
            graphs = pyg.loader.DataLoader(
                graphs, batch_size=batch_size, shuffle=shuffle, generator=generator
            )
        return GraphBatches(graphs, device)

    def _fit_data(
        self,
        x: Any,
        y: Any,
        validation_split: float,
        validation_data: Any,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator,
        engine: Engine,
        sample_weight: Any = None,
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        if sample_weight is not None:
            raise ConfigError(
                message(
                    "Graph models take no sample_weight.",
                    type(sample_weight).__name__,
                    "sample_weight=None",
                    "Use class_weight, or a mask that leaves out nodes.",
                )
            )
        graphs = self._graphs(x, y, "fit", labels=True)
        validation = (
            None
            if validation_data is None
            else self._eval_loader(validation_data, None, 256, engine, "val")
        )
        if self.task == "node":
            if validation_split:
                raise ConfigError(
                    message(
                        "Node tasks hold out nodes with graph.val_mask.",
                        f"validation_split={validation_split}",
                        "validation_split=0",
                        "Set graph.val_mask (bool, one entry per node) instead.",
                    )
                )
            graph = graph_on(graphs, engine.device)
            mask = node_mask(graph, "train")
            if validation is None and getattr(graph, "val_mask", None) is not None:
                validation = self._eval_loader(graph, None, 256, engine, "val")
            return [(graph, mask)], validation, (graph.x, graph.y[mask])
        if validation_split:
            if not isinstance(graphs, list) or not 0.0 < validation_split < 1.0:
                raise ConfigError(
                    message(
                        "validation_split holds out the last graphs of a list.",
                        f"validation_split={validation_split} with {type(graphs).__name__}",
                        "a list of graphs and 0 < validation_split < 1",
                        "Pass a list, or validation_data=a list of graphs.",
                    )
                )
            cut = len(graphs) - max(1, round(len(graphs) * validation_split))
            graphs, held_out = graphs[:cut], graphs[cut:]
            validation = self._loader(held_out, 256, False, engine.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        train = self._loader(
            graphs, batch_size, shuffle, engine.device, torch.Generator().manual_seed(seed)
        )
        first = graph_on(train.loader.dataset[0], engine.device)
        return train, validation, (first.x, first.y)

    def _eval_loader(
        self, x: Any, y: Any, batch_size: int, engine: Engine, mask: Any = "test"
    ) -> Any:
        graphs = self._graphs(x, y, "evaluate", labels=True)
        if self.task == "node":
            graph = graph_on(graphs, engine.device)
            return [(graph, node_mask(graph, mask))]
        return self._loader(graphs, batch_size, False, engine.device)
