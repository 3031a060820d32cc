"""The one KPI vocabulary (lamina.kpi): names, scores, the binary F1 definition shared by every project page, and
`lamina init`'s checks of the data, the target and the positive class."""

import html
import json

import numpy as np
import pandas as pd
import pytest
from lamina.errors import ConfigError
from lamina.kpi import KPIS, describe, get, minority_class, score
from sklearn import metrics

from lamina.cli import main
from lamina.project import Project, init


def _table(rows=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    label = np.where(
        x[:, 0] + 0.3 * rng.normal(size=rows) > 0.6, "malignant", "benign"
    )  # ~27% malignant
    return pd.DataFrame({"size": x[:, 0], "shape": x[:, 1], "diagnosis": label})


def test_unknown_kpi_lists_the_names_and_suggests_one():
    with pytest.raises(
        ConfigError, match=r"Unknown KPI.*'f_1'.*accuracy.*roc_auc.*Did you mean 'f1'"
    ):
        get("f_1")
    with pytest.raises(ConfigError, match="Unknown KPI"):
        score("r_2", [1.0], [1.0])  # never silently another metric
    assert (
        get("rmse").higher is False
        and get("r2").higher is True
        and set(KPIS) >= {"f1", "log_loss", "mae"}
    )


def test_binary_f1_is_of_the_positive_class_and_multiclass_is_macro():
    rng = np.random.default_rng(0)
    y, p = rng.choice(["a", "b"], 200, p=[0.7, 0.3]), rng.choice(["a", "b"], 200)
    for name in ("f1", "precision", "recall"):
        reference = getattr(metrics, f"{name}_score")
        assert score(name, y, p, positive_class="a") == pytest.approx(
            reference(y, p, pos_label="a")
        )
        assert score(name, y, p) == pytest.approx(
            reference(y, p, pos_label="b")
        )  # default: the minority class
    y3, p3 = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
    assert score("f1", y3, p3) == pytest.approx(metrics.f1_score(y3, p3, average="macro"))
    assert minority_class(y) == "b"
    assert (
        describe("f1", "malignant") == "F1 of class 'malignant'"
        and describe("f1", None, 3) == "macro F1"
    )
    assert describe("accuracy", "b") == "accuracy"


def test_probability_kpis_follow_the_class_order():
    y = np.array(["no", "yes", "yes", "no"])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    assert score("roc_auc", y, y, probabilities, classes=["no", "yes"]) == pytest.approx(0.75)
    assert score("log_loss", y, y, probabilities, classes=["no", "yes"]) == pytest.approx(
        metrics.log_loss(y, probabilities, labels=["no", "yes"])
    )
    with pytest.raises(ConfigError, match="needs class probabilities"):
        score("roc_auc", y, y)


def test_every_page_names_one_f1_definition(tmp_path):
    _table().to_csv(tmp_path / "cells.csv", index=False)
    init(
        tmp_path,
        name="cells",
        data="cells.csv",
        target="diagnosis",
        kpi="f1",
        threshold=0.5,
        train_seconds=2,
    )
    project = Project.load(tmp_path)
    assert project.positive_class == "malignant"  # the minority class, written by init
    results = project.run(verbose=0)
    label = "F1 of class 'malignant'"
    verdict = results["evaluate"]["verdict"]
    assert verdict["kpi_label"] == label and verdict["sentence"].startswith(label)
    assert results["plan"]["summary"]["kpi_definition"] == label
    assert results["advise"]["definition"] == label
    with np.load(project.run_path / "evaluate" / "predictions.npz") as saved:
        truth, predicted = saved["truth"], saved["predicted"]
    assert verdict["value"] == pytest.approx(
        metrics.f1_score(truth, predicted, pos_label="malignant")
    )
    page = (project.run_path / "report" / "report.html").read_text()
    assert html.escape(label) in page and "macro F1" not in page


def test_init_checks_the_data_and_target_before_writing(tmp_path):
    _table().to_csv(tmp_path / "cells.csv", index=False)
    with pytest.raises(
        ConfigError, match=r"data path does not exist.*Did you mean 'cells.csv'"
    ) as error:
        init(tmp_path, data="cell.csv", target="diagnosis")
    assert "lamina.yaml" not in str(error.value)
    with pytest.raises(
        ConfigError,
        match=r"target column is not in cells.csv.*'diagnosys'.*Did you mean 'diagnosis'",
    ):
        init(tmp_path, data="cells.csv", target="diagnosys")
    with pytest.raises(ConfigError, match=r"positive_class.*'malignent'.*Did you mean 'malignant'"):
        init(tmp_path, data="cells.csv", target="diagnosis", positive_class="malignent")
    with pytest.raises(ConfigError, match="Unknown KPI") as error:
        init(tmp_path / "new", data="../cells.csv", target="diagnosis", kpi="accurcy")
    assert "lamina.yaml" not in str(error.value) and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.csv"]  # nothing written


def test_cli_init_asks_for_the_positive_class_and_says_which_it_picked(tmp_path, capsys):
    _table().to_csv(tmp_path / "cells.csv", index=False)
    assert (
        main(["init", str(tmp_path), "--data", "cells.csv", "--target", "diagnosis", "--kpi", "f1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "class 'malignant', the minority class" in out and "--positive-class" in out
    assert "picked: the minority class" in (tmp_path / "lamina.yaml").read_text()
    assert (
        main(
            [
                "init",
                str(tmp_path),
                "--force",
                "--data",
                "cells.csv",
                "--target",
                "diagnosis",
                "--positive-class",
                "benign",
            ]
        )
        == 0
    )
    assert (
        Project.load(tmp_path).positive_class == "benign"
        and "minority" not in capsys.readouterr().out
    )
    (tmp_path / "lamina.yaml").write_text(
        (tmp_path / "lamina.yaml").read_text().replace('"benign"', "benin")
    )
    with pytest.raises(ConfigError, match=r"positive_class.*'benin'.*Did you mean 'benign'"):
        Project.load(tmp_path).run(["plan"], verbose=0)
    assert json.loads(json.dumps(Project.load(tmp_path).settings()))["positive_class"] == "benin"
