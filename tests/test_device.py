"""Where weights live: ``lamina.load(device=...)`` and the model contract on CUDA (those tests need a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lamina
from lamina.models.cnn import CNN
from lamina.models.mlp import MLP
from lamina.models.rnn import RNN

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _trained(tmp_path, device: str = "cpu"):  # type: ignore[no-untyped-def]
    x = np.random.default_rng(0).normal(size=(32, 5)).astype(np.float32)
    model = MLP(units=(8,), outputs=2).compile(loss="cross_entropy")
    model.fit(x, (x[:, 0] > 0).astype(int), epochs=2, verbose=0, device=device)
    return model, x, model.save(str(tmp_path / "model"))


def test_load_places_the_weights_where_asked(tmp_path) -> None:
    model, x, path = _trained(tmp_path)
    for device in (None, "cpu", torch.device("cpu"), model):
        reloaded = lamina.load(path, device=device)
        assert next(reloaded.parameters()).device.type == "cpu"
        np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    with pytest.raises(lamina.errors.ConfigError):
        lamina.load(path, device="tpu")


@cuda
def test_load_onto_cuda_and_predict_identically(tmp_path) -> None:
    model, x, path = _trained(tmp_path, device="cuda")
    reloaded = lamina.load(path, device="cuda")
    assert next(reloaded.parameters()).device.type == "cuda"
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    assert next(lamina.load(path, device=model).parameters()).device == next(model.parameters()).device


@cuda
@pytest.mark.parametrize("build", [lambda: MLP(units=(16,), outputs=3), lambda: CNN(filters=(4, 8), outputs=3),
                                   lambda: RNN(cell="gru", units=8, outputs=3)], ids=["mlp", "cnn", "rnn"])
def test_the_model_contract_holds_on_cuda(build, images, monkeypatch) -> None:
    """Regression: check_model compared a CUDA-trained model with its reload on the CPU, so float noise failed it."""
    monkeypatch.setenv("LAMINA_DEVICE", "cuda")
    (x, y), model = images, build()
    if isinstance(model, MLP):
        x = x.reshape(len(x), -1)
    elif isinstance(model, RNN):
        x = x[:, 0]  # 12 steps of 12 features
    report = lamina.testing.check_model(model, x, y, epochs=8)
    assert report["loss_fell"]
