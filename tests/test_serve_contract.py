"""lamina.serve's request contract: one /predict shape, missing values refused, v2 metadata, tokens, offline docs."""

import shutil

import lamina.serve
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from lamina.errors import ConfigError
from lamina.serve import create_app

import lamina


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"size": rng.normal(size=80), "colour": rng.choice(["red", "blue"], 80)})
    advice = lamina.advise((x, np.where(x["size"] > 0, "big", "small")), time_budget=1, keep=True)
    fitted = advice.fitted["logistic regression"]
    fitted.reference = lamina.eda.profile(x).reference()
    return fitted.save(tmp_path_factory.mktemp("m") / "houses"), x


def test_a_missing_or_null_column_is_refused_with_422_naming_it(table_dir):
    folder, _ = table_dir
    with TestClient(create_app(folder)) as client:
        for row, loc in (
            ({"colour": "red"}, "size"),
            ({"size": None, "colour": "red"}, "size"),
            ({"size": 1.0}, "colour"),
            ({"size": 1.0, "colour": None}, "colour"),
        ):
            answer = client.post(
                "/predict", json={"inputs": [{"size": 0.5, "colour": "blue"}, row]}
            )
            assert answer.status_code == 422, row
            detail = answer.json()["detail"]
            assert [d["loc"] for d in detail] == [["body", "inputs", 1, loc]]
            assert repr(loc) in detail[0]["msg"] and "allow_missing" in detail[0]["msg"]
        v2 = {"inputs": [{"name": "size", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
        missing = client.post("/v2/models/houses/infer", json=v2)
        assert missing.status_code == 422 and "colour" in missing.json()["detail"][0]["msg"]
        v2["inputs"].append({"name": "colour", "shape": [1], "datatype": "BYTES", "data": [None]})
        null = client.post("/v2/models/houses/infer", json=v2)
        assert null.status_code == 422 and null.json()["detail"][0]["loc"] == [
            "body",
            "inputs",
            1,
            "data",
        ]
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Row"]
        assert sorted(schema["required"]) == ["colour", "size"]


def test_allow_missing_lets_named_columns_be_absent_or_null(table_dir):
    folder, x = table_dir
    with TestClient(create_app(folder, allow_missing=["colour"])) as client:
        for row in ({"size": 1.0}, {"size": 1.0, "colour": None}):
            assert client.post("/predict", json={"inputs": [row]}).status_code == 200
        assert client.post("/predict", json={"inputs": [{"colour": "red"}]}).status_code == 422
        v2 = {"inputs": [{"name": "size", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
        assert client.post("/v2/models/houses/infer", json=v2).status_code == 200
    with pytest.raises(ConfigError, match="colr"):
        create_app(folder, allow_missing=["colr"])


def test_one_predict_shape_for_tables_and_tensors(table_dir, plain_dir):
    folder, x = table_dir
    fitted = lamina.fitted.FittedModel.load(folder)
    with TestClient(create_app(folder, name="houses-project")) as client:
        answer = client.post("/predict", json={"inputs": x.head(3).to_dict("records")}).json()
        assert set(answer) == {"model", "version", "predictions", "probabilities", "classes"}
        assert answer["model"] == "houses-project" and answer["classes"] == ["big", "small"]
        assert answer["predictions"] == list(fitted.predict(x.head(3)))
        assert np.shape(answer["probabilities"]) == (3, 2)
        old = client.post(
            "/predict", json={"rows": x.head(3).to_dict("records")}
        ).json()  # the old key still works
        assert old["predictions"] == answer["predictions"]
        schema = client.get("/openapi.json").json()
        assert schema["components"]["schemas"]["PredictRequest"]["examples"][0]["inputs"][
            0
        ].keys() == {"size", "colour"}
        assert schema["components"]["schemas"]["PredictResponse"]["examples"][0]["classes"] == [
            "big",
            "small",
        ]
        assert (
            client.post(
                "/v2/models/houses-project/infer",
                json={
                    "inputs": [
                        {"name": "size", "shape": [1], "datatype": "FP64", "data": [1.0]},
                        {"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]},
                    ]
                },
            ).status_code
            == 200
        )
    folder, model = plain_dir
    with TestClient(create_app(folder)) as client:
        answer = client.post("/predict", json={"inputs": [[1, 2, 3, 4]]}).json()
        assert set(answer) == {"model", "version", "predictions"} and answer["model"] == "tiny"
        np.testing.assert_allclose(
            answer["predictions"], model.predict(np.array([[1, 2, 3, 4]], "float32")), rtol=1e-6
        )


def test_v2_server_metadata_true_output_shapes_and_unbatched_requests(plain_dir, table_dir):
    folder, _ = plain_dir
    with TestClient(create_app(folder)) as client:
        server = client.get("/v2").json()
        assert server == {"name": "lamina", "version": lamina.__version__, "extensions": []}
        assert client.get("/v2/models/tiny/ready").json()["ready"] is True
        outputs = client.get("/v2/models/tiny").json()["outputs"]
        assert outputs == [{"name": "predictions", "datatype": "FP32", "shape": [-1, 3]}]
        one = {"name": "input", "datatype": "FP32", "data": [1, 2, 3, 4]}
        flat = client.post(
            "/v2/models/tiny/infer", json={"inputs": [{**one, "shape": [4]}]}
        ).json()["outputs"][0]
        assert (
            flat["shape"] == [3] and len(flat["data"]) == 3
        )  # sent without a batch axis, answered without
        batched = client.post(
            "/v2/models/tiny/infer", json={"inputs": [{**one, "shape": [1, 4]}]}
        ).json()
        assert (
            batched["outputs"][0]["shape"] == [1, 3]
            and batched["outputs"][0]["data"] == flat["data"]
        )
    with TestClient(create_app(table_dir[0])) as client:
        outputs = {o["name"]: o for o in client.get("/v2/models/houses").json()["outputs"]}
        assert outputs["predictions"]["shape"] == [-1] and outputs["probabilities"]["shape"] == [
            -1,
            2,
        ]


def test_tokens_are_compared_in_constant_time(plain_dir, monkeypatch):
    compared = []

    def spy(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(lamina.serve.hmac, "compare_digest", spy)
    folder, _ = plain_dir
    url, body = "/v2/repository/models/tiny/load", {"path": str(folder)}
    with TestClient(create_app(folder, admin_token="adm", read_token="read")) as client:
        assert (
            client.post(url, json=body, headers={"Authorization": "Bearer adm"}).status_code == 200
        )
        assert (
            client.post(url, json=body, headers={"Authorization": "Bearer read"}).status_code == 403
        )
        assert (
            client.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        assert client.post(url, json=body).status_code == 401
    assert (b"wrong", b"adm") in compared and (b"read", b"read") in compared


def test_the_body_limit_is_a_keyword(plain_dir):
    with TestClient(create_app(plain_dir[0], max_body_bytes=100)) as client:
        assert (
            client.post("/predict", json={"inputs": [[1.0, 2.0, 3.0, 4.0]] * 10}).status_code == 413
        )
        assert client.post("/predict", json={"inputs": [[1.0, 2.0, 3.0, 4.0]]}).status_code == 200


def test_docs_render_offline_in_headless_chromium(table_dir):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.fail(
            "Debian's chromium is not installed: .ci/run installs it (apt-get install chromium)."
        )
    outside, problems = [], []
    with TestClient(create_app(table_dir[0])) as client:
        assert (
            "cdn" not in client.get("/docs").text.lower()
            and "cdn" not in client.get("/redoc").text.lower()
        )

        def answer(
            route,
        ):  # the page's requests go to the app in process; anything else is an outside request
            url = route.request.url
            if not url.startswith("http://lamina.test/"):
                outside.append(url)
                return route.abort()
            reply = client.get(url.removeprefix("http://lamina.test"))
            route.fulfill(
                status=reply.status_code,
                body=reply.content,
                headers={"content-type": reply.headers.get("content-type", "text/plain")},
            )

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.route("**/*", answer)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto("http://lamina.test/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
            browser.close()
    assert outside == [] and problems == []
    assert (
        "/predict" in operations and "/v2/models/{name}/infer" in operations and "/v2" in operations
    )
