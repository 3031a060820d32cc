"""Every example in examples/ runs."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
# Over 10 s each on 2 CPU cores; `-m "not slow"` leaves them out.
SLOW = {
    "autoencoder_mnist.py",
    "dbn_mnist.py",
    "gan_mnist.py",
    "retrain_shift.py",
    "transformer_shakespeare.py",
}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in EXAMPLES],
    ids=[p.name for p in EXAMPLES],
)
def test_example_runs(path, tmp_path):
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "LAMINA_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test:" in done.stdout
