"""Shared test setup: pinned torch threads, data directory, doctest names."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests may run in parallel on 2 cores: one torch thread each avoids oversubscription.
torch.set_num_threads(int(os.environ.get("LAMINA_TEST_THREADS", "1")))
# Data sets that are not in the repository (MNIST, Cora, ...) are read from LAMINA_DATA, by default from
# ../shared/datasets beside the checkout. With neither, the tests that need them are skipped (one summary line).
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "shared" / "datasets"
DATA_FOUND = bool(os.environ.get("LAMINA_DATA")) or DEFAULT_DATA.is_dir()
os.environ.setdefault("LAMINA_DATA", str(DEFAULT_DATA))
NO_DATA = "data sets not found"
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


# ---------------------------------------------------------------- tests that need data sets
def _bundled() -> set[str]:
    return {"digits", "digit_sequences", "arithmetic_trees"}


def _named_data_sets(text: str) -> list[str]:
    """Data sets that ``text`` (a doctest or an example script) loads by name, bundled ones left out."""
    import lamina.datasets

    names = set(re.findall(r"datasets\.load\(\s*[\"'](\w+)[\"']", text))
    return sorted(names & set(lamina.datasets.names()) - _bundled())


def _needs_data(item: pytest.Item) -> list[str]:
    """The data sets ``item`` reads: its ``needs_data`` marks, or those its doctest or example script loads."""
    names = [str(name) for mark in item.iter_markers("needs_data") for name in mark.args]
    if hasattr(item, "dtest"):  # a doctest
        names += _named_data_sets("\n".join(example.source for example in item.dtest.examples))
    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        if (
            isinstance(value, Path) and value.suffix == ".py" and value.is_file()
        ):  # an example script
            names += _named_data_sets(value.read_text(encoding="utf-8"))
    return sorted(set(names))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DATA_FOUND:
        return
    for item in items:
        names = _needs_data(item)
        if names:
            item.add_marker(
                pytest.mark.skip(reason=f"{NO_DATA} ({', '.join(names)}); set LAMINA_DATA")
            )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if NO_DATA in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} tests skipped: {NO_DATA}; set LAMINA_DATA=/path/to/datasets "
            "to run them (CI's .ci/run sets it to ../shared/datasets)"
        )
