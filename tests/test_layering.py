"""The house rules: wings in one order, no import cycles, no private names across modules.

The rules are declared once, in ``tools/imports.py`` (``WINGS``, bottom to top), and read here.
Every ``import`` counts, lazy ones inside functions included; imports under ``TYPE_CHECKING``
never run and do not count.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph_tool():
    spec = importlib.util.spec_from_file_location("lamina_imports", ROOT / "tools" / "imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles(graph_tool):
    assert graph_tool.cycles(graph_tool.graph()) == []


def test_no_import_runs_against_the_wing_order(graph_tool):
    assert graph_tool.upward(graph_tool.graph()) == []


def test_no_private_name_is_taken_across_modules(graph_tool):
    assert graph_tool.private_taken() == []


def test_only_the_front_door_lives_at_the_top(graph_tool):
    top = sorted(p.name for p in (ROOT / "lamina").glob("*.py"))
    assert top == ["__init__.py"]
    wings = {wing for group in graph_tool.WINGS for wing in group}
    folders = {
        p.name for p in (ROOT / "lamina").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert folders <= wings, folders - wings
    for folder in folders:
        doc = (ROOT / "lamina" / folder / "__init__.py").read_text().lstrip()
        assert doc.startswith('"""'), f"lamina/{folder}/__init__.py needs a one-line docstring"


def test_the_rules_catch_what_they_forbid(graph_tool, tmp_path):
    # The checker itself: a cycle, an upward import and a private name in a made-up package are found.
    edges = {"lamina.core.a": {"lamina.core.b"}, "lamina.core.b": {"lamina.core.a"}}
    assert graph_tool.cycles(edges) == [["lamina.core.a", "lamina.core.b"]]
    assert graph_tool.upward({"lamina.core.a": {"lamina.cli.main"}}) == [
        ("lamina.core.a", "lamina.cli.main")
    ]
    assert graph_tool.upward({"lamina.cli.main": {"lamina.core.a"}}) == []


def test_old_public_paths_name_the_same_modules():
    import lamina.eda
    import lamina.serve

    import lamina
    from lamina.data import eda as data_eda
    from lamina.deploy import serve as deploy_serve

    assert lamina.eda is data_eda and lamina.serve is deploy_serve
    assert lamina.eda.profile is data_eda.profile
    assert lamina.prepare.Pipeline.__module__ == "lamina.data.prepare"
    assert lamina.models.CNN is lamina.models.cnn.CNN and callable(lamina.data.load)
    assert {"eda", "serve", "prepare", "monitor", "testing"} <= set(dir(lamina))
