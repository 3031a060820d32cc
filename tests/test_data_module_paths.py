"""The data wing's public paths survive its split into smaller modules."""

import pandas as pd
from lamina.eda import Data, labelled, profile, read_data
from lamina.prepare import STEPS, Augment, Impute, Pipeline, Scale, Step, TextTokens
from lamina.sources import Dataset, iter_chunks, label_task, load

import lamina


def test_old_paths_name_the_moved_objects():
    assert lamina.data.Dataset is Dataset
    assert lamina.data.load is load and lamina.data.iter_chunks is iter_chunks
    assert label_task(pd.Series([0, 1, 0]).to_numpy()) == "classification"
    assert isinstance(read_data(pd.DataFrame({"a": [1, 2], "y": [0, 1]}), "y"), Data)
    assert labelled(pd.Series([1.0, None]).to_numpy()).tolist() == [True, False]
    assert all(issubclass(cls, Step) for cls in (Impute, Scale, TextTokens, Augment))
    assert sorted(STEPS) == sorted(cls.__name__ for cls in STEPS.values())
    assert repr(Pipeline([Impute()])).startswith("lamina.prepare.Pipeline([lamina.prepare.Impute(")


def test_profile_to_html_writes_only_when_given_a_path(tmp_path):
    report = profile(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]}), "y")
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and list(tmp_path.iterdir()) == []
    path = tmp_path / "profile.html"
    assert report.to_html(path) == page
    assert path.read_text(encoding="utf-8") == page
