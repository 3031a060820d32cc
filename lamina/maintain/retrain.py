"""Keep a served model good: retrain on new labelled data when drift or a KPI drop calls for it,
then promote.

``retrain(project, new_data)`` follows the ``maintenance:`` policy of ``lamina.yaml`` (keys and
defaults in ``POLICY``):

1. The champion is the registry's ``<model>@production`` (``lamina.model_registry``); on first use
   the project's ``runs/train/model`` is registered and promoted, with the training data's hash as
   its lineage.
2. Trigger: the new rows' inputs drift from the champion's training reference
   (``lamina.monitor.drift``), the champion's KPI on the new labelled rows falls below
   ``trigger.min_kpi`` (default: the project's threshold), or the served log's labelled predictions
   (``lamina label-feedback``) show a degraded KPI.
3. The new rows are split once (``holdout`` share, stratified for classification, the project's
   seed); the challenger is the project's own recipe (advise + train stages) run on the rest (plus
   the original data when ``combine``), in ``runs/retrain/candidate``.
4. Champion and challenger are scored on the same holdout. A challenger better by at least
   ``margin`` is registered (lineage: parent version, data hashes, both scores, the trigger) under
   the ``staging`` alias and proposed in ``runs/retrain/proposal.json``; ``approve`` (``lamina
   approve``) promotes it to production, which servers following ``<model>@production`` pick up.
   ``auto_promote: true`` approves at once.

Only table projects are retrained this way (their rows can be written to a file the recipe reads
again).
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message

__all__ = ["POLICY", "RetrainResult", "approve", "champion", "registry", "retrain"]

POLICY: dict[str, Any] = {
    "registry": "registry",  # the registry folder, relative to the project
    "model": None,  # the model's name in the registry (default: the project's name)
    # retrain on input drift / when the KPI on the new rows < min_kpi / when labelled served
    # predictions degraded
    "trigger": {"drift": True, "min_kpi": None, "feedback": True},
    "holdout": 0.3,  # share of the new labelled rows kept to compare champion and challenger
    "margin": 0.01,  # the challenger must beat the champion by at least this on the holdout
    # train the challenger on the original data plus the new rows (else the new rows only)
    "combine": False,
    "auto_promote": False,  # promote without `lamina approve`
}


@dataclasses.dataclass
class RetrainResult:
    """What ``retrain`` found and did (``to_dict`` is also written to
    ``runs/retrain/result.json``)."""

    triggered: bool
    reasons: list[str]
    champion: str
    champion_kpi: float | None = None
    challenger_kpi: float | None = None
    holdout_rows: int = 0
    proposed: str | None = None
    promoted: bool = False
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _policy(project: Any) -> dict[str, Any]:
    unknown = sorted(set(project.maintenance) - set(POLICY))
    if unknown:
        raise ConfigError(
            message(
                "Unknown maintenance keys in lamina.yaml.",
                unknown,
                f"only {sorted(POLICY)}",
                "Check the spelling or remove them.",
            )
        )
    policy = {**POLICY, **project.maintenance}
    policy["trigger"] = {**POLICY["trigger"], **(project.maintenance.get("trigger") or {})}
    if policy["trigger"]["min_kpi"] is None:
        policy["trigger"]["min_kpi"] = project.threshold
    if not 0 < float(policy["holdout"]) < 1:
        raise ConfigError(
            message(
                "maintenance.holdout must be a share.",
                repr(policy["holdout"]),
                "a number between 0 and 1",
                "E.g. holdout: 0.3.",
            )
        )
    return policy


def _load(project: Any) -> Any:
    from lamina.project.project import Project

    return project if hasattr(project, "maintenance") else Project.load(project)


def registry(project: Any) -> tuple[Any, str]:
    """The project's (a ``Project`` or its path) ``ModelRegistry`` (``maintenance.registry``) and
    model name there."""
    from lamina.deploy.store import ModelRegistry

    project = _load(project)
    policy = _policy(project)
    return ModelRegistry(project.root / policy["registry"]), str(policy["model"] or project.name)


def champion(project: Any) -> Any:
    """The production version of the project's model; the trained ``runs/train/model`` is registered
    first."""
    project = _load(project)
    store, name = registry(project)
    try:
        return store.checkout(f"{name}@production")
    except ConfigError:
        folder = project.run_path / "train" / "model"
        if not folder.is_dir():
            raise ConfigError(
                message(
                    "The project has no trained model to maintain.",
                    str(folder),
                    "runs/train/model",
                    "Run `lamina run` (or `lamina train`) first.",
                )
            ) from None
        from lamina.project.project import StageContext

        data_hash = StageContext(project, verbose=0).dataset().fingerprint()
        found = store.register(
            folder, name, metadata={"data_hash": data_hash, "source": "lamina train"}
        )
        return store.promote(found.ref, note="the first trained model")


def _score(project: Any, model: Any, x: Any, y: np.ndarray) -> float:
    from lamina.project.stages import model_kpi

    # the positive class the project was judged by
    verdict = project.run_path / "evaluate" / "verdict.json"
    positive = json.loads(verdict.read_text()).get("positive_class") if verdict.is_file() else None
    return float(
        model_kpi(
            project.kpi,
            model,
            y,
            model.predict(x),
            model.predict_proba(x),
            positive or project.positive_class,
        )
    )


def _split(y: np.ndarray, share: float, seed: int, classify: bool) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    stratify = (
        y.astype(str)
        if classify and min(np.unique(y.astype(str), return_counts=True)[1]) >= 2
        else None
    )
    train, hold = train_test_split(rows, test_size=share, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(hold)


def retrain(project: Any, new_data: Any, *, force: bool = False, verbose: int = 1) -> RetrainResult:
    """Retrain on ``new_data`` (labelled rows: a file, an SQL URL or a DataFrame) when the policy
    calls for it.

    Args:
        project: a ``lamina.Project`` or the path of its ``lamina.yaml`` (or folder).
        new_data: new rows with the target column, as ``lamina.data.load`` reads them.
        force: retrain even when nothing triggers it. verbose: 0 quiet, 1 progress lines.

    Returns: a :class:`RetrainResult`; a better challenger is registered and proposed (or promoted).
    """
    import pandas as pd

    import lamina.nn.tensors
    from lamina.maintain.monitor import drift
    from lamina.project.fitted import FittedModel
    from lamina.project.stages import missing_labels

    project = _load(project)
    policy, say = _policy(project), (print if verbose else (lambda *a, **k: None))
    store, name = registry(project)
    champ = champion(project)
    model = FittedModel.load(champ.path)
    new = lamina.data.load(new_data, target=project.data.get("target"))
    if new.modality != "table" or new.y is None:
        raise DataError(
            message(
                "Retraining needs labelled table rows.",
                repr(new),
                f"a table with the target column {project.data.get('target')!r}",
                "Pass the new rows with their labels.",
            )
        )
    keep = np.flatnonzero(~missing_labels(new.y))
    x, y = new.x.iloc[keep].reset_index(drop=True), np.asarray(new.y, dtype=object)[keep]
    classify = model.prep["task"] != "regression"
    report = drift(champ.path, x, predictions=model.predict(x))
    live = _score(project, model, x, y)
    higher = _higher(project)
    low = live < policy["trigger"]["min_kpi"] if higher else live > policy["trigger"]["min_kpi"]
    drifted = [row["feature"] for row in report.rows if row["drifted"]][:5]
    reasons = [f"drift in {drifted}"] if report.alarm and policy["trigger"]["drift"] else []
    if low:
        reasons.append(
            f"{project.kpi} {live:.4f} on {len(y):,} new rows is past min_kpi "
            f"{policy['trigger']['min_kpi']}"
        )
    if policy["trigger"]["feedback"]:
        reasons += _live(project)
    if force:
        reasons.append("forced")
    folder = project.run_path / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    result = RetrainResult(bool(reasons), reasons, champ.ref, champion_kpi=live)
    if not reasons:
        result.sentence = (
            f"No retraining: no drift and {project.kpi} {live:.4f} on {len(y):,} new rows."
        )
        return _finish(result, folder, say)
    say(f"Retraining {name}: {'; '.join(reasons)}.")
    train_rows, hold_rows = _split(y, float(policy["holdout"]), project.seed, classify)
    table = x.iloc[train_rows].assign(**{project.data["target"]: y[train_rows]})
    if policy["combine"]:
        from lamina.project.project import StageContext

        old = StageContext(project, verbose=0).dataset()
        table = pd.concat(
            [old.x.assign(**{project.data["target"]: old.y}), table], ignore_index=True
        )
    candidate = _candidate(project, table, folder / "candidate", verbose)
    hold_x, hold_y = x.iloc[hold_rows].reset_index(drop=True), y[hold_rows]
    result.champion_kpi, result.holdout_rows = (
        _score(project, model, hold_x, hold_y),
        len(hold_rows),
    )
    result.challenger_kpi = _score(project, FittedModel.load(candidate), hold_x, hold_y)
    gain = (result.challenger_kpi - result.champion_kpi) * (1 if higher else -1)
    scores = (
        f"{project.kpi} on {len(hold_rows):,} held-out new rows: "
        f"challenger {result.challenger_kpi:.4f}, champion {result.champion_kpi:.4f}"
    )
    if gain < float(policy["margin"]):
        result.sentence = (
            f"Champion {champ.ref} stays: {scores} (needs a gain of {policy['margin']})."
        )
        return _finish(result, folder, say)
    lineage = {
        "parent": champ.ref,
        "data_hash": hashlib.sha256(table.to_csv(index=False).encode()).hexdigest(),
        "new_rows": len(y),
        "trigger": reasons,
        "kpi": project.kpi,
        "holdout_rows": len(hold_rows),
        "challenger_kpi": result.challenger_kpi,
        "champion_kpi": result.champion_kpi,
        "trained_at": time.time(),
        "combined_with_original": bool(policy["combine"]),
    }
    proposed = store.register(
        candidate, name, metadata=lineage, parent=champ.version, alias="staging"
    )
    result.proposed = proposed.ref
    (folder / "proposal.json").write_text(
        json.dumps({"version": proposed.ref, "status": "pending", **lineage}, indent=2, default=str)
    )
    result.sentence = f"Proposed {proposed.ref} over {champ.ref}: {scores}."
    if policy["auto_promote"]:
        approve(project, by="auto_promote policy")
        result.promoted = True
    else:
        result.sentence += f" Promote it with `lamina approve {project.root}`."
    return _finish(result, folder, say)


def _live(project: Any) -> list[str]:
    """The served log's labelled predictions (``lamina label-feedback``), when they show a degraded
    KPI."""
    from lamina.maintain.feedback import labels_path, performance

    log = project.run_path / "serve" / "predictions.jsonl"
    if not (log.is_file() and labels_path(log).is_file()):
        return []
    live = performance(log, reference=project)
    return (
        [f"served predictions degraded: {live.reasons[0]}"]
        if live.degraded and live.reasons
        else []
    )


def _higher(project: Any) -> bool:
    from lamina.project.kpi import get

    return get(project.kpi).higher


def _finish(result: RetrainResult, folder: Path, say: Any) -> RetrainResult:
    (folder / "result.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    say(result.sentence)
    return result


def _candidate(project: Any, table: Any, folder: Path, verbose: int) -> Path:
    """Run the project's recipe (plan .. train) on ``table`` in ``folder``; the trained model's
    folder."""
    import yaml

    from lamina.project.project import Project

    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "data.csv", index=False)
    settings = {k: v for k, v in project.settings().items() if k not in ("maintenance", "run_dir")}
    settings["data"] = {**project.data, "source": "data.csv", "options": {}}
    (folder / "lamina.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    Project.load(folder).run(["train"], force=True, verbose=verbose)
    return folder / "runs" / "train" / "model"


def approve(project: Any, version: str | None = None, *, by: str | None = None) -> Any:
    """Promote the proposed version (or ``version``, e.g. ``"churn:4"``) to production; returns it.

    The proposal in ``runs/retrain/proposal.json`` records who approved and when.
    """
    project = _load(project)
    store, _ = registry(project)
    path = project.run_path / "retrain" / "proposal.json"
    proposal = json.loads(path.read_text()) if path.is_file() else {}
    ref = version or proposal.get("version")
    if not ref or (version is None and proposal.get("status") != "pending"):
        raise ConfigError(
            message(
                "Nothing to approve.",
                f"proposal {proposal.get('status', 'missing')} in {path}",
                "a pending proposal from `lamina retrain`",
                "Run `lamina retrain PROJECT --data NEW.csv`, or pass --version NAME:N.",
            )
        )
    who = by or getpass.getuser()
    promoted = store.promote(ref, "production", note=f"approved by {who}")
    if proposal.get("version") == ref:
        path.write_text(
            json.dumps(
                {**proposal, "status": "approved", "approved_by": who, "approved_at": time.time()},
                indent=2,
                default=str,
            )
        )
    return promoted
