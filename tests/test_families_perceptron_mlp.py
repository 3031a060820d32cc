"""Perceptron and MLP: the model contract, the perceptron rule by hand, XOR, variations, bad input."""

import numpy as np
import pytest
import torch
from lamina.errors import ConfigError, DataError

import lamina
from lamina.models import MLP, Perceptron

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])
OR_Y = np.array([0, 1, 1, 1])


@pytest.fixture
def data():
    return lamina.testing.tiny_classification(rows=96, features=6, classes=3)


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("rule", ["softmax", "perceptron"])
def test_check_model_perceptron_multiclass(data, rule):
    report = lamina.testing.check_model(Perceptron(outputs=3, rule=rule), *data)
    assert report["output_shape"] == (96, 3)
    assert report["parameters"] == 6 * 3 + 3


def test_check_model_perceptron_logistic(data):
    x, y = data
    report = lamina.testing.check_model(
        Perceptron(rule="logistic"), x, (y == 0).astype(np.int64), loss="binary_cross_entropy"
    )
    assert report["output_shape"] == (96, 1)


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_check_model_mlp_variations(data, norm):
    model = MLP(units=(16, 8), outputs=3, activation="tanh", dropout=0.1, norm=norm)
    report = lamina.testing.check_model(model, *data)
    assert report["output_shape"] == (96, 3)
    norm_params = 0 if norm is None else 2 * (16 + 8)
    assert report["parameters"] == 6 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3 + norm_params


def test_mlp_without_hidden_layers_is_linear(data):
    model = MLP(units=(), outputs=3)
    report = lamina.testing.check_model(model, *data)
    assert report["parameters"] == 6 * 3 + 3
    assert len(model.hidden) == 0


def test_forward_shapes_flatten_any_input():
    assert Perceptron(outputs=4)(torch.ones(5, 2, 3)).shape == (5, 4)
    assert Perceptron(rule="logistic")(torch.ones(5, 6)).shape == (5, 1)
    assert MLP(units=(8,), outputs=2)(torch.ones(5, 1, 4, 4)).shape == (5, 2)
    assert MLP()(torch.ones(3, 7)).shape == (3, 1)


def test_mlp_layer_order_and_dropout_only_when_asked():
    kinds = [type(layer).__name__ for layer in MLP(units=(4,), dropout=0.2, norm="batch").hidden]
    assert kinds == ["Dense", "BatchNorm", "Activation", "Dropout"]
    kinds = [type(layer).__name__ for layer in MLP(units=(4, 4)).hidden]
    assert kinds == ["Dense", "Activation", "Dense", "Activation"]


def test_save_load_round_trip_identical_predictions(tmp_path, data):
    x, y = data
    for model in (
        Perceptron(outputs=3, rule="perceptron"),
        MLP(units=(8,), outputs=3, norm="batch", dropout=0.2),
    ):
        model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=0.5)
        model.fit(x, y, epochs=2, verbose=0, seed=0)
        reloaded = lamina.load(model.save(str(tmp_path / type(model).__name__)))
        assert type(reloaded) is type(model)
        assert reloaded.get_params() == model.get_params()
        np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))


# ------------------------------------------------------------------ the perceptron rule by hand
def test_perceptron_rule_oracle_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 1.0]], dtype=np.float32)
    y = np.array([2, 1, 0, 1])
    model = Perceptron(outputs=3, rule="perceptron")
    model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=0.5)
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    # Step 1 from zero weights: every score ties, argmax -> class 0, so rows 0, 1 and 3 are mistakes.
    # W[c] += 0.5 * sum over mistakes of (onehot(y) - onehot(0))[c] * x:
    #   class 0: -0.5 * (x0 + x1 + x3) = -0.5 * [0, 3] ; class 1: 0.5 * (x1 + x3) = 0.5 * [-1, 3]
    #   class 2: 0.5 * x0 = [0.5, 0] ; bias: 0.5 * [-3, 2, 1]
    np.testing.assert_array_equal(
        model.dense.weight.detach().numpy(), [[0.0, -1.5], [-0.5, 1.5], [0.5, 0.0]]
    )
    np.testing.assert_array_equal(model.dense.bias.detach().numpy(), [-1.5, 1.0, 0.5])
    assert history.history["mistake_rate"] == [0.75]
    # Step 2 from those weights: scores = x @ W.T + b.
    #   row 0 [1, 0]: [-1.5, 0.5, 1.0] -> 2 (right)  row 1 [0, 2]: [-4.5, 4.0, 0.5] -> 1 (right)
    #   row 2 [1, 1]: [-3.0, 2.0, 1.0] -> 1 (wrong, y=0)  row 3 [-1, 1]: [-3.0, 3.0, 0.0] -> 1 (right)
    # Only row 2 updates: W[0] += 0.5 * [1, 1], W[1] -= 0.5 * [1, 1], b[0] += 0.5, b[1] -= 0.5.
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_array_equal(
        model.dense.weight.detach().numpy(), [[0.5, -1.0], [-1.0, 1.0], [0.5, 0.0]]
    )
    np.testing.assert_array_equal(model.dense.bias.detach().numpy(), [-1.0, 0.5, 0.5])


def test_perceptron_rule_matches_a_numpy_loop(data):
    x, y = data
    model = Perceptron(outputs=3, rule="perceptron")
    model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=0.1)
    model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    w, b = np.zeros((3, 6)), np.zeros(3)
    for _ in range(3):
        for start in range(0, len(x), 16):
            xb, yb = x[start : start + 16].astype(np.float64), y[start : start + 16]
            delta = np.eye(3)[yb] - np.eye(3)[(xb @ w.T + b).argmax(1)]
            w, b = w + 0.1 * delta.T @ xb, b + 0.1 * delta.sum(0)
    np.testing.assert_allclose(model.dense.weight.detach().numpy(), w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.dense.bias.detach().numpy(), b, rtol=1e-5, atol=1e-5)


def test_perceptron_rule_takes_no_optimizer_step(data):
    x, y = data
    model = Perceptron(outputs=3, rule="perceptron")
    model.compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.optimizer is not None and not model.optimizer.state  # Adam never stepped
    assert model.dense.weight.grad is None


# ------------------------------------------------------------------ XOR
def _accuracy(model, y):
    return float((model.predict(XOR_X).argmax(1) == y).mean())


@pytest.mark.parametrize("rule", ["perceptron", "softmax"])
def test_perceptron_learns_or_but_not_xor(rule):
    results = {}
    for name, y in (("or", OR_Y), ("xor", XOR_Y)):
        model = Perceptron(outputs=2, rule=rule)
        model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=1.0)
        model.fit(XOR_X, y, epochs=60, batch_size=1, seed=0, verbose=0)
        results[name] = _accuracy(model, y)
    assert results["or"] == 1.0
    assert results["xor"] <= 0.75  # no line separates XOR


def test_logistic_perceptron_fails_xor():
    model = Perceptron(rule="logistic").compile(
        optimizer="adam", loss="binary_cross_entropy", learning_rate=0.1
    )
    model.fit(XOR_X, XOR_Y, epochs=100, batch_size=4, seed=0, verbose=0)
    assert float(((model.predict(XOR_X)[:, 0] > 0) == XOR_Y).mean()) <= 0.75


def test_mlp_solves_xor():
    model = MLP(units=(8,), outputs=2, activation="tanh")
    model.compile(optimizer="adam", loss="cross_entropy", learning_rate=0.05)
    model.fit(XOR_X, XOR_Y, epochs=300, batch_size=4, seed=0, verbose=0)
    assert _accuracy(model, XOR_Y) == 1.0


# ------------------------------------------------------------------ bad input
def test_unknown_rule_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="'hebb'.*'logistic', 'perceptron', 'softmax'"):
        Perceptron(rule="hebb")


@pytest.mark.parametrize(
    "kwargs",
    [{"outputs": 1}, {"outputs": 2.0}, {"outputs": True}, {"outputs": 3, "rule": "logistic"}],
)
def test_perceptron_bad_num_classes(kwargs):
    with pytest.raises(ConfigError, match="outputs"):
        Perceptron(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 64}, "units=\\(64,\\)"),
        ({"units": (64, 0)}, "positive ints"),
        ({"units": "64"}, "sequence"),
        ({"outputs": 0}, "outputs"),
        ({"norm": "group"}, "'batch' or 'layer'"),
        ({"dropout": 1.0}, "dropout"),
        ({"activation": "relu6x"}, "relu6x"),
    ],
)
def test_mlp_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MLP(**kwargs)


def test_class_ids_beyond_outputs_are_a_clear_error():
    model = MLP(units=(4,), outputs=2).compile(loss="cross_entropy")
    with pytest.raises(DataError, match="outside the model's output size"):
        model.fit(XOR_X, np.array([0, 1, 2, 3]), verbose=0)


def test_params_are_stored_unchanged():
    units = [32, 16]
    model = MLP(units=units, outputs=5, dropout=0.25, norm="layer")
    assert model.get_params() == {
        "units": units,
        "outputs": 5,
        "activation": "relu",
        "dropout": 0.25,
        "norm": "layer",
    }
    assert Perceptron().get_params() == {"outputs": 2, "rule": "softmax", "use_bias": True}
