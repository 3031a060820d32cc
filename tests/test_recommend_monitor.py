"""Recommender monitoring: unknown customers and items, item-popularity drift, the log, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from lamina.core.errors import ConfigError, DataError
from lamina.data.interactions import interactions
from lamina.deploy.recommend import create_recommend_app
from lamina.maintain.recommend_monitor import THRESHOLDS, recommend_drift
from lamina.project.recommender_files import save_recommender
from lamina.project.recommenders import Popularity

ITEMS = [f"I{i:03d}" for i in range(120)]


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    weights = 1.0 / np.arange(1, len(ITEMS) + 1)  # a long tail
    rows = []
    for user in range(400):
        picked = rng.choice(
            len(ITEMS), size=int(rng.integers(3, 15)), replace=False, p=weights / weights.sum()
        )
        rows += [(user, ITEMS[i], t, f"name {ITEMS[i]}") for t, i in enumerate(picked)]
    log = pd.DataFrame(rows, columns=["u", "i", "t", "d"])
    return Popularity().fit(interactions(log, "u", "i", "t", description="d"))


def training_share(model):
    counts = np.bincount(model.catalogue_state()[1]["history_items"], minlength=len(model.items_))
    return counts / counts.sum()


def baskets(items, size=3):
    return [
        {"customer": None, "basket": list(items[i : i + size])} for i in range(0, len(items), size)
    ]


def test_baskets_like_training_raise_no_alarm(model):
    rng = np.random.default_rng(1)
    drawn = rng.choice(np.asarray(model.items_), size=3000, p=training_share(model))
    report = recommend_drift(baskets(list(drawn)), model)
    assert not report.alarm, report.summary()
    assert report.popularity["jensenshannon"] < 0.05 and report.popularity["psi"] < 0.05
    assert report.basket_items == {
        "count": 3000,
        "unknown": 0,
        "unknown_share": 0.0,
        "top_unknown": [],
    }
    assert report.customers["anonymous"] == 1000 and report.customers["with_id"] == 0


def test_demand_moving_to_the_tail_is_drift(model):
    rng = np.random.default_rng(2)
    tail = np.asarray(model.items_)[np.argsort(training_share(model))[:30]]  # the least bought
    drawn = list(rng.choice(tail, size=1500))
    report = recommend_drift(baskets(drawn), model)
    popularity = report.popularity
    assert report.alarm and popularity["drifted"] and popularity["significant"]
    assert popularity["jensenshannon"] >= THRESHOLDS["jensenshannon"] and popularity["psi"] >= 0.2
    assert popularity["current_deciles"][0] < popularity["training_deciles"][0]
    assert {r["id"] for r in popularity["rising"]} <= set(tail)
    assert popularity["rising"][0]["name"] == f"name {popularity['rising'][0]['id']}"
    assert any("popularity drifted" in text for text in report.alarms)
    assert "Items rising most" in report.summary() and "ALARM" in report.summary()


def test_unknown_customers_and_items_are_shared_out(model):
    records = [
        {"customer": 1, "basket": None},
        {"customer": 2, "basket": ["I000"]},
        {"customer": 100_000, "basket": None},
        {"customer": None, "basket": ["I001", "NEW-1", "NEW-1", "NEW-2"]},
    ]
    report = recommend_drift(records, model)
    assert report.requests == 4
    assert report.customers == {"with_id": 3, "unknown": 1, "unknown_share": 1 / 3, "anonymous": 1}
    assert report.basket_items["unknown"] == 3 and report.basket_items["unknown_share"] == 0.6
    assert report.basket_items["top_unknown"] == ["NEW-1", "NEW-2"]
    assert any("not in the catalogue" in text for text in report.alarms)
    assert not any("customer ids are unknown" in text for text in report.alarms)  # 33% < 50%
    assert any("not judged" in text for text in report.findings)  # two known basket items
    lenient = recommend_drift(records, model, thresholds={"unknown_items": 0.7})
    assert not lenient.alarm
    strict = recommend_drift(records, model, thresholds={"unknown_customers": 0.2})
    assert any("customer ids are unknown" in text for text in strict.alarms)


def test_report_exports(model):
    report = recommend_drift([{"customer": 5, "basket": ["I003"]}], model)
    data = json.loads(report.to_json())
    assert data["alarm"] is False and data["customers"]["unknown"] == 0
    assert "lamina_recommend_unknown_item_share 0" in report.to_prometheus()
    assert "lamina_recommend_alarm 0" in report.to_prometheus()
    assert "RecommendReport(requests=1" in repr(report)


def test_bad_inputs(model, tmp_path):
    with pytest.raises(DataError, match="No request log"):
        recommend_drift(tmp_path / "missing.jsonl", model)
    with pytest.raises(DataError, match="reads a request log"):
        recommend_drift(["not a record"], model)
    with pytest.raises(ConfigError, match="Unknown threshold"):
        recommend_drift([], model, thresholds={"jensen": 0.2})
    odd = [{"customer": [1, 2], "basket": [["I001"], "I002"]}, {"basket": "I001"}]
    report = recommend_drift(odd, model)  # a hand-edited log: counted, not a crash
    assert report.customers["unknown"] == 1 and report.basket_items["count"] == 2


def test_the_served_log_and_lamina_monitor(model, tmp_path, capsys):
    from lamina.cli import main

    folder = save_recommender(model, tmp_path / "popular")
    log = tmp_path / "recommendations.jsonl"
    with TestClient(create_recommend_app(folder, log_path=log)) as client:
        for body in (
            {"customer": 1},
            {"customer": 424242},
            {"basket": ["I001", "I002"]},
            {"basket": ["I001", "GONE"]},
        ):
            client.post("/recommend", json=body)
    report = recommend_drift(log, folder)
    assert report.requests == 4 and report.customers["unknown"] == 1
    assert report.basket_items == {
        "count": 4,
        "unknown": 1,
        "unknown_share": 0.25,
        "top_unknown": ["GONE"],
    }
    out = tmp_path / "monitor"
    assert main(["monitor", folder, str(log), "--out", str(out)]) == 1  # unknown items: an alarm
    assert json.loads((out / "recommend_monitor.json").read_text())["alarm"] is True
    assert "lamina_recommend_alarm 1" in (out / "metrics.prom").read_text()
    assert "ALARM" in capsys.readouterr().out


@pytest.mark.needs_data("online-retail")
def test_popularity_drift_on_online_retail_seasons():
    import os
    from pathlib import Path

    from lamina.data.interactions import time_cut

    path = Path(os.environ["LAMINA_DATA"]) / "online-retail" / "online_retail.parquet"
    data = interactions(
        path,
        user="CustomerID",
        item="StockCode",
        time="InvoiceDate",
        quantity="Quantity",
        invoice="InvoiceNo",
    )
    early, late = time_cut(data, "2011-09-01")  # the Christmas season after the cut
    model = Popularity().fit(early)
    same = list(early.table["item"].sample(2000, random_state=0))  # training purchases themselves
    report = recommend_drift(baskets(same), model)
    assert not report.alarm and report.popularity["jensenshannon"] < 0.05, report.summary()
    later = list(late.table["item"].sample(2000, random_state=0))
    report = recommend_drift(baskets(later), model)
    assert report.popularity["drifted"] and report.popularity["jensenshannon"] >= 0.15, (
        report.summary()
    )
