"""lamina.prepare: transforms agree bitwise before and after save/load, statistics come from the training rows
only, numerics match scikit-learn, splits never leak, and bad input gets a clear error."""

import json
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lamina.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    NotBuiltError,
    ShapeError,
    UnsafeFileError,
)
from lamina.prepare import (
    STEPS,
    Augment,
    DateTimeFeatures,
    ImageNormalize,
    Impute,
    OneHot,
    Ordinal,
    Pipeline,
    Scale,
    Split,
    TextTokens,
    auto_pipeline,
    check_leakage,
    class_weights,
    resample,
    split,
)

from lamina.data import load


def _table(rows=80, seed=0):
    """Numbers (with NaN), an int column, categories (with None), a many-valued id column, datetimes (with NaT)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, rows).round(3),
            "rooms": rng.integers(1, 6, rows),
            "city": rng.choice(["Oslo", "Rome", "Lima"], rows).astype(object),
            "member": rng.random(rows) < 0.5,
            "shop": [f"s{i}" for i in rng.integers(0, 200, rows)],
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
            "label": rng.integers(0, 2, rows),
        }
    )
    frame.loc[[1, 5], "income"] = np.nan
    frame.loc[2, "city"] = None
    frame.loc[3, "when"] = pd.NaT
    return frame


def _bitwise_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # floats bitwise, NaN included


def _round_trip(pipeline, x, tmp_path):
    """``pipeline`` (fitted) and a freshly loaded copy transform ``x`` identically; returns the output."""
    before = pipeline.transform(x)
    fresh = Pipeline.load(pipeline.save(tmp_path / "pipeline"))
    assert (tmp_path / "pipeline" / "pipeline.json").is_file() and (
        tmp_path / "pipeline" / "pipeline.safetensors"
    )
    after = fresh.transform(x)
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after, check_exact=True)
        before, after = before.to_numpy(np.float64), after.to_numpy(np.float64)
    _bitwise_equal(before, after)
    return before


# ------------------------------------------------------------------ train-time == predict-time
def test_table_round_trip_unseen_categories_missing_values_datetimes(tmp_path):
    data = load(_table(), target="label")
    pipeline = auto_pipeline(data)
    assert [type(step).__name__ for step in pipeline.steps] == [
        "DateTimeFeatures",
        "Impute",
        "Scale",
        "Impute",
        "OneHot",
        "Ordinal",
    ]
    pipeline.fit(data.x)
    new = _table(rows=12, seed=1).drop(columns=["label"])
    new.loc[0, "city"], new.loc[1, "shop"], new.loc[2, "income"], new.loc[4, "when"] = (
        "Paris",
        "s999",
        None,
        pd.NaT,
    )
    out = pipeline.transform(new)
    assert not out.isna().any().any()
    assert out.loc[0, ["city=Lima", "city=Oslo", "city=Rome"]].tolist() == [
        0.0,
        0.0,
        0.0,
    ]  # unseen: all zeros
    assert out.loc[1, "shop"] == -1  # unseen id
    assert {"income_missing", "when_year", "when_month_sin", "member=True"} <= set(out.columns)
    assert (
        "when" not in out.columns
        and out["income_missing"].tolist()[2] != out["income_missing"].tolist()[3]
    )
    _round_trip(pipeline, new, tmp_path)
    saved = json.loads((tmp_path / "pipeline" / "pipeline.json").read_text())
    assert [step["name"] for step in saved["steps"]] == [
        type(step).__name__ for step in pipeline.steps
    ]


@pytest.mark.parametrize("level", ["char", "word", "subword"])
def test_text_round_trip(level, tmp_path):
    train = ["the cat sat on the mat", "a dog sat", "the cats and the dogs ran", "mat mat cat"] * 3
    new = ["the zebra sat", "", "Émile and the cat sat on the dog and on and on and on"]
    pipeline = Pipeline([TextTokens(level, vocabulary_size=40, max_length=None)]).fit(train)
    out = _round_trip(pipeline, new, tmp_path)
    longest = max(len(t) for t in train) if level == "char" else 6
    assert (
        out.dtype == np.int64 and out.shape[0] == 3 and out.shape[1] >= longest and out.max() < 40
    )
    assert (out[1] == 0).all() and 1 in out[
        0
    ]  # "" is all padding (0); "zebra" holds unknown letters (1)
    cut = Pipeline([TextTokens(level, vocabulary_size=40, max_length=3)]).fit(train).transform(new)
    _bitwise_equal(cut, out[:, :3])  # longer rows lose their end


def test_image_round_trip_and_seeded_training_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    train, new = (
        rng.integers(0, 256, (20, 3, 8, 8), dtype=np.uint8),
        rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8),
    )
    pipeline = Pipeline([ImageNormalize(), Augment(crop=0.8, flip=True, shift=1, seed=3)]).fit(
        train
    )
    out = _round_trip(pipeline, new, tmp_path)
    assert out.dtype == np.float32 and out.shape == new.shape
    fresh = Pipeline.load(tmp_path / "pipeline")
    augmented = pipeline.transform(new, training=True)
    _bitwise_equal(augmented, fresh.transform(new, training=True))  # same seed, same draws
    assert augmented.shape == new.shape and not np.allclose(augmented, out)
    assert not np.allclose(augmented, pipeline.transform(new, training=True))  # new draws each call


def test_flip_only_mirrors_or_keeps_each_image():
    images = np.random.default_rng(0).random((16, 5, 6)).astype(np.float32)  # (N, H, W)
    out = Augment(flip=True, seed=0).fit(images).transform(images, training=True)
    mirrored = [np.allclose(o, i[:, ::-1], atol=1e-5) for o, i in zip(out, images)]
    kept = [np.allclose(o, i, atol=1e-5) for o, i in zip(out, images)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)
    _bitwise_equal(
        Augment(flip=True).fit(images).transform(images), images
    )  # not training: unchanged


# ------------------------------------------------------------------ fitted on train only, numerics
def test_statistics_come_from_the_training_rows_only():
    frame = _table()
    train, test = frame.iloc[:30], frame.iloc[30:]
    pipeline = Pipeline([Impute("median"), Scale("standard", columns=["income"])]).fit(train)
    impute, scale = pipeline.steps
    assert (
        impute.state_["fill"][impute.state_["columns"].index("income")] == train["income"].median()
    )
    assert scale.state_["center"][0] == train["income"].fillna(train["income"].median()).mean()
    assert scale.state_["center"][0] != frame["income"].fillna(frame["income"].median()).mean()
    images = np.random.default_rng(0).random((10, 2, 4, 4))
    step = ImageNormalize().fit(images[:6])
    np.testing.assert_allclose(step.state_["mean"], images[:6].mean(axis=(0, 2, 3)), rtol=1e-12)
    tokens = TextTokens("word").fit(["a b", "b c!"])
    assert sorted(tokens.state_["vocabulary"]["words"]) == ["!", "a", "b", "c"]
    train = train.assign(city=train["city"].replace("Lima", "Oslo"))  # Lima only in the test rows
    one_hot = OneHot(columns=["city"]).fit(train)
    assert one_hot.state_["categories"] == [["Oslo", "Rome"]] and "Lima" in set(test["city"])
    assert (
        one_hot.transform(test)[test["city"] == "Lima"][["city=Oslo", "city=Rome"]].to_numpy().sum()
        == 0
    )


@pytest.mark.parametrize("method", ["standard", "minmax", "robust"])
def test_scale_matches_scikit_learn(method):
    from sklearn import preprocessing

    x = np.random.default_rng(0).normal(size=(30, 3)) * [1.0, 10.0, 0.1]
    reference = (
        {
            "standard": preprocessing.StandardScaler,
            "minmax": preprocessing.MinMaxScaler,
            "robust": preprocessing.RobustScaler,
        }[method]()
        .fit(x[:20])
        .transform(x[20:])
    )
    np.testing.assert_allclose(
        Scale(method).fit(x[:20]).transform(x[20:]), reference, rtol=1e-5, atol=1e-6
    )
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    out = Scale(method).fit(frame.iloc[:20]).transform(frame.iloc[20:])
    np.testing.assert_allclose(out.to_numpy(), reference, rtol=1e-12, atol=1e-12)


def test_one_hot_ordinal_impute_and_datetime_by_hand():
    frame = pd.DataFrame({"c": ["b", "a", "b", None, "c"], "n": [1.0, np.nan, 3.0, 4.0, 100.0]})
    out = OneHot(max_categories=2).fit(frame).transform(frame)
    assert list(out.columns) == ["n", "c=a", "c=b"] and out["c=b"].tolist() == [
        1,
        0,
        1,
        0,
        0,
    ]  # "c" ties "a": a
    assert Ordinal(unknown=-1).fit(frame).transform(frame)["c"].tolist() == [1, 0, 1, -1, 2]
    filled = (
        Impute("most_frequent", add_indicator=True, columns=["c", "n"]).fit(frame).transform(frame)
    )
    assert (
        filled["c"].tolist()[3] == "b"
        and filled["n"].tolist()[1] == 1.0
        and filled["n_missing"].tolist()[1] == 1
    )
    assert Impute("mean").fit(frame).transform(frame)["n"].tolist()[1] == 27.0
    assert Impute("constant", fill_value=-5).fit(frame).transform(frame)["n"].tolist()[1] == -5
    times = pd.DataFrame({"t": pd.to_datetime(["2024-03-02 06:00", None, "2024-03-04 18:00"])})
    out = (
        DateTimeFeatures(parts=("year", "month", "hour"), cyclical=True).fit(times).transform(times)
    )
    assert list(out.columns) == ["t_year", "t_month_sin", "t_month_cos", "t_hour_sin", "t_hour_cos"]
    np.testing.assert_allclose(
        out.iloc[0].tolist(),
        [2024, np.sin(2 * np.pi * 2 / 12), np.cos(2 * np.pi * 2 / 12), 1.0, np.cos(np.pi / 2)],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        out.iloc[1, 3:].tolist(), [0.0, -1.0], atol=1e-12
    )  # NaT -> the median: 03-03 12:00


# ------------------------------------------------------------------ bad input
def test_bad_input_gets_clear_errors(tmp_path):
    frame = _table()
    with pytest.raises(DataError, match="nope.*Fix"):
        Scale(columns=["income", "nope"]).fit(frame)
    fitted = Pipeline([Scale()]).fit(frame)
    with pytest.raises(DataError, match="missing \\['income'"):
        fitted.transform(frame.drop(columns=["income"]))
    with pytest.raises(NotBuiltError, match="not fitted"):
        Scale().transform(frame)
    with pytest.raises(DataError, match="DataFrame"):
        OneHot().fit(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="'median', 'mean'"):
        Impute("middle")
    with pytest.raises(DataError, match="Scale takes numeric columns.*'city'"):
        Scale(columns=["income", "city"]).fit(frame)
    with pytest.raises(DataError, match="median of column 'city'"):
        Impute("median", columns=["city"]).fit(frame)
    images = ImageNormalize().fit(np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(ShapeError, match=r"\(N, \*\(1, 8, 8\)\).*\(N, \*\(3, 8, 8\)\)"):
        images.transform(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        ImageNormalize().fit(np.zeros((4, 8), np.float32))
    with pytest.raises(ConfigError, match="one value per channel"):
        ImageNormalize(mean=[0.5, 0.5]).fit(np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(ConfigError, match="auto_pipeline takes a lamina.data.Dataset"):
        auto_pipeline(frame)
    assert [
        type(auto_pipeline(SimpleNamespace(modality=m)).steps[0]) for m in ("text", "array")
    ] == [TextTokens, Scale]


def test_tampered_pipeline_json_is_refused_and_nothing_imported(tmp_path):
    folder = Pipeline([Scale()]).fit(np.ones((4, 2))).save(tmp_path / "p")
    saved = json.loads((folder / "pipeline.json").read_text())
    saved["steps"][0]["name"] = "lamina_evil_module.Payload"
    (folder / "pipeline.json").write_text(json.dumps(saved))
    with pytest.raises(UnsafeFileError, match="allowlist.*lamina_evil_module.*Impute"):
        Pipeline.load(folder)
    assert (
        not any(name.startswith("lamina_evil_module") for name in sys.modules)
        and "Step" not in STEPS
    )
    for text in (
        '{"format_version": 1, "steps": 3}',
        json.dumps({**saved, "format_version": 9}),
        json.dumps(
            {"format_version": 1, "steps": [{"name": "Impute", "config": {"strategy": "x"}}]}
        ),
    ):
        (folder / "pipeline.json").write_text(text)
        with pytest.raises(ArtifactError, match="malformed or incomplete"):
            Pipeline.load(folder)
    (folder / "pipeline.safetensors").unlink()
    with pytest.raises(ArtifactError, match="pipeline.safetensors"):
        Pipeline.load(folder)


# ------------------------------------------------------------------ splits
def test_random_and_stratified_splits_partition_the_rows():
    data = load(_table(rows=200), target="label")
    for kind in ("random", "stratified"):
        parts = split(data, kind, test_fraction=0.2, validation_fraction=0.1, seed=1)
        joined = np.concatenate([parts.train, parts.validation, parts.test])
        assert sorted(joined.tolist()) == list(range(200)) and (
            len(parts.test),
            len(parts.validation),
        ) in [(40, 20), (40, 21), (41, 20), (40, 19), (39, 20)]
    share = np.mean(data.y[parts.test]), np.mean(data.y)
    assert abs(share[0] - share[1]) < 0.02  # stratified: the class balance of the whole
    again = Split(**json.loads(json.dumps(parts.to_dict())))
    assert again.test.tolist() == parts.test.tolist() and again.kind == "stratified"


def test_group_and_time_splits_never_leak_and_leaks_are_fatal():
    frame = _table(rows=120).assign(patient=np.repeat(np.arange(30), 4))
    data = load(frame, target="label")
    parts = split(data, "group", group_column="patient", seed=0)
    sets = [set(frame["patient"].iloc[p]) for p in (parts.train, parts.validation, parts.test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]) and len(
        parts.test
    ) in range(20, 32)
    with pytest.raises(DataError, match="group.*more than one set.*kind='group'"):
        split(data, "random", group_column="patient")
    frame = frame.assign(when=frame["when"].fillna(pd.Timestamp("2023-01-01")))
    data = load(frame, target="label")
    parts = split(data, "time", time_column="when")
    assert frame["when"].iloc[parts.train].max() <= frame["when"].iloc[parts.test].min()
    assert frame["when"].iloc[parts.validation].max() <= frame["when"].iloc[parts.test].min()
    with pytest.raises(DataError, match="train ends at .* after test starts"):
        split(data, "random", time_column="when")
    with pytest.raises(DataError, match="not a column.*'nope'"):
        split(data, "group", group_column="nope")


def test_duplicates_shared_by_train_and_test_are_counted():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    x[10:13] = x[0]  # rows 0, 10, 11, 12 are one row
    data = SimpleNamespace(x=x, y=np.zeros(20, dtype=np.int64))
    parts = Split(np.array([0, 1, 2]), np.array([3]), np.array([10, 11, 4]))
    findings = check_leakage(data, parts)
    assert findings == [
        {
            "check": "duplicates",
            "severity": "warning",
            "count": 2,
            "message": findings[0]["message"],
        }
    ]
    texts = SimpleNamespace(x=["a", "b", "a", "c"], y=None)
    assert (
        check_leakage(texts, Split(np.array([0, 1]), np.array([], dtype=int), np.array([2, 3])))[0][
            "count"
        ]
        == 1
    )


# ------------------------------------------------------------------ class imbalance
def test_class_weights_and_resampling():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array(["a"] * 6 + ["b"] * 3 + ["c"])
    weights = class_weights(y, "balanced")
    np.testing.assert_allclose(
        list(weights.values()), compute_class_weight("balanced", classes=np.unique(y), y=y)
    )
    frame = pd.DataFrame({"v": np.arange(10)})
    over_x, over_y = resample(frame, y, "over", seed=0)
    assert sorted(pd.Series(over_y).value_counts().tolist()) == [6, 6, 6] and len(over_x) == 18
    assert set(over_x["v"][over_y == "c"]) == {9} and (
        over_x["v"][over_y == "a"].tolist() == list(range(6))
    )
    under_x, under_y = resample(list("abcdefghij"), y, "under", seed=0)
    assert sorted(under_y.tolist()) == ["a", "b", "c"] and under_x[2] == "j"
    with pytest.raises(ConfigError, match="'over', 'under'"):
        resample(frame, y, "sideways")
