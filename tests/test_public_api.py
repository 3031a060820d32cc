"""The public surface is small and pinned."""

import lamina

EXPECTED = [
    "LaminaError",
    "Model",
    "Project",
    "Sequential",
    "advise",
    "callbacks",
    "checkpoint",
    "config",
    "data",
    "datasets",
    "eda",
    "errors",
    "layers",
    "load",
    "metrics",
    "models",
    "monitor",
    "plan",
    "plot_history",
    "prepare",
    "project",
    "register",
    "registry",
    "schedules",
    "sequences",
    "serve",
    "testing",
    "train",
    "trees",
]


def test_all_is_pinned_and_sorted():
    assert lamina.__all__ == EXPECTED
    assert sorted(lamina.__all__) == lamina.__all__


def test_model_families_are_pinned():
    assert lamina.models.__all__ == [
        "Autoencoder",
        "CNN",
        "DBN",
        "GAN",
        "GAT",
        "GCN",
        "GRU4Rec",
        "GraphSAGE",
        "MLP",
        "MatrixFactorization",
        "Model",
        "Perceptron",
        "RBM",
        "RNN",
        "RecursiveNet",
        "SASRec",
        "Seq2Seq",
        "Sequential",
        "Transformer",
        "TransformerLM",
        "TwoTower",
        "VAE",
        "Word2Vec",
    ]


def test_every_public_name_resolves():
    for name in lamina.__all__:
        assert getattr(lamina, name) is not None


def test_submodule_all_sorted_and_resolving():
    for module in (
        lamina.layers,
        lamina.callbacks,
        lamina.metrics,
        lamina.errors,
        lamina.models,
        lamina.data,
        lamina.datasets,
        lamina.registry,
        lamina.config,
        lamina.testing,
        lamina.schedules,
        lamina.checkpoint,
        lamina.train,
        lamina.sequences,
        lamina.trees,
    ):
        assert list(module.__all__) == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_reprs_show_lamina_names():
    model = lamina.Sequential([lamina.layers.Dense(4, activation="relu")])
    assert repr(model).startswith("lamina.Sequential(")
    assert "lamina.layers.Dense(units=4, activation='relu')" in repr(model)
    assert repr(lamina.callbacks.History()).startswith("lamina.callbacks.History")
    assert repr(lamina.metrics.Accuracy()).startswith("lamina.metrics.Accuracy")


def test_errors_are_builtin_subclasses():
    assert issubclass(lamina.errors.ConfigError, ValueError)
    assert issubclass(lamina.errors.DataError, ValueError)
    assert issubclass(lamina.errors.NotCompiledError, RuntimeError)
    assert issubclass(lamina.errors.UnsafeFileError, lamina.LaminaError)
