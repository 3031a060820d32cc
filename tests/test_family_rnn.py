"""RNN: the model contract for each cell and task, shapes, torch oracles, padding invariance, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, DataError, ShapeError
from lamina.sequences import forecast_windows, pad_sequences

import lamina
from lamina.models.rnn import RNN

CELLS = ("rnn", "lstm", "gru")


def _classification(rows=48, steps=6, features=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, steps, features)).astype(np.float32)
    return x, (x[:, :, 0].sum(1) > 0).astype(np.int64)  # the sign of a running sum: learnable


def _labelling(rows=48, steps=6, features=2, seed=0):
    x, _ = _classification(rows, steps, features, seed)
    return x, (np.cumsum(x[:, :, 0], axis=1) > 0).astype(np.int64)  # (N, T): the sign so far


def _forecasting(horizon=3):
    t = np.arange(160, dtype=np.float32)
    return forecast_windows(
        np.sin(t / 4) + 0.5 * np.sin(t / 9), lookback=12, horizon=horizon, stride=2
    )


def _ragged(rows=12, vocabulary_size=7, seed=0):
    """Token-id rows of lengths 1..8, padded with 0, and a label per row."""
    rng = np.random.default_rng(seed)
    sequences = [
        rng.integers(1, vocabulary_size, size=int(n)) for n in rng.integers(1, 9, size=rows)
    ]
    return sequences, pad_sequences(sequences)


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("task", ["classify", "label", "forecast"])
def test_check_model_each_cell_and_task(cell, task):
    if task == "forecast":
        x, y = _forecasting()
        model, loss, shape = RNN(cell, units=16, task=task, horizon=3), "mse", (len(x), 3)
    else:
        x, y = _classification() if task == "classify" else _labelling()
        model, loss = RNN(cell, units=16, outputs=2, task=task, dropout=0.1), "cross_entropy"
        shape = (48, 2) if task == "classify" else (48, 6, 2)
    report = lamina.testing.check_model(model, x, y, loss=loss, epochs=10)
    assert report["output_shape"] == shape


def test_check_model_token_ids_stacked_bidirectional_parameter_count():
    sequences, x = _ragged(rows=40)
    y = np.array(
        [int(row[0] > 3) for row in sequences]
    )  # the first token decides: the backward pass must carry it
    model = RNN(
        "lstm",
        units=8,
        outputs=2,
        num_layers=2,
        bidirectional=True,
        vocabulary_size=7,
        embedding_dim=4,
    )
    report = lamina.testing.check_model(model, x, y, epochs=10)
    lstm = 2 * (4 * 8 * (4 + 8) + 2 * 4 * 8) + 2 * (
        4 * 8 * (16 + 8) + 2 * 4 * 8
    )  # two directions per layer
    assert report["parameters"] == 7 * 4 + lstm + (16 * 2 + 2)


# ------------------------------------------------------------------ shapes
def test_forward_shapes():
    x = torch.rand(3, 7, 4)
    assert RNN()(x).shape == (3, 1)
    assert RNN("gru", outputs=5, num_layers=3, bidirectional=True)(x).shape == (3, 5)
    assert RNN("rnn", outputs=5, task="label", bidirectional=True, num_layers=2)(x).shape == (
        3,
        7,
        5,
    )
    assert RNN(task="forecast", horizon=4)(x).shape == (3, 4)
    assert RNN(task="forecast", horizon=4, outputs=4)(x).shape == (3, 4, 4)  # (N, horizon, series)
    assert RNN(task="forecast", horizon=2)(torch.rand(3, 9)).shape == (3, 2)  # (N, T): one feature
    ids = torch.randint(1, 10, (3, 7))
    assert RNN(outputs=2, task="label", vocabulary_size=10)(ids).shape == (3, 7, 2)
    model = RNN(units=6, num_layers=2, bidirectional=True)
    model(x)
    assert (
        model.recurrent.input_size,
        model.recurrent.hidden_size,
        model.recurrent.num_layers,
    ) == (4, 6, 2)
    assert model.recurrent.bidirectional and model.head[-1].weight.shape == (1, 12)


# ------------------------------------------------------------------ oracles
def test_stacked_lstm_matches_hand_driven_torch_cells():
    model = RNN("lstm", units=5, outputs=3, num_layers=2).eval()
    x = torch.randn(4, 6, 2)
    out = model(x)
    lstm = model.recurrent
    h = x
    for layer in range(2):
        cell = torch.nn.LSTMCell(h.shape[-1], 5)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(lstm, f"{name}_l{layer}"))
        state, steps = None, []
        for t in range(6):  # one step at a time
            state = cell(h[:, t], state)
            steps.append(state[0])
        h = torch.stack(steps, 1)  # (4, 6, 5)
    dense = model.head[-1]
    torch.testing.assert_close(out, F.linear(h[:, -1], dense.weight, dense.bias))


def test_bidirectional_gru_labelling_matches_hand_written_cell():
    model = RNN("gru", units=4, outputs=3, task="label", bidirectional=True).eval()
    x = torch.randn(2, 5, 3)
    out = model(x)
    gru = model.recurrent

    def run(inputs, suffix):
        w_ih, w_hh = getattr(gru, f"weight_ih_l0{suffix}"), getattr(gru, f"weight_hh_l0{suffix}")
        b_ih, b_hh = getattr(gru, f"bias_ih_l0{suffix}"), getattr(gru, f"bias_hh_l0{suffix}")
        h, steps = torch.zeros(len(inputs), 4), []
        for t in range(inputs.shape[1]):
            xr, xz, xn = (inputs[:, t] @ w_ih.T + b_ih).chunk(3, -1)
            hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
            steps.append(h)
        return torch.stack(steps, 1)  # (N, T, 4)

    both = torch.cat([run(x, ""), run(x.flip(1), "_reverse").flip(1)], -1)  # (2, 5, 8)
    dense = model.head[-1]
    torch.testing.assert_close(out, F.linear(both, dense.weight, dense.bias))


# ------------------------------------------------------------------ padding
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "task,bidirectional",
    [("classify", False), ("classify", True), ("label", True), ("forecast", False)],
)
def test_padding_never_changes_a_row(cell, task, bidirectional):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    rows = [rng.normal(size=(n, 3)).astype(np.float32) for n in (5, 2, 7, 1)]
    model = RNN(
        cell,
        units=6,
        outputs=2,
        task=task,
        num_layers=2,
        bidirectional=bidirectional,
        horizon=1 if task != "forecast" else 3,
    ).eval()
    batch = model(torch.from_numpy(pad_sequences(rows)))
    for i, row in enumerate(rows):
        alone = model(torch.from_numpy(row)[None])[0]
        got = batch[i, : len(row)] if task == "label" else batch[i]
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-5)


def test_padding_never_changes_a_row_of_token_ids():
    sequences, x = _ragged()
    model = RNN("gru", units=6, outputs=3, bidirectional=True, vocabulary_size=7).eval()
    batch = model(torch.from_numpy(x))
    for i, row in enumerate(sequences):
        torch.testing.assert_close(
            batch[i], model(torch.from_numpy(row)[None])[0], atol=1e-5, rtol=1e-5
        )


def test_labelling_loss_and_metrics_ignore_padded_steps():
    sequences, x = _ragged(rows=16)
    real = [(row % 2).astype(np.int64) for row in sequences]  # tag: is the id odd
    y_ignore = pad_sequences(real, value=-100)
    y_garbage = pad_sequences(
        real, value=1
    )  # padded with a real class: masked by the input padding
    model = RNN("lstm", units=8, outputs=2, task="label", vocabulary_size=7)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    model.fit(x, y_ignore, epochs=3, verbose=0, seed=0)
    logits = model.predict(x)
    mask = torch.from_numpy(x) != 0
    expected_loss = F.cross_entropy(
        torch.from_numpy(logits)[mask], torch.from_numpy(y_ignore)[mask]
    )
    expected_accuracy = (
        (torch.from_numpy(logits).argmax(-1) == torch.from_numpy(y_ignore))[mask].float().mean()
    )
    for y in (y_ignore, y_garbage):
        logs = model.evaluate(x, y, batch_size=len(x))
        assert logs["loss"] == pytest.approx(float(expected_loss), abs=1e-5)
        assert logs["accuracy"] == pytest.approx(float(expected_accuracy), abs=1e-6)
    # Training sees the same gradients whatever the padded targets hold.
    weights = []
    for y in (y_ignore, y_garbage, pad_sequences(real, value=0)):
        twin = RNN("lstm", units=8, outputs=2, task="label", vocabulary_size=7)
        twin.compile(optimizer="adam", loss="cross_entropy").fit(x, y, epochs=2, verbose=0, seed=0)
        weights.append(torch.cat([p.detach().flatten() for p in twin.parameters()]))
    torch.testing.assert_close(weights[1], weights[0])
    torch.testing.assert_close(weights[2], weights[0])


def test_labelling_ignore_index_at_real_steps_and_sample_weight():
    x, y = _labelling(rows=8)
    model = RNN("gru", units=4, outputs=2, task="label").compile(
        optimizer="adam", loss="cross_entropy"
    )
    model.build(torch.from_numpy(x))
    logits = torch.from_numpy(model.predict(x))
    y_some = y.copy()
    y_some[:, :2] = -100  # the first two steps of every row do not count
    expected = F.cross_entropy(logits[:, 2:].reshape(-1, 2), torch.from_numpy(y[:, 2:]).reshape(-1))
    assert model.evaluate(x, y_some)["loss"] == pytest.approx(float(expected), abs=1e-5)
    weighted = model.compute_loss(logits, torch.from_numpy(y_some), torch.ones(8))
    torch.testing.assert_close(weighted, expected)


# ------------------------------------------------------------------ persistence
def test_save_load_round_trip_identical_predictions(tmp_path):
    sequences, x = _ragged(rows=20)
    y = pad_sequences([(row > 3).astype(np.int64) for row in sequences], value=-100)
    model = RNN(
        "gru",
        units=8,
        outputs=2,
        task="label",
        num_layers=2,
        bidirectional=True,
        vocabulary_size=7,
        embedding_dim=5,
    )
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    reloaded = lamina.load(model.save(str(tmp_path / "rnn")))
    assert type(reloaded) is RNN and reloaded.get_params() == model.get_params()
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    longer = np.concatenate([x, x], axis=1)  # another number of steps is fine
    np.testing.assert_array_equal(reloaded.predict(longer), model.predict(longer))
    assert reloaded.evaluate(x, y) == model.evaluate(x, y)


def test_save_load_forecaster_with_float_input(tmp_path):
    x, y = _forecasting(horizon=2)
    model = RNN("lstm", units=8, task="forecast", horizon=2).compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    reloaded = lamina.load(model.save(str(tmp_path / "forecaster")))
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    assert reloaded.predict(x[:, -5:]).shape == (len(x), 2)


# ------------------------------------------------------------------ bad input
def test_rows_of_length_zero_name_the_row():
    x = pad_sequences([[1, 2], [3], [2, 2, 2]])
    x[1] = 0
    model = RNN(outputs=2, vocabulary_size=4).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(DataError, match="row 1 is all padding"):
        model.fit(x, np.array([0, 1, 0]), verbose=0)
    model.fit(x[[0, 2]], np.array([0, 0]), verbose=0)
    with pytest.raises(DataError, match="row 1 is all padding"):
        model.predict(x)
    floats = np.ones((3, 4, 2), dtype=np.float32)
    floats[2] = 0.0
    with pytest.raises(DataError, match="row 2 is all padding"):
        RNN().compile(optimizer="adam", loss="mse").fit(floats, np.zeros(3), verbose=0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=3
    )
    with pytest.raises(DataError, match="row 1 is all padding"):
        model.predict(loader)


def test_wrong_feature_count_after_fit():
    x, y = _classification(rows=16, features=2)
    model = RNN(units=4, outputs=2).compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, verbose=0)
    assert model.predict(x[:, :3]).shape == (16, 2)  # fewer steps: fine
    with pytest.raises(ShapeError, match="features differ"):
        model.predict(np.ones((2, 6, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match="2 features"):
        model(torch.ones(2, 6, 3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"cell": "transformer"}, "'rnn', 'lstm', 'gru'"),
        ({"cell": "LSTM"}, "Unknown RNN cell"),
        ({"task": "regress"}, "'classify', 'label', 'forecast'"),
        ({"task": "forecast", "horizon": 0}, "horizon"),
        ({"horizon": 3}, "only used with task='forecast'"),
        ({"units": 0}, "units"),
        ({"outputs": 2.0}, "outputs"),
        ({"num_layers": True}, "num_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"bidirectional": 1}, "bool"),
        ({"vocabulary_size": 1}, ">= 2"),
        ({"embedding_dim": 8}, "vocabulary_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RNN(**kwargs)


def test_bad_sequences():
    with pytest.raises(ShapeError, match=r"shape \(2, 3, 4, 5\)"):
        RNN()(torch.ones(2, 3, 4, 5))
    with pytest.raises(ShapeError, match="integer token ids"):
        RNN(vocabulary_size=5)(torch.ones(2, 3))
    with pytest.raises(DataError, match="ids from 1 to 9"):
        RNN(vocabulary_size=5)(torch.tensor([[1, 9]]))
    x, y = _labelling(rows=8)
    model = RNN(outputs=2, task="label").compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(ShapeError, match="one target per step"):
        model.fit(x, y[:, :3], verbose=0)
