"""lamina.monitor: drift against the training reference, data-quality findings, outputs and alerts."""

from __future__ import annotations

import http.server
import json
import re
import sys
import threading

import numpy as np
import pytest

pandas = pytest.importorskip("pandas")
pytest.importorskip("scipy")

from lamina.eda import profile  # noqa: E402
from lamina.errors import ConfigError, DataError  # noqa: E402
from lamina.monitor import DriftReport, alert, drift  # noqa: E402

from lamina.cli import main  # noqa: E402

ROWS = 5000


def _table(
    rows: int, seed: int, shift: float = 0.0, shares: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> pandas.DataFrame:
    rng = np.random.default_rng(seed)
    return pandas.DataFrame(
        {
            "a": rng.normal(shift, 1.0, rows),
            "b": rng.normal(5.0, 2.0, rows),
            "c": rng.choice(["x", "y", "z"], rows, p=list(shares)),
            "t": rng.integers(0, 2, rows),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict:
    return profile(_table(ROWS, 0), "t").reference()


@pytest.fixture(scope="module")
def shifted(reference: dict) -> DriftReport:
    return drift(reference, _table(ROWS, 2, shift=1.0).drop(columns="t"))


def test_identical_distribution_does_not_drift(reference: dict) -> None:
    report = drift(reference, _table(ROWS, 1).drop(columns="t"))
    assert [r["feature"] for r in report.rows] == ["a", "b", "c"]
    assert report.drifted["names"] == [] and not report.dataset_drift and not report.alarm
    assert {r["test"] for r in report.rows} == {
        "wasserstein",
        "jensenshannon",
    }  # large samples: effect sizes
    assert all(r["statistic"] < 0.05 and r["psi"] < 0.05 for r in report.rows)
    assert report.findings == []


def test_one_sigma_mean_shift_is_detected_in_that_column_only(shifted: DriftReport) -> None:
    rows = {r["feature"]: r for r in shifted.rows}
    assert shifted.drifted["names"] == ["a"] and shifted.drifted["share"] == pytest.approx(1 / 3)
    assert (
        rows["a"]["statistic"] > 0.5 and rows["a"]["psi"] > 0.5
    )  # 1 sigma: Wasserstein about 1 std
    assert (
        rows["a"]["p_value"] < 1e-10 and rows["a"]["ks"] > 0.3
    )  # the exact-at-knots KS also sees it
    assert (
        not shifted.dataset_drift and shifted.alarm
    )  # one feature of three is under the 50% share


def test_small_samples_use_ks_and_chi_squared(reference: dict) -> None:
    same = drift(reference, _table(600, 3).drop(columns="t"))
    assert {r["feature"]: r["test"] for r in same.rows} == {"a": "ks", "b": "ks", "c": "chi2"}
    assert same.drifted["names"] == [] and all(r["p_value"] > 0.05 for r in same.rows)
    changed = drift(reference, _table(600, 4, shares=(0.3, 0.3, 0.4)).drop(columns="t"))
    rows = {r["feature"]: r for r in changed.rows}
    assert (
        changed.drifted["names"] == ["c"]
        and rows["c"]["p_value"] < 1e-6
        and rows["c"]["test"] == "chi2"
    )
    # the same share change on large data: the Jensen-Shannon distance decides
    assert drift(reference, _table(ROWS, 5, shares=(0.2, 0.3, 0.5)).drop(columns="t")).drifted[
        "names"
    ] == ["c"]


def test_ties_and_constant_columns_do_not_drift_by_themselves() -> None:
    rng = np.random.default_rng(0)

    def draw() -> pandas.DataFrame:
        return pandas.DataFrame({"k": np.full(500, 3.0), "i": rng.integers(0, 5, 500) * 1.0})

    reference = profile(
        draw()
    ).reference()  # quantiles fall on tied values: the KS check must allow for ties
    assert drift(reference, draw()).drifted["names"] == []
    assert drift(reference, draw().assign(k=4.0, i=lambda f: f["i"] + 1)).drifted["names"] == [
        "k",
        "i",
    ]
    report = drift(reference, draw().assign(i="n/a"))
    assert report.rows[1]["test"] == "none" and "'i' holds no numbers" in report.findings[0]


def test_data_quality_findings_not_crashes(reference: dict) -> None:
    frame = (
        _table(300, 6)
        .drop(columns="t")
        .assign(b=np.nan, c=lambda f: f["c"].replace("z", "new"), extra=1.0)
    )
    frame.loc[:100, "a"] = np.nan
    report = drift(reference, frame)
    text = " ".join(report.findings)
    assert "'b' is empty" in text and "new categories ['new']" in text and "New columns" in text
    assert "missing values rose from 0.0% to 33.7%" in text
    assert {r["feature"]: r["test"] for r in report.rows}["b"] == "none"
    empty = drift(reference, _table(10, 7).drop(columns="t").iloc[:0], predictions=np.array([]))
    assert empty.rows == [] and "empty" in empty.findings[0] and not empty.alarm
    gone = drift(reference, _table(300, 8)[["a"]])
    assert any("missing from the current data: ['b', 'c']" in f for f in gone.findings)


def test_json_round_trip_and_model_folder(reference: dict, shifted: DriftReport, tmp_path) -> None:
    shifted.to_json(tmp_path / "monitor.json")
    assert DriftReport.from_dict(json.loads((tmp_path / "monitor.json").read_text())) == shifted
    (tmp_path / "reference_profile.json").write_text(json.dumps(reference))
    assert drift(tmp_path, _table(ROWS, 2, shift=1.0).drop(columns="t")) == shifted


def test_html_is_self_contained(shifted: DriftReport, tmp_path) -> None:
    page = shifted.to_html(tmp_path / "monitor.html")
    assert "http" not in re.sub(
        r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page
    )  # no link, no fetched asset
    assert page.count("data:image/png;base64,") == 1 and "<b>Drift.</b>" in page
    assert "<td>a</td><td>feature</td>" in page  # the drifted feature leads the table
    assert (tmp_path / "monitor.html").read_text() == page


def test_prometheus_text_parses(shifted: DriftReport) -> None:
    text = shifted.to_prometheus()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    pattern = re.compile(
        r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="(\\.|[^"\\])*",?)*\})? [-+0-9.eE]+$'
    )
    assert all(pattern.match(line) for line in samples), samples
    assert "lamina_drift_share 0.333333" in samples and "lamina_dataset_drift 0" in samples
    assert any(
        line.startswith('lamina_feature_drift{feature="a",test="wasserstein",drifted="1"}')
        for line in samples
    )


def test_alert_command_receives_the_json(shifted: DriftReport, reference: dict, tmp_path) -> None:
    target = tmp_path / "got.json"
    command = [
        sys.executable,
        "-c",
        f"import sys; open({str(target)!r}, 'w').write(sys.stdin.read())",
    ]
    assert alert(shifted, command=command)
    assert json.loads(target.read_text()) == shifted.to_dict()
    quiet = drift(reference, _table(ROWS, 1).drop(columns="t"))
    assert not alert(quiet, command=[sys.executable, "-c", f"open({str(tmp_path / 'no')!r}, 'w')"])
    assert not (tmp_path / "no").exists()
    with pytest.raises(ConfigError, match="argv list"):
        alert(shifted, command="notify me")  # type: ignore[arg-type]


def test_webhook_receives_the_post(shifted: DriftReport) -> None:
    received: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            received.append(
                (self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"])))
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        assert alert(shifted, webhook=f"http://127.0.0.1:{server.server_port}/hook")
        thread.join(10)
    finally:
        server.server_close()
    assert received and received[0][0] == "application/json"
    assert json.loads(received[0][1]) == shifted.to_dict()


def test_prediction_drift(reference: dict) -> None:
    rng, current = np.random.default_rng(9), _table(ROWS, 1).drop(columns="t")
    same = drift(reference, current, predictions=rng.integers(0, 2, ROWS))
    assert [r["drifted"] for r in same.rows if r["role"] == "prediction"] == [False]
    skewed = drift(reference, current, predictions=(rng.random(ROWS) < 0.8).astype(int))
    row = [r for r in skewed.rows if r["role"] == "prediction"][0]
    assert (
        row["drifted"]
        and row["kind"] == "categorical"
        and skewed.alarm
        and skewed.drifted["names"] == []
    )
    numbers = drift(
        reference,
        current,
        predictions=rng.normal(1.0, 1.0, ROWS),
        reference_predictions=rng.normal(0.0, 1.0, ROWS),
    )
    assert [(r["kind"], r["drifted"]) for r in numbers.rows if r["role"] == "prediction"] == [
        ("numeric", True)
    ]


def test_embedding_drift_on_images() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((3000, 16, 16)).astype("float32")
    reference = profile((images[:1000], rng.integers(0, 2, 1000))).reference()
    same = drift(reference, images[1000:2000], reference_data=images[:1000])
    shifted = images[2000:].copy()
    shifted[:, 4:12, 4:12] = np.clip(
        shifted[:, 4:12, 4:12] + 0.1, 0, 1
    )  # a brighter patch in the middle
    moved = drift(reference, shifted, reference_data=images[:1000])
    auc = {
        name: [r for r in report.rows if r["role"] == "embedding"][0]
        for name, report in (("same", same), ("moved", moved))
    }
    assert not auc["same"]["drifted"] and 0.45 < auc["same"]["statistic"] < 0.55
    assert auc["moved"]["drifted"] and auc["moved"]["statistic"] > 0.8
    assert {r["feature"] for r in same.rows if r["role"] == "feature"} == {"brightness", "contrast"}
    few = drift(reference, images[1000:1100], reference_data=images[:1000])
    assert any("under 1,000 samples" in finding for finding in few.findings)


def test_embedding_drift_on_texts() -> None:
    rng = np.random.default_rng(0)
    words = np.array(["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "big", "red"])
    texts = [" ".join(rng.choice(words, 8)) for _ in range(1200)]
    reference = profile((texts[:600], rng.integers(0, 2, 600))).reference()
    same = drift(reference, texts[600:], reference_data=texts[:600])
    moved = drift(reference, [t + " refund" for t in texts[600:]], reference_data=texts[:600])
    auc = [[r for r in report.rows if r["role"] == "embedding"][0] for report in (same, moved)]
    assert not auc[0]["drifted"] and auc[1]["drifted"] and auc[1]["statistic"] > 0.95


def test_bad_inputs_raise_clear_errors(reference: dict, tmp_path) -> None:
    with pytest.raises(ConfigError, match="Not a reference profile.*Profile.reference"):
        drift({"rows": 3}, _table(10, 0))
    with pytest.raises(DataError, match="No reference profile there"):
        drift(tmp_path, _table(10, 0))
    with pytest.raises(ConfigError, match="Unknown threshold.*'ks_p'"):
        drift(reference, _table(10, 0), thresholds={"ks_p": 0.1})
    with pytest.raises(ConfigError, match="http"):
        alert(drift(reference, _table(10, 0)), webhook="ftp://example")


def test_cli_monitor(tmp_path, capsys) -> None:
    from lamina.fitted import FittedModel
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train = _table(2000, 0).assign(t=lambda f: (f["a"] > 0).astype(int))
    model = make_pipeline(make_column_transformer(("passthrough", ["a"])), LogisticRegression())
    fitted = FittedModel(
        "logistic",
        "classical",
        model.fit(train, train["t"]),
        {"modality": "table", "task": "classification", "classes": [0, 1]},
    )
    fitted.reference = profile(train, "t").reference()
    fitted.save(tmp_path / "model")
    loaded = drift(
        FittedModel.load(tmp_path / "model"), train.drop(columns="t")
    )  # a loaded model's reference
    assert [r["statistic"] for r in loaded.rows] == [0.0, 0.0, 0.0]
    _table(2000, 1).drop(columns="t").to_csv(tmp_path / "same.csv", index=False)
    _table(2000, 2, shift=1.0).drop(columns="t").to_csv(tmp_path / "moved.csv", index=False)
    out = tmp_path / "out"
    assert (
        main(["monitor", str(tmp_path / "model"), str(tmp_path / "same.csv"), "--out", str(out)])
        == 0
    )
    assert "No drift: 0 of 3 features" in capsys.readouterr().out
    assert json.loads((out / "monitor.json").read_text())["rows"][-1]["feature"] == "prediction"
    got = tmp_path / "alert.json"
    command = f"{sys.executable} -c \"import sys; open({str(got)!r}, 'w').write(sys.stdin.read())\""
    assert (
        main(
            [
                "monitor",
                str(tmp_path / "model"),
                str(tmp_path / "moved.csv"),
                "--out",
                str(out),
                "--alert-command",
                command,
            ]
        )
        == 1
    )
    printed = capsys.readouterr().out
    assert (
        "Drift: 1 of 3 features drifted ['a']" in printed
        and "prediction drifted (jensenshannon" in printed
    )
    assert (
        json.loads((out / "monitor.json").read_text())["drifted"]["names"]
        == ["a"]
        == json.loads(got.read_text())["drifted"]["names"]
    )
    assert (
        "lamina_dataset_drift 0" in (out / "metrics.prom").read_text()
        and (out / "monitor.html").is_file()
    )
