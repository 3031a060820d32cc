"""POST /recommend in process: the model's answers, explicit fallbacks, 4xx never 5xx, the log, the CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from lamina.data.interactions import interactions
from lamina.deploy.predlog import read
from lamina.deploy.recommend import create_recommend_app
from lamina.deploy.recommender import Recommending
from lamina.models.recommend import RecommenderMixin
from lamina.project.recommender_files import save_recommender
from lamina.project.recommenders import EASE, ItemKNN, Popularity

ITEMS = [f"P{i:03d}" for i in range(60)]


def shop_log(users=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        # two taste groups, so that the models have something to learn
        group = ITEMS[:30] if user % 2 else ITEMS[30:]
        bought = rng.choice(group, size=int(rng.integers(2, 12)), replace=False)
        rows += [(1000 + user, item, t, f"thing {item}") for t, item in enumerate(bought)]
    return pd.DataFrame(rows, columns=["customer", "item", "time", "description"])


@pytest.fixture(scope="module")
def shop():
    return interactions(shop_log(), "customer", "item", "time", description="description")


class VectorRecommender(RecommenderMixin):
    """Network-like: scores = embed @ item_embeddings().T with fixed random vectors."""

    def fit(self, data):
        self._set_catalogue(data)
        rng = np.random.default_rng(3)
        self.user_vectors = rng.normal(size=(len(self.users_), 8)).astype(np.float32)
        self.item_vectors = rng.normal(size=(len(self.items_), 8)).astype(np.float32)
        return self

    def embed(self, users=None, histories=None):
        user_codes, history_codes, _ = self._queries(users, histories)
        if user_codes is not None:
            return torch.from_numpy(self.user_vectors[user_codes])
        return torch.from_numpy(np.stack([self.item_vectors[c].mean(0) for c in history_codes]))

    def item_embeddings(self):
        return torch.from_numpy(self.item_vectors)

    def _score_codes(self, users, histories):
        if users is not None:
            return self.user_vectors[users] @ self.item_vectors.T
        return np.stack([self.item_vectors[c].mean(0) for c in histories]) @ self.item_vectors.T


MODELS = {
    "ease": lambda: EASE(l2=5.0),
    "knn": ItemKNN,
    "popularity": Popularity,
    "vectors": VectorRecommender,
}


@pytest.fixture(scope="module")
def clients(shop):
    made = {}
    for name, make in MODELS.items():
        model = make().fit(shop)
        made[name] = (model, create_recommend_app(model))
    made["faiss"] = (made["vectors"][0], create_recommend_app(made["vectors"][0], exact_below=0))
    opened = {name: (model, TestClient(app).__enter__()) for name, (model, app) in made.items()}
    yield opened
    for _, client in opened.values():
        client.__exit__(None, None, None)


def post(client, body):
    return client.post("/recommend", json=body)


@pytest.mark.parametrize("name", [*MODELS, "faiss"])
def test_a_known_customer_gets_the_models_recommendations(clients, name):
    model, client = clients[name]
    for customer in (1000, 1001, 1017):
        answer = post(client, {"customer": customer, "k": 5})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids, scores = model.recommend(users=[customer], k=5)
        assert [item["id"] for item in body["items"]] == ids[0].tolist()
        np.testing.assert_allclose([item["score"] for item in body["items"]], scores[0], rtol=1e-5)
        assert body["customer_known"] is True and body["fallback"] is None
        history = set(model.items_[model.history(model.user_codes([customer])[0])])
        assert not history & set(ids[0]) and f"customer {customer}" in body["note"]
        assert body["items"][0]["name"] == f"thing {body['items'][0]['id']}"


@pytest.mark.parametrize("name", [*MODELS, "faiss"])
def test_baskets_fall_back_explicitly_and_are_left_out(clients, name):
    model, client = clients[name]
    basket = ["P001", "P003", "P007"]
    for customer in (None, 77, 10**12):
        body = post(client, {"customer": customer, "basket": basket, "k": 4}).json()
        assert body["fallback"] == "basket" and body["customer_known"] is False
        expected = model.recommend(histories=[basket], k=4)[0][0].tolist()
        assert [item["id"] for item in body["items"]] == expected
        assert not set(basket) & set(expected) and "basket" in body["note"]
    # a known customer's basket adds to their history; both are left out
    history = list(model.items_[model.history(model.user_codes([1000])[0])])
    body = post(client, {"customer": 1000, "basket": ["P001"], "k": 4}).json()
    expected = model.recommend(histories=[history + ["P001"]], k=4)[0][0].tolist()
    assert [item["id"] for item in body["items"]] == expected and body["fallback"] is None


def test_an_unknown_customer_without_basket_gets_popular_items(clients, shop):
    _, client = clients["ease"]
    counts = shop.table.groupby("item").size()
    body = post(client, {"customer": 424242, "k": 3}).json()
    assert body["fallback"] == "popular" and body["customer_known"] is False
    top = counts.sort_values(ascending=False, kind="stable")
    assert [item["score"] for item in body["items"]] == top.iloc[:3].astype(float).tolist()
    assert "424242" in body["note"] and "no basket" in body["note"]


def test_exclude_seen_false_and_fewer_items_than_k(clients):
    model, client = clients["ease"]
    history = set(model.items_[model.history(model.user_codes([1000])[0])])
    everything = len(model.items_)
    body = post(client, {"customer": 1000, "k": everything, "exclude_seen": False}).json()
    assert len(body["items"]) == everything and history <= {item["id"] for item in body["items"]}
    body = post(client, {"customer": 1000, "k": everything}).json()
    assert len(body["items"]) == everything - len(history)
    assert post(client, {"customer": 1000, "k": everything + 1}).status_code == 422


BAD = [
    ("", "json_invalid"),
    ("{}", "missing"),
    ('{"customer": null, "basket": null}', "missing"),
    ("null", "model_type"),
    ("[1, 2]", "model_type"),
    ('{"basket": []}', "value_error"),
    ('{"customer": 1000, "k": 0}', "value_error"),
    ('{"customer": 1000, "k": 1001}', "value_error"),
    ('{"customer": 1000, "k": 100000000000000000000000}', "value_error"),
    ('{"customer": 1000, "k": "10"}', "int_type"),
    ('{"customer": 1000, "k": 2.5}', "int_type"),
    ('{"customer": 1000, "k": 1e309}', "int"),
    ('{"customer": 1000, "k": NaN}', "int_type"),
    ('{"customer": 1000, "exclude_seen": "yes"}', "bool_type"),
    ('{"customer": [1000]}', "type"),
    ('{"customer": true}', "type"),
    ('{"customer": "1000"}', "type_error"),
    ('{"basket": [1, 2]}', "type_error"),
    ('{"basket": "P001"}', "list_type"),
    ('{"basket": [["P001"]]}', "type"),
    ('{"costumer": 1000}', "extra_forbidden"),
    ('{"customer": 1000', "json_invalid"),
]


@pytest.mark.parametrize(("text", "kind"), BAD)
def test_bad_requests_get_422_naming_the_problem(clients, text, kind):
    _, client = clients["ease"]
    answer = client.post(
        "/recommend", content=text.encode(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert any(kind in error["type"] for error in detail), detail
    assert all(error["msg"] and error["loc"][0] == "body" for error in detail)


def test_unknown_items_are_named_and_big_bodies_refused(clients):
    _, client = clients["ease"]
    answer = post(client, {"basket": ["P001", "NOPE", "P002", "ALSO-NOT"]})
    assert answer.status_code == 422
    error = answer.json()["detail"][0]
    assert error["type"] == "unknown_item" and error["loc"] == ["body", "basket", 1]
    assert "NOPE" in error["msg"] and "ALSO-NOT" in error["msg"] and "Fix:" in error["msg"]
    answer = post(client, {"basket": ["P001"] * 1001})
    assert answer.status_code == 422 and "too long" in answer.json()["detail"][0]["msg"]
    answer = post(client, {"basket": ["P001"] * 200_000})
    assert answer.status_code == 413


def test_fuzzed_bodies_never_get_5xx(clients):
    _, client = clients["ease"]
    rng = random.Random(0)
    atoms = [None, True, 0, -1, 1000, 10**30, 1.5, "", "P001", "x" * 300, [], {}, "\u00e9\u0000"]

    def value(depth=0):
        roll = rng.random()
        if depth > 2 or roll < 0.5:
            return rng.choice(atoms)
        if roll < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        keys = ["customer", "basket", "k", "exclude_seen", "other"]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}

    good = json.dumps({"customer": 1000, "basket": ["P001"], "k": 3}).encode()
    statuses = set()
    for _ in range(300):
        if rng.random() < 0.3:  # a valid body with bytes flipped, cut or repeated
            body = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body[: rng.randint(0, len(body))]) if rng.random() < 0.3 else bytes(body)
        else:
            body = json.dumps(value()).encode()
        answer = client.post(
            "/recommend", content=body, headers={"content-type": "application/json"}
        )
        statuses.add(answer.status_code)
        assert answer.status_code < 500, (body, answer.text)
    assert 422 in statuses


def test_requests_are_logged_for_monitoring(shop, tmp_path):
    model = EASE(l2=5.0).fit(shop)
    folder = save_recommender(model, tmp_path / "shop")
    log = tmp_path / "log" / "recommendations.jsonl"
    with TestClient(create_recommend_app(folder, log_path=log)) as client:
        first = post(client, {"customer": 1000, "k": 2})
        post(client, {"customer": 5, "basket": ["P001"], "k": 2})
        post(client, {"basket": ["P001", "GONE"]})
        post(client, {"customer": 5})
        post(client, {"customer": 1000, "k": -1})  # malformed: not logged
        metrics = client.get("/metrics").text
        assert client.get("/v2/health/ready").json() == {"ready": True, "error": None}
        assert client.get("/v2/health/live").status_code == 200
    assert len(first.headers["x-model-version"]) == 12
    records = list(read(log))
    assert [r["status"] for r in records] == [200, 200, 422, 200]
    assert records[0]["request_id"] == first.headers["x-request-id"]
    assert records[0]["items"] == [item["id"] for item in first.json()["items"]]
    assert [r["customer_known"] for r in records] == [True, False, False, False]
    assert [r.get("fallback") for r in records] == [None, "basket", None, "popular"]
    assert records[2]["unknown_items"] == ["GONE"] and records[2]["basket"] == ["P001", "GONE"]
    assert all(r["latency_ms"] >= 0 for r in records)
    assert 'lamina_recommendations_total{fallback="popular"} 1' in metrics
    assert 'lamina_requests_total{endpoint="/recommend",status="422"} 2' in metrics


def test_lamina_serve_dispatches_a_recommender_folder(shop, tmp_path, monkeypatch):
    import lamina.deploy.recommend as recommend
    from lamina.cli import main

    folder = save_recommender(Popularity().fit(shop), tmp_path / "popular")
    seen = {}
    monkeypatch.setattr(
        recommend, "serve_recommender", lambda model, **kw: seen.update(kw, model=model)
    )
    assert main(["serve", folder, "--port", "8123", "--log", str(tmp_path / "r.jsonl")]) == 0
    assert seen["model"] == folder and seen["port"] == 8123
    assert seen["log_path"] == str(tmp_path / "r.jsonl")


def test_the_request_path_refuses_what_is_not_a_recommender():
    with pytest.raises(ValueError, match="fitted on interactions"):
        Recommending(EASE())


def test_a_saved_network_is_served_through_its_item_vectors(shop, tmp_path):
    from lamina.models import MatrixFactorization

    model = MatrixFactorization(embedding_dim=8).compile(learning_rate=0.05)
    model.fit(shop, epochs=2, batch_size=32, verbose=0, seed=0)
    folder = str(model.save(tmp_path / "mf"))
    for exact_below in (100_000, 0):  # exact, then FAISS
        with TestClient(create_recommend_app(folder, exact_below=exact_below)) as client:
            for body, expected in (
                ({"customer": 1003, "k": 5}, model.recommend(users=[1003], k=5)),
                (
                    {"basket": ["P001", "P002"], "k": 5},
                    model.recommend(histories=[["P001", "P002"]], k=5),
                ),
            ):
                answer = post(client, body).json()
                assert [item["id"] for item in answer["items"]] == expected[0][0].tolist()
                np.testing.assert_allclose(
                    [item["score"] for item in answer["items"]],
                    expected[1][0],
                    rtol=1e-4,
                    atol=1e-5,
                )
