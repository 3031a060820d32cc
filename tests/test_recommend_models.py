"""The network recommenders on tiny synthetic purchase logs: patterns learned, the id-level API,
save/load, vectors for an inner-product index, and errors that name the bad value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina.core.errors import ConfigError, DataError
from lamina.data.interactions import interactions, leave_last_out
from lamina.models import GRU4Rec, MatrixFactorization, SASRec, TwoTower
from lamina.models.recommend import UnknownIdError

PAIRS = [("a0", "b0"), ("a1", "b1"), ("a2", "b2")]
NOISE = [f"n{i}" for i in range(6)]


def purchase_log(users: int = 90, seed: int = 0) -> pd.DataFrame:
    """Each customer buys a_k, then b_k (k = customer % 3); every other group of three buys a
    noise item first."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        first, then = PAIRS[user % 3]
        items = [NOISE[rng.integers(len(NOISE))], first, then][(user // 3) % 2 :]
        for step, item in enumerate(items):
            rows.append(
                {
                    "user": 1000 + user,
                    "item": item,
                    "time": pd.Timestamp("2026-01-01") + pd.Timedelta(days=3 * user + step),
                    "price": {"a": 2.0, "b": 5.0, "n": 0.5}[item[0]],
                    "description": f"{'red' if item[0] == 'a' else 'blue'} thing {item}",
                    "country": ["UK", "France"][user % 2],
                }
            )
    return pd.DataFrame(rows)


def data():
    return interactions(
        purchase_log(),
        "user",
        "item",
        "time",
        price="price",
        description="description",
        country="country",
    )


# (family, constructor arguments, learning rate, epochs, batch size)
FAMILIES = {
    "mf": (MatrixFactorization, {"embedding_dim": 16, "l2": 0.0}, 0.05, 40, 32),
    "two_tower": (TwoTower, {"embedding_dim": 16, "units": 32, "dropout": 0.0}, 0.01, 40, 64),
    "sasrec": (SASRec, {"embedding_dim": 16, "max_length": 4, "dropout": 0.0}, 0.01, 40, 16),
    "gru4rec": (GRU4Rec, {"embedding_dim": 16, "max_length": 4, "dropout": 0.0}, 0.02, 40, 16),
}
_fitted: dict[str, object] = {}


def fitted(name: str):
    """Each family fitted once on the synthetic log (the tests share it)."""
    if name not in _fitted:
        family, options, rate, epochs, batch = FAMILIES[name]
        model = family(**options).compile(learning_rate=rate)
        model.fit(data(), epochs=epochs, batch_size=batch, verbose=0, seed=0)
        _fitted[name] = model
    return _fitted[name]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_learns_that_b_follows_a(name):
    model = fitted(name)
    items, scores = model.recommend(histories=[[a] for a, _ in PAIRS], k=1)
    assert items[:, 0].tolist() == [b for _, b in PAIRS]
    assert scores.shape == (3, 1) and scores.dtype == np.float32


@pytest.mark.parametrize("name", list(FAMILIES))
def test_exclude_seen_is_honoured(name):
    model = fitted(name)
    user = model.users_[0]  # bought a noise item, a0 and b0
    seen = set(model.items_[model.history(0)])
    items, _ = model.recommend(users=[user], k=20)
    assert len(items[0]) == len(model.items_) - len(seen)  # k capped at what is left
    assert not seen & set(items[0])
    everything, _ = model.recommend(users=[user], k=len(model.items_), exclude_seen=False)
    assert seen <= set(everything[0])
    basket, _ = model.recommend(histories=[["a1", "b1"]], k=3)
    assert not {"a1", "b1"} & set(basket[0])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_score_is_embed_times_item_embeddings(name):
    model = fitted(name)
    users = list(model.users_[:5])
    vectors, items = model.embed(users=users), model.item_embeddings()
    assert items.shape[0] == len(model.items_) and vectors.shape[1] == items.shape[1]
    np.testing.assert_allclose(model.score(users=users), vectors @ items.T, rtol=1e-5, atol=1e-5)
    baskets = [["a0"], ["n1", "a2", "b1"]]
    np.testing.assert_allclose(
        model.score(histories=baskets), model.embed(histories=baskets) @ items.T, atol=1e-5
    )
    # the FAISS path of recommend() gives the same lists as the exact one
    model.retrieval_exact_below = 0
    try:
        approximate = model.recommend(users=users, k=5)[0]
    finally:
        del model.retrieval_exact_below
    assert (approximate == model.recommend(users=users, k=5)[0]).all()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_save_and_load_give_identical_recommendations(name, tmp_path):
    model = fitted(name)
    loaded = lamina.load(model.save(str(tmp_path / name)))
    assert type(loaded) is type(model)
    assert model.spec()["class"] == f"lamina.models.{type(model).__name__}"
    users = list(model.users_)
    before, after = model.recommend(users=users, k=5), loaded.recommend(users=users, k=5)
    assert (before[0] == after[0]).all()
    np.testing.assert_allclose(before[1], after[1], rtol=1e-6, atol=1e-6)
    baskets = [["a0"], ["b2", "n3"]]
    assert (model.recommend(histories=baskets)[0] == loaded.recommend(histories=baskets)[0]).all()
    assert loaded.item_names_ == model.item_names_ and loaded.item_names_["a0"] == "red thing a0"
    np.testing.assert_array_equal(loaded.history(3), model.history(3))


def test_unknown_user_and_item_raise_unknown_id_error():
    model = fitted("sasrec")
    with pytest.raises(UnknownIdError) as error:
        model.recommend(users=[1000, 42])
    assert error.value.kind == "user" and error.value.unknown == [42] and "42" in str(error.value)
    with pytest.raises(UnknownIdError, match="zz"):
        model.recommend(histories=[["a0", "zz"]])
    with pytest.raises(UnknownIdError):
        model.embed(users=[7])


def test_a_new_customer_basket_is_served_without_refit():
    model = fitted("two_tower")
    items, scores = model.recommend(histories=[["a1"], []], k=2)
    assert items.shape == (2, 2) and items[0, 0] == "b1"
    assert np.isfinite(scores).all()


def test_validation_reports_ranking_metrics_and_early_stopping_uses_them():
    train, test = leave_last_out(data())
    model = GRU4Rec(embedding_dim=8, max_length=4).compile(learning_rate=0.02)
    stop = lamina.callbacks.EarlyStopping(monitor="val_ndcg@10", patience=1)
    history = model.fit(
        train, epochs=30, batch_size=16, validation_data=test, callbacks=[stop], verbose=0, seed=0
    )
    logs = history.history
    assert {"val_hr@10", "val_ndcg@10", "val_mrr", "val_coverage"} <= set(logs)
    assert len(logs["val_ndcg@10"]) < 30  # stopped early
    assert 0.0 <= min(logs["val_hr@10"]) <= max(logs["val_hr@10"]) <= 1.0
    assert model.evaluate(test)["hr@10"] == model.evaluate_ranking(test)["hr@10"]


def test_sasrec_trains_with_one_negative_too():
    model = SASRec(embedding_dim=8, max_length=4, dropout=0.0)
    model.compile(loss="binary_cross_entropy", learning_rate=0.01)
    history = model.fit(data(), epochs=3, batch_size=16, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_the_same_seed_gives_the_same_model():
    runs = []
    for _ in range(2):
        model = MatrixFactorization(embedding_dim=4).compile(learning_rate=0.05)
        model.fit(data(), epochs=2, batch_size=32, verbose=0, seed=3)
        runs.append(model.item_embeddings())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: MatrixFactorization(embedding_dim=0), "embedding_dim=0"),
        (lambda: MatrixFactorization(l2=-1.0), "l2=-1.0"),
        (lambda: TwoTower(units=2.5), "units=2.5"),
        (lambda: TwoTower(anonymous_rate=1.0), "dropout=1.0"),
        (lambda: SASRec(embedding_dim=64, num_heads=3), "num_heads=3"),
        (lambda: SASRec(max_length=0), "max_length=0"),
        (lambda: GRU4Rec(dropout=1.5), "dropout=1.5"),
        (lambda: GRU4Rec(hidden_size=8), "units"),
        (lambda: SASRec().compile(loss="mse"), "loss='mse'"),
    ],
)
def test_bad_constructor_arguments_name_the_value(make, named):
    with pytest.raises(ConfigError) as error:
        make()
    assert named in str(error.value)


def test_bad_fit_input_is_refused_with_the_received_value():
    model = SASRec(embedding_dim=8, max_length=4).compile()
    with pytest.raises(DataError, match="DataFrame"):
        model.fit(purchase_log())
    with pytest.raises(ConfigError, match="y of type ndarray"):
        model.fit(data(), np.zeros(3))
    with pytest.raises(DataError, match="validation_data of type list"):
        model.fit(data(), validation_data=[1, 2])
    with pytest.raises(ConfigError, match="validation_split=0.2"):
        model.fit(data(), validation_split=0.2)
    single = interactions(pd.DataFrame({"u": [1, 2], "i": ["a", "b"], "t": [1, 2]}), "u", "i", "t")
    with pytest.raises(DataError, match="two items or more"):
        model.fit(single)
    with pytest.raises(lamina.errors.NotBuiltError):
        SASRec().recommend(users=[1])


def test_history_windows_cover_every_next_item_once():
    from lamina.models.recommend.network import training_windows

    indptr = np.array([0, 7, 8, 10])
    windows = training_windows(indptr, np.arange(10), 3)
    targets = windows[:, 1:][windows[:, :-1] > 0] - 1  # next items of real inputs
    assert sorted(targets.tolist()) == [1, 2, 3, 4, 5, 6, 9]  # first items are never targets
    assert windows.shape[1] == 4 and (windows[:, -1] > 0).all()
