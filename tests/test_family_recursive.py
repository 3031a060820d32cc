"""RecursiveNet: trees and their encoding, the model contract, a node-by-node oracle, batching, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.datasets.synthetic_trees import LABELS, arithmetic_trees, evaluate, flatten
from lamina.errors import ConfigError, DataError, ShapeError
from lamina.trees import Tree, decode, encode

import lamina
from lamina.models.recursive import RecursiveNet


@pytest.fixture
def tiny():
    trees, values = arithmetic_trees(64, max_depth=3, seed=0)
    return trees, (values > 0).astype(np.int64)


def _model(cell="treelstm", arity=2, **kwargs):
    return RecursiveNet(cell=cell, units=8, outputs=2, arity=arity, labels=list(LABELS), **kwargs)


# ------------------------------------------------------------------ trees
def test_parse_repr_size_depth_and_post_order():
    tree = Tree.parse(("+", ("3",), ("*", ("2",), ("-1",))))
    assert repr(tree) == "(+ 3 (* 2 -1))"
    assert (tree.size, tree.depth, Tree("7").depth) == (5, 2, 0)
    assert [node.label for node in tree] == [
        "3",
        "2",
        "-1",
        "*",
        "+",
    ]  # children before parents, root last
    assert Tree.parse(tree.to_tuple()) == tree and hash(Tree.parse(tree.to_tuple())) == hash(tree)
    assert Tree.parse(("+", "3", ("*", "2", "-1"))) == tree  # bare labels are leaves
    assert Tree.parse(("+", "2", "3")) != Tree.parse(("+", "3", "2"))
    with pytest.raises(AttributeError, match="immutable"):
        tree.label = "-"


def test_encode_layout_and_decode_round_trip():
    trees, _ = arithmetic_trees(40, seed=1)
    array = encode(trees, LABELS)
    assert array.dtype == np.int64 and array.shape == (40, max(t.size for t in trees), 3)
    assert decode(array, LABELS) == trees
    small = encode([Tree.parse(("-", "4", "9"))], {"-": 1, "4": 2, "9": 3}, max_nodes=5)
    assert small[0].tolist() == [[2, -1, -1], [3, -1, -1], [1, 0, 1], [0, -1, -1], [0, -1, -1]]
    ids = encode([Tree(5, [Tree(2), Tree(3), Tree(4)])])  # token-id labels, no vocabulary
    assert ids[0, -1].tolist() == [5, 0, 1, 2] and decode(ids) == [
        Tree(5, [Tree(2), Tree(3), Tree(4)])
    ]


def test_from_parents_builds_the_tree_and_keeps_child_order():
    tree = Tree.from_parents(np.array([3, 3, 4, 4, -1]), ["1", "2", "3", "+", "*"])
    assert tree == Tree.parse(("*", "3", ("+", "1", "2")))
    deep = Tree.from_parents([-1, *range(2999)], [1] * 3000)  # a chain: no recursion anywhere
    assert (deep.size, deep.depth) == (3000, 2999) and len(repr(deep)) > 3000


@pytest.mark.parametrize(
    "parents,pattern",
    [
        ([-1, 2, 3, 1], r"cycle.*nodes \[1, 2, 3\]"),
        ([1, 2, 0], r"cycle.*nodes \[0, 1, 2\].*0 root"),
        ([-1, 1], r"cycle.*nodes \[1\] \(1 -> 1"),
        ([-1, -1, 0], r"exactly one root.*2 roots: nodes \[0, 1\]"),
        ([-1, 5], r"out of range.*node 1 has parent 5"),
    ],
)
def test_from_parents_rejects_cycles_and_several_roots(parents, pattern):
    with pytest.raises(DataError, match=pattern):
        Tree.from_parents(parents, ["a"] * len(parents))


def test_encode_bad_input():
    with pytest.raises(DataError, match=r"label '%' in tree 1"):
        encode([Tree.parse(("+", "1", "2")), Tree.parse(("%", "1", "2"))], LABELS)
    with pytest.raises(DataError, match="non-empty list"):
        encode([], LABELS)
    with pytest.raises(DataError, match="max_children=2"):
        encode([Tree("+", [Tree("1")] * 3)], LABELS, max_children=2)
    with pytest.raises(DataError, match="token ids >= 1"):
        encode([Tree("+")])
    with pytest.raises(DataError, match="0 is the padding label"):
        encode([Tree("+")], {"+": 0})


def test_arithmetic_trees_are_reproducible_and_bounded():
    trees, values = arithmetic_trees(300, max_depth=4, seed=7)
    again, _ = arithmetic_trees(300, max_depth=4, seed=7)
    assert trees == again
    assert {t.depth for t in trees} == {1, 2, 3, 4}
    assert all(evaluate(t) == v for t, v in zip(trees, values)) and np.abs(values).max() <= 9
    assert 0.3 < (values > 0).mean() < 0.6  # roughly balanced sign classes
    assert flatten(Tree.parse(("-", ("*", "7", "8"), "-3"))) == "( ( 7 * 8 ) - -3 )"
    assert (
        evaluate(Tree.parse(("-", ("*", "7", "8"), "-3"))) == 9
    )  # 56 saturates to 9, then 9 + 3 -> 9


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize(
    "cell,arity", [("treelstm", 2), ("treelstm", None), ("rvnn", 2), ("rvnn", None)]
)
def test_check_model_both_cells(tiny, cell, arity):
    report = lamina.testing.check_model(_model(cell, arity), *tiny, epochs=6)
    assert report["output_shape"] == (64, 2)


def test_parameter_count():
    hidden, embedding = 8, 5
    model = RecursiveNet(
        units=hidden, outputs=3, arity=2, labels=list(LABELS), embedding_dim=embedding
    )
    node, children, forget = (
        embedding * 4 * hidden + 4 * hidden,
        2 * hidden * 3 * hidden,
        2 * hidden * 2 * hidden,
    )
    expected = (len(LABELS) + 1) * embedding + node + children + forget + hidden * 3 + 3
    assert sum(p.numel() for p in model.parameters()) == expected


# ------------------------------------------------------------------ numerics
def _reference(model, tree, ids):
    """Tai et al. (2015) equations, one node at a time, by plain recursion over the Tree."""
    size, arity = model.units, model.arity
    kids = [_reference(model, child, ids) for child in tree.children]
    zero = torch.zeros(size, dtype=torch.float64)
    hs, cs = [k[0] for k in kids], [k[1] for k in kids]
    if arity is not None:
        hs, cs = hs + [zero] * (arity - len(hs)), cs + [zero] * (arity - len(cs))
    summary = torch.cat(hs) if arity is not None else sum(hs, zero)
    wx = F.linear(model.embedding.weight[ids[tree.label]], model.node.weight, model.node.bias)
    u_weight = model.children_in.weight
    if model.cell == "rvnn":
        h = torch.tanh(wx + u_weight @ summary)
        return h, h
    i = torch.sigmoid(wx[:size] + u_weight[:size] @ summary)
    o = torch.sigmoid(wx[size : 2 * size] + u_weight[size : 2 * size] @ summary)
    u = torch.tanh(wx[2 * size : 3 * size] + u_weight[2 * size :] @ summary)
    c = i * u
    for k, (h_k, c_k) in enumerate(zip(hs, cs)):
        forget_weight = (
            model.forget.weight[k * size : (k + 1) * size]
            if arity is not None
            else model.forget.weight
        )
        c = (
            c
            + torch.sigmoid(
                wx[3 * size :] + forget_weight @ (summary if arity is not None else h_k)
            )
            * c_k
        )
    return o * torch.tanh(c), c


@pytest.mark.parametrize(
    "cell,arity",
    [("treelstm", 2), ("treelstm", None), ("treelstm", 3), ("rvnn", 2), ("rvnn", None)],
)
def test_batched_by_level_matches_node_by_node_recursion(cell, arity):
    torch.manual_seed(0)
    trees, _ = arithmetic_trees(12, max_depth=5, seed=2)
    trees.append(Tree("+", [Tree("1")]))  # a node with fewer children than arity
    model = _model(cell, arity).double()
    ids = {label: i + 1 for i, label in enumerate(LABELS)}
    out = model(torch.as_tensor(encode(trees, LABELS)))
    expected = torch.stack([model.head(_reference(model, tree, ids)[0]) for tree in trees])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    expected_grads = torch.autograd.grad(expected.square().sum(), list(model.parameters()))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=0)


def test_one_step_per_level_not_per_node():
    trees, _ = arithmetic_trees(32, max_depth=6, seed=3)
    model = _model()
    calls = []
    model.node.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    model(torch.as_tensor(encode(trees, LABELS)))
    assert (
        len(calls) == max(t.depth for t in trees) + 1
    )  # one cell call per height, over the whole batch
    assert sum(calls) == sum(t.size for t in trees)


def test_batching_invariance():
    model = _model().eval()
    small = Tree.parse(("+", "1", ("*", "2", "3")))
    big, _ = arithmetic_trees(9, max_depth=6, seed=4)
    alone = model.predict([small])
    batch = model.predict(
        [*big[:4], small, *big[4:]]
    )  # padded to the biggest tree, other positions
    np.testing.assert_allclose(batch[4], alone[0], atol=1e-6)
    np.testing.assert_allclose(
        model.predict(encode([small], LABELS, max_nodes=40, max_children=2)), alone, atol=1e-6
    )


def test_child_sum_ignores_child_order_n_ary_does_not():
    left, right = Tree.parse(("-", "7", ("*", "2", "3"))), Tree.parse(("-", ("*", "2", "3"), "7"))
    child_sum, binary = _model(arity=None).eval(), _model(arity=2).eval()
    np.testing.assert_allclose(child_sum.predict([left]), child_sum.predict([right]), atol=1e-6)
    assert not np.allclose(binary.predict([left]), binary.predict([right]))


# ------------------------------------------------------------------ training and persistence
def test_loss_falls_and_learns_the_root_operator():
    trees, _ = arithmetic_trees(96, max_depth=3, seed=5)
    y = np.array([LABELS.index(t.label) for t in trees])  # which operator is at the root: 0, 1 or 2
    model = RecursiveNet(units=16, outputs=3, arity=2, labels=list(LABELS))
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2)
    history = model.fit(trees, y, epochs=10, batch_size=32, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(trees, y)["accuracy"] == 1.0


def test_save_load_round_trip(tmp_path, tiny):
    trees, y = tiny
    model = _model(embedding_dim=4)
    model.compile(optimizer="adam", loss="cross_entropy", learning_rate=1e-2)
    model.fit(trees, y, epochs=2, validation_data=(trees[:8], y[:8]), verbose=0, seed=0)
    reloaded = lamina.load(model.save(str(tmp_path / "recursive")))
    assert type(reloaded) is RecursiveNet and reloaded.get_params() == model.get_params()
    np.testing.assert_array_equal(reloaded.predict(trees), model.predict(trees))
    np.testing.assert_array_equal(
        reloaded.predict(encode(trees[:3], LABELS)), model.predict(trees[:3])
    )


def test_fit_seed_fixes_the_initial_weights(tiny):
    trees, y = tiny
    predictions = []
    for torch_seed in (1, 2):  # different global RNG states when the models are constructed
        torch.manual_seed(torch_seed)
        model = _model().compile(optimizer="adam", loss="cross_entropy")
        model.fit(trees, y, epochs=1, verbose=0, seed=0)
        predictions.append(model.predict(trees))
    np.testing.assert_array_equal(*predictions)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"cell": "gru"}, "'treelstm', 'rvnn'"),
        ({"units": 0}, "units=0"),
        ({"arity": 0}, "arity=0"),
        ({"labels": None}, "vocabulary_size or labels"),
        ({"labels": ["+", "+"]}, "distinct"),
        ({"vocabulary_size": 2}, "vocabulary_size=2"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        RecursiveNet(**{"labels": ["+", "1"], **kwargs})


def test_bad_input_names_the_problem(tiny):
    trees, y = tiny
    model = _model().compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(DataError, match="label '10' in tree 0"):
        model.fit([Tree.parse(("+", "10", "1"))], [0], verbose=0)
    with pytest.raises(DataError, match="got no data"):
        model.fit([], [], verbose=0)
    with pytest.raises(DataError, match="max_children=2"):
        model.predict([Tree("+", [Tree("1")] * 3)])
    with pytest.raises(ShapeError, match="encoded trees"):
        model.predict(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ShapeError, match="encoded trees"):
        model.predict(np.ones((2, 3, 3), dtype=np.float32))
    with pytest.raises(DataError, match="label id 99"):
        model.predict(np.array([[[99, -1, -1]]]))
    with pytest.raises(DataError, match="tree 0, node 0, children \\[1, -1\\]"):
        model.predict(np.array([[[4, 1, -1], [5, -1, -1]]]))  # a child after its parent
    with pytest.raises(DataError, match="padding"):
        model.predict(np.array([[[0, -1, -1], [5, -1, -1]]]))
