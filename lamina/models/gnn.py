"""``lamina.models.GCN``, ``GAT`` and ``GraphSAGE``: graph networks on torch_geometric layers.

Needs ``torch_geometric`` (``pip install "lamina[graph]"``); it is imported only when a model is
built. Graphs are ``torch_geometric.data.Data`` objects: ``x`` (num_nodes, features), ``edge_index``
(2, num_edges) and ``y``. Two tasks share each class:

* ``task="node"`` (node classification, full batch): ``fit(graph)`` trains on the nodes of
  ``graph.train_mask`` and reports validation metrics on ``graph.val_mask`` when it has one;
  ``evaluate(graph, mask="test")`` scores the nodes of ``graph.test_mask`` (any mask name, a bool
  mask, or ``None`` for every node); ``predict(graph)`` returns one row of logits per node.
  ``lamina.datasets.load("cora")`` goes straight into ``fit`` (or through :func:`to_graph`).
* ``task="graph"`` (graph classification): ``fit`` takes a list of graphs (each ``y`` one label),
  a torch_geometric ``Dataset`` or ``DataLoader``; node states are pooled per graph
  (``pooling``) and a linear layer gives the logits; ``predict`` returns one row per graph.

Layers size themselves on the first graph (``in_channels=-1``), so one class fits any feature count.

>>> import lamina
>>> from lamina.models.gnn import GCN, to_graph
>>> graph = to_graph({"x": np.eye(4, dtype="float32"), "edge_index": [[0, 1, 2], [1, 2, 3]],
...                   "y": [0, 0, 1, 1], "train_mask": [True, False, True, False]})
>>> model = GCN(units=8, outputs=2).compile(optimizer="adam", loss="cross_entropy")
>>> history = model.fit(graph, epochs=3, verbose=0, seed=0)
>>> model.predict(graph).shape
(4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.errors import ConfigError, message
from lamina.models._names import check_dropout, refuse_renamed
from lamina.models.base import Model
from lamina.models.gnn_data import GraphInputsMixin, graph_on, import_pyg, is_graph, to_graph

__all__ = ["GAT", "GCN", "GraphSAGE", "to_graph"]

TASKS = ("node", "graph")
POOLINGS = ("mean", "max", "add")


def _input_dropout(x: torch.Tensor, rate: float, training: bool, sparse: bool) -> torch.Tensor:
    """Dropout on the input features, drawing random numbers only for the non-zero entries of a
    mostly-zero input.

    A dropped zero stays zero, so the result has the distribution of ``F.dropout`` (the GCN paper's
    sparse dropout); on bag-of-words features (Cora: 1.3% non-zero) it is several times faster. With
    ``sparse`` such an input comes back as a sparse COO tensor, for layers whose first step is a
    matrix product.
    """
    if not training or rate == 0.0 or 10 * int(torch.count_nonzero(x)) > x.numel():
        return F.dropout(x, rate, training)
    nonzero = x.nonzero(as_tuple=True)  # (rows, columns) of the non-zero entries
    values = F.dropout(x[nonzero], rate, True)
    if sparse:
        return torch.sparse_coo_tensor(
            torch.stack(nonzero), values, x.shape, is_coalesced=True, check_invariants=False
        )
    return torch.zeros_like(x).index_put_(nonzero, values)


# ---------------------------------------------------------------- the shared base
class _GraphModel(GraphInputsMixin, Model):
    """What GCN, GAT and GraphSAGE share: argument checks, the forward pass, graph input and the
    steps."""

    convs: nn.ModuleList
    head: nn.Module | None
    _sparse_input = False  # True: the first layer starts with a product that takes a sparse input

    def _setup(
        self, hidden_size: Any, outputs: Any, num_layers: Any, dropout: Any, task: Any, pooling: Any
    ) -> Any:
        name = type(self).__name__
        for arg, value in (
            ("units", hidden_size),
            ("outputs", outputs),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    message(
                        f"{name} {arg} must be a positive int.",
                        f"{arg}={value!r}",
                        "an int >= 1",
                        f"Pass e.g. {arg}=2.",
                    )
                )
        check_dropout(name, dropout)
        if task not in TASKS:
            raise ConfigError(
                message(
                    f"Unknown {name} task.",
                    repr(task),
                    "'node' or 'graph'",
                    "Pass task='node' to classify nodes, task='graph' to classify whole graphs.",
                )
            )
        if pooling not in POOLINGS:
            raise ConfigError(
                message(
                    f"Unknown {name} pooling.",
                    repr(pooling),
                    f"one of {POOLINGS}",
                    "Pass pooling='mean' (used with task='graph').",
                )
            )
        self.hidden_size, self.outputs, self.num_layers = hidden_size, outputs, num_layers
        self.dropout, self.task, self.pooling = dropout, task, pooling
        return import_pyg().nn

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)

    def forward(
        self, x: Any, edge_index: torch.Tensor | None = None, batch: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits per node (``task="node"``) or per graph (``task="graph"``).

        Args:
            x: node features (num_nodes, features), or a ``Data``/``Batch`` (its ``x``,
                ``edge_index``, ``batch``).
            edge_index: (2, num_edges) node ids; None for nodes without edges.
            batch: (num_nodes,) graph id of each node (graph task); None for one graph.

        Returns:
            (num_nodes, outputs) for node tasks, (num_graphs, outputs) for graph tasks.
        """
        graphs = None  # the number of graphs, when a Batch tells it
        if is_graph(x):
            x, edge_index, batch, graphs = (
                x.x,
                x.edge_index,
                getattr(x, "batch", None),
                getattr(x, "num_graphs", None),
            )
        if edge_index is None:
            edge_index = torch.empty((2, 0), dtype=torch.long, device=x.device)
        last = len(self.convs) - 1
        for index, conv in enumerate(self.convs):
            if index == 0:  # the input features are often sparse (bag of words)
                x = conv(
                    _input_dropout(x, self.dropout, self.training, self._sparse_input), edge_index
                )
            else:
                x = conv(F.dropout(x, self.dropout, self.training), edge_index)
            if self.head is not None or index < last:  # the last node-task conv gives the logits
                x = self._activate(x)
        if self.head is None:
            return x  # type: ignore[no-any-return]
        pool = getattr(import_pyg().nn, f"global_{self.pooling}_pool")
        pooled = pool(x, batch, graphs)  # (num_nodes, hidden) -> (num_graphs, hidden)
        return self.head(F.dropout(pooled, self.dropout, self.training))  # type: ignore[no-any-return]

    def build(self, x: Any) -> torch.Tensor:
        """Size the lazy layers on node features (or a graph's ``x``), then initialise every weight
        afresh.

        The fresh initialisation uses torch's generator as seeded by ``fit(seed=...)``, so a seeded
        fit is repeatable whatever the RNG state was at construction. Returns the output for two
        nodes.
        """
        fresh = not self.is_built()
        out = super().build(x.x if is_graph(x) else x)
        if fresh:
            for module in (*self.convs, self.head):
                if module is not None:
                    module.reset_parameters()
        return out

    def evaluate(
        self, x: Any, y: Any = None, *, mask: Any = "test", batch_size: int = 256
    ) -> dict[str, float]:
        """Loss and compiled metrics: a dict of metric name -> float.

        Args:
            x: a graph (node task; also ``lamina.datasets.load("cora")``), or graphs (graph task).
            y: must be None: the labels are ``graph.y``.
            mask: node tasks: the nodes to score, a name (``"test"`` -> ``graph.test_mask``,
                ``"val"``, ``"train"``), a bool mask of length num_nodes, or None for every node.
                Graph tasks: unused.
            batch_size: graphs per batch (graph task).
        """
        self._compiled_or_raise("evaluate")
        self._require_built("evaluate")
        engine = self._engine()
        return engine.evaluate(self, self._eval_loader(x, y, batch_size, engine, mask))

    def predict(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """Logits as a NumPy array: (num_nodes, outputs) for a graph (node task), (num_graphs,
        outputs) for graphs."""
        self._require_built("predict")
        engine = self._engine()
        graphs = self._graphs(x, None, "predict", labels=False)
        loader: Any = (
            [(graph_on(graphs, engine.device),)]
            if self.task == "node"
            else self._loader(graphs, batch_size, False, engine.device)
        )
        return engine.predict(self, loader).cpu().numpy()  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- steps
    def _logits_and_targets(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        graph = batch[0]
        out, y = self(graph), graph.y
        mask = batch[1] if len(batch) > 1 else None
        return (
            (out, y) if mask is None else (out[mask], y[mask])
        )  # only the masked nodes: (n, outputs), (n,)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One full-graph step (node task, ``batch = (graph, mask)``) or one step on a ``(Batch,)``
        of graphs."""
        engine = self.engine
        with engine.autocast():
            out, y = self._logits_and_targets(batch)
            loss = self.compute_loss(out, y, self._weights((), y))  # () -> only class weights apply
        engine.optimize(self, loss)
        self.update_metrics(out.detach(), y)
        return {"loss": loss.detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Loss and metrics on the masked nodes, or on a batch of graphs."""
        out, y = self._logits_and_targets(batch)
        self.update_metrics(out, y)
        return {"loss": self.compute_loss(out, y)}

    def predict_step(self, x: Any) -> torch.Tensor:
        """Logits for a graph or a batch of graphs."""
        return self(x)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the three families
class GCN(_GraphModel):
    """Graph convolutional network (Kipf and Welling, 2017): ``H' = D^-1/2 (A + I) D^-1/2 H W + b``.

    Args:
        units: units of each hidden graph convolution.
        outputs: logits per node (node task) or per graph (graph task): the number of classes.
        num_layers: graph convolutions. Node task: ``num_layers - 1`` hidden ones, then one to
            ``outputs``; graph task: ``num_layers`` hidden ones, pooling, then a linear layer.
        dropout: rate before each convolution (and before the graph-task linear layer), in
            ``[0, 1)``.
        task: ``"node"`` or ``"graph"`` (see the module docstring).
        pooling: ``"mean"``, ``"max"`` or ``"add"`` over each graph's nodes (graph task).

    Hidden layers use ReLU. ``model(x, edge_index, batch=None)`` or ``model(graph)``.

    >>> GCN(units=4, outputs=3)(torch.ones(5, 2), torch.tensor([[0, 1], [1, 2]])).shape
    torch.Size([5, 3])
    """

    _lamina_name = "lamina.models.GCN"
    _sparse_input = True

    def __init__(
        self,
        units: int = 16,
        outputs: int = 2,
        num_layers: int = 2,
        dropout: float = 0.5,
        task: str = "node",
        pooling: str = "mean",
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("GCN", renamed)
        hidden_size = units
        geometric = self._setup(hidden_size, outputs, num_layers, dropout, task, pooling)
        sizes = [hidden_size] * (num_layers - 1) + [hidden_size if task == "graph" else outputs]
        self.convs = nn.ModuleList(geometric.GCNConv(-1, size) for size in sizes)
        self.head = nn.Linear(hidden_size, outputs) if task == "graph" else None


class GAT(_GraphModel):
    """Graph attention network (Velickovic et al., 2018): each node attends over its neighbours.

    Args:
        units: units per attention head in the hidden layers (their output is
            ``num_heads * units``).
        outputs: logits per node (node task) or per graph (graph task).
        num_heads: attention heads of each hidden layer, concatenated. The node-task output layer
            has one head.
        num_layers: attention layers, as in :class:`GCN`.
        dropout: rate on each layer's input and on the attention coefficients, in ``[0, 1)``.
        task: ``"node"`` or ``"graph"``.
        pooling: ``"mean"``, ``"max"`` or ``"add"`` (graph task).

    Hidden layers use ELU, as in the paper.

    >>> GAT(units=4, num_heads=2, outputs=3)(torch.ones(5, 2), torch.tensor([[0, 1], [1, 2]])).shape
    torch.Size([5, 3])
    """

    _lamina_name = "lamina.models.GAT"
    _sparse_input = True

    def __init__(
        self,
        units: int = 8,
        outputs: int = 2,
        num_heads: int = 8,
        num_layers: int = 2,
        dropout: float = 0.6,
        task: str = "node",
        pooling: str = "mean",
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("GAT", renamed)
        hidden_size = units
        heads = num_heads
        geometric = self._setup(hidden_size, outputs, num_layers, dropout, task, pooling)
        if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1:
            raise ConfigError(
                message(
                    "GAT num_heads must be a positive int.",
                    f"num_heads={heads!r}",
                    "an int >= 1",
                    "Pass num_heads=8 (the paper's hidden layers).",
                )
            )
        self.num_heads = heads
        hidden = num_layers if task == "graph" else num_layers - 1
        convs = [
            geometric.GATConv(-1, hidden_size, heads=heads, dropout=dropout) for _ in range(hidden)
        ]
        if task == "node":  # the paper's output layer: one head
            convs.append(geometric.GATConv(-1, outputs, heads=1, concat=False, dropout=dropout))
        self.convs = nn.ModuleList(convs)
        self.head = nn.Linear(hidden_size * heads, outputs) if task == "graph" else None

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x)


class GraphSAGE(_GraphModel):
    """GraphSAGE (Hamilton et al., 2017): ``h' = W1 h + W2 aggregate(neighbours' h)``.

    Args:
        units: units of each hidden layer.
        outputs: logits per node (node task) or per graph (graph task).
        num_layers: SAGE layers, as in :class:`GCN`.
        dropout: rate before each layer (and the graph-task linear layer), in ``[0, 1)``.
        aggregation: ``"mean"``, ``"max"`` or ``"add"`` over each node's neighbours.
        task: ``"node"`` or ``"graph"``.
        pooling: ``"mean"``, ``"max"`` or ``"add"`` (graph task).

    Hidden layers use ReLU.

    >>> GraphSAGE(units=4, outputs=3)(torch.ones(5, 2), torch.tensor([[0, 1], [1, 2]])).shape
    torch.Size([5, 3])
    """

    _lamina_name = "lamina.models.GraphSAGE"

    def __init__(
        self,
        units: int = 64,
        outputs: int = 2,
        num_layers: int = 2,
        dropout: float = 0.5,
        aggregation: str = "mean",
        task: str = "node",
        pooling: str = "mean",
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("GraphSAGE", renamed)
        hidden_size = units
        geometric = self._setup(hidden_size, outputs, num_layers, dropout, task, pooling)
        if aggregation not in POOLINGS:
            raise ConfigError(
                message(
                    "Unknown GraphSAGE aggregation.",
                    repr(aggregation),
                    f"one of {POOLINGS}",
                    "Pass aggregation='mean' (the paper's default).",
                )
            )
        self.aggregation = aggregation
        sizes = [hidden_size] * (num_layers - 1) + [hidden_size if task == "graph" else outputs]
        self.convs = nn.ModuleList(geometric.SAGEConv(-1, size, aggr=aggregation) for size in sizes)
        self.head = nn.Linear(hidden_size, outputs) if task == "graph" else None
