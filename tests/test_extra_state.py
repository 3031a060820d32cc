"""Non-tensor module state (``get_extra_state``) through save/load and checkpoints, for any module."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.checkpoint import Checkpointer, flatten, unflatten
from lamina.errors import ArtifactError, WeightsError

import lamina
from lamina.models.mlp import MLP


@lamina.register
class Vocabulary(torch.nn.Module):
    """A layer with learned JSON state next to its weights."""

    def __init__(self, units: int = 2) -> None:
        super().__init__()
        self.units = units
        self.linear = torch.nn.Linear(3, units)
        self.state_ = {"labels": [], "rows": 0}

    def forward(self, x):
        return self.linear(x)

    def get_extra_state(self):
        return self.state_

    def set_extra_state(self, state):
        self.state_ = dict(state)


@lamina.register
class Scaled(lamina.Model):
    """A model whose own (root) extra state is a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.scale_ = torch.ones(2)

    def forward(self, x):
        return self.linear(x) * self.scale_

    def get_extra_state(self):
        return self.scale_

    def set_extra_state(self, state):
        self.scale_ = state.clone()


X = torch.linspace(-1, 1, 12).reshape(4, 3)


def model_with_state(state=None):
    torch.manual_seed(0)
    model = lamina.Model(Vocabulary())
    model.build(X)
    model.module.state_ = (
        state
        if state is not None
        else {"labels": ["a", "b"], "rows": 4, "mean": 0.25, "nested": {"__tuple__": [1, 2]}}
    )
    return model


# ------------------------------------------------------------------ artifact
def test_json_extra_state_goes_to_the_manifest_and_comes_back(tmp_path):
    model = model_with_state()
    path = model.save(str(tmp_path / "m"))
    manifest = json.loads((Path(path) / "lamina.json").read_text())
    assert manifest["extra_state"] == {"module": model.module.state_}
    assert "module._extra_state" not in manifest["weights"]["tensors"]
    reloaded = lamina.load(path)
    assert reloaded.module.state_ == model.module.state_
    torch.testing.assert_close(reloaded(X), model(X))


def test_tensor_extra_state_at_the_root_stays_with_the_weights(tmp_path):
    model = Scaled()
    model.scale_ = torch.tensor([2.0, -1.0])
    model.build(X)
    path = model.save(str(tmp_path / "m"))
    manifest = json.loads((Path(path) / "lamina.json").read_text())
    assert manifest["extra_state"] == {} and "_extra_state" in manifest["weights"]["tensors"]
    torch.testing.assert_close(lamina.load(path).scale_, model.scale_)


def test_models_without_extra_state_save_an_empty_entry(tmp_path):
    model = lamina.Sequential([lamina.layers.Dense(2)])
    model.build(X)
    manifest = json.loads((Path(model.save(str(tmp_path / "m"))) / "lamina.json").read_text())
    assert manifest["extra_state"] == {}


def test_extra_state_that_is_not_json_is_refused_before_writing(tmp_path):
    model = model_with_state({"labels": {"a", "b"}})
    with pytest.raises(ArtifactError, match="extra state of module 'module'") as error:
        model.save(str(tmp_path / "m"))
    assert "Fix:" in str(error.value) and not (tmp_path / "m").exists()


def edit_manifest(path, change):
    manifest_path = Path(path) / "lamina.json"
    manifest = json.loads(manifest_path.read_text())
    change(manifest)
    manifest_path.write_text(json.dumps(manifest))


def test_malformed_or_missing_extra_state_in_the_manifest(tmp_path):
    path = model_with_state().save(str(tmp_path / "m"))
    edit_manifest(path, lambda m: m.update(extra_state=["not", "a", "dict"]))
    with pytest.raises(ArtifactError, match="extra_state is malformed"):
        lamina.load(path)
    edit_manifest(path, lambda m: m.update(extra_state={}))
    with pytest.raises(WeightsError, match="module._extra_state"):
        lamina.load(path)
    edit_manifest(path, lambda m: m.update(extra_state={"module": {}, "ghost": 1}))
    with pytest.raises(WeightsError, match="ghost._extra_state"):
        lamina.load(path)


# ------------------------------------------------------------------ checkpoints
def tabular_model():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"size": rng.normal(size=60), "color": rng.choice(["red", "blue", None], 60)}
    )
    y = (frame["color"] == "red").to_numpy(np.int64)
    model = MLP(units=(8,), outputs=2).compile(loss="cross_entropy")
    model.fit(frame, y, epochs=2, verbose=0, seed=0)
    return model, frame, y


def test_flatten_unflatten_keeps_a_non_tensor_extra_state_entry(tmp_path):
    model, frame, _ = tabular_model()
    state = model.state_dict()
    tensors: dict = {}
    meta = json.loads(json.dumps(flatten({"model": state}, tensors)))
    restored = unflatten(meta, tensors)["model"]
    assert restored["tabular._extra_state"] == state["tabular._extra_state"]
    fresh = MLP(units=(8,), outputs=2)
    fresh.load_state_dict(
        restored
    )  # makes the encoder, which sizes its embeddings from the extra state
    np.testing.assert_array_equal(fresh.predict(frame), model.predict(frame))


def test_flatten_keeps_dicts_whose_keys_look_like_tags():
    value = {"a": {"__tuple__": [1, 2]}, "b": {"__tensor__": "x", "c": (3, 4)}, "d": {1: "one"}}
    tensors: dict = {}
    assert unflatten(json.loads(json.dumps(flatten(value, tensors))), tensors) == value


def test_checkpointer_round_trips_a_state_with_extra_state(tmp_path):
    model, frame, _ = tabular_model()
    checkpointer = Checkpointer(tmp_path / "ck")
    checkpointer.save({"model": model.state_dict()}, 1)
    restored = checkpointer.load()["model"]
    assert restored["tabular._extra_state"] == model.tabular.get_extra_state()
    model.load_state_dict(restored)
    np.testing.assert_array_equal(model.predict(frame), model.predict(frame))


def run_mlp(x, y, epochs, directory, resume=False):
    model = MLP(units=(8,), outputs=2).compile(loss="cross_entropy")
    model.fit(x, y, epochs=epochs, verbose=0, seed=0, checkpoint_dir=str(directory), resume=resume)
    return model


def test_mlp_with_tuple_units_resumes_from_a_checkpoint(tmp_path):
    # Regression: the saved architecture {"units": {"__tuple__": [8]}} came back as a tuple, so resume refused it.
    x, y = lamina.testing.tiny_classification(rows=48, features=4, classes=2)
    reference = run_mlp(x, y, 3, tmp_path / "reference")
    run_mlp(x, y, 1, tmp_path / "run")
    resumed = run_mlp(x, y, 3, tmp_path / "run", resume=True)
    np.testing.assert_array_equal(resumed.predict(x), reference.predict(x))


# Regression: checkpoint fingerprints once read .shape of non-tensor extra state.
def test_tabular_mlp_trains_with_checkpoints(tmp_path):
    _, frame, y = tabular_model()
    model = MLP(units=(8,), outputs=2).compile(loss="cross_entropy")
    model.fit(frame, y, epochs=2, verbose=0, seed=0, checkpoint_dir=str(tmp_path / "ck"))
