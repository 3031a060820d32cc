"""Keras and scikit-learn habits: losses on sigmoid/softmax outputs, EarlyStopping's count, Keras metric
names, labels of any kind with ``classes_``, ``predict_proba``/``predict_classes``, and metrics that keep
batches surviving a mid-epoch resume (which transfers no skipped batch)."""

import numpy as np
import pytest
import torch
from lamina.callbacks import Callback, EarlyStopping
from lamina.errors import ConfigError, DataError
from lamina.layers import Activation, Dense
from torch.utils.data import TensorDataset

import lamina


@pytest.fixture(scope="module")
def separable():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = (x[:, 0] - x[:, 1] > 0).astype("int64")
    return x, y


def two_layers(last, *extra):
    return lamina.Sequential([Dense(8, activation="relu"), last, *extra])


def accuracy(model, x, y):
    return float((model.predict_classes(x) == y).mean())


# ---------------------------------------------------------------- 1. losses on probabilities
def test_sigmoid_output_with_binary_crossentropy_learns(separable):
    x, y = separable
    model = two_layers(Dense(1, activation="sigmoid")).compile(
        loss="binary_crossentropy", learning_rate=0.05
    )
    model.fit(x, y.astype("float32"), epochs=5, verbose=0, seed=0)
    assert accuracy(model, x, y) > 0.95


@pytest.mark.parametrize(
    "loss", ["categorical_crossentropy", "sparse_categorical_crossentropy", "cross_entropy"]
)
def test_softmax_output_with_keras_losses_learns(separable, loss):
    x, y = separable
    target = np.eye(2, dtype="float32")[y] if loss == "categorical_crossentropy" else y
    model = two_layers(Dense(2, activation="softmax")).compile(loss=loss, learning_rate=0.05)
    model.fit(x, target, epochs=5, verbose=0, seed=0)
    assert accuracy(model, x, y) > 0.95


@pytest.mark.parametrize(
    "last, logits_last, loss",
    [
        (Dense(1, activation="sigmoid"), Dense(1), "binary_crossentropy"),
        (Dense(2, activation="softmax"), Dense(2), "sparse_categorical_crossentropy"),
        (torch.nn.Softmax(dim=-1), None, "cross_entropy"),
        (Activation("sigmoid"), None, "binary_cross_entropy"),
    ],
)
def test_probability_outputs_train_exactly_like_the_logits_model(
    separable, last, logits_last, loss
):
    """The loss is computed on the last layer's pre-activation logits: the same run as without the activation."""
    x, y = separable
    units = 1 if "binary" in loss else 2
    probabilities = two_layers(last) if logits_last is not None else two_layers(Dense(units), last)
    logits = two_layers(logits_last) if logits_last is not None else two_layers(Dense(units))
    for model in (probabilities, logits):
        model.build(torch.from_numpy(x[:2]))
    logits.load_state_dict(probabilities.state_dict())
    target = y.astype("float32") if "binary" in loss else y
    runs = [
        m.compile(loss=loss, learning_rate=0.05)
        .fit(x, target, epochs=2, verbose=0, seed=1)
        .history["loss"]
        for m in (probabilities, logits)
    ]
    assert runs[0] == runs[1]
    for a, b in zip(probabilities.state_dict().values(), logits.state_dict().values()):
        assert torch.equal(a, b)


class SigmoidInside(lamina.Model):
    """A custom forward ending in a sigmoid: nothing to detect, so from_logits=False says it."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden, self.out = Dense(8, activation="relu"), Dense(1)

    def forward(self, x):
        return torch.sigmoid(self.out(self.hidden(x)))


def test_from_logits_false_uses_clamped_probabilities(separable):
    x, y = separable
    model = SigmoidInside().compile(
        loss="binary_crossentropy", from_logits=False, learning_rate=0.05
    )
    model.fit(x, y.astype("float32"), epochs=5, verbose=0, seed=0)
    assert accuracy(model, x, y) > 0.95
    # Keras's formula with its clamp: -(y log p + (1 - y) log(1 - p)), p in [1e-7, 1 - 1e-7]
    p, target = torch.tensor([0.2, 0.9, 1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    clamped = p.clamp(1e-7, 1 - 1e-7)
    keras = -(target * clamped.log() + (1 - target) * (1 - clamped).log()).mean()
    ours = lamina.registry.get("loss", "binary_crossentropy")(p, target, from_logits=False)
    assert float(ours) == pytest.approx(float(keras), rel=1e-4)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
    ce = lamina.registry.get("loss", "categorical_crossentropy")(
        probs, torch.tensor([0, 1]), from_logits=False
    )
    assert float(ce) == pytest.approx(-np.log(0.7) / 2, rel=1e-4)


def test_from_logits_is_checked_and_kept_by_save(tmp_path, separable):
    with pytest.raises(ConfigError, match="from_logits"):
        two_layers(Dense(1)).compile(loss="mse", from_logits=False)
    x, y = separable
    model = SigmoidInside().compile(loss="binary_crossentropy", from_logits=False)
    model.fit(x, y.astype("float32"), verbose=0, seed=0)
    loaded = lamina.load(
        model.save(str(tmp_path / "m"))
    )  # lamina.Model subclasses are registered by name
    target = y.astype("float32")
    assert loaded.evaluate(x, target)["loss"] == pytest.approx(model.evaluate(x, target)["loss"])


# ---------------------------------------------------------------- 2. EarlyStopping counts as Keras
class Script(Callback):
    """Writes a fixed monitored sequence into the logs (so the stopping epoch is known)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        if epoch == 1:
            self.best = {k: v.clone() for k, v in self.model.state_dict().items()}


@pytest.mark.parametrize("patience, epochs_run", [(2, 4), (0, 3), (1, 3), (3, 5)])
def test_early_stopping_stops_when_wait_reaches_patience(separable, patience, epochs_run):
    """Keras: after the best epoch, `wait` grows by one per epoch and training stops once
    `wait >= patience`. Losses 1.0, 0.9, 0.95, 0.96, ... with patience=2 stop after epoch 3."""
    x, y = separable
    script = Script([1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0])
    stop = EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    history = (
        two_layers(Dense(2))
        .compile(loss="cross_entropy")
        .fit(x, y, epochs=8, callbacks=[script, stop], verbose=0)
    )
    assert history.epoch == list(range(epochs_run))
    assert (
        stop.stopped_epoch == epochs_run - 1
        and stop.best_epoch == 1
        and stop.wait == epochs_run - 2
    )
    for key, value in stop.model.state_dict().items():  # the best epoch's weights are back
        assert torch.equal(value, script.best[key])
    fresh = EarlyStopping("val_loss", patience=patience)
    fresh.on_train_begin()
    fresh.load_state_dict(stop.state_dict())
    assert (fresh.wait, fresh.best, fresh.best_epoch, fresh.stopped_epoch) == (
        stop.wait,
        0.9,
        1,
        epochs_run - 1,
    )


# ---------------------------------------------------------------- 3. Keras metric names
def test_keras_accuracy_names_resolve_and_are_logged_under_them(separable):
    x, y = separable
    names = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"]
    for name in names:
        assert lamina.registry.get("metric", name).name == name
    model = two_layers(Dense(1, activation="sigmoid")).compile(
        loss="binary_crossentropy", metrics=["binary_accuracy"]
    )
    model.fit(x, y.astype("float32"), epochs=2, verbose=0, seed=0)
    logs = model.evaluate(x, y.astype("float32"))
    expected = ((model.predict(x)[:, 0] > 0.5) == y).mean()  # thresholded at probability 0.5
    assert logs["binary_accuracy"] == pytest.approx(expected)
    onehot = np.eye(2, dtype="float32")[y]
    softmax = two_layers(Dense(2, activation="softmax")).compile(
        loss="categorical_crossentropy", metrics=["categorical_accuracy"]
    )
    softmax.fit(x, onehot, epochs=2, verbose=0, seed=0)
    expected = (softmax.predict(x).argmax(1) == onehot.argmax(1)).mean()
    assert softmax.evaluate(x, onehot)["categorical_accuracy"] == pytest.approx(expected)


# ---------------------------------------------------------------- 4. labels
@pytest.mark.parametrize("kind", ["float", "column", "float column"])
def test_float_and_column_labels_work_for_classification(separable, kind):
    x, y = separable
    labels = {
        "float": y.astype("float64"),
        "column": y.reshape(-1, 1),
        "float column": y.astype("float32").reshape(-1, 1),
    }[kind]
    model = two_layers(Dense(2)).compile(
        loss="cross_entropy", metrics=["accuracy"], learning_rate=0.05
    )
    model.fit(x, labels, epochs=4, verbose=0, seed=0, validation_data=(x, labels))
    assert model.evaluate(x, labels)["accuracy"] > 0.95 and model.classes_ is None
    loader = TensorDataset(
        torch.from_numpy(x), torch.from_numpy(labels.astype("float32"))
    )  # not encoded on entry
    assert model.evaluate(loader)["accuracy"] > 0.95


def test_non_whole_float_labels_get_an_error_naming_the_fix(separable):
    x, y = separable
    model = two_layers(Dense(2)).compile(loss="cross_entropy")
    with pytest.raises(DataError, match="0.5.*Pass integer class ids"):
        model.fit(x, y + 0.5, verbose=0)


def test_string_labels_are_encoded_kept_saved_and_loaded(tmp_path, separable):
    x, y = separable
    names = np.array(["cat", "dog"])[y]
    model = two_layers(Dense(2, activation="softmax")).compile(
        loss="sparse_categorical_crossentropy", metrics=["accuracy"], learning_rate=0.05
    )
    model.fit(x, names.tolist(), epochs=4, verbose=0, seed=0, validation_split=0.2)
    assert model.classes_ == ["cat", "dog"] and all(type(c) is str for c in model.classes_)
    assert model.evaluate(x, names)["accuracy"] > 0.95
    loaded = lamina.load(model.save(str(tmp_path / "m")))
    assert loaded.classes_ == ["cat", "dog"]
    assert (loaded.predict_classes(x) == model.predict_classes(x)).all()
    with pytest.raises(DataError, match="not trained on.*'cow'"):
        loaded.evaluate(x[:2], ["cat", "cow"])
    binary = two_layers(Dense(1)).compile(loss="binary_crossentropy")
    with pytest.raises(DataError, match="two classes"):
        binary.fit(x[:3], ["a", "b", "c"], verbose=0)


# ---------------------------------------------------------------- 5. predict_proba / predict_classes
def test_predict_stays_raw_and_proba_follows_sklearn(separable):
    x, y = separable
    logits = two_layers(Dense(1)).compile(loss="binary_crossentropy")
    logits.fit(x, y.astype("float32"), verbose=0, seed=0)
    raw = logits.predict(x[:5])
    proba = logits.predict_proba(x[:5])
    assert raw.shape == (5, 1) and proba.shape == (5, 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-raw[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert logits.predict_classes(x[:5]).tolist() == (raw[:, 0] > 0).astype(int).tolist()
    softmax = two_layers(Dense(3, activation="softmax")).compile(loss="cross_entropy")
    softmax.fit(x, y, verbose=0, seed=0)
    np.testing.assert_allclose(
        softmax.predict_proba(x[:5]), softmax.predict(x[:5]), rtol=1e-6
    )  # already probabilities
    regression = two_layers(Dense(1)).compile(loss="mse")
    regression.fit(x, y.astype("float32"), verbose=0)
    with pytest.raises(ConfigError, match="classifier"):
        regression.predict_proba(x)


# ---------------------------------------------------------------- 6 and 7. resume mid-epoch
class Interrupt(Callback):
    """Raise at (epoch 1, batch 4): the last checkpoint is then epoch 1 after 3 steps (mid-epoch)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 4:
            raise KeyboardInterrupt


def fit(directory, data, *callbacks, resume=False, seed=3):
    model = two_layers(Dense(2)).compile(loss="cross_entropy", metrics=["auc", "f1", "accuracy"])
    history = model.fit(
        data[0],
        data[1] if len(data) > 1 else None,
        epochs=2,
        batch_size=8,
        seed=seed,
        verbose=0,
        callbacks=list(callbacks),
        checkpoint_dir=str(directory),
        checkpoint_every=3,
        resume=resume,
    )
    return model, history


def test_auc_and_every_metric_survive_a_mid_epoch_resume(tmp_path, separable):
    x, y = separable[0][:64], separable[1][:64]
    reference, expected = fit(tmp_path / "ref", (x, y))
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "run", (x, y), Interrupt())
    assert lamina.checkpoint.Checkpointer(tmp_path / "run").latest().name == "step-000011"  # 8 + 3
    resumed, history = fit(tmp_path / "run", (x, y), resume=True)
    assert not np.isnan(history.history["auc"]).any()
    assert history.history == expected.history


def test_resume_transfers_no_skipped_batch(tmp_path, separable, monkeypatch):
    data = (
        TensorDataset(torch.from_numpy(separable[0][:64]), torch.from_numpy(separable[1][:64])),
    )
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "run", data, Interrupt())
    transferred = []
    to_device = lamina.train.Engine.to_device

    def spy(self, batch):
        if isinstance(batch, (tuple, list)):
            transferred.append(len(batch[0]))
        return to_device(self, batch)

    monkeypatch.setattr(lamina.train.Engine, "to_device", spy)
    fit(tmp_path / "run", data, resume=True)
    # one look at the first rows to build, then the 5 batches left of epoch 1 (8 steps, 3 done before)
    assert len(transferred) == 1 + 5


def test_a_model_whose_hidden_layers_end_in_sigmoid_still_outputs_logits():
    # Regression: a DBN's `layers` are sigmoid units feeding a head; its outputs are logits, so the
    # cross-entropy must not be computed as if they were probabilities (fine-tuning stalled at 0.64).
    from lamina.models import DBN
    from lamina.models.classifier import final_activation

    assert final_activation(DBN(units=(6, 4), outputs=3)) is None
    stacked = lamina.Sequential([Dense(4, activation="relu"), Dense(1, activation="sigmoid")])
    assert final_activation(stacked)[0] == "sigmoid"
