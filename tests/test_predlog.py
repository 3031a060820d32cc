"""lamina.predlog: durable JSON-lines records, redaction and hashing, rotation, torn lines, and the served log
surviving kill -9 under load (every 200 the client saw is logged exactly once)."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from lamina.errors import ConfigError
from lamina.predlog import PredictionLog, read, rotated_files
from lamina.serve import create_app


def test_records_round_trip_with_arrays_and_time(tmp_path):
    log = PredictionLog(tmp_path / "log.jsonl")
    log.write(
        [
            {
                "request_id": "a",
                "inputs": np.ones((1, 2), np.float32),
                "outputs": {"y": np.array([3])},
                "received": time.time() - 0.5,
            },
            {"request_id": "b", "inputs": [[np.float32(2.5)]], "outputs": {"y": [np.int64(4)]}},
        ]
    )
    log.write([])  # an empty batch writes nothing
    records = list(read(log.path))
    assert [r["request_id"] for r in records] == ["a", "b"]
    assert records[0]["inputs"] == [[1.0, 1.0]] and records[0]["outputs"] == {"y": [3]}
    assert records[1]["inputs"] == [[2.5]] and records[1]["outputs"] == {"y": [4]}
    assert 400 < records[0]["latency_ms"] < 60_000 and "latency_ms" not in records[1]
    assert abs(records[0]["time"] - time.time()) < 60
    assert len(log.path.read_text().splitlines()) == 2


def test_redaction_and_salted_hashing(tmp_path):
    path = tmp_path / "log.jsonl"
    log = PredictionLog(path, redact=("email",), hash_fields=("name",))
    rows = [
        {"email": "ann@example.org", "name": "Ann Secret", "age": 31},
        {"email": "bob@example.org", "name": "Ann Secret", "age": 40},
        {"email": "cy@example.org", "name": "Cy Hidden", "age": 22},
    ]
    log.write([{"request_id": "r", "inputs": rows, "outputs": {}}])
    text = path.read_text()
    for secret in ("ann@example.org", "bob@example.org", "Ann Secret", "Cy Hidden"):
        assert secret not in text
    logged = next(read(path))["inputs"]
    assert [r["email"] for r in logged] == ["<redacted>"] * 3 and [r["age"] for r in logged] == [
        31,
        40,
        22,
    ]
    assert logged[0]["name"] == logged[1]["name"] != logged[2]["name"] and logged[0][
        "name"
    ].startswith("sha256:")
    salt = path.with_name("log.jsonl.salt")
    assert salt.stat().st_mode & 0o777 == 0o600
    log.close()
    again = PredictionLog(
        path, hash_fields=("name",)
    )  # a restart keeps the salt: equal values, equal hashes
    again.write([{"request_id": "s", "inputs": [{"name": "Ann Secret"}], "outputs": {}}])
    assert list(read(path))[-1]["inputs"][0]["name"] == logged[0]["name"]
    other = PredictionLog(
        tmp_path / "other.jsonl", hash_fields=("name",)
    )  # another log, another salt
    other.write([{"request_id": "t", "inputs": [{"name": "Ann Secret"}], "outputs": {}}])
    assert next(read(other.path))["inputs"][0]["name"] != logged[0]["name"]


def test_rotation_keeps_the_newest_files_and_drops_old_ones(tmp_path):
    path = tmp_path / "log.jsonl"
    log = PredictionLog(path, max_bytes=300, keep=2)
    for i in range(40):
        log.write([{"request_id": f"{i:04d}", "inputs": [[i]], "outputs": {"y": [i]}}])
    assert [p.name for p in rotated_files(path)] == ["log.2.jsonl", "log.1.jsonl"]
    assert not path.with_name("log.3.jsonl").exists() and path.stat().st_size < 300
    ids = [r["request_id"] for r in read(path)]
    assert (
        ids == sorted(ids) and ids[-1] == "0039" and "0000" not in ids
    )  # oldest dropped, newest kept, in order
    assert len(ids) == len(set(ids))
    old = time.time() - 10 * 86400
    os.utime(path.with_name("log.2.jsonl"), (old, old))
    log.close()
    PredictionLog(path, max_bytes=300, keep=2, max_age_days=3)
    assert [p.name for p in rotated_files(path)] == ["log.1.jsonl"]


def test_a_torn_last_line_is_skipped_and_closed(tmp_path):
    path = tmp_path / "log.jsonl"
    log = PredictionLog(path)
    log.write(
        [
            {"request_id": "a", "inputs": [1], "outputs": {}},
            {"request_id": "b", "inputs": [2], "outputs": {}},
        ]
    )
    log.close()
    with open(path, "ab") as file:
        file.write(b'{"request_id": "torn", "inpu')  # a crash mid-write
    assert [r["request_id"] for r in read(path)] == ["a", "b"]
    log = PredictionLog(path)  # reopening ends the torn line, so the next record stays whole
    log.write([{"request_id": "c", "inputs": [3], "outputs": {}}])
    assert [r["request_id"] for r in read(path)] == ["a", "b", "c"]


def test_bad_options_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="max_bytes must be an int >= 1.*0"):
        PredictionLog(tmp_path / "log.jsonl", max_bytes=0)
    with pytest.raises(ConfigError, match="both redacted and hashed.*email"):
        PredictionLog(tmp_path / "log.jsonl", redact=("email",), hash_fields=("email",))
    with pytest.raises(ConfigError, match="max_age_days"):
        PredictionLog(tmp_path / "log.jsonl", max_age_days=-1)


def test_app_logs_every_answered_request_once_with_its_outputs(plain_dir, tmp_path):
    folder, model = plain_dir
    path = tmp_path / "log.jsonl"
    x = np.random.default_rng(3).normal(size=(12, 4)).astype("float32")

    async def many():
        app = create_app(folder, max_batch_size=4, max_wait_ms=20, log_path=path)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        async with app.router.lifespan_context(app), client:
            posts = [
                client.post("/predict", json={"inputs": x[i : i + 1].tolist()}) for i in range(10)
            ]
            posts.append(
                client.post(
                    "/v2/models/tiny/infer",
                    json={
                        "inputs": [
                            {
                                "name": "input",
                                "shape": [2, 4],
                                "datatype": "FP32",
                                "data": x[10:].ravel().tolist(),
                            }
                        ]
                    },
                )
            )
            posts.append(
                client.post("/predict", json={"inputs": [[1, 2, 3]]})
            )  # 422: not answered, not logged
            return await asyncio.gather(*posts)

    responses = asyncio.run(many())
    assert [r.status_code for r in responses] == [200] * 11 + [422]
    assert "x-request-id" not in responses[-1].headers
    records = {r["request_id"]: r for r in read(path)}
    assert len(records) == 11 == len(list(read(path)))
    for i, answer in enumerate(responses[:10]):
        record = records[answer.headers["x-request-id"]]
        assert (
            record["endpoint"] == "/predict"
            and record["version"] == answer.headers["x-model-version"]
        )
        assert record["outputs"]["predictions"] == answer.json()["predictions"]
        np.testing.assert_allclose(record["inputs"], x[i : i + 1])
        assert record["latency_ms"] >= 0
    v2 = records[responses[10].headers["x-request-id"]]
    assert v2["endpoint"] == "/v2/models/tiny/infer"
    np.testing.assert_allclose(
        np.ravel(v2["outputs"]["predictions"]),
        responses[10].json()["outputs"][0]["data"],
        rtol=1e-6,
    )


def test_a_failed_log_write_answers_no_200_and_the_server_goes_on(plain_dir, tmp_path, monkeypatch):
    folder, _ = plain_dir
    path = tmp_path / "log.jsonl"
    write = PredictionLog.write

    def full_disk(self, records):
        raise OSError(28, "No space left on device")

    with TestClient(create_app(folder, log_path=path), raise_server_exceptions=False) as client:
        monkeypatch.setattr(PredictionLog, "write", full_disk)
        assert client.post("/predict", json={"inputs": [[1, 2, 3, 4]]}).status_code == 500
        monkeypatch.setattr(PredictionLog, "write", write)
        answer = client.post("/predict", json={"inputs": [[1, 2, 3, 4]]})
        assert answer.status_code == 200
    assert [r["request_id"] for r in read(path)] == [answer.headers["x-request-id"]]


def test_kill_9_under_load_loses_no_answered_prediction(plain_dir, tmp_path):
    folder, _ = plain_dir
    path = tmp_path / "log.jsonl"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = "import sys; from lamina.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "serve", str(folder), "--port", str(port), "--log", str(path)],
        env={**os.environ, "LAMINA_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 40
        while time.time() < deadline:
            try:
                if httpx.get(base + "/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not become ready within 40 s")
        answered: list[tuple[str, list]] = []
        stop = threading.Event()

        def client(seed: int) -> None:
            rows = np.random.default_rng(seed).normal(size=(1, 4)).round(3).tolist()
            with httpx.Client(base_url=base, timeout=5) as http:
                while not stop.is_set():
                    try:
                        answer = http.post("/predict", json={"inputs": rows})
                    except httpx.HTTPError:
                        continue  # the server is gone: no answer, nothing owed to the log
                    if answer.status_code == 200:
                        answered.append(
                            (answer.headers["x-request-id"], answer.json()["predictions"])
                        )

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.2)
        server.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
        server.wait(10)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(10)
    finally:
        server.kill()
        server.wait(10)
    assert len(answered) > 20, f"too few answers under load: {len(answered)}"
    records = list(read(path))
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)), "a request id appears twice in the log"
    logged = {r["request_id"]: r for r in records}
    missing = [request_id for request_id, _ in answered if request_id not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests are not in the log"
    assert all(
        logged[request_id]["outputs"]["predictions"] == output for request_id, output in answered
    )
    assert len({request_id for request_id, _ in answered}) == len(answered)
    print(json.dumps({"answered": len(answered), "logged": len(records)}))
