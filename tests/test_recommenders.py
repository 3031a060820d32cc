"""Classical recommenders: closed forms and hand computations on tiny matrices."""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lamina.core.errors import ArtifactError, ConfigError, DataError, NotBuiltError, UnsafeFileError
from lamina.data.interactions import interactions
from lamina.models.recommend import UnknownIdError
from lamina.project.recommender_files import is_recommender, load_recommender, save_recommender
from lamina.project.recommenders import EASE, ItemKNN, Popularity, evaluate_rankings

# Four users, five items.
DENSE = np.array(
    [
        [1, 1, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 0, 1, 0],
    ],
    dtype=np.float64,
)
X = sp.csr_matrix(DENSE)


def test_ease_matches_its_closed_form():
    l2 = 2.0
    P = np.linalg.inv(DENSE.T @ DENSE + l2 * np.eye(5))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    model = EASE(l2=l2).fit(X)
    np.testing.assert_allclose(model.weights_, B, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.scores([0, 1, 2, 3]), DENSE @ B, rtol=1e-5, atol=1e-6)


def test_item_knn_by_hand():
    model = ItemKNN().fit(X)
    # items 0 and 1 share users 0 and 3; each has 3 users: cosine 2 / sqrt(3 * 3)
    assert model.similarity_[0, 1] == pytest.approx(2 / 3)
    # items 2 (users 1, 2) and 3 (users 2, 3): one shared user, cosine 1 / sqrt(2 * 2)
    assert model.similarity_[2, 3] == pytest.approx(0.5)
    assert model.similarity_.diagonal().tolist() == [0.0] * 5
    # user 1 has items 0 and 2; score of item 3 = S[0, 3] + S[2, 3] = 1/sqrt(6) + 1/2
    assert model.scores([1])[0, 3] == pytest.approx(1 / math.sqrt(6) + 0.5, rel=1e-6)


def test_item_knn_keeps_only_the_nearest_neighbours_of_each_item():
    full = ItemKNN().fit(X).similarity_
    kept = ItemKNN(neighbours=1).fit(X).similarity_
    assert ((kept > 0).sum(axis=0) <= 1).all()
    for item in range(5):
        best = full[:, item].max()
        assert kept[:, item].max() == pytest.approx(best)


def test_popularity_order_and_exclude_seen():
    model = Popularity().fit(X)
    assert model.popularity_.tolist() == [3, 3, 2, 2, 1]
    # ties go to the lower item index; user 0 has items 0, 1 and 4
    assert model.recommend_rows([2], k=5, exclude_seen=False).tolist() == [[0, 1, 2, 3, 4]]
    assert model.recommend_rows([0], k=2).tolist() == [[2, 3]]


@pytest.mark.parametrize("make", [Popularity, ItemKNN, lambda: EASE(l2=1.0)])
def test_exclude_seen_honoured(make):
    model = make().fit(X)
    top = model.recommend_rows([0, 1, 2, 3], k=2)
    assert top.shape == (4, 2)
    for row, items in enumerate(top):
        assert not DENSE[row, items].any()
    assert model.recommend_rows([0], k=99, exclude_seen=False).shape == (1, 5)  # k capped
    assert model.scores([0, 1]).dtype == np.float32


def test_evaluate_rankings_by_hand():
    model = Popularity().fit(X)
    # popularity 3, 3, 2, 2, 1; user 0 has items 0, 1, 4 and user 1 has items 0, 2
    test_items = np.array([3, 4, -1, -1])
    result = evaluate_rankings(model, X, test_items, k=1, batch_size=1)
    # user 0: item 3 ties item 2 (both 2) -> rank 1; user 1: item 4 ranks behind items 1 and 3
    assert result["hr@1"] == pytest.approx(0.5)
    assert result["ndcg@1"] == pytest.approx(0.5)
    assert result["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert result["coverage"] == pytest.approx(2 / 5)  # top 1: item 2 or 3 (user 0), 1 (user 1)
    assert set(evaluate_rankings(EASE().fit(X), X, test_items)) == {
        "hr@10",
        "ndcg@10",
        "mrr",
        "coverage",
    }


def test_bad_input_is_explained():
    with pytest.raises(ConfigError, match="l2=0"):
        EASE(l2=0)
    with pytest.raises(ConfigError, match="neighbours=0"):
        ItemKNN(neighbours=0)
    with pytest.raises(NotBuiltError, match="fit"):
        Popularity().recommend_rows([0])
    with pytest.raises(NotBuiltError, match="fit"):
        Popularity().recommend(users=[0])
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        Popularity().fit(X).recommend_rows([4])
    with pytest.raises(DataError, match="2-d"):
        Popularity().fit([1, 0, 1])
    with pytest.raises(DataError, match="one integer item id per row"):
        evaluate_rankings(Popularity().fit(X), X, [0, 1])


def retail() -> object:
    """DENSE as a purchase log: users 10..13, items "i0".."i4", one day per purchase."""
    users, items = np.nonzero(DENSE)
    log = pd.DataFrame(
        {"u": users + 10, "i": [f"i{item}" for item in items], "t": np.arange(len(users))}
    )
    log["d"] = log["i"].str.upper()
    return interactions(log, "u", "i", "t", description="d")


@pytest.mark.parametrize("make", [Popularity, ItemKNN, lambda: EASE(l2=1.0)])
def test_id_level_api_on_interactions(make):
    model = make().fit(retail())
    rows = make().fit(X)  # the same data as a bare matrix
    items, scores = model.recommend(users=[10, 11], k=2)
    expected = rows.recommend_rows([0, 1], k=2)
    assert items.tolist() == [[f"i{code}" for code in row] for row in expected]
    assert scores.dtype == np.float32 and scores.shape == (2, 2)
    # an anonymous basket scores like a user with exactly those items
    np.testing.assert_allclose(
        model.score(histories=[["i0", "i2"]]), model.score(users=[11]), rtol=1e-6
    )
    basket, _ = model.recommend(histories=[["i0", "i2"]], k=3)
    assert not {"i0", "i2"} & set(basket[0])
    assert model.item_names_["i3"] == "I3"
    with pytest.raises(UnknownIdError, match="99") as caught:
        model.recommend(users=[99])
    assert caught.value.kind == "user" and caught.value.unknown == [99]
    with pytest.raises(UnknownIdError, match="nope"):
        model.recommend(histories=[["i0", "nope"]])
    with pytest.raises(ConfigError, match="exactly one"):
        model.recommend()


@pytest.mark.parametrize("make", [Popularity, lambda: ItemKNN(neighbours=2), EASE])
def test_save_and_load_give_identical_recommendations(make, tmp_path):
    model = make().fit(retail())
    path = save_recommender(model, tmp_path / "shop")
    assert is_recommender(path) and not is_recommender(tmp_path)
    loaded = load_recommender(path)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    for query in ({"users": [10, 11, 12, 13]}, {"histories": [["i1"], ["i4", "i0"]]}):
        a, b = model.recommend(**query, k=3), loaded.recommend(**query, k=3)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_array_equal(a[1], b[1])
    assert loaded.item_names_ == model.item_names_


def test_save_needs_a_recommender_fitted_on_interactions(tmp_path):
    with pytest.raises(ArtifactError, match="fitted on interactions"):
        save_recommender(EASE().fit(X), tmp_path / "m")
    with pytest.raises(ArtifactError, match="No saved recommender"):
        load_recommender(tmp_path)


def _tamper(folder, **changes):
    manifest = json.loads((folder / "recommender.json").read_text())
    manifest.update(changes)
    (folder / "recommender.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"class": "os.system"}, "class lamina does not load"),
        ({"class": "builtins.eval"}, "class lamina does not load"),
        ({"params": {"l2": 1.0, "__class__": "x"}}, "Unexpected parameters"),
        ({"format": "pickle"}, "Not a lamina recommender"),
        ({"items": ["i0"]}, "do not fit the catalogue"),
    ],
)
def test_a_crafted_recommender_file_is_refused(tmp_path, changes, match):
    folder = Path(save_recommender(EASE(l2=1.0).fit(retail()), tmp_path / "m"))
    _tamper(folder, **changes)
    with pytest.raises(UnsafeFileError, match=match):
        load_recommender(folder)


def test_a_pickle_posing_as_weights_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = Path(save_recommender(Popularity().fit(retail()), tmp_path / "m"))
    (folder / "weights.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UnsafeFileError, match="not a safetensors file"):
        load_recommender(folder)
    assert not marker.exists()
    with pytest.raises(ConfigError, match="l2=-1"):  # parameters go through the class checks
        _tamper(folder, params={"l2": -1}, **{"class": "EASE"})
        load_recommender(folder)
