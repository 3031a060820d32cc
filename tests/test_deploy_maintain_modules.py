"""The pieces split out of serving and monitoring: dynamic batching, the drift statistics of one
column and the performance report keep their behaviour and their public paths."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pandas = pytest.importorskip("pandas")
pytest.importorskip("scipy")

import lamina.feedback  # noqa: E402
import lamina.monitor  # noqa: E402
from lamina.feedback import TOLERANCE, PerformanceReport, performance, record  # noqa: E402
from lamina.monitor import THRESHOLDS  # noqa: E402
from lamina.predlog import PredictionLog  # noqa: E402

from lamina.deploy.asgi import Metrics  # noqa: E402
from lamina.deploy.batching import Batcher  # noqa: E402
from lamina.deploy.served import InputError  # noqa: E402
from lamina.maintain.drift_stats import compare_column  # noqa: E402
from lamina.maintain.feedback_report import PerformanceReport as SplitReport  # noqa: E402


def test_public_paths_name_the_split_out_objects():
    assert PerformanceReport is SplitReport and TOLERANCE == 0.05
    assert {"PerformanceReport", "TOLERANCE"} <= set(lamina.feedback.__all__)
    assert set(lamina.monitor.__all__) == {"THRESHOLDS", "DriftReport", "alert", "drift"}


def _numeric_column(values):
    edges = np.quantile(values, np.linspace(0.01, 0.99, 21))
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    levels = {"p1": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}
    return {
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "quantiles": {k: float(np.quantile(values, q)) for k, q in levels.items()},
        "missing_share": 0.0,
    }


def test_compare_column_picks_the_test_by_sample_size_and_finds_a_shift():
    rng = np.random.default_rng(0)
    column = _numeric_column(rng.normal(size=5000))
    findings: list[str] = []
    same, _ = compare_column(
        "a", column, pandas.Series(rng.normal(size=5000)), 5000, THRESHOLDS, findings
    )
    moved, plot = compare_column(
        "a", column, pandas.Series(rng.normal(1.0, size=5000)), 5000, THRESHOLDS, findings
    )
    assert same["test"] == moved["test"] == "wasserstein"
    assert not same["drifted"] and moved["drifted"] and moved["psi"] > 0.1
    assert len(plot["edges"]) == 21
    small, _ = compare_column(
        "a", column, pandas.Series(rng.normal(1.0, size=200)), 5000, THRESHOLDS, []
    )
    assert small["test"] == "ks" and small["drifted"] and small["p_value"] < 0.05


def test_compare_column_reports_new_categories():
    column = {"frequencies": {"x": 0.5, "y": 0.5}, "missing_share": 0.0}
    findings: list[str] = []
    row, _ = compare_column(
        "c", column, pandas.Series(["x"] * 50 + ["z"] * 50), 1000, THRESHOLDS, findings
    )
    assert row["test"] == "chi2" and row["drifted"]
    assert findings == ["Column 'c': new categories ['z'] (50.0% of rows)."]


def test_relative_tolerance_and_missed_threshold_give_two_reasons(tmp_path):
    log = PredictionLog(tmp_path / "log.jsonl")
    log.write([{"request_id": str(i), "outputs": {"predictions": [i + 1.0]}} for i in range(4)])
    record([{"request_id": str(i), "label": float(i)} for i in range(4)], log.path)
    report = performance(log.path, reference={"kpi": "rmse", "value": 0.5, "threshold": 0.8})
    assert report.reasons == [
        "live rmse 1.0000 is worse than the training-time 0.5 by more than the tolerance 0.05 "
        "(relative)",
        "live rmse 1.0000 misses the project's threshold 0.8",
    ]


def test_a_label_count_unlike_the_rows_is_skipped_and_named(tmp_path):
    log = PredictionLog(tmp_path / "log.jsonl")
    log.write(
        [
            {"request_id": "two", "outputs": {"predictions": ["a", "b"]}},
            {"request_id": "one", "outputs": {"predictions": ["b"]}},
            {"request_id": "open", "outputs": {"predictions": ["a", "a", "a"]}},
        ]
    )
    record([{"request_id": "two", "label": ["a"]}, {"request_id": "one", "label": "a"}], log.path)
    report = performance(log.path)
    assert report.labelled == 1 and report.unlabelled == 3
    assert "1 labelled requests have a label count unlike their rows; skipped." in report.findings


class _Served:
    version = "v1"

    def __init__(self, fail_on=None):
        self.fail_on, self.calls = fail_on, []

    def concat(self, parts):
        return np.concatenate(parts)

    def predict(self, x):
        self.calls.append(len(x))
        if self.fail_on is not None and self.fail_on in x:
            raise ValueError("bad row")
        return {"output": x * 2}


class _BrokenLog:
    def write(self, records):
        raise OSError("disk full")


def _answers(served, inputs, log=None):
    async def go():
        batcher = Batcher(8, 0.0, 16, Metrics(), log)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in inputs]
        for x, future in zip(inputs, futures):
            batcher.queue.put_nowait((served, x, len(x), future, {"request_id": "r"}))
        task = loop.create_task(batcher.run())
        results = await asyncio.gather(*futures)
        task.cancel()
        batcher.executor.shutdown(wait=False)
        return results, batcher.metrics

    return asyncio.run(go())


def test_batcher_predicts_once_and_splits_the_answers():
    served = _Served()
    results, metrics = _answers(served, [np.array([1.0]), np.array([2.0, 3.0])])
    assert served.calls == [3] and metrics.batches == 1 and metrics.batch_items == 3
    assert results[0]["output"].tolist() == [2.0] and results[1]["output"].tolist() == [4.0, 6.0]


def test_batcher_answers_each_request_alone_when_the_batch_fails():
    results, _ = _answers(_Served(fail_on=-1.0), [np.array([1.0]), np.array([-1.0])])
    assert results[0]["output"].tolist() == [2.0]
    assert isinstance(results[1], InputError) and "bad row" in str(results[1])


def test_batcher_fails_the_batch_when_its_records_cannot_be_written():
    results, _ = _answers(_Served(), [np.array([1.0])], log=_BrokenLog())
    assert isinstance(results[0], OSError)
