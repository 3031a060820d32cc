"""Projects: the project file, the stage machinery (content-hash skipping, --force) and a whole run."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lamina.errors import ConfigError

import lamina
from lamina.cli import main
from lamina.project import STAGES, Project, Stage, init, register_stage


def _table(rows=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    colour = rng.choice(["red", "green", "blue"], rows)
    label = np.where(x[:, 0] + 0.5 * x[:, 1] + (colour == "red") > 0.3, "yes", "no")
    return pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "colour": colour, "label": label}
    )


@pytest.fixture
def project_dir(tmp_path):
    _table().to_csv(tmp_path / "table.csv", index=False)
    init(
        tmp_path,
        name="toy",
        goal="Say yes or no.",
        kpi="accuracy",
        threshold=0.8,
        data="table.csv",
        target="label",
        train_seconds=3,
    )
    return tmp_path


def test_init_writes_a_file_that_loads(project_dir):
    project = Project.load(project_dir)
    assert (project.name, project.kpi, project.threshold) == ("toy", "accuracy", 0.8)
    assert project.data == {"source": "table.csv", "target": "label"}
    assert project.constraints == {"max_latency_ms": 100, "train_seconds": 3}
    assert project.run_path == project_dir / "runs"
    with pytest.raises(ConfigError, match="already exists"):
        init(project_dir)
    assert Project.load(project_dir).name == "toy"  # the refused init left the file alone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nkpi: accuracy\nthreshold: 0.9\n", "lacks required keys"),
        (
            "name: x\nkpi: accurcy\nthreshold: 0.9\ndata: d.csv\n",
            r"Unknown KPI in .*lamina.yaml.*Did you mean .accuracy.",
        ),
        ("name: x\nkpi: accuracy\nthreshold: high\ndata: d.csv\n", "not a number"),
        ("name: x\nkpi: accuracy\nthreshold: 0.9\ndata: d.csv\ncolour: red\n", "Unknown keys"),
        ("name: [x\n", "not valid YAML"),
        ("- a list\n", "not a mapping"),
    ],
)
def test_bad_project_files_say_what_to_fix(tmp_path, text, expected):
    (tmp_path / "lamina.yaml").write_text(text)
    with pytest.raises(ConfigError, match=expected):
        Project.load(tmp_path)


def test_missing_project_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="lamina init"):
        Project.load(tmp_path)


def test_unchanged_stages_are_skipped_and_force_redoes_them(project_dir):
    calls = []

    def count(context):
        calls.append(context.project.seed)
        (context.folder("count") / "out.txt").write_text("done")
        return {"rows": len(context.dataset())}

    register_stage(Stage("count", ("data",), ("seed",), count, uses_data=True))
    try:
        project = Project.load(project_dir)
        assert project.run(["count"], verbose=0)["count"] == {"rows": 240}
        project.run(["count"], verbose=0)
        assert len(calls) == 1  # same inputs: skipped
        project.run(["count"], force=True, verbose=0)
        assert len(calls) == 2
        project.seed = 1  # a setting the stage reads changed
        project.run(["count"], verbose=0)
        assert calls == [0, 0, 1]
        _table(seed=1).to_csv(project_dir / "table.csv", index=False)  # the data's content changed
        project.run(["count"], verbose=0)
        assert len(calls) == 4
        record = json.loads((project.run_path / "count" / "stage.json").read_text())
        assert record["result"] == {"rows": 240} and len(record["input_hash"]) == 64
    finally:
        del STAGES["count"]


def test_unknown_stage_lists_the_stages(project_dir):
    with pytest.raises(ConfigError, match="Unknown stage") as error:
        Project.load(project_dir).run(["trian"])
    assert "advise" in str(error.value)


def test_a_whole_run_ends_with_a_verdict(project_dir, capsys):
    project = Project.load(project_dir)
    results = project.run(verbose=0)
    assert list(results) == list(STAGES)
    verdict = results["evaluate"]["verdict"]
    assert verdict["kpi"] == "accuracy" and 0.5 < verdict["value"] <= 1
    assert verdict["met"] == (verdict["value"] >= 0.8)
    assert (project.run_path / "report" / "report.md").read_text().count("Verdict") >= 1
    # Nothing changed: a second run skips every stage and gives the same verdict.
    again = project.run(verbose=1)
    assert again["evaluate"]["verdict"] == verdict
    assert capsys.readouterr().out.count("unchanged, skipped") == len(STAGES)


@pytest.mark.slow
def test_cli_runs_a_csv_project_to_a_verdict(project_dir):
    done = subprocess.run(
        [sys.executable, "-m", "lamina.cli", "run", str(project_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Verdict: accuracy" in done.stdout and str(project_dir / "runs") in done.stdout


def test_cli_init_and_single_stage(tmp_path, capsys):
    _table().to_csv(tmp_path / "table.csv", index=False)
    assert (
        main(
            [
                "init",
                str(tmp_path),
                "--data",
                "table.csv",
                "--target",
                "label",
                "--kpi",
                "f1",
                "--threshold",
                "0.7",
            ]
        )
        == 0
    )
    assert Project.load(tmp_path).kpi == "f1"
    assert main(["data", str(tmp_path)]) == 0
    assert "240 rows" in capsys.readouterr().out
    assert main(["init", str(tmp_path)]) == 2  # exists: a clear error, not a traceback
    assert "already exists" in capsys.readouterr().err


def test_plan_and_advise_take_a_data_file(tmp_path, capsys):
    _table().to_csv(tmp_path / "table.csv", index=False)
    assert main(["plan", str(tmp_path / "table.csv"), "--target", "label"]) == 0
    assert main(["advise", str(tmp_path / "table.csv"), "--target", "label", "--budget", "2"]) == 0
    out = capsys.readouterr().out
    assert "HistGradientBoosting" in out and "MLP" in out


def test_project_api_is_public():
    assert lamina.Project is Project
    assert callable(lamina.plan) and callable(lamina.advise)


def test_a_project_reads_its_data_from_postgresql(postgres, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_PASSWORD", postgres.password)
    url = f"postgresql+psycopg://lamina:${{SHOP_PASSWORD}}@127.0.0.1:{postgres.port}/shop"
    (tmp_path / "lamina.yaml").write_text(
        f"name: returns\nkpi: accuracy\nthreshold: 0.5\nconstraints: {{train_seconds: 3}}\n"
        f"data:\n  source: {url}\n  target: returned\n"
        f"  options: {{query: 'SELECT price, country, returned FROM orders'}}\n"
    )
    project = Project.load(tmp_path)
    results = project.run(verbose=0)
    assert results["data"]["rows"] == 300
    assert results["evaluate"]["verdict"]["met"]
    written = "".join(
        path.read_text(errors="ignore") for path in project.run_path.rglob("*") if path.is_file()
    )
    assert postgres.password not in written  # the password never reaches the run directory


@pytest.mark.slow
@pytest.mark.needs_data("adult", "sentiment")
@pytest.mark.parametrize("name", ["adult", "sentiment"])
def test_example_projects_run_to_a_verdict(name, tmp_path):
    """The example projects complete (mnist's is run by benchmarks/projects.py: minutes of training)."""
    folder = tmp_path / name
    shutil.copytree(Path(__file__).parents[1] / "examples" / "projects" / name, folder)
    project = Project.load(folder)
    project.constraints["train_seconds"] = (
        5  # a short budget keeps the test fast; the file's is for real use
    )
    verdict = project.run(verbose=0)["evaluate"]["verdict"]
    assert verdict["kpi"] == "accuracy" and 0.6 < verdict["value"] <= 1
    assert verdict["sentence"] in (project.run_path / "report" / "report.md").read_text()


def test_preparation_is_fitted_on_training_rows_and_saved_with_the_model(tmp_path):
    frame = _table(300)
    frame.loc[::7, "a"] = np.nan  # missing numbers and categories
    frame.loc[::11, "colour"] = None
    frame["when"] = pd.date_range("2024-01-01", periods=300, freq="h")
    frame.to_csv(tmp_path / "t.csv", index=False)
    init(tmp_path, data="t.csv", target="label", threshold=0.6, train_seconds=2)
    project = Project.load(tmp_path)
    results = project.run(verbose=0)
    assert "Impute" in results["prepare"]["pipeline"]
    with np.load(project.run_path / "prepare" / "split.npz") as split:
        train = split["train"]
    pipeline = lamina.prepare.Pipeline.load(project.run_path / "prepare" / "pipeline")
    numbers = next(step for step in pipeline.steps if type(step).__name__ == "Impute")
    fills = dict(zip(numbers.state_["columns"], numbers.state_["fill"]))
    assert fills["a"] == pytest.approx(
        np.nanmedian(frame["a"].to_numpy()[train])
    )  # training rows only
    model = lamina.fitted.FittedModel.load(project.run_path / "train" / "model")
    assert (
        model.pipeline is not None
    )  # the saved model carries the steps and applies them to raw rows
    raw = frame.drop(columns=["label"]).iloc[:20]
    assert set(model.predict(raw)) <= {"yes", "no"}


def test_group_split_keeps_each_group_on_one_side(tmp_path):
    frame = _table(300)
    frame["customer"] = np.arange(300) // 5
    frame.to_csv(tmp_path / "t.csv", index=False)
    init(tmp_path, data="t.csv", target="label", threshold=0.6, train_seconds=2)
    project = Project.load(tmp_path)
    project.prepare = {"split": "group", "group_column": "customer"}
    result = project.run(["prepare"], verbose=0)["prepare"]
    assert result["kind"] == "group"
    with np.load(project.run_path / "prepare" / "split.npz") as split:
        customers = frame["customer"].to_numpy()
        train, test = set(customers[split["train"]]), set(customers[split["test"]])
    assert train and test and not train & test


def test_a_saved_classical_model_with_an_untrusted_function_is_refused(tmp_path):
    import os as os_module

    from lamina.errors import DataError, UnsafeFileError
    from lamina.fitted import FittedModel
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    hostile = make_pipeline(
        FunctionTransformer(os_module.system), LogisticRegression()
    )  # os.system by name
    hostile.steps[1][1].fit(x, y)
    FittedModel(
        "evil",
        "classical",
        hostile,
        {"modality": "array", "task": "classification", "classes": [0, 1]},
    ).save(tmp_path / "evil")
    with pytest.raises(
        (DataError, UnsafeFileError), match="does not trust|does not write"
    ) as error:
        FittedModel.load(tmp_path / "evil")
    assert "system" in str(error.value)


def test_the_saved_model_carries_the_training_reference_profile(project_dir):
    project = Project.load(project_dir)
    project.run(verbose=0)
    model = lamina.fitted.FittedModel.load(project.run_path / "train" / "model")
    assert model.reference["rows"] == 240  # the profile of the whole data set
    assert set(model.reference["columns"]) >= {"a", "b", "c", "colour"}
    assert (project.run_path / "eda" / "eda.html").read_text().count("<section") >= 3


def test_serving_a_project_uses_its_model_log_and_privacy_fields(project_dir, monkeypatch):
    import lamina.serve

    text = (project_dir / "lamina.yaml").read_text() + "privacy: {redact: [colour], hash: [a]}\n"
    (project_dir / "lamina.yaml").write_text(text)
    seen = {}
    monkeypatch.setattr(
        lamina.serve,
        "serve",
        lambda model_dir, **options: seen.update(options, model_dir=model_dir),
    )
    assert main(["serve", str(project_dir), "--hash", "b"]) == 0
    assert seen["model_dir"] == str(project_dir / "runs" / "train" / "model")
    assert seen["log_path"] == str(project_dir / "runs" / "serve" / "predictions.jsonl")
    assert seen["redact"] == ["colour"] and seen["hash_fields"] == ["b", "a"]
