"""Transfer learning: freeze/unfreeze, BatchNorm in frozen parts, replace_head, fine_tune, bad input."""

import numpy as np
import pytest
import torch
from lamina.errors import ConfigError, NotCompiledError

import lamina
from lamina.models import CNN, MLP
from lamina.models.transfer import TransferMixin


def _fitted(model, x, y, epochs=1):
    model.compile(optimizer="adam", loss="cross_entropy", learning_rate=1e-2)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, seed=0)
    return model


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _wrapped():
    return lamina.Model(
        torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(144, 16),
            torch.nn.BatchNorm1d(16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, 3),
        )
    )


class _Record(lamina.callbacks.Callback):
    """Per fit: the optimizer's group lrs and sizes, trainable names, and the mode of every BatchNorm."""

    def __init__(self):
        self.fits, self.bn_modes = [], set()

    def on_train_begin(self, logs=None):
        groups = self.model.optimizer.param_groups
        self.fits.append(
            {
                "lrs": [g["lr"] for g in groups],
                "sizes": [len(g["params"]) for g in groups],
                "trainable": [n for n, p in self.model.named_parameters() if p.requires_grad],
            }
        )

    def on_train_batch_begin(self, batch, logs=None):
        self.bn_modes |= {
            (n, m.training) for n, m in self.model.named_modules() if hasattr(m, "running_mean")
        }


# ------------------------------------------------------------------ freeze / unfreeze
@pytest.mark.parametrize(
    "make",
    [
        lambda: CNN(filters=(4, 8), outputs=3),
        lambda: MLP(units=(16,), outputs=3, norm="batch"),
        _wrapped,
    ],
)
def test_freeze_keeps_body_bit_identical_while_head_trains(images, make):
    model = _fitted(make(), *images)
    head = model.head_name()
    before = _snapshot(model)
    record = _Record()
    model.freeze().fit(*images, epochs=2, batch_size=16, verbose=0, seed=1, callbacks=[record])
    after = model.state_dict()
    body = [k for k in before if not k.startswith(head + ".")]
    assert any("running_mean" in k for k in body)  # BatchNorm statistics are part of the body
    for key in body:
        assert torch.equal(before[key], after[key]), (
            key
        )  # weights and BN running stats bit-identical
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(head + "."))
    assert record.bn_modes and not any(
        training for _, training in record.bn_modes
    )  # frozen BN stays in eval
    assert model.training  # the rest of the model did train


def test_unfreeze_restores_training(images):
    model = _fitted(CNN(filters=(4,), outputs=3), *images).freeze().unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    before = _snapshot(model)
    model.train()
    assert model.features[1].training  # BatchNorm back in training mode
    model.fit(*images, epochs=1, batch_size=16, verbose=0, seed=1)
    after = model.state_dict()
    assert not torch.equal(before["features.0.weight"], after["features.0.weight"])
    assert not torch.equal(before["features.1.running_mean"], after["features.1.running_mean"])


def test_freeze_by_name_and_prefix(images):
    model = _fitted(CNN(filters=(4, 8), outputs=3), *images)
    frozen = lambda: sorted(n for n, p in model.named_parameters() if not p.requires_grad)  # noqa: E731
    assert model.freeze("features.0") is model
    assert frozen() == ["features.0.bias", "features.0.weight"]
    model.unfreeze().freeze("features")
    assert frozen() == sorted(n for n, _ in model.named_parameters() if n.startswith("features."))
    model.unfreeze("features.4")  # the second conv trains again, the rest of the body stays frozen
    assert "features.4.weight" not in frozen() and "features.0.weight" in frozen()
    model.train()
    assert (
        not model.features[1].training and not model.features[5].training
    )  # BN layers still frozen
    model.unfreeze("features.5")
    assert model.train().features[5].training
    model.unfreeze().freeze("head.0.weight")  # a parameter name works too
    assert frozen() == ["head.0.weight"]


def test_freeze_before_build_survives_lazy_materialization(images):
    model = MLP(units=(8,), outputs=3).freeze()
    _fitted(model, *images)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "head.weight",
        "head.bias",
    ]


# ------------------------------------------------------------------ the head
def test_head_name_conventions():
    assert CNN().head_name() == "head" and MLP().head_name() == "head"
    assert (
        _wrapped().head_name() == "module.4"
    )  # no `head`: the last child with parameters, inside the wrapper
    wrapped = lamina.Model(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(-1)))
    assert wrapped.head_name() == "module.0"  # a parameter-free last layer is skipped
    assert (
        lamina.Model(torch.nn.Linear(4, 2)).head_name() == "module"
    )  # a lone layer is the head itself
    sequential = lamina.Sequential([lamina.layers.Dense(4), lamina.layers.Dense(2)])
    assert sequential.head_name() == "layers.1"


@pytest.mark.parametrize(
    "make,inputs",
    [
        (lambda: CNN(filters=(4,), outputs=3, dropout=0.2), None),
        (lambda: MLP(units=(8,), outputs=3, norm="batch"), None),
        (_wrapped, None),
    ],
)
def test_replace_head_changes_outputs_and_round_trips(images, tmp_path, make, inputs):
    x, y = images
    model = _fitted(make(), x, y)
    body = {k: v for k, v in _snapshot(model).items() if not k.startswith(model.head_name() + ".")}
    assert model.replace_head(5) is model
    assert model.predict(x).shape == (48, 5)  # built at once from the recorded input shape
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in body.items())  # the body is kept
    if "outputs" in model.get_params():
        assert model.get_params()["outputs"] == 5
    assert any(
        p is model.get_submodule(model.head_name()).parameters().__next__()
        for group in model.optimizer.param_groups
        for p in group["params"]
    )  # optimizer rebuilt
    model.fit(x, (y + 2) % 5, epochs=1, batch_size=16, verbose=0, seed=0)
    reloaded = lamina.load(model.save(str(tmp_path / "model")))
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    twin = model.clone()
    assert repr(twin.get_params()) == repr(model.get_params())
    twin.fit(x, (y + 2) % 5, epochs=1, batch_size=16, verbose=0, seed=0)
    assert twin.predict(x).shape == (48, 5)


def test_replace_head_keeps_cnn_head_structure_and_accepts_modules(images):
    model = CNN(filters=(4,), outputs=3, dropout=0.3).replace_head(7)
    assert [type(m).__name__ for m in model.head] == ["Dropout", "Dense"] and model.head[
        1
    ].units == 7
    assert model.head[0].rate == 0.3 and model.outputs == 7
    mlp = _fitted(MLP(units=(8,), outputs=3), *images).replace_head(torch.nn.Linear(8, 4))
    assert mlp.get_params()["outputs"] == 4 and mlp.predict(images[0]).shape == (48, 4)
    mlp.replace_head(torch.nn.Linear(8, 2)).freeze()
    assert [n for n, p in mlp.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]


# ------------------------------------------------------------------ fine_tune
@pytest.mark.parametrize(
    "make",
    [lambda: CNN(filters=(4, 8), outputs=3), lambda: MLP(units=(16, 8), outputs=3), _wrapped],
)
def test_fine_tune_frozen_phase_then_discriminative_groups(images, make):
    x, y = images
    model = _fitted(make(), x, y).replace_head(2)
    head = model.head_name()
    record = _Record()
    history = model.fine_tune(
        x,
        y % 2,
        epochs=2,
        freeze_epochs=1,
        learning_rate=1e-2,
        discriminative=100.0,
        batch_size=16,
        verbose=0,
        seed=0,
        callbacks=[record],
    )
    assert len(history.history["loss"]) == 3 and history.epoch == [0, 1, 2]
    frozen, unfrozen = record.fits
    assert frozen["lrs"] == [1e-2] and all(n.startswith(head + ".") for n in frozen["trainable"])
    assert len(unfrozen["trainable"]) == len(list(model.parameters()))
    lrs = unfrozen["lrs"]
    assert len(lrs) >= 3 and all(a < b for a, b in zip(lrs, lrs[1:]))  # earlier layers learn slower
    assert lrs[-1] == pytest.approx(1e-2) and lrs[0] == pytest.approx(1e-4)
    assert unfrozen["sizes"] == [len(g) for g in model.layer_groups()]
    assert sum(unfrozen["sizes"]) == len(list(model.parameters()))
    assert model.optimizer.param_groups[-1]["params"] == list(
        model.get_submodule(head).parameters()
    )
    assert all(p.requires_grad for p in model.parameters()) and model.history_ is history


def test_fine_tune_defaults_skip_phase_and_schedules(images):
    x, y = images
    model = _fitted(CNN(filters=(4,), outputs=3), x, y)
    record = _Record()
    model.fine_tune(x, y, epochs=1, freeze_epochs=0, verbose=0, seed=0, callbacks=[record])
    assert len(record.fits) == 1 and record.fits[0]["lrs"][-1] == pytest.approx(
        1e-2
    )  # compiled learning rate
    model.compile(optimizer="sgd", loss="cross_entropy")  # default lr 0.01 from the optimizer
    schedule = lamina.callbacks.LearningRateScheduler("cosine")
    model.fine_tune(x, y, epochs=2, discriminative=1.0, verbose=0, seed=0, callbacks=[schedule])
    lrs = [g["lr"] for g in model.optimizer.param_groups]
    assert (
        lrs[0] == pytest.approx(lrs[-1]) and lrs[-1] < 0.01
    )  # the schedule scaled every group alike


def test_fine_tune_builds_an_unbuilt_model(images):
    model = MLP(units=(8,), outputs=3).compile(optimizer="adam", loss="cross_entropy")
    history = model.fine_tune(*images, epochs=1, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2 and model.is_built()


# ------------------------------------------------------------------ bad input
def test_bad_input(images):
    model = _fitted(CNN(filters=(4,), outputs=3), *images)
    with pytest.raises(ConfigError, match=r"featurs.*'features', 'features.0'"):
        model.freeze("featurs")
    with pytest.raises(ConfigError, match="not submodules"):
        model.unfreeze("head", "nope")
    for bad in (0, -1, True, 2.5, "dense"):
        with pytest.raises(ConfigError, match="replace_head"):
            model.replace_head(bad)
    for kwargs in (
        {"epochs": 0},
        {"freeze_epochs": -1},
        {"discriminative": 0.5},
        {"learning_rate": 0.0},
        {"checkpoint_dir": "ckpt"},
    ):
        with pytest.raises(ConfigError):
            model.fine_tune(*images, **kwargs)
    with pytest.raises(NotCompiledError):
        CNN(filters=(4,), outputs=3).fine_tune(*images)
    with pytest.raises(ConfigError, match="no head"):
        lamina.Model().head_name()
    assert isinstance(model, TransferMixin)
