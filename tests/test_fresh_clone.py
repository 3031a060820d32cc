"""A checkout with no data sets beside it: tests that need them are skipped with one line naming LAMINA_DATA."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = """
from pathlib import Path

import pytest


@pytest.mark.needs_data("mnist")
def test_reads_mnist():
    raise AssertionError("ran without its data set")


@pytest.mark.parametrize("path", [Path(__file__).with_name("example.py")])
def test_example(path):
    raise AssertionError("ran without its data set")


def test_plain():
    pass
"""
EXAMPLE = 'import lamina\ndata = lamina.datasets.load("cora")\n'
DOCTEST = '''def f():
    """
    >>> lamina.datasets.load("tinyshakespeare").x_train[:3]
    'Fir'
    >>> lamina.datasets.load("digits").x_train.shape
    (1438, 64)
    """
'''


def _checkout(tmp_path: Path) -> Path:
    """A copy of the test setup in a folder with no ``../shared/datasets`` beside it."""
    root = tmp_path / "clone" / "lamina"
    (root / "tests").mkdir(parents=True)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    (root / "tests" / "test_data.py").write_text(TESTS)
    (root / "tests" / "example.py").write_text(EXAMPLE)
    (root / "tests" / "module.py").write_text(DOCTEST)
    return root


def _pytest(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "LAMINA_DATA"} | env
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_data.py",
            "tests/module.py",
            "-p",
            "no:randomly",
        ],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_data_sets_they_are_skipped_with_one_line(tmp_path: Path) -> None:
    done = _pytest(_checkout(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed, 3 skipped" in done.stdout
    lines = [line for line in done.stdout.splitlines() if "LAMINA_DATA=" in line]
    assert lines == [
        "3 tests skipped: data sets not found; set LAMINA_DATA=/path/to/datasets to run them (CI's "
        ".ci/run sets it to ../shared/datasets)"
    ]


def test_with_lamina_data_set_they_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = _pytest(_checkout(tmp_path), LAMINA_DATA=str(tmp_path / "empty"))
    assert "3 failed, 1 passed" in done.stdout, done.stdout[-3000:]
    assert "data sets not found" not in done.stdout
