"""Recommendation projects: lamina init --task recommend, the stages, the advisor's statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina.cli.main import main
from lamina.core.errors import ConfigError
from lamina.project.kpi import score
from lamina.project.recommend_advisor import bootstrap_gap, gains

ITEMS = [f"P{i:02d}" for i in range(12)]


def purchase_log(customers: int = 80, seed: int = 0) -> pd.DataFrame:
    """Customers buy a pair of items, then the pair's partner group: a learnable pattern."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(customers):
        group = customer % 4  # items 3g, 3g+1, 3g+2 go together
        picks = [3 * group, 3 * group + 1, 3 * group + 2, int(rng.integers(0, 12))]
        for day, item in enumerate(picks):
            rows.append(
                {
                    "Invoice": f"{customer}-{day}",
                    "Customer": 1000 + customer,
                    "Product": ITEMS[item],
                    "Qty": 2,
                    "Price": 1.5 + item,
                    "Title": f"item {ITEMS[item]}",
                    "Date": pd.Timestamp("2024-01-01") + pd.Timedelta(days=day + customer % 5),
                }
            )
    rows.append(dict(rows[0], Invoice="C9", Qty=-2))  # a cancellation, dropped
    return pd.DataFrame(rows)


def init_shop(folder, **options):
    purchase_log().to_csv(folder / "log.csv", index=False)
    return lamina.project.init(
        folder,
        data="log.csv",
        task="recommend",
        kpi=options.pop("kpi", "hr@10"),
        threshold=0.5,
        columns={"user": "Customer", "item": "Product", "time": "Date", **options},
    )


def test_init_writes_the_columns_and_recognises_the_optional_ones(tmp_path):
    path = init_shop(tmp_path)
    text = path.read_text()
    assert "task: recommend" in text and 'user: "Customer"' in text
    assert 'invoice: "Invoice"' in text and 'quantity: "Qty"' in text  # recognised by name
    assert 'price: "Price"' in text and 'description: "Title"' in text
    project = lamina.Project.load(path)
    assert project.task == "recommend" and project.data["item"] == "Product"


def test_init_refuses_what_a_recommender_cannot_use(tmp_path):
    purchase_log().to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(ConfigError, match="not a ranking metric.*accuracy"):
        init_shop(tmp_path, kpi="accuracy")
    with pytest.raises(ConfigError, match="Customr.*Did you mean 'Customer'"):
        lamina.project.init(
            tmp_path, data="log.csv", task="recommend", kpi="hr@10", threshold=0.2,
            columns={"user": "Customr", "item": "Product", "time": "Date"},
        )  # fmt: skip
    with pytest.raises(ConfigError, match="does not name the purchase log's columns"):
        lamina.project.init(tmp_path, data="log.csv", task="recommend", kpi="hr@10")


def test_a_project_file_without_columns_is_refused(tmp_path):
    path = init_shop(tmp_path)
    path.write_text(path.read_text().replace('  user: "Customer"\n', ""))
    with pytest.raises(ConfigError, match=r"\['user'\]"):
        lamina.Project.load(path)


def test_lamina_run_goes_from_log_to_verdict_and_report(tmp_path, capsys):
    path = init_shop(tmp_path)
    path.write_text(path.read_text().replace("model: auto ", "model: classical "))
    assert main(["run", str(tmp_path)]) in (0, 1)
    out = capsys.readouterr().out
    assert "Verdict: hit rate at 10" in out
    runs = tmp_path / "runs"
    advice = json.loads((runs / "advise" / "stage.json").read_text())["result"]
    assert {row["candidate"] for row in advice["rows"]} == {"popularity", "item-kNN", "EASE"}
    verdict = json.loads((runs / "evaluate" / "verdict.json").read_text())
    held = pd.read_parquet(runs / "evaluate" / "customers.parquet")
    assert len(held) == 80 and verdict["value"] == pytest.approx(float(held["hit"].mean()))
    assert verdict["value"] > 0.3  # the group pattern is learnable
    page = (runs / "report" / "report.html").read_text()
    assert "found the next new item they bought" in page and "Example customers" in page
    assert "revenue" not in page or "were worth" in page
    assert "most bought items take" in (runs / "eda" / "eda.html").read_text()
    reference = json.loads((runs / "eda" / "reference.json").read_text())
    assert sum(reference["item_counts"].values()) == 80 * 4 - _repeats()
    model = lamina.project.recommender_files.load_recommender(runs / "train" / "model")
    names = {"popularity": "Popularity", "item-kNN": "ItemKNN", "EASE": "EASE"}
    assert type(model).__name__ == names[advice["chosen"]] and verdict["model"] == advice["chosen"]
    assert main(["run", str(tmp_path)]) in (0, 1)  # unchanged: every stage skipped
    assert capsys.readouterr().out.count("unchanged, skipped") == 8


def _repeats() -> int:
    log = purchase_log()
    log = log[log["Qty"] > 0]
    return len(log) - len(log.drop_duplicates(["Customer", "Product"]))


def test_a_time_split_and_an_unknown_model_setting(tmp_path):
    path = init_shop(tmp_path)
    text = path.read_text().replace("model: auto ", "model: EASE ")
    path.write_text(text + 'prepare: {split: time, cut: "2024-01-06"}\n')
    results = lamina.Project.load(path).run(verbose=0)
    assert results["prepare"]["kind"] == "time" and results["prepare"]["findings"] == []
    assert results["advise"]["chosen"] == "EASE"
    path.write_text(text.replace("model: EASE ", "model: ALS "))
    with pytest.raises(ConfigError, match="names no recommender.*'ALS'"):
        lamina.Project.load(path).run(["advise"], force=["advise"], verbose=0)


def test_ranking_kpis_from_ranks_by_hand():
    ranks = np.array([1, 3, 12])
    assert score("hr@10", ranks) == pytest.approx(2 / 3)
    assert score("recall@10", ranks) == pytest.approx(2 / 3)
    assert score("mrr", ranks) == pytest.approx((1 + 1 / 3 + 1 / 12) / 3)
    assert score("ndcg@10", ranks) == pytest.approx((1 + 1 / np.log2(4)) / 3)
    for kpi in ("hr@10", "ndcg@10", "mrr"):
        assert gains(kpi, ranks).mean() == pytest.approx(score(kpi, ranks))


def test_bootstrap_noise_shrinks_with_more_customers():
    rng = np.random.default_rng(0)
    small_a, small_b = rng.random(50) < 0.3, rng.random(50) < 0.25
    large_a, large_b = rng.random(5000) < 0.3, rng.random(5000) < 0.25
    _, small = bootstrap_gap(small_a, small_b)
    gap, large = bootstrap_gap(large_a, large_b)
    assert large < small and gap == pytest.approx(large_a.mean() - large_b.mean())
    assert bootstrap_gap(np.ones(10), np.ones(10)) == (0.0, 0.0)  # identical models: no gap
