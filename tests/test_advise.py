"""lamina.advise: every candidate on one split with sane columns, the honest recommendation rule (unit-tested
on hand-made rows and on data where a classical model wins), metric direction, the text and image paths."""

import json
from types import SimpleNamespace

import lamina.advisor as advise_module
import numpy as np
import pandas as pd
import pytest
from lamina.advisor import advise, recommend, score
from lamina.errors import ConfigError, DataError
from sklearn import metrics

import lamina

BUDGET = 3.0
COLUMNS = [
    "candidate",
    "family",
    "accuracy",
    "cv_mean",
    "cv_sd",
    "fit_seconds",
    "latency_ms",
    "size_bytes",
    "interpretability",
    "note",
]


def separable_table(rows=240, seed=0):
    """A linearly separable table with a categorical column that carries part of the signal."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "shop": rng.choice(["north", "south"], rows),
        }
    )
    frame["label"] = (
        (frame["a"] + frame["b"] + np.where(frame["shop"] == "north", 1.0, -1.0)) > 0
    ).astype(int)
    return frame


def row(advice, name):
    return next(r for r in advice.rows if r["candidate"].startswith(name))


# ------------------------------------------------------------------ the table
def test_separable_table_gives_every_candidate_with_sane_columns():
    advice = advise(separable_table(), "label", time_budget=BUDGET)
    table = advice.table()
    assert list(table.columns) == COLUMNS
    assert table["candidate"].tolist() == [
        "logistic regression",
        "HistGradientBoosting",
        "k-NN (k=5)",
        "MLP (lamina)",
    ]
    assert table["family"].tolist() == ["classical"] * 3 + ["deep"]
    assert (
        table["accuracy"].between(0, 1).all() and row(advice, "logistic regression")["value"] >= 0.9
    )
    assert (
        (table["fit_seconds"] >= 0).all()
        and (table["latency_ms"] > 0).all()
        and (table["size_bytes"] > 0).all()
    )
    assert set(table["interpretability"]) <= {"high", "medium", "low"}
    assert row(advice, "MLP")["interpretability"] == "low"
    classical = table[table["family"] == "classical"]
    assert (
        classical["cv_mean"].between(0, 1).all() and (classical["cv_sd"] >= 0).all()
    )  # under 5,000 rows: 10-fold CV
    assert "held out for early stopping" in row(advice, "MLP")["note"]
    assert any(
        "stratified random 80%/20% (seed 0), 192 training / 48 test rows" in n for n in advice.notes
    )
    assert advice.winner in table["candidate"].tolist() and advice.noise >= 0.005
    assert json.loads(json.dumps(advice.to_dict()))["winner"] == advice.winner
    assert "**Recommendation**" in advice.to_markdown() and "Recommendation:" in str(advice)


def test_same_seed_gives_the_same_scores():
    rng = np.random.default_rng(
        0
    )  # random words and labels: every score depends on the initial weights
    texts = [" ".join(rng.choice([f"w{i}" for i in range(30)], 6)) for _ in range(120)]
    labels = rng.integers(0, 2, 120)
    first, second = (advise((texts, labels), time_budget=BUDGET, seed=3) for _ in range(2))
    assert [r["value"] for r in first.rows] == [r["value"] for r in second.rows]


def test_given_test_split_is_used_and_unlabelled_rows_are_dropped():
    frame = separable_table(rows=300)
    y = frame.pop("label").to_numpy().astype(float)
    y[:10] = np.nan
    dataset = SimpleNamespace(
        x=frame.iloc[:200],
        y=y[:200],
        modality="table",
        source="shops.csv",
        target="label",
        x_test=frame.iloc[200:],
        y_test=y[200:],
        classes=None,
        task="classification",
    )
    advice = advise(dataset, time_budget=BUDGET)
    assert any("own test split, 190 training / 100 test rows" in n for n in advice.notes)
    assert any("10 rows without a label were dropped" in n for n in advice.notes)


# ------------------------------------------------------------------ the honesty rule
def test_classical_model_that_wins_is_recommended():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.uniform(size=200), "b": rng.uniform(size=200)})
    frame["label"] = ((frame["a"] > 0.3) & (frame["b"] > 0.6)).astype(
        int
    )  # axis-aligned: trees fit it exactly
    advice = advise(frame, "label", time_budget=BUDGET)
    assert row(advice, "HistGradientBoosting")["value"] == 1.0
    assert advice.winner in ("HistGradientBoosting", "logistic regression", "k-NN (k=5)")
    assert advice.winner in advice.recommendation and "(classical)" in advice.recommendation
    assert "noise" in advice.reason


def hand_rows(classical, deep):
    return [
        {
            "candidate": "HGB",
            "family": "classical",
            "value": classical,
            "fit_seconds": 1.0,
            "latency_ms": 0.01,
        },
        {
            "candidate": "logistic",
            "family": "classical",
            "value": classical - 0.05,
            "fit_seconds": 0.5,
            "latency_ms": 0.001,
        },
        {
            "candidate": "CNN",
            "family": "deep",
            "value": deep,
            "fit_seconds": 60.0,
            "latency_ms": 0.1,
        },
    ]


def test_rule_recommends_the_network_only_beyond_the_noise():
    winner, recommendation, reason = recommend(hand_rows(0.900, 0.910), "accuracy", noise=0.02)
    assert (
        winner == "HGB"
        and "so the simpler classical model is recommended" in reason
        and "ahead by 0.0100" in reason
    )
    winner, recommendation, _ = recommend(hand_rows(0.900, 0.950), "accuracy", noise=0.02)
    assert winner == "CNN" and recommendation.startswith("Use CNN")
    assert recommend(hand_rows(0.900, 0.880), "accuracy", noise=0.005)[0] == "HGB"
    assert (
        recommend(hand_rows(0.5, 0.625), "accuracy", noise=0.125)[0] == "HGB"
    )  # a tie with the noise is no win


def test_rule_follows_the_metric_direction():
    # RMSE: lower is better. hand_rows gives "logistic" a lower value (0.05 below): it is the best classical model.
    assert recommend(hand_rows(1.0, 0.5), "rmse", noise=0.1)[0] == "CNN"  # 0.5 beats 0.95 by 0.45
    assert (
        recommend(hand_rows(1.0, 0.9), "rmse", noise=0.1)[0] == "logistic"
    )  # 0.9 vs 0.95: within the noise
    assert recommend(hand_rows(1.0, 2.0), "rmse", noise=0.1)[0] == "logistic"
    assert recommend(hand_rows(0.2, 0.6), "r2", noise=0.1)[0] == "CNN"  # r2: higher is better


def test_rule_needs_a_finite_score():
    rows = [
        {
            "candidate": "x",
            "family": "classical",
            "value": float("nan"),
            "fit_seconds": 0,
            "latency_ms": 0,
        }
    ]
    with pytest.raises(DataError, match="No candidate has a finite score"):
        recommend(rows, "accuracy", noise=0.01)
    assert recommend(hand_rows(0.9, 0.9)[:2], "accuracy", noise=0.01)[0] == "HGB"  # no network row


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize(
    "name, reference",
    [
        ("accuracy", metrics.accuracy_score),
        ("balanced_accuracy", metrics.balanced_accuracy_score),
        ("f1", lambda y, p: metrics.f1_score(y, p, average="macro")),
        ("mae", metrics.mean_absolute_error),
        ("rmse", lambda y, p: np.sqrt(metrics.mean_squared_error(y, p))),
        ("r2", metrics.r2_score),
    ],
)
def test_scores_match_scikit_learn(name, reference):
    rng = np.random.default_rng(0)
    y, predicted = rng.integers(0, 3, 50), rng.integers(0, 4, 50)
    assert score(name, y, predicted) == pytest.approx(reference(y, predicted))


# ------------------------------------------------------------------ regression, text, images
def test_regression_uses_rmse_where_lower_is_better():
    x, y = lamina.testing.tiny_regression(rows=200, features=4)
    advice = advise((x, y[:, 0]), time_budget=BUDGET)
    assert advice.metric == "rmse" and list(advice.table().columns)[2] == "rmse"
    assert [r["candidate"] for r in advice.rows][:3] == [
        "ridge regression",
        "HistGradientBoosting",
        "k-NN (k=5)",
    ]
    classical = [r for r in advice.rows if r["family"] == "classical"]
    best = min(classical, key=lambda r: r["value"])
    assert best["candidate"] == "ridge regression"  # the data are linear
    network = row(advice, "MLP")["value"]
    expected = "MLP (lamina)" if best["value"] - network > advice.noise else best["candidate"]
    assert advice.winner == expected


def test_text_path_reports_tfidf_with_cross_validation_and_a_gru():
    rng = np.random.default_rng(0)
    good, bad, filler = (
        ["great", "lovely", "superb"],
        ["awful", "boring", "poor"],
        ["the", "film", "was", "plot"],
    )
    texts, labels = [], []
    for i in range(200):
        words = list(rng.choice(filler, 4)) + [rng.choice(good if i % 2 else bad)]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(i % 2)
    advice = advise((texts, np.array(labels)), time_budget=BUDGET)
    assert [r["candidate"] for r in advice.rows] == ["TF-IDF + logistic regression", "GRU (lamina)"]
    linear = row(advice, "TF-IDF")
    assert (
        linear["value"] >= 0.9 and 0.9 <= linear["cv_mean"] <= 1.0 and linear["cv_sd"] is not None
    )
    assert any("10-fold cross-validation" in n for n in advice.notes)
    assert row(advice, "GRU")["size_bytes"] > 0


def test_image_path_on_digits_with_a_time_budget():
    digits = lamina.datasets.load("digits", images=True)  # (N, 1, 8, 8), pixels 0-16
    data = SimpleNamespace(
        x_train=digits.x_train[:500],
        y_train=digits.y_train[:500],
        x_test=digits.x_test,
        y_test=digits.y_test,
        classes=digits.classes,
        name="digits",
    )
    advice = advise(data, time_budget=1.0)
    assert [r["candidate"] for r in advice.rows] == [
        "logistic regression",
        "HistGradientBoosting",
        "k-NN (k=5)",
        "CNN (lamina)",
    ]
    network = row(advice, "CNN")
    assert (
        network["value"] > 0.5 and network["fit_seconds"] < 1.0 + 2.0
    )  # stops at the first batch after 1 s
    assert all(r["value"] > 0.8 for r in advice.rows if r["family"] == "classical")


def test_subsampling_to_fit_the_budget_is_said_in_the_note(monkeypatch):
    monkeypatch.setattr(advise_module, "HGB_RATE", 1e3)  # pretend boosting is very slow
    advice = advise(separable_table(), "label", time_budget=BUDGET)
    assert (
        "fitted on 50 of 192 training rows (subsampled to fit the time budget)"
        in row(advice, "HistGradientBoosting")["note"]
    )


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors():
    x, y = lamina.testing.tiny_regression(rows=40)
    with pytest.raises(ConfigError, match=r"Unsupported metric for regression.*'accuracy'.*rmse"):
        advise((x, y[:, 0]), metric="accuracy")
    with pytest.raises(ConfigError, match="time_budget must be a positive number"):
        advise((x, y[:, 0]), time_budget=0)
    with pytest.raises(ConfigError, match=r"test_fraction out of range.*1.5"):
        advise((x, y[:, 0]), test_fraction=1.5)
    with pytest.raises(DataError, match="advise needs labels"):
        advise(separable_table())
