"""The lamina command: demo, info and help."""

import json
import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina.cli import main


def test_demo_runs_a_project_from_goal_to_verdict(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "demo"), "--budget", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Verdict: accuracy" in out and "MET" in out and str(tmp_path / "demo" / "runs") in out
    for stage in lamina.project.STAGES:
        assert f"[{stage}] done" in out
    verdict = json.loads((tmp_path / "demo" / "runs" / "evaluate" / "verdict.json").read_text())
    assert verdict["met"] and verdict["value"] >= 0.95
    # The saved model predicts the digits from disk.
    model = lamina.fitted.FittedModel.load(tmp_path / "demo" / "runs" / "train" / "model")
    digits = lamina.data.load("digits")
    assert np.mean(model.predict(digits.x_test).astype(int) == digits.y_test) == pytest.approx(
        verdict["value"]
    )
    # A second demo skips every unchanged stage.
    assert main(["demo", "--out", str(tmp_path / "demo"), "--budget", "5"]) == 0
    assert capsys.readouterr().out.count("unchanged, skipped") == len(lamina.project.STAGES)


def test_info_prints_versions_and_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"lamina   {lamina.__version__}" in out and "torch" in out and "device   cpu" in out


@pytest.mark.slow
def test_help_for_every_command():
    for argv in (
        [],
        ["demo"],
        ["train"],
        ["info"],
        ["init"],
        ["run"],
        ["plan"],
        ["advise"],
        ["data"],
        ["eda"],
        ["prepare"],
        ["evaluate"],
        ["report"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "lamina.cli", *argv, "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0 and "usage: lamina" in done.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_train_saves_model_and_checkpoints(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--verbose",
        "0",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and str(out / "model") in printed
    # lamina.data.load("digits") gives the images (N, 1, 8, 8), as the project stages see them
    assert lamina.load(out / "model").predict(np.zeros((1, 1, 8, 8), dtype=np.float32)).shape == (
        1,
        10,
    )
    assert lamina.checkpoint.Checkpointer(out / "checkpoints").latest() is not None


def test_train_resume_continues_a_killed_run(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "lamina.cli",
        "train",
        "--model",
        "cnn",
        "--data",
        "digits",
        "--epochs",
        "40",
        "--out",
        str(out),
        "--verbose",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = lamina.checkpoint.Checkpointer(out / "checkpoints")
    deadline = time.monotonic() + 120
    while checkpoints.latest() is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_epochs = int(checkpoints.load()["epoch"])
    assert 1 <= done_epochs < 40
    resumed = subprocess.run(
        [*command, "--resume", "--epochs", str(done_epochs + 1)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lines = [line for line in resumed.stdout.splitlines() if line.startswith("Epoch ")]
    assert lines and lines[0].startswith(f"Epoch {done_epochs + 1}/{done_epochs + 1}")


def test_train_bad_model_and_data_names(capsys):
    assert main(["train", "--model", "transformerx", "--data", "digits", "--verbose", "0"]) == 2
    assert "Unknown model" in capsys.readouterr().err
    assert main(["train", "--model", "mlp", "--data", "nosuchdata", "--verbose", "0"]) == 2
    assert "No file or folder at this path. Received: nosuchdata" in capsys.readouterr().err


def test_train_on_a_csv_with_text_labels(tmp_path, capsys):
    rows = ["a,b,label"] + [f"{i},{(i * 7) % 5},{'cat' if i % 2 else 'dog'}" for i in range(40)]
    (tmp_path / "table.csv").write_text("\n".join(rows))
    argv = [
        "train",
        "--model",
        "mlp",
        "--data",
        str(tmp_path / "table.csv"),
        "--target",
        "label",
        "--epochs",
        "2",
        "--out",
        str(tmp_path / "run"),
        "--verbose",
        "0",
    ]
    assert main(argv) == 0
    assert "classes: cat, dog" in capsys.readouterr().out
    assert lamina.load(tmp_path / "run" / "model").predict(
        np.zeros((1, 2), dtype=np.float32)
    ).shape == (1, 2)


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert (
        done.value.code == 0 and capsys.readouterr().out.strip() == f"lamina {lamina.__version__}"
    )


def test_every_subcommand_help_lists_its_defaults_and_choices(monkeypatch):
    import argparse

    from lamina.cli import build_parser

    monkeypatch.setenv("COLUMNS", "250")  # no wrapping inside a default such as lamina-runs/demo
    commands = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    assert {"serve", "export", "train", "monitor", "registry"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if (
                action.default not in (None, False, [], argparse.SUPPRESS)
                and action.help != argparse.SUPPRESS
            ):
                assert str(action.default) in text, (name, action.dest)
            assert all(str(choice) in text for choice in action.choices or []), (name, action.dest)
    serve_help = commands["serve"].format_help()
    assert (
        "(default: 8000)" in serve_help
        and "(default: 10.0)" in serve_help
        and "--allow-missing" in serve_help
    )


def test_serve_passes_the_project_name_missing_columns_and_body_limit(tmp_path, monkeypatch):
    import lamina.serve

    (tmp_path / "lamina.yaml").write_text(
        "name: shop\nkpi: accuracy\nthreshold: 0.9\ndata: {source: digits}\n"
        "serving: {allow_missing: [colour]}\n"
    )
    seen = {}
    monkeypatch.setattr(
        lamina.serve,
        "serve",
        lambda model_dir, **options: seen.update(options, model_dir=model_dir),
    )
    assert main(["serve", str(tmp_path), "--max-body-mb", "2.5", "--allow-missing", "size"]) == 0
    assert seen["name"] == "shop" and seen["allow_missing"] == ["size", "colour"]
    assert seen["max_body_bytes"] == 2_500_000 and seen["model_dir"] == str(
        tmp_path / "runs" / "train" / "model"
    )
    assert main(["serve", str(tmp_path), "--name", "other"]) == 0 and seen["name"] == "other"
    assert lamina.Project.load(tmp_path).serving == {"allow_missing": ["colour"]}
