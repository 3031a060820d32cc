"""Engine options: clipping, accumulation, sample/class weights, precision, torch.compile.

Each test compares against a hand computation, so it fails if the option is ignored.
"""

import numpy as np
import pytest
import torch
from torch import nn

import lamina


def linear_model(features=4, outputs=3, seed=0):
    torch.manual_seed(seed)
    return lamina.Model(nn.Linear(features, outputs))


def one_step_gradient(x, y, **fit_kwargs):
    """Weights change after one SGD step with lr=1 is minus the gradient."""
    model = linear_model(x.shape[1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.compile(
        optimizer="sgd",
        loss="cross_entropy",
        learning_rate=1.0,
        **{k: fit_kwargs.pop(k) for k in ("clip_norm", "clip_value") if k in fit_kwargs},
    )
    model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, verbose=0, **fit_kwargs)
    return {k: before[k] - v for k, v in model.state_dict().items()}, before


def reference_gradient(before, x, y, weights=None):
    module = nn.Linear(x.shape[1], 3)
    module.load_state_dict({"weight": before["module.weight"], "bias": before["module.bias"]})
    losses = nn.functional.cross_entropy(
        module(torch.from_numpy(x)), torch.from_numpy(y), reduction="none"
    )
    loss = losses.mean() if weights is None else (losses * weights).sum() / len(losses)
    loss.backward()
    return {"module.weight": module.weight.grad, "module.bias": module.bias.grad}


X, Y = lamina.testing.tiny_classification(rows=12, features=4, classes=3)


def test_class_weight_changes_the_gradient_as_computed_by_hand():
    class_weight = {0: 1.0, 1: 5.0, 2: 0.5}
    step, before = one_step_gradient(X, Y, class_weight=class_weight)
    weights = torch.tensor([class_weight[int(c)] for c in Y])
    expected = reference_gradient(before, X, Y, weights)
    for key in expected:
        assert torch.allclose(step[key], expected[key], atol=1e-6)
    plain, _ = one_step_gradient(X, Y)
    assert not torch.allclose(plain["module.weight"], step["module.weight"], atol=1e-4)


def test_sample_weight_changes_the_gradient_as_computed_by_hand():
    sample_weight = np.linspace(0.1, 2.0, len(X)).astype(np.float32)
    step, before = one_step_gradient(X, Y, sample_weight=sample_weight)
    expected = reference_gradient(before, X, Y, torch.from_numpy(sample_weight))
    for key in expected:
        assert torch.allclose(step[key], expected[key], atol=1e-6)


def test_sample_and_class_weights_multiply():
    sample_weight = np.full(len(X), 2.0, dtype=np.float32)
    step, before = one_step_gradient(
        X, Y, sample_weight=sample_weight, class_weight=[1.0, 3.0, 1.0]
    )
    weights = 2.0 * torch.tensor([[1.0, 3.0, 1.0][int(c)] for c in Y])
    expected = reference_gradient(before, X, Y, weights)
    assert torch.allclose(step["module.weight"], expected["module.weight"], atol=1e-6)


def test_clip_norm_limits_the_step():
    step, before = one_step_gradient(X, Y, clip_norm=0.01)
    expected = reference_gradient(before, X, Y)
    norm = torch.sqrt(sum((g**2).sum() for g in expected.values()))
    assert norm > 0.01
    total = torch.sqrt(sum((s**2).sum() for s in step.values()))
    assert torch.isclose(total, torch.tensor(0.01), atol=1e-6)
    assert torch.allclose(step["module.weight"], expected["module.weight"] * 0.01 / norm, atol=1e-6)


def test_clip_value_limits_each_element():
    step, before = one_step_gradient(X, Y, clip_value=0.001)
    expected = reference_gradient(before, X, Y)
    assert torch.allclose(
        step["module.weight"], expected["module.weight"].clamp(-0.001, 0.001), atol=1e-7
    )


def test_accumulation_equals_one_big_batch():
    """4 batches of 3 rows accumulated = one batch of 12 rows (equal batch sizes, mean losses)."""
    big, _ = one_step_gradient(X, Y)
    model = linear_model(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=1.0)
    model.fit(X, Y, epochs=1, batch_size=3, shuffle=False, accumulate=4, verbose=0)
    step = {k: before[k] - v for k, v in model.state_dict().items()}
    for key in big:
        assert torch.allclose(step[key], big[key], atol=1e-6)
    # without accumulation, four separate steps give a different result
    model = linear_model(4).compile(optimizer="sgd", loss="cross_entropy", learning_rate=1.0)
    model.fit(X, Y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    assert not torch.allclose(
        before["module.weight"] - model.state_dict()["module.weight"], big["module.weight"]
    )


def test_bf16_autocast_runs_forward_in_bfloat16():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x):
            out = self.linear(x)
            seen.append(out.dtype)
            return out

    model = lamina.Model(Probe()).compile(loss="cross_entropy", learning_rate=0.05)
    history = model.fit(X, Y, epochs=5, precision="bf16", verbose=0)
    assert torch.bfloat16 in seen
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(X).dtype == np.float32


def test_16_mixed_needs_cuda():
    model = linear_model().compile(loss="cross_entropy")
    if torch.cuda.is_available():
        history = model.fit(X, Y, epochs=2, precision="16-mixed", verbose=0, device="cuda")
        assert np.isfinite(history.history["loss"]).all()
    else:
        with pytest.raises(lamina.errors.ConfigError, match="bf16"):
            model.fit(X, Y, epochs=1, precision="16-mixed", verbose=0)


def test_unknown_precision_and_bad_accumulate():
    model = linear_model().compile(loss="cross_entropy")
    with pytest.raises(lamina.errors.ConfigError, match="'fp8'"):
        model.fit(X, Y, precision="fp8", verbose=0)
    with pytest.raises(lamina.errors.ConfigError, match="accumulate"):
        model.fit(X, Y, accumulate=0, verbose=0)


def test_compile_runs_through_torch_compile():
    model = linear_model().compile(loss="cross_entropy", learning_rate=0.05)
    reference = linear_model().compile(loss="cross_entropy", learning_rate=0.05)
    model.fit(X, Y, epochs=2, compile="eager", seed=0, verbose=0)
    reference.fit(X, Y, epochs=2, seed=0, verbose=0)
    assert model._compiled_call_impl is not None and reference._compiled_call_impl is None
    assert np.allclose(model.predict(X), reference.predict(X), atol=1e-6)


def test_compile_true_uses_the_default_inductor_backend():
    model = linear_model().compile(loss="cross_entropy", learning_rate=0.05)
    reference = linear_model().compile(loss="cross_entropy", learning_rate=0.05)
    history = model.fit(X, Y, epochs=2, compile=True, seed=0, verbose=0)
    reference_history = reference.fit(X, Y, epochs=2, seed=0, verbose=0)
    assert model._compiled_call_impl is not None
    assert np.allclose(history.history["loss"], reference_history.history["loss"], atol=1e-5)


def test_custom_loss_without_reduction_explains_weights():
    model = linear_model().compile(loss=lambda p, t: nn.functional.cross_entropy(p, t))
    with pytest.raises(lamina.errors.ConfigError, match="reduction"):
        model.fit(X, Y, class_weight=[1.0, 2.0, 1.0], verbose=0)


def test_array_loader_shuffled_batches_match_fancy_indexing():
    """index_select batching gives the same order and rows as t[randperm] did, for a seeded shuffle."""
    x, y = torch.randn(37, 3, 2), torch.arange(37)
    loader = lamina.data.ArrayLoader(
        (x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5)
    )
    order = torch.randperm(37, generator=torch.Generator().manual_seed(5))
    expected = [(x[order[s : s + 8]], y[order[s : s + 8]]) for s in range(0, 37, 8)]
    batches = list(loader)
    assert len(batches) == len(expected) == 5
    for (bx, by), (ex, ey) in zip(batches, expected):
        assert torch.equal(bx, ex) and torch.equal(by, ey)
    plain = list(lamina.data.ArrayLoader((x, y), batch_size=8))
    assert torch.equal(torch.cat([b[1] for b in plain]), y)
