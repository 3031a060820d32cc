"""Shared test setup: pinned torch threads, data directory, doctest names."""

import os

import numpy as np
import pytest
import torch

# Tests may run in parallel on 2 cores: one torch thread each avoids oversubscription.
torch.set_num_threads(int(os.environ.get("LAMINA_TEST_THREADS", "1")))
os.environ.setdefault("LAMINA_DATA", os.path.join(os.path.dirname(__file__), "..", "shared", "datasets"))
os.environ.setdefault("LAMINA_VERBOSE", "0")
# Most tests check numbers against plain-torch or NumPy oracles on the CPU, so models train there even on a CUDA
# machine; `LAMINA_TEST_DEVICE=cuda pytest` runs the whole suite with CUDA as the default device instead.
os.environ["LAMINA_DEVICE"] = os.environ.get("LAMINA_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import lamina

    doctest_namespace.update({"lamina": lamina, "torch": torch, "np": np})


@pytest.fixture
def images():
    """48 single-channel 12x12 images of 3 classes; each class lights up its own row (learnable)."""
    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 12, 12), dtype=np.float32)
    y = np.arange(48) % 3
    x[np.arange(48), 0, y * 4, :] += 1.0
    return x, y


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """No user config file leaks into tests; files written land in a temp dir."""
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "no-config.json"))
