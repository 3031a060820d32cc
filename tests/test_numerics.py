"""lamina's fit computes exactly what a hand-written torch loop computes."""

import numpy as np
import torch
from torch import nn

import lamina


def _raw_loop(module, x, y, epochs, batch_size, seed, lr):
    generator = torch.Generator()
    generator.manual_seed(seed)
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(module(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return module


def test_fit_matches_hand_written_loop_bit_for_bit():
    x, y = lamina.testing.tiny_classification(rows=100, features=5, classes=3)
    model = lamina.Sequential([lamina.layers.Dense(8, activation="relu"), lamina.layers.Dense(3)])
    model.build(torch.from_numpy(x))
    raw = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for (_, theirs), ours in zip(raw.state_dict().items(), model.state_dict().values()):
            theirs.copy_(ours)
    model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=0.1)
    model.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0)
    _raw_loop(raw, torch.from_numpy(x), torch.from_numpy(y), 3, 16, 7, 0.1)
    for ours, theirs in zip(model.state_dict().values(), raw.state_dict().values()):
        assert torch.equal(ours, theirs)


def test_dense_and_conv_match_torch_functional():
    x = torch.randn(4, 3, 9, 9)
    conv = lamina.layers.Conv2D(5, 3, padding="same", activation="relu")
    out = conv(x)
    expected = torch.relu(nn.functional.conv2d(x, conv.weight, conv.bias, padding=1))
    assert torch.allclose(out, expected)
    dense = lamina.layers.Dense(7)
    flat = torch.randn(6, 11)
    assert torch.allclose(dense(flat), flat @ dense.weight.T + dense.bias)
    assert dense.weight.shape == (7, 11)


def test_batchnorm_matches_torch():
    x = torch.randn(8, 4, 5, 5)
    ours, theirs = lamina.layers.BatchNorm(), nn.BatchNorm2d(4)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-6)
    ours.eval(), theirs.eval()
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)


def test_evaluate_matches_manual_computation():
    x, y = lamina.testing.tiny_classification(rows=50)
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(
        loss="cross_entropy", metrics=["accuracy"]
    )
    model.fit(x, y, epochs=1, verbose=0)
    logits = torch.from_numpy(model.predict(x))
    scores = model.evaluate(x, y, batch_size=7)
    expected_loss = nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
    assert np.isclose(scores["loss"], expected_loss, atol=1e-5)
    assert np.isclose(scores["accuracy"], float((logits.argmax(1).numpy() == y).mean()))
