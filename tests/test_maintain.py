"""lamina retrain / approve: triggers, the champion-challenger comparison, promotion policy, lineage and CLIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from lamina.errors import ConfigError
from lamina.model_registry import ModelRegistry

import lamina
from lamina.cli import main
from lamina.maintain import approve, champion, retrain


def _readings(n: int, fahrenheit: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    celsius, vibration = rng.normal(60, 10, n), rng.normal(3, 1, n)
    failure = ((celsius - 60) / 10 + (vibration - 3) > 0.5).astype(int)
    return pd.DataFrame(
        {
            "temperature": celsius * 9 / 5 + 32 if fahrenheit else celsius,
            "vibration": vibration,
            "failure": failure,
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pumps")
    _readings(600, False, 0).to_csv(folder / "history.csv", index=False)
    lamina.project.init(
        folder,
        name="pumps",
        data="history.csv",
        target="failure",
        threshold=0.9,
        train_seconds=3,
        overwrite=True,
    )
    lamina.Project.load(folder).run(["train"], verbose=0)
    return folder


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "pumps"
    shutil.copytree(trained, folder)
    return folder


def _policy(folder: Path, **maintenance: object) -> None:
    settings = yaml.safe_load((folder / "lamina.yaml").read_text())
    (folder / "lamina.yaml").write_text(yaml.safe_dump({**settings, "maintenance": maintenance}))


def test_unchanged_data_triggers_nothing(project: Path) -> None:
    result = retrain(project, _readings(400, False, 1), verbose=0)
    assert not result.triggered and result.proposed is None and result.champion == "pumps:1"
    assert result.champion_kpi is not None and result.champion_kpi > 0.9
    assert (
        json.loads((project / "runs" / "retrain" / "result.json").read_text())["triggered"] is False
    )


def test_a_shift_is_caught_retrained_proposed_and_approved(project: Path) -> None:
    result = retrain(project, _readings(600, True, 2), verbose=0)
    assert result.triggered and any("drift" in r and "temperature" in r for r in result.reasons)
    assert any("min_kpi" in r for r in result.reasons)
    assert result.holdout_rows == 180  # the policy's 0.3 of the new rows, the same for both models
    assert result.challenger_kpi is not None and result.champion_kpi is not None
    assert result.challenger_kpi > 0.9 > result.champion_kpi + 0.2
    store = ModelRegistry(project / "registry")
    proposed = store.get("pumps@staging")
    assert result.proposed == proposed.ref == "pumps:2" and not result.promoted
    assert store.get("pumps@production").version == 1  # a person has to approve first
    lineage = proposed.metadata
    assert (
        lineage["parent"] == "pumps:1" and proposed.parent == 1 and len(lineage["data_hash"]) == 64
    )
    assert lineage["challenger_kpi"] == pytest.approx(result.challenger_kpi)
    assert (
        len(store.get("pumps:1").metadata["data_hash"]) == 64
    )  # the champion's training data hash
    promoted = approve(project, by="ops")
    assert promoted.version == 2 and store.get("pumps@production").version == 2
    proposal = json.loads((project / "runs" / "retrain" / "proposal.json").read_text())
    assert proposal["status"] == "approved" and proposal["approved_by"] == "ops"
    with pytest.raises(ConfigError, match="Nothing to approve"):
        approve(project)  # the proposal was used


def test_policy_auto_promotes_or_keeps_the_champion(project: Path) -> None:
    _policy(project, auto_promote=True)
    result = retrain(project, _readings(400, True, 3), verbose=0)
    assert (
        result.promoted
        and ModelRegistry(project / "registry").get("pumps@production").ref == result.proposed
    )
    _policy(project, margin=2.0)  # no challenger can beat that margin
    kept = retrain(
        project, _readings(400, True, 4), force=True, verbose=0
    )  # the new champion's units
    assert (
        kept.triggered
        and kept.reasons == ["forced"]
        and kept.proposed is None
        and "stays" in kept.sentence
    )


def test_bad_policy_and_missing_model_get_clear_errors(project: Path, tmp_path: Path) -> None:
    _policy(project, marjin=0.1)
    with pytest.raises(ConfigError, match=r"Unknown maintenance keys.*marjin"):
        retrain(project, _readings(100, False, 5), verbose=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_csv(
        empty / "x.csv", index=False
    )  # init checks the data
    lamina.project.init(empty, name="empty", data="x.csv", target="y")
    with pytest.raises(ConfigError, match="no trained model"):
        champion(empty)
    with pytest.raises(ConfigError, match="Nothing to approve"):
        approve(empty)


def test_cli_registry_retrain_and_approve(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store")
    model = str(project / "runs" / "train" / "model")
    assert (
        main(
            ["registry", "add", model, "--name", "pumps", "--registry", store, "--alias", "staging"]
        )
        == 0
    )
    assert (
        main(["registry", "add", model, "--name", "pumps", "--registry", store, "--parent", "1"])
        == 0
    )
    assert main(["registry", "promote", "pumps:1", "--registry", store]) == 0
    assert main(["registry", "promote", "pumps:2", "--registry", store]) == 0
    assert main(["registry", "rollback", "pumps", "--registry", store]) == 0
    assert main(["registry", "verify", "pumps@production", "--registry", store]) == 0
    assert main(["registry", "list", "--registry", store]) == 0
    out = capsys.readouterr().out
    assert (
        "Registered pumps:1" in out
        and "rolled back to pumps:1" in out
        and "matches its hash" in out
    )
    assert "pumps:2" in out and "staging" in out
    assert main(["registry", "add", model, "--registry", store]) != 0
    assert "lamina registry add` lacks arguments. Received: ['name']" in capsys.readouterr().err
    new = tmp_path / "new.csv"
    _readings(400, True, 6).to_csv(new, index=False)
    assert main(["retrain", str(project), "--data", str(new)]) == 0
    assert "Proposed pumps:2 over pumps:1" in capsys.readouterr().out
    assert main(["approve", str(project), "--by", "ops"]) == 0
    assert "pumps:2" in capsys.readouterr().out


def test_serve_resolves_registry_references_and_maintained_projects(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lamina.serve

    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        lamina.serve, "serve", lambda model, **options: calls.append((model, options))
    )
    monkeypatch.setenv("LAMINA_REGISTRY", str(tmp_path / "default"))
    assert main(["serve", "pumps@production"]) == 0  # a reference: the default registry
    assert calls[-1][0] == "pumps@production" and calls[-1][1]["registry"] == str(
        tmp_path / "default"
    )
    _policy(project, margin=0.02)  # a maintained project serves (and follows) its production alias
    assert main(["serve", str(project)]) == 0
    assert calls[-1][0] == "pumps@production" and calls[-1][1]["registry"] == str(
        project / "registry"
    )
    assert str(calls[-1][1]["log_path"]).endswith("predictions.jsonl")


def test_degraded_served_predictions_trigger_a_retrain(project: Path) -> None:
    from lamina.feedback import record
    from lamina.predlog import PredictionLog

    log = PredictionLog(project / "runs" / "serve" / "predictions.jsonl")
    log.write([{"request_id": str(i), "outputs": {"predictions": [1]}} for i in range(40)])
    record(
        [{"request_id": str(i), "label": i % 2} for i in range(40)], log.path
    )  # half of them wrong
    result = retrain(
        project, _readings(400, False, 1), verbose=0
    )  # the new rows alone trigger nothing
    assert (
        result.triggered
        and len(result.reasons) == 1
        and result.reasons[0].startswith("served predictions")
    )
    _policy(project, trigger={"feedback": False})
    assert not retrain(project, _readings(400, False, 1), verbose=0).triggered
