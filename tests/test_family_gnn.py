"""GCN, GAT, GraphSAGE: the model contract for node and graph tasks, a dense-formula oracle, masks, bad input."""

import sys

import numpy as np
import pytest
import torch
from lamina.errors import ConfigError, DataError, ShapeError

import lamina
from lamina.models.gnn import GAT, GCN, GraphSAGE, to_graph

torch_geometric = pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch, Data  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402

FAMILIES = [
    GCN(units=8, outputs=2),
    GAT(units=4, num_heads=2, outputs=2),
    GraphSAGE(units=8, outputs=2),
]


def tiny_graph(num_nodes=24, features=6, seed=0):
    """Two classes (node parity); edges join nodes of one class; feature 0 carries a noisy class signal."""
    rng = np.random.default_rng(seed)
    y = np.arange(num_nodes) % 2
    source = np.arange(num_nodes)
    target = (source + 2) % num_nodes  # same parity: a ring per class
    x = rng.normal(size=(num_nodes, features)).astype(np.float32)
    x[:, 0] += 1.5 * (2 * y - 1)
    nodes = np.arange(num_nodes)
    return to_graph(
        {
            "x": x,
            "y": y,
            "edge_index": np.concatenate([[source, target], [target, source]], axis=1),
            "train_mask": nodes < 12,
            "val_mask": (nodes >= 12) & (nodes < 18),
            "test_mask": nodes >= 18,
        }
    )


def tiny_graphs(count=16, seed=0):
    """Small path graphs of 3 to 6 nodes; the label shifts every node's features."""
    rng = np.random.default_rng(seed)
    graphs = []
    for index in range(count):
        size, label = 3 + index % 4, index % 2
        path = np.arange(size - 1)
        edges = torch.tensor(np.concatenate([[path, path + 1], [path + 1, path]], axis=1))
        x = torch.tensor(rng.normal(size=(size, 3)) + 1.5 * (2 * label - 1), dtype=torch.float32)
        graphs.append(Data(x=x, edge_index=edges, y=torch.tensor([label])))
    return graphs


def fitted(model, graph, epochs=20):
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2)
    model.fit(graph, epochs=epochs, verbose=0, seed=0)
    return model


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("model", FAMILIES, ids=lambda m: type(m).__name__)
def test_check_model_node_task(model):
    graph = tiny_graph()
    report = lamina.testing.check_model(model, graph, None)
    assert report["output_shape"] == (24, 2)
    assert repr(model).startswith(f"lamina.models.{type(model).__name__}")


@pytest.mark.parametrize("cls", [GCN, GAT, GraphSAGE])
def test_check_model_graph_task(cls):
    report = lamina.testing.check_model(
        cls(units=8, outputs=2, task="graph"), tiny_graphs(), None, batch_size=4
    )
    assert report["output_shape"] == (16, 2)


def test_parameter_counts():
    graph = tiny_graph()  # 6 features
    gcn = GCN(units=8, outputs=3).compile(optimizer="adam", loss="cross_entropy")
    gcn.build(graph)
    assert sum(p.numel() for p in gcn.parameters()) == (6 * 8 + 8) + (8 * 3 + 3)
    gat = GAT(units=4, num_heads=2, outputs=3)
    gat.build(graph)  # per layer: linear weight, source and target attention vectors, bias
    assert sum(p.numel() for p in gat.parameters()) == (6 * 8 + 8 + 8 + 8) + (8 * 3 + 3 + 3 + 3)


# ------------------------------------------------------------------ oracle
def _dense_propagation(x, edge_index, num_nodes):
    adjacency = torch.zeros(num_nodes, num_nodes)
    adjacency[edge_index[1], edge_index[0]] = 1.0
    adjacency += torch.eye(num_nodes)  # A + I
    scale = adjacency.sum(1).pow(-0.5)
    return scale[:, None] * adjacency * scale[None, :] @ x  # D^-1/2 (A + I) D^-1/2 X


def test_gcn_matches_the_dense_formula():
    x = torch.rand(4, 5)
    edge_index = torch.tensor(
        [[0, 1, 1, 2, 2, 3, 0, 3], [1, 0, 2, 1, 3, 2, 3, 0]]
    )  # a 4-cycle, both directions
    edge_index = edge_index[:, :6]  # a path 0-1-2-3: degrees differ, so the normalisation matters
    model = GCN(units=3, outputs=2, num_layers=2, dropout=0.0).eval()
    model.build(x)
    first, second = model.convs
    weights = [torch.randn(3, 5), torch.randn(2, 3)]
    biases = [torch.randn(3), torch.randn(2)]
    with torch.no_grad():
        for conv, weight, bias in zip((first, second), weights, biases):
            conv.lin.weight.copy_(weight)
            conv.bias.copy_(bias)
    hidden = torch.relu(_dense_propagation(x, edge_index, 4) @ weights[0].T + biases[0])
    expected = _dense_propagation(hidden, edge_index, 4) @ weights[1].T + biases[1]
    torch.testing.assert_close(model(x, edge_index), expected)
    torch.testing.assert_close(model(Data(x=x, edge_index=edge_index)), expected)


@pytest.mark.parametrize("cls", [GCN, GraphSAGE])  # GCN takes the dropped input as a sparse tensor
def test_input_dropout_keeps_the_dropout_distribution(cls):
    x = torch.zeros(200, 50)
    x[torch.arange(200), torch.arange(200) % 50] = 1.0  # one-hot rows: mostly zeros
    model = cls(units=4, outputs=50, num_layers=1, dropout=0.5)
    model.build(x)
    conv = model.convs[0]
    with (
        torch.no_grad()
    ):  # no edges and identity weights: GCN's self-loop and SAGE's root weight give out = x
        for parameter in conv.parameters():
            parameter.zero_()
        (conv.lin if cls is GCN else conv.lin_r).weight.copy_(torch.eye(50))
    torch.testing.assert_close(model.eval()(x), x)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.train()(x)  # = dropout(x)
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    assert 0.4 < float(out.sum() / 2 / x.sum()) < 0.6


# ------------------------------------------------------------------ shapes and tasks
def test_node_task_shapes_and_layers():
    graph = tiny_graph()
    assert GCN(units=8, outputs=5, num_layers=3)(graph).shape == (24, 5)
    gat = GAT(units=4, num_heads=3, outputs=5)
    assert gat(graph).shape == (24, 5)
    assert (gat.convs[0].heads, gat.convs[1].heads, gat.convs[1].concat) == (3, 1, False)
    assert GraphSAGE(units=8, outputs=5, aggregation="max")(graph.x, graph.edge_index).shape == (
        24,
        5,
    )
    assert GCN(outputs=3)(torch.ones(5, 2)).shape == (5, 3)  # no edge_index: nodes without edges


@pytest.mark.parametrize("pooling", ["mean", "max", "add"])
def test_graph_task_pooling_keeps_graphs_apart(pooling):
    graphs = tiny_graphs(count=5)
    model = GAT(units=4, num_heads=2, outputs=3, task="graph", pooling=pooling).eval()
    batch = Batch.from_data_list(graphs)
    together = model(batch)
    assert together.shape == (5, 3)
    alone = torch.cat([model(g) for g in graphs])  # one graph at a time: batch=None
    torch.testing.assert_close(together, alone)
    model.compile(optimizer="adam", loss="cross_entropy")
    assert model.predict(graphs, batch_size=2).shape == (5, 3)
    assert model.predict(graphs[0]).shape == (1, 3)


def test_graph_task_loss_falls_with_a_dataloader_and_validation():
    graphs = tiny_graphs(count=24)
    model = GraphSAGE(units=8, outputs=2, task="graph", pooling="add")
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2)
    history = model.fit(
        DataLoader(graphs[:16], batch_size=4, shuffle=True),
        validation_data=graphs[16:],
        epochs=15,
        verbose=0,
        seed=0,
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert "val_accuracy" in history.history
    split = model.fit(graphs, validation_split=0.25, epochs=1, batch_size=4, verbose=0, seed=0)
    assert "val_loss" in split.history
    assert model.evaluate(graphs[16:])["accuracy"] >= 0.75


def test_node_task_masks_feed_fit_and_evaluate():
    graph = tiny_graph()
    model = fitted(GCN(units=8, outputs=2), graph, epochs=30)
    history = model.history_.history
    assert "val_accuracy" in history and len(history["val_accuracy"]) == 30  # val_mask present
    predicted = model.predict(graph).argmax(1)
    correct = predicted == graph.y.numpy()
    for mask, expected in [
        ("test", graph.test_mask),
        ("val_mask", graph.val_mask),
        (None, np.ones(24, bool)),
        (np.arange(24) < 5, np.arange(24) < 5),
    ]:
        expected = np.asarray(expected)
        assert model.evaluate(graph, mask=mask)["accuracy"] == pytest.approx(
            correct[expected].mean()
        )
    assert model.evaluate(graph)["accuracy"] >= 0.8


def test_seeded_fit_is_repeatable_whatever_the_rng_state_at_construction():
    graph = tiny_graph()
    torch.manual_seed(1)
    first = fitted(GAT(units=4, num_heads=2, outputs=2), graph, epochs=3).predict(graph)
    torch.manual_seed(2)
    second = fitted(GAT(units=4, num_heads=2, outputs=2), graph, epochs=3).predict(graph)
    np.testing.assert_array_equal(first, second)


@pytest.mark.needs_data("cora")
def test_cora_goes_straight_into_fit():
    splits = lamina.datasets.load("cora")
    graph = to_graph(splits, normalize=True)
    assert graph.x.shape == (2708, 1433) and graph.edge_index.shape == (2, 10556)
    assert int(graph.train_mask.sum()) == 140 and int(graph.test_mask.sum()) == 1000
    torch.testing.assert_close(graph.x.sum(1), torch.ones(2708))  # every Cora paper has some words
    model = GCN(units=4, outputs=7).compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"]
    )
    model.fit(splits, epochs=2, verbose=0, seed=0)
    assert set(model.evaluate(splits)) == {"loss", "accuracy"}
    assert model.predict(splits).shape == (2708, 7)


# ------------------------------------------------------------------ save / load
@pytest.mark.parametrize(
    "model",
    [
        GCN(units=8, outputs=3),
        GAT(units=4, num_heads=2, outputs=3, task="graph"),
        GraphSAGE(units=8, outputs=3, aggregation="max", task="graph", pooling="max"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_save_load_round_trip(tmp_path, model):
    data = tiny_graph() if model.task == "node" else tiny_graphs()
    fitted(model, data, epochs=2)
    reloaded = lamina.load(
        model.save(str(tmp_path / "model"))
    )  # rebuilt unbuilt, sized from the signature
    assert type(reloaded) is type(model) and reloaded.get_params() == model.get_params()
    np.testing.assert_array_equal(reloaded.predict(data), model.predict(data))
    assert reloaded.evaluate(data) == pytest.approx(model.evaluate(data))
    assert "Model:" in reloaded.summary(print_fn=None)


# ------------------------------------------------------------------ bad input
def test_edge_ids_out_of_range_name_the_id_and_the_node_count():
    graph = tiny_graph()
    graph.edge_index = torch.tensor([[0, 1], [1, 30]])
    model = GCN(outputs=2).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(DataError, match=r"names node 30, but the graph has 24 nodes"):
        model.fit(graph, verbose=0)
    graph.edge_index = torch.tensor([[-1], [0]])
    with pytest.raises(DataError, match=r"names node -1"):
        model.fit(graph, verbose=0)


def test_wrong_edge_index_shape_says_to_transpose():
    graph = tiny_graph()
    graph.edge_index = graph.edge_index.t().contiguous()  # (num_edges, 2)
    model = GCN(outputs=2).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(ShapeError, match=r"\(2, num_edges\).*Transpose"):
        model.fit(graph, verbose=0)
    graph.edge_index = torch.zeros(3, 4, dtype=torch.long)
    with pytest.raises(ShapeError, match=r"shape \(3, 4\)"):
        model.fit(graph, verbose=0)


def test_masks_of_the_wrong_length_or_missing():
    graph = tiny_graph()
    model = fitted(GCN(outputs=2), graph, epochs=1)
    with pytest.raises(
        ShapeError, match=r"one entry per node.*shape \(3,\).*Expected: shape \(24,\)"
    ):
        model.evaluate(graph, mask=np.ones(3, dtype=bool))
    with pytest.raises(ShapeError, match=r"dtype torch.int64"):
        model.evaluate(graph, mask=torch.ones(24, dtype=torch.long))
    bare = Data(x=graph.x, edge_index=graph.edge_index, y=graph.y)
    with pytest.raises(DataError, match=r"no train_mask.*Add graph.train_mask"):
        model.fit(bare, verbose=0)
    with pytest.raises(DataError, match=r"no test_mask.*mask=None"):
        model.evaluate(bare)
    graph.train_mask = graph.train_mask[:10]
    with pytest.raises(
        ShapeError, match=r"train_mask must be a bool tensor with one entry per node"
    ):
        model.fit(graph, verbose=0)


def test_other_bad_input():
    graph = tiny_graph()
    model = GCN(outputs=2).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(ConfigError, match=r"reads the labels from the graphs"):
        model.fit(graph, graph.y, verbose=0)
    with pytest.raises(ConfigError, match=r"graph.val_mask"):
        model.fit(graph, validation_split=0.2, verbose=0)
    with pytest.raises(DataError, match=r"takes one graph"):
        model.fit(tiny_graphs(), verbose=0)
    with pytest.raises(DataError, match=r"one label per graph"):
        GCN(task="graph").compile(optimizer="adam", loss="cross_entropy").fit([graph], verbose=0)
    model.fit(graph, verbose=0)
    with pytest.raises(ShapeError, match=r"input shape differs"):
        model.predict(Data(x=torch.ones(3, 4), edge_index=torch.tensor([[0], [1]])))
    with pytest.raises(DataError, match=r"class ids"):
        GCN(outputs=1).compile(optimizer="adam", loss="cross_entropy").fit(graph, verbose=0)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: GCN(task="edge"), "task"),
        (lambda: GCN(pooling="sum"), "pooling"),
        (lambda: GCN(num_layers=0), "num_layers"),
        (lambda: GCN(dropout=1.0), "dropout"),
        (lambda: GAT(num_heads=0), "num_heads"),
        (lambda: GraphSAGE(aggregation="lstm"), "aggregation"),
        (lambda: GraphSAGE(units=2.5), "units"),
    ],
)
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_missing_torch_geometric_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_geometric", None)  # import torch_geometric now fails
    with pytest.raises(ConfigError, match=r'pip install "lamina\[graph\]"'):
        GCN()
