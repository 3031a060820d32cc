"""Bad input gets a lamina error that shows what was received, what was expected and the fix."""

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.errors import (
    ConfigError,
    DataError,
    LaminaError,
    NotBuiltError,
    NotCompiledError,
    ShapeError,
    WeightsError,
)
from lamina.layers import Dense

import lamina


def compiled(classes=3):
    model = lamina.Sequential([Dense(8, activation="relu"), Dense(classes)])
    return model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])


def assert_helpful(error, *fragments):
    text = str(error.value)
    for part in ("Received:", "Expected:", "Fix:", *fragments):
        assert part in text, f"{part!r} missing from: {text}"


X, Y = lamina.testing.tiny_classification(rows=40, features=5, classes=3)


def test_x_and_y_lengths_differ():
    with pytest.raises(DataError) as error:
        compiled().fit(X, Y[:30], verbose=0)
    assert_helpful(error, "len(x)=40", "len(y)=30")


def test_class_ids_outside_output_size():
    with pytest.raises(DataError) as error:
        compiled(classes=3).fit(X, Y + 1, verbose=0)
    assert_helpful(error, "from 1 to 3", "0..2", "3 outputs")


def test_negative_class_id():
    with pytest.raises(DataError, match="from -1 to"):
        compiled().fit(X, Y - 1, verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(bad):
    x = X.copy()
    x[7, 2] = bad
    with pytest.raises(DataError) as error:
        compiled().fit(x, Y, verbose=0)
    assert_helpful(error, "(7, 2)", "finite")


def test_empty_data():
    with pytest.raises(DataError) as error:
        compiled().fit(X[:0], Y[:0], verbose=0)
    assert_helpful(error, "(0, 5)", "at least one row")


def test_string_where_a_number_goes():
    x = X.astype(object)
    x[3, 1] = "seven"
    with pytest.raises(DataError) as error:
        compiled().fit(x, Y, verbose=0)
    assert_helpful(error, "'seven'", "(3, 1)")


def test_string_column_in_dataframe():
    frame = pd.DataFrame(X, columns=list("abcde")).assign(city=["Oslo"] * 40)
    with pytest.raises(DataError) as error:
        compiled().fit(frame, Y, verbose=0)
    assert_helpful(error, "'city'")


@pytest.mark.parametrize(
    "kind,name,suggestion",
    [
        ("optimizer", "adamm", "'adam'"),
        ("loss", "crossentropy", "'cross_entropy'"),
        ("metric", "acuracy", "'accuracy'"),
    ],
)
def test_unknown_names_list_nearest(kind, name, suggestion):
    model = lamina.Sequential([Dense(3)])
    kwargs = {"optimizer": "adam", "loss": "cross_entropy", "metrics": []}
    kwargs[kind if kind != "metric" else "metrics"] = name if kind != "metric" else [name]
    with pytest.raises(ConfigError) as error:
        model.compile(**kwargs)
    assert_helpful(error, repr(name), f"Did you mean {suggestion}")


def test_unknown_activation_and_initializer():
    with pytest.raises(ConfigError, match="Did you mean 'relu'"):
        Dense(3, activation="rellu")
    with pytest.raises(ConfigError, match="glorot_uniform"):
        Dense(3, kernel_initializer="glorot")


def test_fit_before_compile():
    with pytest.raises(NotCompiledError) as error:
        lamina.Sequential([Dense(3)]).fit(X, Y, verbose=0)
    assert_helpful(error, "compile(")


def test_evaluate_before_compile():
    model = lamina.Sequential([Dense(3)])
    model.build(torch.zeros(1, 5))
    with pytest.raises(NotCompiledError):
        model.evaluate(X, Y)


def test_predict_before_fit():
    with pytest.raises(NotBuiltError) as error:
        lamina.Sequential([Dense(3)]).predict(X)
    assert_helpful(error, "fit()")


def test_predict_with_different_feature_count():
    model = compiled()
    model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ShapeError) as error:
        model.predict(X[:, :4])
    assert_helpful(error, "(None, 4)", "(None, 5)")


def test_weights_from_another_architecture(tmp_path):
    small = compiled()
    small.fit(X, Y, epochs=1, verbose=0)
    small.save(tmp_path / "small")
    big = lamina.Sequential([Dense(16, activation="relu"), Dense(3)]).compile(loss="cross_entropy")
    big.fit(X, Y, epochs=1, verbose=0)
    big.save(tmp_path / "big")
    (tmp_path / "big" / "weights.safetensors").write_bytes(
        (tmp_path / "small" / "weights.safetensors").read_bytes()
    )
    with pytest.raises(WeightsError) as error:
        lamina.load(tmp_path / "big")
    assert_helpful(error)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"validation_split": 1.5}, "validation_split"),
    ],
)
def test_bad_fit_arguments(kwargs, fragment):
    with pytest.raises(LaminaError) as error:
        compiled().fit(X, Y, verbose=0, **kwargs)
    assert fragment in str(error.value) and "Fix:" in str(error.value)


def test_bad_layer_arguments():
    with pytest.raises(ConfigError, match="units"):
        Dense(0)
    with pytest.raises(ConfigError, match="padding"):
        lamina.layers.Conv2D(4, 3, padding="full")
    with pytest.raises(ConfigError, match="rate"):
        lamina.layers.Dropout(1.0)
    with pytest.raises(ConfigError, match="torch modules"):
        lamina.Sequential([Dense(3), "relu"])


def test_conv_on_flat_input_explains_rank():
    model = lamina.Sequential([lamina.layers.Conv2D(4, 3), Dense(3)]).compile(loss="cross_entropy")
    with pytest.raises(ShapeError) as error:
        model.fit(X, Y, verbose=0)
    assert_helpful(error, "(2, 5)", "rank 4")


def test_no_trainable_parameters():
    model = lamina.Model(torch.nn.Linear(5, 3)).compile(loss="cross_entropy")
    model.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        model.fit(X, Y, verbose=0)


def test_y_with_dataset_input_is_refused():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    with pytest.raises(ConfigError, match="Drop y"):
        compiled().fit(dataset, Y, verbose=0)


def test_fit_without_targets_explains():
    with pytest.raises(DataError) as error:
        compiled().fit(X, verbose=0)
    assert_helpful(error, "needs targets", "override train_step")


def test_sample_weight_with_dataset_input_is_refused():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    with pytest.raises(ConfigError, match="sample_weight"):
        compiled().fit(dataset, sample_weight=np.ones(40), verbose=0)


def test_nothing_is_lost_after_an_error():
    """A failed fit leaves the model and the caller's data untouched."""
    model = compiled()
    model.fit(X, Y, epochs=1, verbose=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = X.copy()
    x[0, 0] = np.nan
    with pytest.raises(DataError):
        model.fit(x, Y, verbose=0)
    assert np.isnan(x[0, 0]) and np.array_equal(x[1:], X[1:])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
