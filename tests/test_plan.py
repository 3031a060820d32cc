"""lamina.plan: each finding fires on data built for it and stays quiet on clean data; parameter counts
match the real networks; JSON round trip; bad input gives clear errors."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.errors import ConfigError, DataError
from lamina.planning import MIN_COUNT, Finding, Plan, plan

import lamina
from lamina.data import WordVocabulary, tokenize
from lamina.models.cnn import CNN
from lamina.models.mlp import MLP
from lamina.models.rnn import RNN

RNG = np.random.default_rng(0)


def levels(report, topic):
    return [f.level for f in report.findings if f.topic == topic]


def finding(report, topic):
    return next(f for f in report.findings if f.topic == topic)


def table(rows=12_000, seed=0):
    """A clean table: numbers, a category, balanced labels, no missing values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"age": rng.normal(40, 10, rows), "city": rng.choice(["a", "b", "c"], rows)}
    )
    frame["label"] = np.arange(rows) % 2
    return frame


def labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


# ------------------------------------------------------------------ summary and modality
def test_summary_of_a_table_counts_rows_classes_and_missing_cells():
    frame = table(rows=100)
    frame.loc[:9, "age"] = np.nan
    report = plan(frame, "label")
    summary = report.summary
    assert (summary["modality"], summary["task"], summary["rows"], summary["classes"]) == (
        "table",
        "classification",
        100,
        2,
    )
    assert summary["rows_per_class"] == {"0": 50, "1": 50}
    assert summary["missing_share"] == pytest.approx(10 / 200)  # 10 of 100 x 2 cells
    assert summary["shape"] == [2]
    assert (
        "table: 100 rows x 2 columns (1 numeric, 1 categorical)"
        in finding(report, "modality").message
    )


@pytest.mark.parametrize(
    "x, modality",
    [
        (np.zeros((30, 8, 8)), "image"),
        (np.zeros((30, 1, 8, 8)), "image"),
        (np.zeros((30, 4)), "array"),
        (["good film"] * 30, "text"),
        (np.array(["a b"] * 30, dtype=object), "text"),
    ],
)
def test_modality_is_read_from_the_inputs(x, modality):
    report = plan((x, labels([15, 15])))
    assert report.summary["modality"] == modality
    assert levels(report, "modality") == ["ok"]


def test_dataset_like_objects_and_dataset_splits_are_read():
    dataset = SimpleNamespace(
        x=["nice", "bad", "fine", "awful"] * 5,
        y=np.array([1, 0, 1, 0] * 5),
        modality="text",
        source="reviews.csv",
        target="label",
        x_test=None,
        y_test=None,
        classes=["negative", "positive"],
        task="classification",
    )
    report = plan(dataset)
    assert report.summary["rows_per_class"] == {
        "negative": 10,
        "positive": 10,
    }  # class names via classes[y]
    assert (report.summary["source"], report.summary["target"]) == ("reviews.csv", "label")
    digits = plan(lamina.datasets.load("digits", images=True))
    assert (digits.summary["modality"], digits.summary["shape"], digits.summary["test_rows"]) == (
        "image",
        [1, 8, 8],
        359,
    )


# ------------------------------------------------------------------ labels
def test_rows_per_class_warns_on_few_images_per_class():
    few = plan((RNG.random((76, 8, 8)), labels([38, 38])))
    assert levels(few, "rows per class") == ["warning"]
    assert "38 rows per class" in finding(few, "rows per class").message
    assert "transfer learning" in finding(few, "rows per class").reason
    assert levels(plan((RNG.random((300, 8, 8)), labels([150, 150]))), "rows per class") == ["ok"]


def test_label_coverage_counts_rows_without_a_label_and_rare_classes():
    y = labels([40, 40, 20]).astype(float)
    y[:20] = np.nan
    report = plan((RNG.normal(size=(100, 3)), y))
    assert "20 of 100 rows (20.0%) have no label" in finding(report, "label coverage").message
    assert report.summary["labelled_rows"] == 80
    rare = plan((RNG.normal(size=(85, 3)), labels([40, 40, 5])))
    assert "fewer than 10 rows: '2' (5)" in finding(rare, "label coverage").message
    assert levels(plan((RNG.normal(size=(80, 3)), labels([40, 40]))), "label coverage") == []


def test_missing_labels_and_a_single_class_are_blockers():
    report = plan(table(rows=50))  # no target
    assert levels(report, "labels") == ["blocker"] and not report.viable
    assert "no target given" in finding(report, "labels").message
    assert levels(plan((RNG.normal(size=(30, 2)), np.zeros(30, dtype=int))), "classes") == [
        "blocker"
    ]


def test_imbalance_ratio_warns_at_95_to_5():
    report = plan((RNG.normal(size=(200, 3)), labels([190, 10])))
    assert levels(report, "imbalance") == ["warning"]
    assert (
        "ratio 19.0" in finding(report, "imbalance").message
        and "95.0%" in finding(report, "imbalance").message
    )
    assert levels(plan((RNG.normal(size=(200, 3)), labels([100, 100]))), "imbalance") == ["ok"]


def test_regression_target_is_described_with_the_mean_baseline():
    y = RNG.normal(5.0, 2.0, 300)
    report = plan((RNG.normal(size=(300, 3)), y))
    assert report.summary["task"] == "regression" and report.summary["classes"] is None
    assert f"RMSE {np.std(y):.4g}" in finding(report, "target").reason


def test_goal_that_contradicts_the_labels_warns():
    x, y = RNG.normal(size=(100, 3)), labels([50, 50])
    assert levels(plan((x, y), goal="regression"), "goal") == ["warning"]
    assert levels(plan((x, y), goal="classification"), "goal") == []
    assert plan((x, y), goal="predict churn").summary["goal"] == "predict churn"


# ------------------------------------------------------------------ size, columns
def test_small_tables_point_to_gradient_boosting():
    small = plan(table(rows=500), "label")
    assert (
        levels(small, "size") == ["warning"]
        and "gradient boosting usually wins" in finding(small, "size").reason
    )
    assert levels(plan(table(), "label"), "size") == ["ok"]


def test_capacity_compares_rows_with_the_default_network():
    texts = [f"word{i % 7} and word{i % 5}" for i in range(200)]
    many = plan((texts, labels([100, 100])))
    assert levels(many, "capacity") == ["warning"] and levels(many, "size") == ["warning"]
    assert (
        f"{many.summary['network_parameters']:,} parameters for 200 labelled rows"
        in finding(many, "capacity").message
    )
    assert levels(plan((RNG.normal(size=(5000, 5)), np.arange(5000) % 2)), "capacity") == ["ok"]


def test_missing_values_constant_and_identifier_columns_are_flagged():
    frame = table(rows=200)
    frame["mostly_empty"] = np.where(np.arange(200) < 130, np.nan, 1.0)
    frame["country"] = "NO"
    frame["customer_id"] = np.arange(1000, 1200)
    report = plan(frame, "label")
    assert levels(report, "missing values") == ["warning"]
    assert "'mostly_empty' 65.0%" in finding(report, "missing values").message
    assert "country" in finding(report, "constant columns").message
    assert "'customer_id'" in finding(report, "identifier").message
    clean = plan(table(rows=200), "label")
    assert (
        levels(clean, "missing values") == ["ok"]
        and "no missing values" in finding(clean, "missing values").message
    )
    assert levels(clean, "constant columns") == levels(clean, "identifier") == []


def test_arrays_with_nan_warn_and_a_row_index_column_looks_like_an_identifier():
    x = RNG.normal(size=(100, 3))
    x[0, 1] = np.nan
    x[:, 2] = np.arange(100)
    report = plan((x, labels([50, 50])))
    assert (
        levels(report, "missing values") == ["warning"]
        and "NaN" in finding(report, "missing values").reason
    )
    assert "'2'" in finding(report, "identifier").message


def test_empty_texts_are_flagged():
    report = plan((["good", "", "bad", "  "] * 10, labels([20, 20])))
    assert "20 empty texts" in finding(report, "missing values").message


# ------------------------------------------------------------------ KPI and threshold
def test_kpi_must_fit_the_task():
    x = RNG.normal(size=(200, 3))
    regression = plan((x, RNG.normal(size=200)), kpi="accuracy")
    assert levels(regression, "kpi") == ["blocker"] and not regression.viable
    assert levels(plan((x, RNG.normal(size=200)), kpi="rmse"), "kpi") == ["ok"]
    imbalanced = plan((x, labels([190, 10])), kpi="accuracy")
    assert (
        levels(imbalanced, "kpi") == ["warning"]
        and "balanced_accuracy" in finding(imbalanced, "kpi").reason
    )
    assert levels(plan((x, labels([190, 10])), kpi="f1"), "kpi") == ["ok"]
    assert levels(plan((x, labels([100, 100])), kpi="accuracy"), "kpi") == ["ok"]


def test_threshold_is_checked_against_the_range_and_the_trivial_baseline():
    x, y = RNG.normal(size=(200, 3)), labels([150, 50])
    assert levels(plan((x, y), kpi="accuracy", threshold=85), "threshold") == ["blocker"]
    trivial = plan((x, y), kpi="accuracy", threshold=0.75)  # the majority class share
    assert (
        levels(trivial, "threshold") == ["warning"]
        and "0.75 (always predicting '0')" in finding(trivial, "threshold").message
    )
    assert levels(plan((x, y), kpi="accuracy", threshold=0.9), "threshold") == ["ok"]
    assert levels(plan((x, y), threshold=0.9), "threshold") == ["ok"]  # kpi defaults to accuracy
    target = RNG.normal(0.0, 3.0, 200)
    assert levels(plan((x, target), kpi="rmse", threshold=5.0), "threshold") == [
        "warning"
    ]  # above sd ~3
    assert levels(plan((x, target), kpi="rmse", threshold=1.0), "threshold") == ["ok"]
    assert levels(plan((x, target), kpi="rmse", threshold=-1.0), "threshold") == ["blocker"]


def test_budget_and_latency_are_compared_with_rough_estimates():
    x, y = RNG.normal(size=(10_000, 20)), np.arange(10_000) % 2
    assert levels(plan((x, y), budget_seconds=0.01), "budget") == ["warning"]
    assert levels(plan((x, y), budget_seconds=3600), "budget") == ["ok"]
    slow = plan((x, y), max_latency_ms=0.01)
    assert levels(slow, "latency") == ["warning"] and "k-NN" in finding(slow, "latency").reason
    assert levels(plan((x, y), max_latency_ms=100), "latency") == ["ok"]


# ------------------------------------------------------------------ the default network's size (oracles)
def parameters(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_real_networks():
    x, y = RNG.normal(size=(64, 7)).astype(np.float32), np.arange(64) % 3
    model = MLP(units=(256, 128), outputs=3, dropout=0.1, norm="batch")
    model(torch.from_numpy(x))
    assert plan((x, y)).summary["network_parameters"] == parameters(model)
    frame = table(rows=64)
    frame.loc[:4, "age"] = np.nan
    tabular = MLP(units=(256, 128), outputs=2, dropout=0.1, norm="batch").compile(
        loss="cross_entropy"
    )
    tabular.fit(frame.drop(columns="label"), frame["label"], epochs=1, verbose=0)
    assert plan(frame, "label").summary["network_parameters"] == parameters(tabular)
    for shape, network in (
        ((28, 28), CNN(preset="lenet5", outputs=2)),
        ((8, 8), CNN(filters=(16, 32), outputs=2)),
    ):
        images = np.zeros((4, 1, *shape), dtype=np.float32)
        network(torch.from_numpy(images))
        assert plan((images, labels([2, 2]))).summary["network_parameters"] == parameters(network)
    texts = ["the cat sat", "the dog ran", "a cat ran", "the end"]
    vocabulary = WordVocabulary((t for text in texts for t in tokenize(text)), min_count=MIN_COUNT)
    gru = RNN("gru", units=64, outputs=2, vocabulary_size=len(vocabulary), embedding_dim=64)
    gru(torch.ones(2, 3, dtype=torch.long))
    assert plan((texts, labels([2, 2]))).summary["network_parameters"] == parameters(gru)


# ------------------------------------------------------------------ output
def test_plan_round_trips_through_json_and_renders():
    report = plan(
        table(rows=300), "label", kpi="accuracy", threshold=0.9, budget_seconds=60, max_latency_ms=5
    )
    text = json.dumps(report.to_dict())
    again = Plan.from_dict(json.loads(text))
    assert again == report and isinstance(again.findings[0], Finding)
    markdown = report.to_markdown()
    assert "| level | topic | finding | reason |" in markdown and "**modality**: table" in markdown
    assert "[WARNING] size:" in str(report) and str(report).startswith("Plan (modality=table")


# ------------------------------------------------------------------ bad input
def test_unknown_target_column_lists_the_columns():
    with pytest.raises(DataError, match=r"'income'.*one of \['age', 'city', 'label'\]"):
        plan(table(rows=20), "income")


@pytest.mark.parametrize(
    "options, pattern",
    [
        ({"threshold": "high"}, r"threshold must be a number.*threshold='high'"),
        ({"threshold": True}, "threshold must be a number"),
        ({"kpi": "acc"}, r"Unknown KPI.*'acc'.*accuracy"),
        ({"budget_seconds": -5}, r"budget_seconds must be a positive number.*-5"),
        ({"goal": 3}, "goal must be a string"),
    ],
)
def test_bad_options_raise_clear_errors(options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        plan((RNG.normal(size=(20, 2)), labels([10, 10])), **options)


def test_unreadable_data_and_mismatched_labels_raise():
    with pytest.raises(DataError, match="cannot read this data"):
        plan("data.csv")
    with pytest.raises(DataError, match=r"Cannot tell what kind of data.*dict"):
        plan(({"a": 1}, [1]))
    with pytest.raises(DataError, match=r"labels do not match the rows.*\(5,\), 6 rows"):
        plan((np.zeros((6, 2)), np.zeros(5)))
