"""Tabular MLP: column types inferred from a DataFrame, entity embeddings, missing and unseen values, the
model contract on DataFrames, save/load of the learned columns, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.errors import ConfigError, DataError, NotBuiltError, ShapeError

import lamina
from lamina.models.mlp import MLP, embedding_size_rule

REPO = Path(__file__).resolve().parents[1]


def frame_and_labels(rows=120, seed=0):
    """Mixed columns; the label depends on a category, a bool and a number, so it is learnable."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50.0, 10.0, rows),
            "city": rng.choice(["Oslo", "Rome", "Lima", "Pune"], rows),
            "member": rng.random(rows) > 0.5,
        }
    )
    y = ((frame["city"].isin(["Oslo", "Lima"]) ^ frame["member"]) | (frame["age"] > 70)).to_numpy(
        np.int64
    )
    return frame, y


def fitted(frame, y, epochs=2, **options):
    model = MLP(units=(16,), outputs=2, **options)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2)
    model.fit(frame, y, epochs=epochs, verbose=0, seed=0)
    return model


def kinds(model):
    return {c["name"]: (c["kind"], c["dtype"]) for c in model.tabular.columns_}


# ------------------------------------------------------------------ type inference and encoding
def test_column_kinds_are_inferred_from_dtypes():
    frame = pd.DataFrame(
        {
            "int": [1, 2, 3, 4],
            "float": [0.5, 1.5, 2.5, 3.5],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "text": ["a", "b", "a", "c"],
            "object": pd.Series(["x", "y", None, "x"], dtype=object),
            "category": pd.Categorical(["lo", "hi", "hi", "lo"]),
            "flag": [True, False, True, True],
            "zip": [101, 202, 101, 303],
        }
    )
    model = fitted(frame, np.array([0, 1, 0, 1]), epochs=1, categorical=["zip"])
    assert kinds(model) == {
        "int": ("numeric", "number"),
        "float": ("numeric", "number"),
        "nullable": ("numeric", "number"),
        "text": ("categorical", "string"),
        "object": ("categorical", "string"),
        "category": ("categorical", "string"),
        "flag": ("categorical", "bool"),
        "zip": ("categorical", "number"),
    }
    columns = {c["name"]: c for c in model.tabular.columns_}
    assert columns["zip"]["vocabulary"] == ["101", "202", "303"]  # ints stay numeric unless named
    assert columns["flag"]["vocabulary"] == ["False", "True"]
    assert columns["object"]["vocabulary"] == ["x", "y"]  # missing is not a category: it maps to 0


def test_numeric_columns_are_standardised_with_train_statistics_oracle():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 10.0], "b": [5, 5, 5, 5]})
    model = fitted(frame, np.array([0, 1, 0, 1]), epochs=1)
    encoded = model.tabular.transform(pd.DataFrame({"a": [4.0, 1.0], "b": [7, 5]}))
    a = frame["a"].to_numpy()
    np.testing.assert_allclose(
        encoded[:, 0], (np.array([4.0, 1.0]) - a.mean()) / a.std(), rtol=1e-6
    )
    np.testing.assert_allclose(encoded[:, 1], [2.0, 0.0])  # a constant column keeps std 1
    assert encoded.shape == (2, 2) and encoded.dtype == np.float32


def test_forward_is_numbers_then_one_embedding_per_column_torch_oracle():
    frame, y = frame_and_labels()
    model = fitted(frame, y, epochs=1)
    encoded = torch.from_numpy(model.tabular.transform(frame))
    numbers, codes = encoded[:, :2], encoded[:, 2:].long()
    city, member = model.tabular.embeddings
    expected = torch.cat([numbers, city(codes[:, 0]), member(codes[:, 1])], dim=1)
    torch.testing.assert_close(model.tabular(encoded), expected)
    np.testing.assert_array_equal(
        codes[:, 0].numpy(),
        frame["city"].map({"Lima": 1, "Oslo": 2, "Pune": 3, "Rome": 4}).to_numpy(),
    )


# ------------------------------------------------------------------ embedding sizes
def test_embedding_sizes_follow_the_fastai_rule_by_default():
    assert [embedding_size_rule(k) for k in (2, 5, 10, 100, 10**6)] == [2, 4, 6, 21, 600]
    frame = pd.DataFrame({"small": list("ab") * 30, "large": [f"v{i}" for i in range(60)]})
    model = fitted(frame, np.arange(60) % 2, epochs=1)
    sizes = [(e.num_embeddings, e.embedding_dim) for e in model.tabular.embeddings]
    assert sizes == [
        (3, embedding_size_rule(3)),
        (61, embedding_size_rule(61)),
    ]  # categories + unknown index


def test_embedding_size_can_be_set_for_all_columns_or_per_column():
    frame = pd.DataFrame({"small": list("ab") * 30, "large": [f"v{i}" for i in range(60)]})
    every = fitted(frame, np.arange(60) % 2, epochs=1, embedding_dim=5)
    assert [e.embedding_dim for e in every.tabular.embeddings] == [5, 5]
    some = fitted(frame, np.arange(60) % 2, epochs=1, embedding_dim={"large": 7})
    assert [e.embedding_dim for e in some.tabular.embeddings] == [embedding_size_rule(3), 7]
    assert some.get_params()["embedding_dim"] == {"large": 7}


# ------------------------------------------------------------------ missing and unseen values
def test_unknown_category_at_predict_maps_to_the_unknown_index():
    frame, y = frame_and_labels()
    model = fitted(frame, y)
    unseen = frame.assign(city="Atlantis")
    assert (model.tabular.transform(unseen)[:, 2] == 0).all()
    np.testing.assert_array_equal(model.predict(unseen), model.predict(frame.assign(city=None)))
    assert model.tabular.embeddings[0].weight[0].abs().sum() == 0  # the unknown row starts at zero


def test_nan_in_numeric_and_categorical_columns():
    frame, y = frame_and_labels()
    frame["income"] = frame["income"].where(np.arange(len(frame)) % 7 != 0)  # NaN every 7th row
    frame.loc[frame.index % 5 == 0, "city"] = None
    model = fitted(frame, y, epochs=3)
    columns = {c["name"]: c for c in model.tabular.columns_}
    assert columns["income"]["indicator"] and not columns["age"]["indicator"]
    assert columns["income"]["median"] == pytest.approx(frame["income"].median())
    encoded = model.tabular.transform(frame)  # age, income, income-missing, city, member
    assert encoded.shape == (len(frame), 5) and np.isfinite(encoded).all()
    missing = frame["income"].isna().to_numpy()
    np.testing.assert_array_equal(encoded[:, 2], missing.astype(np.float32))
    expected = (columns["income"]["median"] - columns["income"]["mean"]) / columns["income"]["std"]
    np.testing.assert_allclose(encoded[missing, 1], expected, rtol=1e-6)
    assert (encoded[frame["city"].isna().to_numpy(), 3] == 0).all()
    # NaN in a column that had none at fit: imputed with the median, no indicator, no error
    with_nan = frame.assign(age=frame["age"].astype(float).where(frame.index > 3))
    assert np.isfinite(model.predict(with_nan)).all()


def test_column_order_does_not_matter_and_extra_columns_are_ignored():
    frame, y = frame_and_labels()
    model = fitted(frame, y)
    shuffled = frame[["member", "city", "income", "age"]].assign(comment="ignored")
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(frame))
    assert model.evaluate(shuffled, y) == model.evaluate(frame, y)


# ------------------------------------------------------------------ the model contract on DataFrames
def test_check_model_on_a_dataframe_loss_falls_save_load_clone():
    frame, y = frame_and_labels()
    model = MLP(units=(16,), outputs=2, dropout=0.1, norm="batch", embedding_dim={"city": 3})
    report = lamina.testing.check_model(model, frame, y)
    assert report["loss_fell"] and report["output_shape"] == (120, 2)
    numbers, embeddings = 2, 3 + embedding_size_rule(3)
    dense, batch_norm, head = (numbers + embeddings) * 16 + 16, 2 * 16, 16 * 2 + 2
    assert report["parameters"] == 5 * 3 + 3 * embedding_size_rule(3) + dense + batch_norm + head
    twin = model.clone()
    assert twin.get_params() == model.get_params() and "tabular" not in dict(twin.named_children())


def test_tabular_arguments_appear_in_params_only_when_set():
    assert set(MLP().get_params()) == {
        "units",
        "outputs",
        "activation",
        "dropout",
        "norm",
    }  # as before
    model = MLP(units=(4,)).set_params(categorical=("zip",), embedding_dim={"zip": 2})
    assert model.get_params()["categorical"] == ("zip",) and model.embedding_dim == {"zip": 2}
    assert model.clone().get_params() == model.get_params()
    assert "categorical" not in model.set_params(categorical=None).get_params()


def test_save_load_round_trip_keeps_columns_and_predictions(tmp_path):
    frame, y = frame_and_labels()
    frame.loc[::9, "income"] = np.nan
    model = fitted(frame, y)
    path = model.save(str(tmp_path / "tabular"))
    manifest = json.loads((Path(path) / "lamina.json").read_text())
    assert manifest["extra_state"]["tabular"]["columns"] == model.tabular.columns_
    reloaded = lamina.load(path)
    assert reloaded.tabular.columns_ == model.tabular.columns_
    np.testing.assert_array_equal(reloaded.predict(frame[::-1]), model.predict(frame[::-1]))
    reloaded.fit(frame, y, epochs=1, verbose=0, seed=0)  # keeps training with the learned columns
    assert reloaded.tabular.columns_ == model.tabular.columns_


def test_fresh_process_loads_and_predicts_identically(tmp_path):
    frame, y = frame_and_labels()
    model = fitted(frame, y)
    path = model.save(str(tmp_path / "tabular"))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    code = (
        "import sys, json, pandas, lamina; m = lamina.load(sys.argv[1]); "
        "print(json.dumps(m.predict(pandas.read_csv(sys.argv[2])).tolist()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, path, str(tmp_path / "rows.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = model.predict(pd.read_csv(tmp_path / "rows.csv"))
    np.testing.assert_array_equal(np.array(json.loads(done.stdout), dtype=np.float32), expected)


def test_arrays_keep_the_plain_mlp():
    x, y = lamina.testing.tiny_classification(rows=40, features=4, classes=2)
    model = MLP(units=(8,), outputs=2).compile(loss="cross_entropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert "tabular" not in dict(model.named_children())
    assert all(isinstance(v, torch.Tensor) for v in model.state_dict().values())
    frame = pd.DataFrame(
        x, columns=list("abcd")
    )  # a DataFrame for an array-built model: used as numbers
    np.testing.assert_array_equal(model.predict(frame), model.predict(x))


# ------------------------------------------------------------------ bad input
def assert_helpful(error, *fragments):
    text = str(error.value)
    for part in ("Received:", "Expected:", "Fix:", *fragments):
        assert part in text, f"{part!r} missing from: {text}"


def test_missing_column_at_predict_is_named():
    frame, y = frame_and_labels()
    model = fitted(frame, y, epochs=1)
    with pytest.raises(DataError) as error:
        model.predict(frame.drop(columns=["city", "age"]))
    assert_helpful(error, "'age'", "'city'")


def test_column_of_python_objects_that_are_neither_strings_nor_numbers():
    frame, y = frame_and_labels()
    for bad in ([{"k": 1}] * len(frame), [[1, 2]] * len(frame), [object()] * len(frame)):
        with pytest.raises(DataError) as error:
            fitted(frame.assign(payload=bad), y, epochs=1)
        assert_helpful(error, "'payload'", "neither a string nor a number")


def test_changed_dtype_at_predict_is_named():
    frame, y = frame_and_labels()
    model = fitted(frame, y, epochs=1)
    with pytest.raises(DataError) as error:
        model.predict(frame.assign(age=frame["age"].astype(str)))
    assert_helpful(error, "'age'", "fitted on number")


def test_unsupported_dtype_at_fit_is_named():
    frame, y = frame_and_labels()
    with pytest.raises(DataError) as error:
        fitted(frame.assign(when=pd.Timestamp("2024-01-01")), y, epochs=1)
    assert_helpful(error, "'when'", "datetime64")


def test_bad_tabular_arguments():
    with pytest.raises(ConfigError, match="categorical"):
        MLP(categorical="city")
    with pytest.raises(ConfigError, match="embedding_dim"):
        MLP(embedding_dim={"city": 0})
    frame, y = frame_and_labels()
    with pytest.raises(ConfigError) as error:
        fitted(frame, y, categorical=["zip"])
    assert_helpful(error, "'zip'")


def test_predict_before_fit_and_raw_tensors_of_the_wrong_width():
    frame, y = frame_and_labels()
    with pytest.raises(NotBuiltError):
        MLP(units=(4,), outputs=2).predict(frame)
    model = fitted(frame, y, epochs=1)
    with pytest.raises(ShapeError, match="encoded DataFrame"):
        model(torch.zeros(3, 7))
