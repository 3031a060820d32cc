"""Registry resolution and configuration precedence."""

import json

import pytest
import torch
from lamina.errors import ConfigError

import lamina


def test_optimizers_resolve_with_defaults_and_overrides():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(lamina.registry.get("optimizer", "adam")(params), torch.optim.Adam)
    momentum = lamina.registry.get("optimizer", "momentum", lr=0.5)(params)
    assert momentum.defaults["momentum"] == 0.9 and momentum.defaults["lr"] == 0.5
    for name in ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"):
        assert isinstance(lamina.registry.get("optimizer", name)(params), torch.optim.Optimizer)


def test_callables_and_instances_pass_through():
    fn = torch.nn.functional.mse_loss
    assert lamina.registry.get("loss", fn) is fn
    metric = lamina.metrics.Accuracy()
    assert lamina.registry.get("metric", metric) is metric


def test_compile_accepts_optimizer_class_callable_and_instance():
    x, y = lamina.testing.tiny_classification(rows=30)
    for optimizer in (torch.optim.SGD and (lambda p: torch.optim.SGD(p, lr=0.1)), "rmsprop"):
        model = lamina.Sequential([lamina.layers.Dense(3)]).compile(
            optimizer=optimizer, loss="cross_entropy"
        )
        model.fit(x, y, epochs=1, verbose=0)
        assert model.optimizer is not None
    model = lamina.Model(torch.nn.Linear(6, 3))
    instance = torch.optim.SGD(model.parameters(), lr=0.1)
    model.compile(optimizer=instance, loss="cross_entropy").fit(x, y, epochs=1, verbose=0)
    assert model.optimizer is instance


def test_learning_rate_reaches_the_optimizer():
    x, y = lamina.testing.tiny_classification(rows=30)
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(
        "sgd", "cross_entropy", learning_rate=0.123
    )
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.param_groups[0]["lr"] == 0.123


def test_names_lists_and_unknown_family():
    assert "glorot_uniform" in lamina.registry.names("initializer")
    with pytest.raises(ConfigError, match="family"):
        lamina.registry.get("optimiser", "adam")


def test_registering_a_duplicate_name_is_refused():
    with pytest.raises(ConfigError, match="already registered"):
        lamina.registry.registries["loss"].add("mse", lambda a, b: a)


def test_config_precedence(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"device": "cpu", "seed": 1, "debug": 1}))
    monkeypatch.setenv("LAMINA_CONFIG", str(path))
    assert lamina.config.resolve().seed == 1
    monkeypatch.setenv("LAMINA_SEED", "2")
    config = lamina.config.resolve()
    assert (config.seed, config.debug, config.device) == (2, 1, "cpu")
    assert lamina.config.resolve(seed=3).seed == 3


def test_config_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_SEED", "abc")
    with pytest.raises(ConfigError, match="'abc'"):
        lamina.config.resolve()
    monkeypatch.delenv("LAMINA_SEED")
    with pytest.raises(ConfigError, match="Unknown config option"):
        lamina.config.resolve(colour="red")
    with pytest.raises(ConfigError, match="Unknown device"):
        lamina.config.select_device("tpu")


def test_resolved_config_is_saved_with_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_SEED", "11")
    monkeypatch.delenv("LAMINA_DEVICE")  # the suite pins the CPU; the default is "auto"
    x, y = lamina.testing.tiny_classification(rows=30)
    model = lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy")
    model.fit(x, y, epochs=1, verbose=0)
    manifest = (
        json.loads((tmp_path / "m" / "lamina.json").read_text())
        if model.save(tmp_path / "m")
        else None
    )
    assert manifest["config"]["seed"] == 11 and manifest["config"]["device"] == "auto"


def test_num_threads_from_the_environment_is_applied_by_fit(monkeypatch):
    # Regression: LAMINA_NUM_THREADS was resolved into the config but never given to torch.
    before = torch.get_num_threads()
    x, y = lamina.testing.tiny_classification(rows=16, features=3, classes=2)
    model = lamina.Sequential([lamina.layers.Dense(2)]).compile(loss="cross_entropy")
    try:
        torch.set_num_threads(2)
        monkeypatch.setenv("LAMINA_NUM_THREADS", "1")
        model.fit(x, y, epochs=1, verbose=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
