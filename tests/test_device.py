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
    assert (
        next(lamina.load(path, device=model).parameters()).device == next(model.parameters()).device
    )


@cuda
@pytest.mark.parametrize(
    "build",
    [
        lambda: MLP(units=(16,), outputs=3),
        lambda: CNN(filters=(4, 8), outputs=3),
        lambda: RNN(cell="gru", units=8, outputs=3),
    ],
    ids=["mlp", "cnn", "rnn"],
)
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


def _sync_free_cases():  # type: ignore[no-untyped-def]
    """(model, x, y, loss) for one training step of each supervised family, on token ids or floats."""
    from lamina.models.transformer import Transformer, TransformerLM

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 9, (16, 6), generator=g)
    ids[:4, 4:] = 0  # padded rows: the lengths must not be copied to the host
    labels = torch.randint(0, 3, (16,), generator=g)
    return {
        "mlp": (MLP(units=(16,), outputs=3), torch.randn(16, 5, generator=g), labels),
        "cnn": (CNN(filters=(4, 8), outputs=3), torch.randn(16, 1, 12, 12, generator=g), labels),
        "rnn": (RNN(cell="gru", units=8, outputs=3, vocabulary_size=9), ids, labels),
        "rnn_label": (
            RNN(cell="lstm", units=8, outputs=3, task="label", vocabulary_size=9),
            ids,
            ids % 3,
        ),
        "transformer": (
            Transformer(
                vocabulary_size=9,
                outputs=3,
                embedding_dim=16,
                num_heads=2,
                num_layers=1,
                max_length=8,
            ),
            ids,
            labels,
        ),
        "transformer_lm": (
            TransformerLM(
                vocabulary_size=9, embedding_dim=16, num_heads=2, num_layers=1, max_length=8
            ),
            ids,
            ids.roll(-1, 1),
        ),
    }


@cuda
@pytest.mark.parametrize(
    "case", ["mlp", "cnn", "rnn", "rnn_label", "transformer", "transformer_lm"]
)
def test_a_training_step_never_waits_for_the_gpu(case) -> None:
    """Regression: per-step id-range checks, ``.nonzero()`` and ``.cpu()`` made the host wait every batch."""
    model, x, y = _sync_free_cases()[case]
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    model.fit(
        x, y, epochs=1, batch_size=8, verbose=0, device="cuda"
    )  # data checks and set-up may sync
    batch = (x[:8].cuda(), y[:8].cuda())
    model.train()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            logs = model.train_step(batch)
            model.track(logs, batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(logs["loss"]).item()
