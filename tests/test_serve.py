"""lamina.serve in process: KServe v2 endpoints, /predict, limits, batching, overload, hot swap, auth, metrics."""

import asyncio
import base64
import io
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from lamina.serve import Served, create_app, folder_version

import lamina


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"size": rng.normal(size=80), "colour": rng.choice(["red", "blue"], 80)})
    y = np.where(x["size"] > 0, "big", "small")
    advice = lamina.advise((x, y), time_budget=1, keep=True)
    fitted = advice.fitted["logistic regression"]
    fitted.reference = lamina.eda.profile(x).reference()  # as a project's train stage keeps it
    folder = fitted.save(tmp_path_factory.mktemp("m") / "houses")
    return folder, x


@pytest.fixture(scope="module")
def array_dir(tmp_path_factory):
    x = np.random.default_rng(1).normal(size=(80, 4)).astype("float32")
    advice = lamina.advise((x, np.where(x[:, 0] > 0, "up", "down")), time_budget=1, keep=True)
    return advice.fitted["MLP (lamina)"].save(tmp_path_factory.mktemp("m") / "arrays"), x


def raw(client, path, text, **kwargs):
    return client.post(
        path, content=text.encode(), headers={"content-type": "application/json"}, **kwargs
    )


def test_health_metadata_and_v2_infer_match_the_model(array_dir):
    folder, x = array_dir
    fitted = lamina.fitted.FittedModel.load(folder)
    with TestClient(create_app(folder)) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").status_code == 200
        meta = client.get("/v2/models/arrays").json()
        assert meta["platform"] == "lamina" and meta["inputs"][0]["shape"] == [-1, 4]
        body = {
            "inputs": [
                {
                    "name": "input",
                    "shape": [5, 4],
                    "datatype": "FP32",
                    "data": x[:5].ravel().tolist(),
                }
            ]
        }
        answer = client.post("/v2/models/arrays/infer", json=body)
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        assert outputs["predictions"]["data"] == list(fitted.predict(x[:5]))
        np.testing.assert_allclose(
            np.reshape(outputs["probabilities"]["data"], (5, 2)),
            fitted.predict_proba(x[:5]),
            rtol=1e-5,
        )
        assert (
            answer.json()["model_version"]
            == answer.headers["x-model-version"]
            == meta["versions"][0]
        )
        assert client.post("/v2/models/nope/infer", json=body).status_code == 404
        assert client.get("/v2/models/nope").status_code == 404


def test_predict_on_table_rows_equals_predict_on_the_frame(table_dir):
    folder, x = table_dir
    fitted = lamina.fitted.FittedModel.load(folder)
    with TestClient(create_app(folder)) as client:
        answer = client.post("/predict", json={"rows": x.head(6).to_dict(orient="records")})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == list(fitted.predict(x.head(6)))
        np.testing.assert_allclose(
            answer.json()["probabilities"], fitted.predict_proba(x.head(6)), rtol=1e-6
        )
        bad = client.post("/predict", json={"rows": [{"size": 1.0, "colour": "red", "weight": 3}]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
            "body",
            "rows",
            0,
            "weight",
        ]
        bad = client.post("/predict", json={"rows": [{"size": "huge", "colour": "red"}]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:4] == [
            "body",
            "rows",
            0,
            "size",
        ]
        schema = client.get("/openapi.json").json()
        assert "/predict" in schema["paths"] and "size" in str(
            schema["components"]["schemas"]["Row"]
        )


def test_plain_artifact_and_bad_inputs_never_give_5xx(plain_dir):
    folder, model = plain_dir
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with TestClient(create_app(folder, max_body_bytes=2000)) as client:
        answer = client.post("/predict", json={"inputs": x.tolist()})
        np.testing.assert_allclose(answer.json()["predictions"], model.predict(x), rtol=1e-6)
        npy = io.BytesIO()
        np.save(npy, x[0])
        assert (
            client.post(
                "/predict", json={"inputs": [base64.b64encode(npy.getvalue()).decode()]}
            ).status_code
            == 200
        )
        responses = [
            raw(client, "/predict", '{"inputs": [[1, NaN, 2, 3]]}'),
            raw(client, "/predict", '{"inputs": [[1, Infinity, 2, 3]]}'),
            raw(client, "/predict", '{"inputs": [[1, -Infinity, 2, 3]]}'),
            raw(client, "/predict", '{"inputs": [[1, 1e309, 2, 3]]}'),
            raw(client, "/predict", '{"inputs": [[1, 2'),
            client.post("/predict", json={"inputs": [[1, 2, 3]]}),
            client.post("/predict", json={"inputs": []}),
            client.post("/predict", json={"inputs": [["a", "b", "c", "d"]]}),
            client.post("/predict", json={"inputs": ["not base64!"]}),
            client.post(
                "/v2/models/tiny/infer",
                json={
                    "inputs": [
                        {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}
                    ]
                },
            ),
            client.post(
                "/v2/models/tiny/infer",
                json={
                    "inputs": [
                        {"name": "input", "shape": [1, 4], "datatype": "FP99", "data": [1, 2, 3, 4]}
                    ]
                },
            ),
        ]
        assert [r.status_code for r in responses] == [422] * len(responses)
        assert all(r.headers["x-model-version"] for r in responses)
        assert "NaN" in str(responses[0].json()) and "1e309" in str(responses[3].json())
        assert responses[5].json()["detail"][0]["loc"] == ["body", "inputs"]
        assert responses[9].json()["detail"][0]["loc"] == ["body", "inputs", 0, "shape"]
        big = client.post("/predict", json={"inputs": [[1.0, 2.0, 3.0, 4.0]] * 200})
        assert big.status_code == 413 and big.headers["x-model-version"]
        metrics = client.get("/metrics").text
        assert 'lamina_requests_total{endpoint="/predict",status="422"}' in metrics
        assert "lamina_request_seconds_bucket" in metrics and "lamina_batch_size_count" in metrics
        assert "lamina_queue_depth" in metrics


def test_overload_answers_429_with_retry_after_and_no_5xx(plain_dir, monkeypatch):
    folder, _ = plain_dir
    slow = Served.predict

    def sleepy(self, x):
        time.sleep(0.05)
        return slow(self, x)

    monkeypatch.setattr(Served, "predict", sleepy)

    async def flood():
        app = create_app(folder, queue_size=1, max_batch_size=1)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await asyncio.gather(
                    *[client.post("/predict", json={"inputs": [[1, 2, 3, 4]]}) for _ in range(12)]
                )

    responses = asyncio.run(flood())
    codes = [r.status_code for r in responses]
    assert 429 in codes and 200 in codes and max(codes) < 500
    assert all(r.headers["retry-after"] for r in responses if r.status_code == 429)


def test_batching_answers_each_request_with_its_rows(plain_dir):
    folder, model = plain_dir
    x = np.random.default_rng(2).normal(size=(10, 4)).astype("float32")

    async def many():
        app = create_app(folder, max_batch_size=8, max_wait_ms=20)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        async with app.router.lifespan_context(app), client:
            answers = await asyncio.gather(
                *[
                    client.post("/predict", json={"inputs": x[i : i + 1 + i % 2].tolist()})
                    for i in range(9)
                ]
            )
            return answers, (await client.get("/metrics")).text

    answers, metrics = asyncio.run(many())
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(
            answer.json()["predictions"], model.predict(x[i : i + 1 + i % 2]), atol=1e-6
        )
    batches = int(
        next(
            line for line in metrics.splitlines() if line.startswith("lamina_batch_size_count")
        ).split()[1]
    )
    assert batches < 9  # several requests shared a prediction


def test_hot_swap_needs_the_admin_token_and_changes_the_version(plain_dir, tmp_path):
    folder, _ = plain_dir
    other = lamina.Sequential([lamina.layers.Dense(3)])
    other.build(torch.ones(1, 4))
    second = other.save(tmp_path / "tiny")
    with TestClient(create_app(folder, admin_token="adm", read_token="read")) as client:
        before = client.get("/v2/health/live").headers["x-model-version"]
        url = "/v2/repository/models/tiny/load"
        assert client.post(url, json={"path": str(second)}).status_code == 401
        assert (
            client.post(
                url, json={"path": str(second)}, headers={"Authorization": "Bearer read"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                url, json={"path": str(second)}, headers={"Authorization": "Bearer x"}
            ).status_code
            == 401
        )
        bad = client.post(
            url, json={"path": str(tmp_path / "missing")}, headers={"Authorization": "Bearer adm"}
        )
        assert (
            bad.status_code == 422
            and client.get("/v2/health/live").headers["x-model-version"] == before
        )
        swapped = client.post(
            url, json={"path": str(second)}, headers={"Authorization": "Bearer adm"}
        )
        assert swapped.status_code == 200 and swapped.json()["version"] != before
        answer = client.post("/predict", json={"inputs": [[1, 2, 3, 4]]})
        assert answer.headers["x-model-version"] == swapped.json()["version"]
        np.testing.assert_allclose(
            answer.json()["predictions"],
            other.predict(np.array([[1, 2, 3, 4]], "float32")),
            rtol=1e-6,
        )
        assert (
            "access-control-allow-origin"
            not in client.get("/v2/health/live", headers={"Origin": "http://x"}).headers
        )


def test_timeout_and_hot_swap_under_load_fail_no_request(plain_dir, tmp_path, monkeypatch):
    folder, _ = plain_dir
    other = lamina.Sequential([lamina.layers.Dense(3)])
    other.build(torch.ones(1, 4))
    second = other.save(tmp_path / "tiny")
    slow = Served.predict

    def sleepy(self, x):
        time.sleep(0.02)
        return slow(self, x)

    monkeypatch.setattr(Served, "predict", sleepy)

    async def swap_under_load(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        async with app.router.lifespan_context(app), client:
            posts = [client.post("/predict", json={"inputs": [[1, 2, 3, 4]]}) for _ in range(10)]
            load = client.post(
                "/v2/repository/models/tiny/load",
                json={"path": str(second)},
                headers={"Authorization": "Bearer adm"},
            )
            return await asyncio.gather(*posts[:5], load, *posts[5:])

    answers = asyncio.run(swap_under_load(create_app(folder, admin_token="adm", max_batch_size=2)))
    assert [a.status_code for a in answers] == [200] * 11
    versions = {folder_version(folder), folder_version(second)}
    assert answers[5].json()["version"] == folder_version(second)
    assert {
        a.headers["x-model-version"] for a in answers
    } <= versions  # each answered whole by one version
    late = asyncio.run(
        swap_under_load(create_app(folder, admin_token="adm", max_batch_size=1, timeout_s=0.05))
    )
    assert 504 in [a.status_code for a in late] and all(a.status_code in (200, 504) for a in late)
