"""Model, Sequential and the fit engine: behaviour users rely on."""

import io

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.layers import Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling, MaxPool2D
from torch.utils.data import DataLoader, TensorDataset

import lamina


def mlp(classes=3):
    return lamina.Sequential([Dense(16, activation="relu"), Dense(classes)])


@pytest.fixture
def data():
    return lamina.testing.tiny_classification(rows=120, features=6, classes=3)


def test_check_model_sequential_mlp(data):
    report = lamina.testing.check_model(mlp(), *data)
    assert report["output_shape"] == (120, 3)


def test_check_model_cnn_on_digit_images():
    digits = lamina.datasets.load("digits", images=True)
    x, y = digits.x_train[:200] / 16.0, digits.y_train[:200]
    model = lamina.Sequential(
        [
            Conv2D(8, 3, padding="same", activation="relu"),
            lamina.layers.BatchNorm(),
            MaxPool2D(2),
            Conv2D(16, 3, activation="relu"),
            GlobalAveragePooling(),
            Dropout(0.1),
            Dense(10),
        ]
    )
    report = lamina.testing.check_model(model, x, y, epochs=8)
    assert report["output_shape"] == (200, 10)


def test_check_model_wrapped_torch_module():
    x, y = lamina.testing.tiny_regression(rows=64, features=4, outputs=2)
    module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    report = lamina.testing.check_model(lamina.Model(module), x, y, loss="mse")
    assert report["parameters"] == 4 * 16 + 16 + 16 * 2 + 2


def test_check_model_catches_a_broken_contract(data):
    class Frozen(lamina.Model):
        def __init__(self, units=3):
            super().__init__()
            self.dense = torch.nn.Linear(6, units)
            self.dense.requires_grad_(False)
            self.scale = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return self.dense(x) + 0 * self.scale

    with pytest.raises(AssertionError, match="loss falls"):
        lamina.testing.check_model(Frozen(), *data, epochs=3)


@pytest.mark.parametrize("kind", ["numpy", "tensor", "pandas", "dataset", "dataloader"])
def test_fit_accepts_every_input_type(kind, data):
    x, y = data
    model = mlp().compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=0.01
    )
    if kind == "numpy":
        args = (x, y)
    elif kind == "tensor":
        args = (torch.from_numpy(x), torch.from_numpy(y))
    elif kind == "pandas":
        args = (pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]), pd.Series(y))
    elif kind == "dataset":
        args = (TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),)
    else:
        args = (
            DataLoader(
                TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16, shuffle=True
            ),
        )
    history = model.fit(*args, epochs=12, verbose=0, seed=1)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.7
    assert model.evaluate(x, y)["accuracy"] > 0.7


def test_validation_split_and_validation_data(data):
    x, y = data
    model = mlp().compile(loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    history = model.fit(x[:90], y[:90], epochs=1, validation_data=(x[90:], y[90:]), verbose=0)
    assert "val_loss" in history.history


def test_predict_returns_numpy_and_evaluate_dict(data):
    x, y = data
    model = mlp().compile(loss="cross_entropy", metrics=["accuracy", "f1"])
    model.fit(x, y, epochs=1, verbose=0)
    out = model.predict(x, batch_size=7)
    assert isinstance(out, np.ndarray) and out.shape == (120, 3) and out.dtype == np.float32
    scores = model.evaluate(x, y)
    assert set(scores) == {"loss", "accuracy", "f1"} and all(
        isinstance(v, float) for v in scores.values()
    )


def test_train_step_override_is_used(data):
    class Counting(lamina.Model):
        def __init__(self):
            super().__init__()
            self.net = mlp()
            self.steps = 0

        def forward(self, x):
            return self.net(x)

        def train_step(self, batch):
            self.steps += 1
            logs = super().train_step(batch)
            return {**logs, "double_loss": logs["loss"] * 2}

    model = Counting().compile(loss="cross_entropy")
    history = model.fit(*data, epochs=2, batch_size=40, verbose=0)
    assert model.steps == 6
    assert np.allclose(history.history["double_loss"], np.array(history.history["loss"]) * 2)


def test_lazy_shapes_inferred_on_first_batch(data):
    model = mlp()
    assert not model.is_built()
    model.compile(loss="cross_entropy").fit(*data, epochs=1, verbose=0)
    assert model.is_built() and model.input_spec_ == {"shape": [None, 6], "dtype": "float32"}
    assert model.layers[0].weight.shape == (16, 6)


def test_early_stopping_restores_best_weights(data):
    x, y = data

    class Scripted(lamina.callbacks.Callback):
        """Feeds a fixed val_loss sequence so the best epoch is known."""

        values = [1.0, 0.5, 0.7, 0.8, 0.9, 1.0]

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = self.values[epoch]
            if epoch == 1:
                self.best = {k: v.clone() for k, v in self.model.state_dict().items()}

    model = mlp().compile(loss="cross_entropy")
    scripted = Scripted()
    stop = lamina.callbacks.EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, callbacks=[scripted, stop], verbose=0)
    assert len(history.epoch) == 4 and stop.best_epoch == 1  # epochs 2 and 3 do not improve (Keras)
    for key, value in model.state_dict().items():
        assert torch.equal(value, scripted.best[key])


def test_model_checkpoint_saves_best_only(data, tmp_path):
    model = mlp().compile(loss="cross_entropy")
    checkpoint = lamina.callbacks.ModelCheckpoint(
        str(tmp_path / "best"), monitor="loss", save_best_only=True
    )
    model.fit(*data, epochs=3, callbacks=[checkpoint], verbose=0, seed=0)
    assert checkpoint.saved == [str(tmp_path / "best")] * 3
    assert np.allclose(lamina.load(tmp_path / "best").predict(data[0]), model.predict(data[0]))


def test_progress_bar_shows_epoch_step_and_metrics(data):
    stream = io.StringIO()
    model = mlp().compile(loss="cross_entropy", metrics=["accuracy"])
    model.fit(
        *data,
        epochs=2,
        batch_size=30,
        verbose=0,
        callbacks=[lamina.callbacks.ProgressBar(refresh_seconds=0.0, stream=stream)],
    )
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "4/4" in text
    assert "loss=" in text and "accuracy=" in text and "step/s" in text or "s/step" in text


def test_quiet_when_not_a_terminal(data, capsys):
    mlp().compile(loss="cross_entropy").fit(*data, epochs=1, verbose="auto")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_epoch_lines_with_verbose_2(data, capsys):
    mlp().compile(loss="cross_entropy").fit(*data, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out


def test_summary_lists_layers_shapes_and_params(data):
    model = lamina.Sequential([Dense(16, activation="relu"), Dense(3)])
    model.compile(loss="cross_entropy").fit(*data, epochs=1, verbose=0)
    text = model.summary(print_fn=None)
    assert "(None, 16)" in text and "(None, 3)" in text
    assert "Total params: 163" in text  # 6*16+16 + 16*3+3


def test_summary_cnn_shapes():
    model = lamina.Sequential([Conv2D(4, 3), MaxPool2D(2), Flatten(), Dense(2)])
    model.build(torch.zeros(2, 1, 8, 8))
    text = model.summary(print_fn=None)
    assert "(None, 4, 6, 6)" in text and "(None, 4, 3, 3)" in text and "(None, 36)" in text


def test_get_set_params_and_clone():
    model = mlp()
    assert list(model.get_params()) == ["layers"]
    clone = model.clone()
    assert clone is not model and not clone.is_built()
    wrapped = lamina.Model(torch.nn.Linear(3, 2))
    wrapped.set_params(module=torch.nn.Linear(5, 2))
    assert wrapped.module.in_features == 5
    with pytest.raises(lamina.errors.ConfigError, match="Unknown parameter"):
        wrapped.set_params(units=3)


def test_clone_of_a_model_compiled_with_an_optimizer_instance(data):
    model = lamina.Model(torch.nn.Linear(6, 3))
    model.compile(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.5), loss="cross_entropy"
    )
    twin = model.clone()
    twin.fit(*data, epochs=1, verbose=0)
    assert isinstance(twin.optimizer, torch.optim.SGD) and twin.optimizer is not model.optimizer
    assert twin.optimizer.defaults["lr"] == 0.123 and twin.optimizer.defaults["momentum"] == 0.5
    assert all(
        p in {id(q) for q in twin.parameters()}
        for p in map(id, twin.optimizer.param_groups[0]["params"])
    )


def test_stop_training_flag_ends_fit(data):
    class StopAfterTwo(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = mlp().compile(loss="cross_entropy")
    history = model.fit(*data, epochs=5, batch_size=10, callbacks=[StopAfterTwo()], verbose=0)
    assert len(history.epoch) == 1


def test_batch_logs_are_lazy_and_correct(data):
    seen = []

    class Reader(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    model = mlp().compile(loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(*data, epochs=1, batch_size=40, callbacks=[Reader()], verbose=0)
    assert len(seen) == 3 and set(seen[-1]) == {"loss"}
    assert np.isclose(seen[-1]["loss"], history.history["loss"][0])


def test_device_auto_selects_cpu_here(data):
    model = mlp().compile(loss="cross_entropy")
    model.fit(*data, epochs=1, verbose=0, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected


def test_seed_makes_runs_reproducible(data):
    results = []
    for _ in range(2):
        torch.manual_seed(123)
        model = mlp().compile(loss="cross_entropy")
        model.fit(*data, epochs=2, verbose=0, seed=5)
        results.append(model.predict(data[0]))
    assert np.array_equal(results[0], results[1])
