"""The project report: every section present, a planted unfair slice flagged, and the page loads cleanly in a
real headless browser (Debian's chromium driven by Playwright) with no console error and no external request."""

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lamina.report import SECTIONS, bootstrap

from lamina.project import Project, init


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "Debian's chromium is not installed: .ci/run installs it (apt-get install chromium)."
        )
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A run of a small table project where group 'b' gets noisy labels (the model serves it worse)."""
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    rows = 600
    x = rng.normal(size=(rows, 2))
    group = np.where(np.arange(rows) % 3 == 0, "b", "a")
    label = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    noisy = (group == "b") & (rng.random(rows) < 0.4)
    label[noisy] = np.where(label[noisy] == "yes", "no", "yes")
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "group": group, "label": label}).to_csv(
        folder / "t.csv", index=False
    )
    init(
        folder,
        name="fairness check",
        goal="Approve the right applications.",
        data="t.csv",
        target="label",
        threshold=0.8,
        train_seconds=3,
    )
    project = Project.load(folder)
    project.report = {"slices": ["group"]}
    result = project.run(verbose=0)["report"]
    return Path(result["path"])


def test_every_section_is_in_the_page(report):
    page = report.read_text()
    for key in SECTIONS:
        assert f'<section id="{key}">' in page, key
    assert "http://" not in page and "https://" not in page  # self-contained: opens offline
    assert page.count("data:image/png;base64,") >= 2  # the confusion matrix and calibration plots
    assert "Approve the right applications." in page


def test_a_group_served_worse_is_flagged(report):
    page = report.read_text()
    slices = page[page.index('<section id="slices">') : page.index('<section id="calibration">')]
    assert 'class="flag"' in slices
    assert "Quality differs between groups" in page  # and the model card says so


def test_bootstrap_interval_brackets_the_value():
    truth = np.array([1, 0] * 50)
    predicted = truth.copy()
    predicted[:20] = 1 - predicted[:20]
    value, low, high = bootstrap(lambda t, p: float(np.mean(t == p)), truth, predicted)
    assert value == 0.8 and low < 0.8 < high and high - low < 0.25


def test_the_page_loads_in_headless_chromium(report, tmp_path):
    from playwright.sync_api import sync_playwright

    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "request",
            lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
        )
        page.goto(report.as_uri())
        for key in SECTIONS:
            assert page.locator(f"section#{key} h2").count() == 1, key
            assert page.locator(f"section#{key}").inner_text().strip(), key
        images = page.locator("img")
        assert images.count() >= 2
        assert all(
            page.evaluate("(i) => i.naturalWidth > 0", images.nth(k).element_handle())
            for k in range(images.count())
        )  # every embedded plot decodes
        shot = Path(os.environ.get("LAMINA_REPORT_SCREENSHOT", tmp_path / "report.png"))
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == [] and requests == []
    assert shot.stat().st_size > 10_000


def test_the_page_reads_plainly(report):
    """Class names, the KPI's definition, the chosen model described in the card, no empty header row and no
    internal field names."""
    import html
    import json

    page = report.read_text()
    card = page[page.index('<section id="card">') : page.index('<section id="reproducibility">')]
    train = json.loads((report.parent.parent / "train" / "stage.json").read_text())["result"]
    assert train["candidate"] in card and (
        "classical scikit-learn model" in card or "neural network" in card
    )
    if train["family"] == "classical":
        assert (
            "parameters for" not in card
        )  # the plan's note on the default network is no limit of this model
    assert (
        "<tr><th></th><th></th></tr>" not in page
        and "fit s<" not in page
        and ">seconds<" not in page
    )
    assert html.escape("F1 of class 'yes'") in page or html.escape("F1 of class 'no'") in page
    confusion = page[page.index('<section id="confusion">') : page.index('<section id="slices">')]
    assert "<td>yes</td>" in confusion and "<td>no</td>" in confusion
