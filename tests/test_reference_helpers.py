"""Helpers shared across modules are public names at their home; no module takes another's private name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lamina._splits import is_frame
from lamina.eda import labelled, read_data
from lamina.reference import category_key, clean_json, numeric_summary, text_features, to_floats
from lamina.sources import label_task

pandas = pytest.importorskip("pandas")
ROOT = Path(__file__).resolve().parents[1]


def test_reference_features_and_summaries() -> None:
    summary = numeric_summary(np.array([1.0, 2.0, np.nan, 3.0, np.inf]))
    assert (
        summary["min"] == 1.0
        and summary["max"] == 3.0
        and len(summary["histogram"]["counts"]) == 20
    )
    assert numeric_summary(np.array([np.nan])) == {}
    assert text_features(["a b", "c"]).to_dict("list") == {"chars": [3, 1], "words": [2, 1]}
    assert np.isnan(to_floats(pandas.Series([1.0, None]))).tolist() == [False, True]
    assert to_floats(pandas.Series(pandas.to_datetime(["1970-01-01 00:00:10"])))[0] == 10.0
    assert [category_key(v) for v in (1.0, 1, "1", 2.5)] == ["1", "1", "1", "2.5"]
    assert clean_json({1: np.array([np.float32(0.1234567), np.nan])}) == {"1": [0.123457, None]}


def test_reading_data_lives_with_profiling() -> None:
    data = read_data((np.zeros((4, 2)), np.array([0.0, np.nan, 1.0, 1.0])))
    assert data.modality == "array" and labelled(data.y).tolist() == [True, False, True, True]
    assert is_frame(pandas.DataFrame({"a": [1]})) and not is_frame(np.zeros(2))
    assert (
        label_task(np.array(["a", "b"])) == "classification"
        and label_task(np.linspace(0, 1, 50)) == "regression"
    )


def test_eda_does_not_import_planning() -> None:
    code = "import sys, lamina.eda; print('lamina.planning' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_no_private_names_taken_across_modules() -> None:
    out = subprocess.run(
        [sys.executable, "tools/imports.py"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    listed = out.split("private names taken across modules:", 1)[1].splitlines()[1:]
    taken = [line.strip() for line in listed if " takes " in line]
    allowed = (
        "lamina.artifact.",
        "lamina.plot._plot_lr_find",
    )  # being reworked with the export and lr_find code
    assert [line for line in taken if not any(name in line for name in allowed)] == []
