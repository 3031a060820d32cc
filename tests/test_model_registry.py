"""The model registry: versions, aliases, promote/rollback, hash checks, kill -9 safety and serving from it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from lamina.errors import ArtifactError, ConfigError, IntegrityError
from lamina.model_registry import ModelRegistry, content_hash

import lamina


def _model(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = lamina.Sequential([lamina.layers.Dense(2)])
    model.build(torch.ones(1, 3))
    return Path(model.save(folder / f"m{seed}"))


def _flip(version_path: Path) -> None:
    weights = version_path / "weights.safetensors"
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def test_register_versions_aliases_and_references(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register(_model(tmp_path, 0), "churn", metadata={"accuracy": 0.9})
    second = registry.register(_model(tmp_path, 1), "churn", parent=1, alias="staging")
    again = registry.register(_model(tmp_path, 0), "churn")
    assert (first.version, second.version, again.version) == (1, 2, 3)
    assert (
        again.hash == first.hash and again.path == first.path
    )  # identical content shares its stored files
    assert first.hash == content_hash(tmp_path / "m0") and len(first.hash) == 64
    assert registry.get("churn").version == 3 and registry.get("churn:2").parent == 1
    assert registry.get("churn@staging").version == 2 and registry.get("churn:2").aliases == (
        "staging",
    )
    assert registry.get("churn:1").metadata == {"accuracy": 0.9}
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]
    assert (
        first.path / "weights.safetensors"
    ).stat().st_mode & 0o222 == 0  # stored files are read-only
    loaded = lamina.load(registry.checkout("churn@staging").path)
    assert isinstance(loaded, torch.nn.Module)


def test_versions_are_immutable(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(_model(tmp_path, 0), "churn")
    db = sqlite3.connect(registry.root / "registry.db")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        db.execute("UPDATE versions SET hash = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        db.execute("DELETE FROM versions")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_promote_and_rollback_undo_one_change_at_a_time(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    for seed in range(3):
        registry.register(_model(tmp_path, seed), "churn")
    for version in (1, 2, 3):
        registry.promote(f"churn:{version}", note=f"v{version}")
    assert registry.get("churn@production").version == 3
    assert registry.rollback("churn").version == 2
    assert registry.rollback("churn").version == 1  # a second roll back undoes one more change
    with pytest.raises(ConfigError, match="Nothing to roll back to"):
        registry.rollback("churn")
    registry.promote("churn:3")
    assert registry.rollback("churn").version == 1
    kinds = [
        (e["kind"], e["version"], e["previous"]) for e in registry.history("churn", "production")
    ]
    assert kinds == [
        ("set", 1, None),
        ("set", 2, 1),
        ("set", 3, 2),
        ("rollback", 2, 3),
        ("rollback", 1, 2),
        ("set", 3, 1),
        ("rollback", 1, 3),
    ]


def test_a_flipped_byte_fails_the_hash_check(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(_model(tmp_path, 0), "churn", alias="production")
    bad = registry.register(_model(tmp_path, 1), "churn")
    _flip(bad.path)
    with pytest.raises(IntegrityError, match="churn:2 fails its hash check"):
        registry.checkout("churn:2")
    with pytest.raises(IntegrityError):
        registry.promote("churn:2")
    assert registry.get("churn@production").version == 1  # the alias did not move


def test_bad_input_gets_clear_errors(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="Not a model folder"):
        registry.register(tmp_path, "churn")
    with pytest.raises(ConfigError, match="Bad model name.*'bad name'"):
        registry.register(_model(tmp_path, 0), "bad name")
    registry.register(_model(tmp_path, 0), "churn")
    with pytest.raises(ConfigError, match=r"No such model version.*'churn:7'.*churn:1"):
        registry.get("churn:7")
    with pytest.raises(ConfigError, match="Bad model reference"):
        registry.get("@production")
    with pytest.raises(ConfigError, match="cannot be a number"):
        registry.promote("churn:1", alias="2")
    with pytest.raises(ConfigError, match="Unknown parent"):
        registry.register(_model(tmp_path, 1), "churn", parent=9)
    assert [v.version for v in registry.versions()] == [1]  # nothing half-registered


def test_gc_removes_interrupted_copies_only(registry: ModelRegistry, tmp_path: Path) -> None:
    kept = registry.register(_model(tmp_path, 0), "churn")
    stray = registry.blobs / ".incoming-dead"
    stray.mkdir()
    assert registry.gc(older_than_s=3600) == []
    assert registry.gc(older_than_s=-1) == [stray] and kept.path.is_dir()


WRITER = textwrap.dedent("""
    import sys, torch, lamina
    from lamina.model_registry import ModelRegistry
    registry, folder = ModelRegistry(sys.argv[1]), sys.argv[2]
    for i in range(1000):
        torch.manual_seed(i)
        model = lamina.Sequential([lamina.layers.Dense(2)])
        model.build(torch.ones(1, 3))
        found = registry.register(model.save(f"{folder}/m{i}"), "churn", metadata={"i": i})
        registry.promote(found.ref)
        print(found.version, flush=True)
""")


def test_the_store_survives_kill_9_mid_write(registry: ModelRegistry, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for round_ in range(4):
        folder = tmp_path / f"src{round_}"
        folder.mkdir()
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(registry.root), str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "LAMINA_NUM_THREADS": "1"},
        )
        assert writer.stdout is not None
        writer.stdout.readline()  # at least one version written, then kill at a random moment
        time.sleep(float(rng.uniform(0.05, 0.6)))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    versions = registry.versions("churn")
    assert [v.version for v in versions] == list(range(1, len(versions) + 1)) and len(versions) >= 4
    for version in versions:
        registry.verify(version.ref)  # every committed version is whole
    production = registry.get("churn@production")
    assert production.version in {v.version for v in versions}
    db = sqlite3.connect(registry.root / "registry.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- serving from the registry
def _client(registry: ModelRegistry, ref: str, poll_s: float = 60.0):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from lamina.serve import create_app

    app = create_app(
        ref, registry=registry.root, admin_token="secret", read_token="reader", poll_s=poll_s
    )
    return TestClient(app), {"Authorization": "Bearer secret"}


def _outputs(folder: Path, x: list[list[float]]) -> np.ndarray:
    return np.asarray(lamina.load(folder).predict(np.asarray(x, dtype=np.float32)))


def test_promote_and_rollback_endpoints_swap_and_refuse_a_corrupt_version(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    one = registry.register(_model(tmp_path, 0), "churn", alias="production")
    two = registry.register(_model(tmp_path, 1), "churn")
    bad = registry.register(_model(tmp_path, 2), "churn")
    _flip(bad.path)
    client, admin = _client(registry, "churn@production")
    with client:
        assert (
            client.post("/predict", json={"inputs": [[1, 2, 3]]}).headers["x-model-version"]
            == one.hash[:12]
        )
        refused = client.post(
            "/v2/repository/models/churn/promote",
            json={"version": "churn:2"},
            headers={"Authorization": "Bearer reader"},
        )
        assert refused.status_code == 403
        answer = client.post(
            "/v2/repository/models/churn/promote", json={"version": "churn:2"}, headers=admin
        )
        assert answer.status_code == 200 and answer.json()["serving"] == two.hash[:12]
        assert (
            client.post("/predict", json={"inputs": [[1, 2, 3]]}).headers["x-model-version"]
            == two.hash[:12]
        )
        corrupt = client.post(
            "/v2/repository/models/churn/promote", json={"version": "churn:3"}, headers=admin
        )
        assert corrupt.status_code == 409 and "hash check" in corrupt.json()["detail"]
        assert (
            client.post("/predict", json={"inputs": [[1, 2, 3]]}).headers["x-model-version"]
            == two.hash[:12]
        )
        assert registry.get("churn@production").version == 2
        back = client.post("/v2/repository/models/churn/rollback", json={}, headers=admin)
        assert back.status_code == 200 and back.json()["serving"] == one.hash[:12]


def test_a_server_follows_its_alias_and_keeps_the_old_version_on_a_bad_one(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    one = registry.register(_model(tmp_path, 0), "churn", alias="production")
    two = registry.register(_model(tmp_path, 1), "churn")
    bad = registry.register(_model(tmp_path, 2), "churn")
    client, _ = _client(registry, "churn@production", poll_s=0.05)

    def served_version() -> str:
        return client.post("/predict", json={"inputs": [[1, 2, 3]]}).headers["x-model-version"]

    def wait_for(expected: str) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and served_version() != expected:
            time.sleep(0.05)
        return served_version() == expected

    with client:
        assert served_version() == one.hash[:12]
        registry.promote("churn:2")  # from another process, e.g. `lamina registry promote`
        assert wait_for(two.hash[:12])
        _flip(bad.path)
        registry.promote("churn:3", verify=False)
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and "lamina_swap_failures_total 0" in client.get("/metrics").text
        ):
            time.sleep(0.05)
        assert "lamina_swap_failures_total 1" in client.get("/metrics").text
        assert served_version() == two.hash[:12]  # the old version serves on


def test_hot_swap_under_load_fails_no_request(registry: ModelRegistry, tmp_path: Path) -> None:
    versions = [registry.register(_model(tmp_path, seed), "churn") for seed in (0, 1)]
    registry.promote("churn:1")
    expected = {v.hash[:12]: _outputs(v.path, [[1, 2, 3]]) for v in versions}
    client, admin = _client(registry, "churn@production")
    stop, answers = time.monotonic() + 3.0, []

    def hammer() -> list[tuple[int, str, list[float]]]:
        seen = []
        while time.monotonic() < stop:
            reply = client.post("/predict", json={"inputs": [[1, 2, 3]]})
            seen.append(
                (
                    reply.status_code,
                    reply.headers.get("x-model-version", ""),
                    reply.json().get("predictions", [[None]])[0],
                )
            )
        return seen

    with client, ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(hammer) for _ in range(5)]
        swaps = 0
        while time.monotonic() < stop - 0.3:
            target = f"churn:{1 + (swaps + 1) % 2}"
            assert (
                client.post(
                    "/v2/repository/models/churn/promote", json={"version": target}, headers=admin
                ).status_code
                == 200
            )
            swaps += 1
            time.sleep(0.1)
        answers = [a for f in futures for a in f.result()]
    assert swaps >= 4 and len(answers) > 50
    assert all(status == 200 for status, _, _ in answers)
    assert {version for _, version, _ in answers} == set(expected)  # both versions answered
    for _, version, output in answers:  # each answer came whole from the version its header names
        np.testing.assert_allclose(output, expected[version][0], rtol=1e-5)


def test_a_version_with_other_inputs_is_refused_so_the_schema_stays_true(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    one = registry.register(_model(tmp_path, 0), "churn", alias="production")
    torch.manual_seed(5)
    wider = lamina.Sequential([lamina.layers.Dense(2)])
    wider.build(torch.ones(1, 4))  # four inputs where the served model takes three
    registry.register(wider.save(str(tmp_path / "wider")), "churn")
    client, admin = _client(registry, "churn@production")
    with client:
        refused = client.post(
            "/v2/repository/models/churn/promote", json={"version": "churn:2"}, headers=admin
        )
        assert refused.status_code == 409 and "takes other inputs" in refused.json()["detail"]
        assert registry.get("churn@production").version == 1  # the alias moved back
        assert (
            client.post("/predict", json={"inputs": [[1, 2, 3]]}).headers["x-model-version"]
            == one.hash[:12]
        )
