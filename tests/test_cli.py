"""The lamina command: demo, info and help."""

import subprocess
import sys

import numpy as np

import lamina
from lamina.cli import main


def test_demo_trains_saves_and_reloads(tmp_path, capsys):
    code = main(["demo", "--epochs", "15", "--out", str(tmp_path / "demo"), "--verbose", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in out and "predictions identical" in out and str(tmp_path / "demo") in out
    model = lamina.load(tmp_path / "demo")
    digits = lamina.datasets.load("digits")
    assert model.evaluate(digits.x_test / 16.0, digits.y_test)["accuracy"] > 0.9
    assert np.isfinite(model.history_.history["loss"]).all()


def test_info_prints_versions_and_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"lamina   {lamina.__version__}" in out and "torch" in out and "device   cpu" in out


def test_help_for_every_command():
    for argv in ([], ["demo"], ["info"]):
        done = subprocess.run([sys.executable, "-m", "lamina.cli", *argv, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage: lamina" in done.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
