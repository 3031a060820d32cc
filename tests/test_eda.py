"""lamina.eda.profile: column kinds and statistics against pandas, outliers, mutual information, leakage,
duplicates, shift, images, text, time series, JSON and HTML output, bad input."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from lamina.eda import Profile, profile
from lamina.errors import ConfigError, DataError

import lamina


def labelled_table(rows=600, seed=0):
    """A clean table: a noisy label driven by 'signal', two noise columns, a category, shuffled ids."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "id": rng.permutation(rows),
            "signal": signal,
            "noise": rng.normal(size=rows),
            "city": rng.choice(["north", "south", "east"], rows),
            "label": (signal + rng.normal(size=rows) > 0).astype(int),
        }
    )


# ------------------------------------------------------------------ columns
def test_column_kinds_are_inferred():
    rows = 60
    frame = pd.DataFrame(
        {
            "price": np.linspace(1.0, 9.0, rows),
            "city": ["a", "b", "c"] * 20,
            "member": [True, False] * 30,
            "flag": [0, 1, 1] * 20,
            "when": pd.date_range("2024-01-01", periods=rows),
            "day": [f"2024-02-{d % 28 + 1:02d}" for d in range(rows)],
            "review": [f"the parcel number {i} arrived late and damaged" for i in range(rows)],
            "order_id": np.arange(1000, 1000 + rows),
            "code": [f"C{i:04d}" for i in range(rows)],
        }
    )
    kinds = {name: column["kind"] for name, column in profile(frame).columns.items()}
    assert kinds == {
        "price": "numeric",
        "city": "categorical",
        "member": "boolean",
        "flag": "boolean",
        "when": "datetime",
        "day": "datetime",
        "review": "text",
        "order_id": "id",
        "code": "id",
    }


def test_missing_unique_and_quantiles_match_pandas():
    rng = np.random.default_rng(1)
    values = rng.gamma(2.0, size=200)
    values[[3, 50, 70]] = np.nan
    frame = pd.DataFrame({"x": values, "c": rng.choice(["u", "v", "w", None], 200)})
    columns = profile(frame).columns
    x, c = columns["x"], columns["c"]
    assert (x["missing"], x["unique"], c["missing"], c["unique"]) == (
        3,
        frame.x.nunique(),
        frame.c.isna().sum(),
        frame.c.nunique(),
    )
    assert x["missing_share"] == pytest.approx(3 / 200)
    expected = frame.x.quantile([0.01, 0.25, 0.5, 0.75, 0.99]).to_numpy()
    assert list(x["quantiles"].values()) == pytest.approx(expected, rel=1e-5)
    for key, value in (
        ("mean", frame.x.mean()),
        ("std", frame.x.std()),
        ("min", frame.x.min()),
        ("max", frame.x.max()),
        ("skew", frame.x.skew()),
    ):
        assert x[key] == pytest.approx(value, rel=1e-5), key
    assert sum(x["histogram"]["counts"]) == 197 and len(x["histogram"]["edges"]) == 21
    assert c["top"] == {k: int(v) for k, v in frame.c.value_counts().items()}


def test_outliers_on_planted_values():
    values = np.concatenate(
        [np.linspace(0.0, 1.0, 200), [10.0, 20.0, -10.0, 30.0]]
    )  # IQR fences near -0.5, 1.5
    outliers = profile(pd.DataFrame({"x": values})).columns["x"]["outliers"]
    assert outliers["iqr"] == 4 and outliers["iqr_share"] == pytest.approx(4 / 204, rel=1e-5)
    assert (
        outliers["z4"]
        == np.count_nonzero(np.abs(values - values.mean()) > 4 * values.std(ddof=1))
        == 3
    )
    constant = profile(pd.DataFrame({"x": [1.0] * 30 + [2.0]})).columns["x"]["outliers"]
    assert constant["iqr"] is None  # an IQR of 0 flags nothing rather than every other value


def test_correlations_pearson_spearman_and_cramers_v():
    rng = np.random.default_rng(2)
    a = rng.normal(size=300)
    b = rng.choice(["x", "y"], 300)
    frame = pd.DataFrame(
        {
            "a": a,
            "cube": a**3,
            "other": rng.normal(size=300),
            "b": b,
            "b_copy": b,
            "free": rng.choice(["p", "q"], 300),
        }
    )
    corr = profile(frame).correlations
    i, j = corr["numeric"].index("a"), corr["numeric"].index("cube")
    assert corr["spearman"][i][j] == pytest.approx(1.0)
    assert corr["pearson"][i][j] == pytest.approx(np.corrcoef(a, a**3)[0, 1], rel=1e-5)
    v = dict(zip(corr["categorical"], corr["cramers_v"][corr["categorical"].index("b")]))
    assert v["b_copy"] == pytest.approx(1.0) and v["free"] < 0.2


# ------------------------------------------------------------------ target and leakage
def test_mutual_information_ranks_the_planted_feature_first():
    frame = labelled_table()
    target = profile(frame, "label").target
    assert next(iter(target["mutual_information"])) == "signal"
    assert target["balance"] == {
        str(k): int(v) for k, v in frame.label.value_counts().sort_index().items()
    }
    regression = frame.assign(label=3 * frame.signal + 0.1 * frame.noise)
    assert next(iter(profile(regression, "label").target["mutual_information"])) == "signal"


def test_leakage_fires_on_a_leaky_and_an_identifier_column_and_not_on_clean_data():
    clean = labelled_table()
    assert profile(clean, "label").leakage == []
    leaky = clean.sort_values("label").assign(
        id=np.arange(len(clean)), refunded=lambda f: f.label * 2 + 1
    )
    suspects = {s["column"]: s["reason"] for s in profile(leaky, "label").leakage}
    assert sorted(suspects) == ["id", "refunded"]
    assert "almost perfectly" in suspects["refunded"] and "identifier" in suspects["id"]


def test_a_time_column_that_separates_train_from_test_is_a_suspect():
    days = pd.date_range("2024-01-01", periods=120)
    frame = pd.DataFrame({"when": days, "sales": np.arange(120.0) % 7})
    report = profile(frame.iloc[:90], test=frame.iloc[90:])
    assert [s["column"] for s in report.leakage] == ["when"]
    assert report.shift["when"]["shifted"] and not report.shift["sales"]["shifted"]
    shuffled = frame.sample(frac=1.0, random_state=0)
    assert profile(shuffled.iloc[:90], test=shuffled.iloc[90:]).leakage == []


def test_duplicates_count_repeats_and_conflicting_targets():
    frame = pd.DataFrame({"a": np.arange(20.0), "b": ["x"] * 20, "label": [0, 1] * 10})
    frame = pd.concat(
        [frame, frame.iloc[[0, 1, 2]], frame.iloc[[4, 6]].assign(label=1)], ignore_index=True
    )
    duplicates = profile(frame, "label").duplicates
    assert duplicates["rows"] == 3 and duplicates["share"] == pytest.approx(3 / 25, rel=1e-5)
    assert duplicates["conflicting"] == 4  # rows 4 and 6 and their copies with the other label
    assert profile(frame.drop(columns="label")).duplicates["conflicting"] is None


# ------------------------------------------------------------------ shift
def test_shift_is_detected_on_a_shifted_column_and_not_on_an_identical_one():
    rng = np.random.default_rng(3)
    train = pd.DataFrame(
        {
            "same": rng.normal(size=500),
            "moved": rng.normal(size=500),
            "kind": rng.choice(["a", "b"], 500, p=[0.8, 0.2]),
            "mix": rng.choice(["u", "v"], 500),
        }
    )
    test = pd.DataFrame(
        {
            "same": train.same.to_numpy(),
            "moved": rng.normal(1.0, 1.0, 500),
            "kind": rng.choice(["a", "b"], 500, p=[0.2, 0.8]),
            "mix": train.mix.to_numpy(),
        }
    )
    shift = profile(train, test=test).shift
    assert {name for name, s in shift.items() if s["shifted"]} == {"moved", "kind"}
    assert shift["same"]["statistic"] == 0.0 and shift["same"]["p_value"] == pytest.approx(1.0)
    assert (shift["moved"]["test"], shift["kind"]["test"]) == ("ks", "chi2") and shift["kind"][
        "psi"
    ] > 0.25


# ------------------------------------------------------------------ images, text, time series
def test_images_per_class_mean_image_and_channel_statistics():
    rng = np.random.default_rng(4)
    x, y = rng.random((12, 3, 4, 5)), np.arange(12) % 3
    images = profile((x, y)).images
    assert (images["count"], images["channels"], images["height"], images["width"]) == (12, 3, 4, 5)
    assert images["mean"] == pytest.approx(x.mean(axis=(0, 2, 3)), rel=1e-5)
    assert images["std"] == pytest.approx(x.std(axis=(0, 2, 3)), rel=1e-5)
    for k in range(3):
        assert np.array(images["class_means"][str(k)]) == pytest.approx(x[y == k].mean(0), rel=1e-5)
    gray = profile((x[:, 0], y)).images  # (N, H, W)
    assert np.array(gray["class_means"]["1"]) == pytest.approx(x[y == 1, 0].mean(0)[None], rel=1e-5)
    assert len(gray["samples"]) == 12


def test_digits_dataset_names_classes_and_compares_with_its_test_split():
    report = profile(lamina.data.load("digits"))
    assert report.overview["modality"] == "image" and set(report.images["class_means"]) == set(
        "0123456789"
    )
    assert set(report.shift) == {"brightness", "contrast"} and report.overview["test_rows"] == 359


def test_text_lengths_vocabulary_and_top_tokens_per_class():
    texts = ["rain again today, rain tomorrow"] * 10 + ["sun and warm sun all day"] * 10
    y = np.array(["wet"] * 10 + ["dry"] * 10)
    report = profile((texts, y))
    assert report.text["vocabulary"] == 9
    assert (
        report.text["classes"]["wet"]["top"][0] == "rain"
        and report.text["classes"]["dry"]["top"][0] == "sun"
    )
    assert "sun" not in report.text["classes"]["wet"]["distinctive"]
    assert report.columns["words"]["mean"] == pytest.approx(5.5)


def test_time_series_finds_the_planted_season_and_trend():
    rng = np.random.default_rng(5)
    steps = np.arange(480)
    series = np.sin(2 * np.pi * steps / 12) + 0.01 * steps + 0.2 * rng.normal(size=480)
    report = profile(series)
    ts = report.time_series
    assert ts["season"] == 12 and 12 in ts["peaks"] and len(ts["acf"]) == 49
    assert ts["slope"] == pytest.approx(0.01, abs=0.002)
    assert any("repeats every 12 steps" in f for f in report.findings)
    dated = pd.Series(series, index=pd.date_range("2020-01-01", periods=480), name="visits")
    assert profile(dated).time_series["series"] == "'visits' in order of 'index'"


# ------------------------------------------------------------------ output
def test_to_dict_is_json_without_nan_and_round_trips(tmp_path):
    frame = labelled_table(rows=100).assign(empty=np.nan, constant=1.0)
    report = profile(frame, "label", sample_rows=50)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert Profile.from_dict(json.loads(text)) == report
    report.to_json(tmp_path / "profile.json")
    assert Profile.from_dict(json.loads((tmp_path / "profile.json").read_text())) == report
    assert report.columns["empty"]["missing_share"] == 1.0 and report.overview[
        "sampled"
    ].startswith("Correlations")
    assert any("hold a single value" in f and "'constant'" in f for f in report.findings)
    reference = report.reference()
    assert reference["columns"]["city"]["frequencies"] == pytest.approx(
        frame.city.value_counts(normalize=True).to_dict(), rel=1e-5
    )
    assert set(reference["columns"]["signal"]) == {
        "kind",
        "missing_share",
        "quantiles",
        "histogram",
    }
    assert sum(reference["target"]["frequencies"].values()) == pytest.approx(1.0)


def test_to_html_has_every_section_and_no_external_references(tmp_path):
    sections = ["overview", "columns", "correlations", "target", "leakage", "duplicates", "shift"]
    frame = labelled_table(rows=200).assign(when=pd.date_range("2024-01-01", periods=200))
    page = profile(frame.iloc[:150], "label", test=frame.iloc[150:]).to_html(
        tmp_path / "profile.html"
    )
    assert (tmp_path / "profile.html").read_text() == page
    assert all(f'<section id="{key}">' in page for key in sections + ["time_series"])
    assert "<img" in page and "<style>" in page
    assert "http" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    x, y = np.random.default_rng(0).random((8, 4, 4)), np.arange(8) % 2
    assert '<section id="images">' in profile((x, y)).to_html()
    assert '<section id="text">' in profile((["a b c"] * 5, np.arange(5) % 2)).to_html()


# ------------------------------------------------------------------ bad input
def test_a_wide_table_gets_grouped_capped_findings_and_a_readable_page(tmp_path):
    """30 columns with missing values and outliers: one finding per kind, columns named up to 3 then "and N more";
    every column plotted or named as not plotted; no "None." for the missing test split; no empty header row."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"measure_{k}": rng.normal(size=300) for k in range(30)})
    frame.iloc[:5, :] = np.nan
    frame.iloc[5:10, :] = 50.0  # outliers in every column
    frame["city"], frame["label"] = rng.choice(["a", "b"], 300), rng.choice(["yes", "no"], 300)
    report = profile(frame, "label")
    assert len(report.findings) <= 12
    missing = [f for f in report.findings if "missing values" in f]
    assert len(missing) == 1 and "31 column(s)" not in missing[0] and "and 27 more" in missing[0]
    assert sum("outliers" in f for f in report.findings) == 1
    page = report.to_html(tmp_path / "profile.html")
    assert "<p>None.</p>" not in page and "No test split yet" in page
    assert (
        "<tr><th></th><th></th></tr>" not in page
        and ">seconds<" not in page
        and "profiling time (s)" in page
    )
    assert "Not plotted: measure_24 (beyond the first 24 plots)" in page
    section = page[page.index('<section id="correlations">') : page.index('<section id="target">')]
    assert section.count("<img") == 1


def test_bad_input_raises_clear_errors():
    frame = labelled_table(rows=30)
    with pytest.raises(DataError, match="target column.*'signal'"):
        profile(frame, "lable")
    with pytest.raises(DataError, match="empty"):
        profile(pd.DataFrame())
    with pytest.raises(DataError, match="empty"):
        profile(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="time column.*'when'.*'signal'"):
        profile(frame, time_column="when")
    with pytest.raises(ConfigError, match="sample_rows"):
        profile(frame, sample_rows=0)
    with pytest.raises(DataError, match="cannot read"):
        profile(object())
