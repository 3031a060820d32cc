"""Maintenance end to end: a sensor's firmware update shifts the data, monitoring catches it, retraining fixes it.

A pump-failure model is trained on sensor readings in degrees Celsius, registered and served from the model
registry's ``production`` alias. After a firmware update the sensor reports Fahrenheit: the inputs drift, the
labels that arrive later show the accuracy collapse, ``lamina.maintain.retrain`` trains a challenger on the new
labelled rows, a person approves it, and the running server swaps to it without a failed request.
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from lamina.serve import create_app

import lamina
from lamina import feedback, maintain, monitor

rng = np.random.default_rng(0)


def readings(n: int, fahrenheit: bool) -> pd.DataFrame:
    """Temperature and vibration; a pump fails when both run high. The firmware update changes the unit only."""
    celsius, vibration = rng.normal(60, 10, n), rng.normal(3, 1, n)
    failure = ((celsius - 60) / 10 + (vibration - 3) > 0.5).astype(int)
    temperature = celsius * 9 / 5 + 32 if fahrenheit else celsius
    return pd.DataFrame(
        {"temperature": temperature.round(2), "vibration": vibration.round(3), "failure": failure}
    )


folder = Path("lamina-runs/retrain_shift")
folder.mkdir(parents=True, exist_ok=True)
readings(2000, fahrenheit=False).to_csv(folder / "history.csv", index=False)
lamina.project.init(
    folder,
    name="pumps",
    data="history.csv",
    target="failure",
    kpi="accuracy",
    threshold=0.9,
    train_seconds=5,
    overwrite=True,
)
project = lamina.Project.load(folder)
project.run(["evaluate"], verbose=0)
champion = maintain.champion(
    project
)  # runs/train/model registered as pumps:1 and promoted to production
print(
    f"champion {champion.ref}: {project.run_path.name}/evaluate says "
    f"{project.run(['evaluate'], verbose=0)['evaluate']['verdict']['sentence']}"
)

# Serve production from the registry, logging every prediction; the server follows the alias.
log = project.run_path / "serve" / "predictions.jsonl"
log.unlink(missing_ok=True)
app = create_app("pumps@production", registry=folder / "registry", log_path=log, poll_s=0.2)
with TestClient(app) as client:
    after = readings(1500, fahrenheit=True)  # the firmware update
    labels = []
    for start in range(0, 1000, 50):
        batch = after.iloc[start : start + 50]
        reply = client.post(
            "/predict", json={"rows": batch.drop(columns="failure").to_dict("records")}
        )
        # The outcomes arrive later, one per row of the logged request.
        labels.append(
            {"request_id": reply.headers["x-request-id"], "label": batch["failure"].tolist()}
        )

    drifted = monitor.drift(champion.path, after.drop(columns="failure").iloc[:1000])
    print(f"monitoring: drift in {drifted.drifted['names']}; alarm: {drifted.alarm}")
    feedback.record(labels, log)
    live = feedback.performance(log)
    print(f"live accuracy from labelled predictions: {live.metrics['accuracy']:.3f}")

    result = maintain.retrain(project, after.iloc[:1000], verbose=0)
    print(result.sentence)
    approved = maintain.approve(project, by="the maintenance engineer")
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and client.get("/v2/health/ready").headers["x-model-version"] != approved.hash[:12]
    ):
        time.sleep(0.1)
    fresh = after.iloc[1000:]
    reply = client.post("/predict", json={"rows": fresh.drop(columns="failure").to_dict("records")})
    served = reply.headers["x-model-version"]
    restored = float(
        np.mean(np.asarray(reply.json()["predictions"]).astype(int) == fresh["failure"].to_numpy())
    )

print(
    f"lineage of {approved.ref}: parent {approved.metadata['parent']}, data {approved.metadata['data_hash'][:12]}"
)
print(
    f"test: accuracy after the shift {live.metrics['accuracy']:.3f}, after retraining {restored:.3f} "
    f"(served version {served}, approved {approved.hash[:12]})"
)
