"""Learning-rate schedules (checked against their closed forms) and the learning-rate finder."""

import json
import math

import numpy as np
import pytest
import torch
from lamina.lr_find import lr_find
from lamina.schedules import CosineDecay, OneCycle, StepDecay, Warmup

import lamina


def sgd(lr=0.1, **options):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, **options)


def lrs_of(schedule, total, periods=None, optimizer=None):
    """The lr used in each of ``periods`` periods: read, then optimizer.step() and scheduler.step()."""
    optimizer = optimizer or sgd()
    scheduler = schedule.build(optimizer, total)
    used = []
    for _ in range(periods or total):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return used


def test_step_decay_matches_formula():
    used = lrs_of(lamina.schedules.get("step", step_size=3, gamma=0.5), total=10)
    assert used == pytest.approx([0.1 * 0.5 ** (k // 3) for k in range(10)])
    assert isinstance(lamina.schedules.get("step"), StepDecay)


def test_cosine_matches_formula():
    total, low = 12, 0.01
    used = lrs_of(CosineDecay(min_lr=low), total, periods=total + 1)
    expected = [
        low + (0.1 - low) * (1 + math.cos(math.pi * k / total)) / 2 for k in range(total + 1)
    ]
    assert used == pytest.approx(expected)
    assert used[-1] == pytest.approx(low)


def test_one_cycle_rises_to_max_then_anneals():
    total = 20
    optimizer = sgd(momentum=0.9)
    used = lrs_of(
        OneCycle(max_lr=1.0, pct_start=0.25, div_factor=10, final_div_factor=100),
        total,
        optimizer=optimizer,
    )
    peak = int(0.25 * total) - 1  # torch's phase boundary
    assert used[0] == pytest.approx(0.1)
    assert used[peak] == pytest.approx(1.0)
    assert used[-1] == pytest.approx(1.0 / 10 / 100)
    assert all(np.diff(used[: peak + 1]) > 0) and all(np.diff(used[peak:]) < 0)
    # cosine annealing inside the first phase, e.g. halfway: the mean of start and peak
    assert used[(peak + 1) // 2] == pytest.approx(
        0.1 + (1.0 - 0.1) * (1 - math.cos(math.pi * 0.5)) / 2, rel=0.2
    )


def test_one_cycle_leaves_plain_sgd_without_momentum():
    optimizer = sgd()
    lrs_of(OneCycle(max_lr=1.0), 10, optimizer=optimizer)
    assert optimizer.param_groups[0]["momentum"] == 0


def test_warmup_then_constant_and_then_cosine():
    steps, start = 4, 0.01
    linear = [0.1 * (start + (1 - start) * min(k, steps) / steps) for k in range(8)]
    assert lrs_of(Warmup(steps=steps, start_factor=start), total=8) == pytest.approx(linear)
    total = 14
    used = lrs_of(lamina.schedules.get("warmup", steps=steps, then="cosine"), total)
    rest = total - steps
    cosine = [0.1 * (1 + math.cos(math.pi * k / rest)) / 2 for k in range(rest)]
    assert used == pytest.approx(linear[:steps] + cosine)


def test_get_resolves_functions_factories_and_torch_classes():
    keras = lamina.schedules.get(lambda epoch, lr: lr * 0.5 if epoch else lr)
    assert lrs_of(keras, 4) == pytest.approx([0.1, 0.05, 0.025, 0.0125])  # fn sees the current lr
    torch_class = lamina.schedules.get(torch.optim.lr_scheduler.ExponentialLR, gamma=0.9)
    assert lrs_of(torch_class, 3) == pytest.approx([0.1, 0.09, 0.081])
    factory = lamina.schedules.get(
        lambda optimizer: torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.5)
    )
    assert lrs_of(factory, 3) == pytest.approx([0.1, 0.05, 0.025])


def test_get_errors_name_the_fix():
    with pytest.raises(lamina.errors.ConfigError, match="cosine"):
        lamina.schedules.get("cosin")
    with pytest.raises(lamina.errors.ConfigError, match="step_size"):
        lamina.schedules.get("step", step=3)
    with pytest.raises(lamina.errors.ConfigError, match="schedule"):
        lamina.schedules.get(3)
    with pytest.raises(lamina.errors.ConfigError, match="OneCycle"):
        Warmup(steps=5, then="one_cycle")
    with pytest.raises(lamina.errors.ConfigError, match="per"):
        lamina.callbacks.LearningRateScheduler("cosine", per="batch")


@pytest.mark.parametrize(
    "schedule",
    ["step", "cosine", "one_cycle", Warmup(steps=3, then="cosine"), lambda epoch, lr: lr * 0.9],
)
def test_scheduler_state_is_json_and_restores(schedule):
    first, second = sgd(momentum=0.9), sgd(momentum=0.9)
    a, b = (
        lamina.schedules.get(schedule).build(first, 20),
        lamina.schedules.get(schedule).build(second, 20),
    )
    for _ in range(7):
        first.step()
        a.step()
    state = json.loads(json.dumps(a.state_dict()))
    second.load_state_dict(first.state_dict())
    b.load_state_dict(state)
    for _ in range(5):
        first.step(), second.step(), a.step(), b.step()
        assert second.param_groups[0]["lr"] == first.param_groups[0]["lr"]


# ---------------------------------------------------------------- lr_find
def fitted_model():
    x, y = lamina.testing.tiny_classification()
    model = lamina.Sequential(
        [
            lamina.layers.Dense(16, activation="relu"),
            lamina.layers.BatchNorm(),
            lamina.layers.Dense(3),
        ]
    ).compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    return model, x, y


def test_lr_find_restores_weights_and_optimizer_state_exactly():
    model, x, y = fitted_model()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer_state = model.optimizer.state_dict()
    moments = {i: {k: v.clone() for k, v in s.items()} for i, s in optimizer_state["state"].items()}
    groups = json.dumps(optimizer_state["param_groups"])
    engine, rng = model.engine, torch.get_rng_state()
    result = lr_find(model, x, y, steps=40, max_lr=1.0)
    assert len(result.lrs) > 10
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    after = model.optimizer.state_dict()
    assert json.dumps(after["param_groups"]) == groups
    assert all(
        torch.equal(v, moments[i][k]) for i, s in after["state"].items() for k, v in s.items()
    )
    assert model.engine is engine and torch.equal(torch.get_rng_state(), rng)


def test_lr_find_sweeps_exponentially_stops_on_divergence_and_suggests():
    x, y = lamina.testing.tiny_classification()
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(
        optimizer="sgd", loss="cross_entropy"
    )
    result = lr_find(
        model, x, y, min_lr=1e-4, max_lr=1e4, steps=60, stop_factor=2.0
    )  # builds the model
    assert model.is_built()
    expected = np.geomspace(1e-4, 1e4, 60)[: len(result.lrs)]
    assert result.lrs == pytest.approx(expected.tolist())
    assert len(result.lrs) < 60  # the loss blew up before the end
    i = result.lrs.index(result.suggestion)
    assert 0 < i < len(result.lrs) - 1 and result.losses[i + 1] < result.losses[i - 1]


def test_lr_find_validates_arguments():
    model, x, y = fitted_model()
    with pytest.raises(lamina.errors.ConfigError, match="min_lr"):
        lr_find(model, x, y, min_lr=1.0, max_lr=0.1)
    with pytest.raises(lamina.errors.NotCompiledError):
        lr_find(lamina.Sequential([lamina.layers.Dense(3)]), x, y)
