"""lamina.feedback: labels joined with the prediction log by request id, live metrics against hand computations,
the degraded flag, clear errors, and the label-feedback / monitor command lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pandas = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from lamina.errors import DataError  # noqa: E402
from lamina.feedback import TOLERANCE, labels_path, performance, record  # noqa: E402
from lamina.predlog import PredictionLog  # noqa: E402

import lamina  # noqa: E402
from lamina.cli import main  # noqa: E402

# request id -> (prediction, true label, model version); classes a, b, c
CASES = {
    "r1": ("a", "a", "v1"),
    "r2": ("a", "b", "v1"),
    "r3": ("b", "b", "v1"),
    "r4": ("c", "c", "v2"),
    "r5": ("b", "c", "v2"),
    "r6": ("a", "a", "v2"),
}


def _log(folder, cases=CASES):
    log = PredictionLog(folder / "predictions.jsonl")
    for rid, (
        predicted,
        _,
        version,
    ) in cases.items():  # one batch per request, as the server writes them
        log.write(
            [
                {
                    "request_id": rid,
                    "version": version,
                    "inputs": [[1.0]],
                    "outputs": {"predictions": [predicted]},
                }
            ]
        )
    log.close()
    return log.path


def _labels(cases=CASES):
    return [{"request_id": rid, "label": truth} for rid, (_, truth, _) in cases.items()]


def test_record_and_join_by_id_match_a_hand_computation(tmp_path):
    path = _log(tmp_path)
    written = record(_labels(), path)
    assert written == labels_path(path) == tmp_path / "labels.jsonl"
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert [(r["request_id"], r["label"]) for r in lines] == [(k, v[1]) for k, v in CASES.items()]
    assert all(
        abs(r["received_at"] - lines[0]["received_at"]) < 1 for r in lines
    )  # one batch, one time
    report = performance(path, window=3)
    assert (report.task, report.metric, report.labelled, report.unlabelled) == (
        "classification",
        "accuracy",
        6,
        0,
    )
    # by hand: 4 of 6 right; recall a 2/2, b 1/2, c 1/2; precision a 2/3, b 1/2, c 1/1
    assert report.value == pytest.approx(4 / 6)
    f1 = [2 * p * r / (p + r) for p, r in [(2 / 3, 1.0), (0.5, 0.5), (1.0, 0.5)]]
    assert report.metrics["f1"] == pytest.approx(np.mean(f1))
    assert {k: v["recall"] for k, v in report.per_class.items()} == pytest.approx(
        {"a": 1.0, "b": 0.5, "c": 0.5}
    )
    assert report.confusion == {
        "labels": ["a", "b", "c"],
        "counts": [[2, 0, 0], [1, 1, 0], [0, 1, 1]],
    }
    # trend: windows of 3 in log order (r1-r3: 2 right, r4-r6: 2 right); per version v1 2/3, v2 2/3
    assert [(w["start"], w["count"], w["value"]) for w in report.trend] == [
        (0, 3, pytest.approx(2 / 3)),
        (3, 3, pytest.approx(2 / 3)),
    ]
    assert {k: v["count"] for k, v in report.versions.items()} == {"v1": 3, "v2": 3}
    assert not report.degraded and report.reference == {}


def test_rows_of_one_request_regression_and_raw_scores(tmp_path):
    log = PredictionLog(tmp_path / "log.jsonl")
    log.write(
        [
            {
                "request_id": "m",
                "outputs": {"predictions": [1.5, 2.0, 4.25]},
            },  # one request, three rows
            {"request_id": "n", "outputs": {"predictions": [0.5]}},
        ]
    )
    record(
        [{"request_id": "m", "label": [1.0, 2.5, 4.0]}, {"request_id": "n", "label": 1.0}], log.path
    )
    report = performance(log.path)
    truth, predicted = np.array([1.0, 2.5, 4.0, 1.0]), np.array([1.5, 2.0, 4.25, 0.5])
    assert report.task == "regression" and report.metric == "rmse" and report.labelled == 4
    assert report.metrics["mae"] == pytest.approx(np.mean(np.abs(truth - predicted)))
    assert report.value == pytest.approx(math.sqrt(np.mean((truth - predicted) ** 2)))
    r2 = 1 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert report.metrics["r2"] == pytest.approx(r2)
    # a plain network's logged scores: the class is the largest score; labels from a CSV compare as text
    scores = PredictionLog(tmp_path / "scores" / "log.jsonl")
    scores.write(
        [
            {"request_id": "s1", "outputs": {"output": [[0.1, 2.0, 0.3]]}},
            {"request_id": "s2", "outputs": {"output": [[3.0, 0.0, 0.1]]}},
        ]
    )
    pandas.DataFrame({"request_id": ["s1", "s2"], "label": [1, 2]}).to_csv(
        tmp_path / "l.csv", index=False
    )
    record(tmp_path / "l.csv", scores.path)
    report = performance(scores.path)
    assert (
        report.task == "classification"
        and report.value == 0.5
        and report.confusion["labels"] == ["0", "1", "2"]
    )


def test_a_later_label_wins_and_unknown_ids_are_reported_but_kept(tmp_path):
    path = _log(tmp_path)
    record(_labels(), path)
    assert performance(path).value == pytest.approx(4 / 6)
    with pytest.warns(
        UserWarning, match=r"1 of 2 labels name request ids not in the log, e.g. \['later'\]"
    ):
        record([{"request_id": "r2", "label": "a"}, {"request_id": "later", "label": "b"}], path)
    report = performance(path)
    assert (
        report.value == pytest.approx(5 / 6) and report.labelled == 6
    )  # r2 now right, counted once
    assert any("1 labels name request ids not in the log" in f for f in report.findings)
    assert (
        json.loads(labels_path(path).read_text().splitlines()[-1])["request_id"] == "later"
    )  # kept
    more = PredictionLog(path)  # its prediction arrives after its label
    more.write([{"request_id": "later", "version": "v2", "outputs": {"predictions": ["b"]}}])
    assert performance(path).labelled == 7


def test_degraded_against_the_reference_and_the_threshold(tmp_path):
    path = _log(tmp_path)  # live accuracy 4/6 = 0.667
    record(_labels(), path)
    assert TOLERANCE == 0.05
    assert not performance(path, reference=0.70).degraded  # 0.033 below: within the tolerance
    report = performance(path, reference=0.75)  # 0.083 below
    assert report.reasons == [
        "live accuracy 0.6667 is worse than the training-time 0.75 by more than the tolerance 0.05"
    ]
    assert not performance(path, reference=0.75, tolerance=0.1).degraded
    verdict = {
        "kpi": "accuracy",
        "value": 0.68,
        "threshold": 0.7,
        "met": True,
    }  # runs/evaluate/verdict.json
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    report = performance(path, reference=tmp_path / "verdict.json")
    assert report.degraded and report.reasons == [
        "live accuracy 0.6667 misses the project's threshold 0.7"
    ]
    # errors are lower-is-better and compared relatively: RMSE 1.0 live
    log = PredictionLog(tmp_path / "r" / "log.jsonl")
    log.write(
        [{"request_id": str(i), "outputs": {"predictions": [float(i) + 1.0]}} for i in range(4)]
    )
    record([{"request_id": str(i), "label": float(i)} for i in range(4)], log.path)
    assert (
        performance(log.path, reference={"kpi": "rmse", "value": 0.96}).degraded is False
    )  # 4% worse
    assert (
        performance(log.path, reference={"kpi": "rmse", "value": 0.9}).degraded is True
    )  # 11% worse
    prometheus = performance(path, reference=0.75).to_prometheus()
    assert (
        "lamina_live_accuracy 0.666667" in prometheus
        and "lamina_labelled_predictions 6" in prometheus
    )
    assert (
        "lamina_performance_degraded 1" in prometheus
        and "# TYPE lamina_live_f1 gauge" in prometheus
    )


def test_outputs_json_and_html_section(tmp_path):
    path = _log(tmp_path)
    record(_labels(), path)
    report = performance(path, reference=0.9, window=2)
    data = json.loads(report.to_json(tmp_path / "performance.json"))
    assert data["degraded"] and data["value"] == pytest.approx(4 / 6) and len(data["trend"]) == 3
    section = report.to_html_section()
    assert (
        section.startswith("<h2>Performance")
        and "data:image/png;base64," in section
        and "http" not in section
    )
    empty = performance(
        _log(tmp_path / "none")
    )  # no labels yet: nothing measured, nothing degraded
    assert (
        empty.value is None
        and not empty.degraded
        and empty.summary().startswith("No labelled predictions")
    )


def test_bad_input_raises_clear_errors(tmp_path):
    path = _log(tmp_path)
    with pytest.raises(
        DataError, match=r"lack the column\(s\) \['label'\].*columns \['request_id', 'truth'\]"
    ):
        record([{"request_id": "r1", "truth": "a"}], path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="missing or empty"):
        record(tmp_path / "empty.csv", path)
    with pytest.raises(DataError, match="No prediction log there"):
        record(_labels(), tmp_path / "nowhere" / "log.jsonl")
    with pytest.raises(DataError, match="Rows without a label"):
        record(pandas.DataFrame({"request_id": ["r1"], "label": [np.nan]}), path)
    with pytest.raises(lamina.errors.ConfigError, match="Unknown task"):
        performance(path, task="ranking")
    assert not labels_path(path).exists()  # nothing was written by a refused call


def test_cli_label_feedback_and_monitor_end_to_end(tmp_path, capsys):
    from lamina.eda import profile
    from lamina.fitted import FittedModel
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path / "project"
    lamina.project.init(folder, name="shop", data="digits", kpi="accuracy", threshold=0.8)
    runs = folder / "runs"
    rng = np.random.default_rng(0)
    train = pandas.DataFrame({"a": rng.normal(size=300)}).assign(
        t=lambda f: (f["a"] > 0).astype(int)
    )
    fitted = FittedModel(
        "logistic",
        "classical",
        LogisticRegression().fit(train[["a"]], train["t"]),
        {"modality": "table", "task": "classification", "classes": [0, 1]},
    )
    fitted.reference = profile(train, "t").reference()
    fitted.save(runs / "train" / "model")
    (runs / "evaluate").mkdir(parents=True)
    (runs / "evaluate" / "verdict.json").write_text(
        json.dumps({"kpi": "accuracy", "value": 0.95, "threshold": 0.8})
    )
    log = PredictionLog(runs / "serve" / "predictions.jsonl")
    log.write(
        [
            {
                "request_id": f"q{i}",
                "version": "1",
                "inputs": [{"a": float(x)}],
                "outputs": {"predictions": [int(x > 0)]},
            }
            for i, x in enumerate(train["a"][:40])
        ]
    )
    truth = np.array(train["a"][:40] > 0, dtype=int)
    truth[:12] = 1 - truth[:12]  # 12 of 40 wrong: accuracy 0.7 < 0.8
    labels = tmp_path / "labels.csv"
    pandas.DataFrame({"id": [f"q{i}" for i in range(40)], "y": truth}).to_csv(labels, index=False)
    assert main(["label-feedback", str(folder), "--labels", str(labels)]) == 2  # wrong column names
    assert "lack the column(s) ['request_id', 'label']" in capsys.readouterr().err
    assert (
        main(
            [
                "label-feedback",
                str(folder),
                "--labels",
                str(labels),
                "--id-column",
                "id",
                "--label-column",
                "y",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "Degraded: live accuracy 0.7000 (training-time test: 0.9500) on 40 labelled predictions"
        in printed
    )
    assert "misses the project's threshold 0.8" in printed
    train[["a"]].to_csv(tmp_path / "same.csv", index=False)
    out = tmp_path / "monitor"
    assert (
        main(
            [
                "monitor",
                str(runs / "train" / "model"),
                str(tmp_path / "same.csv"),
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert "No drift" in capsys.readouterr().out  # the exit code 1 comes from the performance
    assert json.loads((out / "performance.json").read_text())["value"] == pytest.approx(0.7)
    assert "lamina_live_accuracy 0.7" in (out / "metrics.prom").read_text()
    assert "Performance on labelled predictions" in (out / "monitor.html").read_text()
    # a log given with --log: a plain log without a reference is measured, not judged
    other = tmp_path / "elsewhere" / "log.jsonl"
    PredictionLog(other).write([{"request_id": "z", "outputs": {"predictions": [1]}}])
    assert (
        main(
            [
                "label-feedback",
                str(other),
                "--labels",
                str(labels),
                "--id-column",
                "id",
                "--label-column",
                "y",
            ]
        )
        == 0
    )
    assert "warning: 40 of 40 labels name request ids not in the log" in capsys.readouterr().err
    assert (
        main(
            [
                "monitor",
                str(runs / "train" / "model"),
                str(tmp_path / "same.csv"),
                "--out",
                str(out),
                "--log",
                str(other),
            ]
        )
        == 0
    )
