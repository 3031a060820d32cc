"""Loaders refuse crafted files before anything in them runs.

Each malicious file is built here; a payload that would run leaves a marker file, which must not appear.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from lamina.errors import UnsafeFileError
from lamina.fitted import TRUSTED_TYPES, FittedModel

import lamina


# ---------------------------------------------------------------- skops files (lamina.fitted)
def _node(module: str, name: str, loader: str, content: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"__class__": name, "__module__": module, "__loader__": loader}
    if content is not None:
        node["content"] = content
    return node


def _text(value: str) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _call(module: str, name: str, *args: Any) -> dict[str, Any]:
    """A node skops builds by calling ``module.name(*args)``."""
    return _node(
        module,
        name,
        "ConstructorFromReduceNode",
        _node("builtins", "tuple", "TupleNode", list(args)),
    )


def _payloads(marker: Path) -> dict[str, dict[str, Any]]:
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "exec": _call("builtins", "exec", _text(touch)),
        "eval": _call("builtins", "eval", _text(touch)),
        "os.system": _call("os", "system", _text(f"touch '{marker}'")),
        "subprocess.Popen": _call(
            "subprocess",
            "Popen",
            _node("builtins", "list", "ListNode", [_text("touch"), _text(str(marker))]),
        ),
        "__import__": _call("builtins", "__import__", _text("os")),
        "getattr chain": _call(
            "builtins", "getattr", _call("builtins", "__import__", _text("os")), _text("system")
        ),
        "partial(os.system)": _node(
            "functools",
            "partial",
            "PartialNode",
            {
                "func": _node("os", "system", "FunctionNode"),
                "args": _node("builtins", "tuple", "TupleNode", [_text(f"touch '{marker}'")]),
                "kwds": _node("builtins", "dict", "DictNode", {}),
                "namespace": _node("builtins", "dict", "DictNode", {}),
            },
        ),
        "loss constructor": _node(
            "os",
            "system",
            "LossNode",
            _node("builtins", "tuple", "TupleNode", [_text(f"touch '{marker}'")]),
        ),
        "method": _node("builtins", "str", "MethodNode", {"func": "format", "obj": _text("x")}),
    }


def _saved_classical(folder: Path) -> Path:
    """A real lamina classical model saved to ``folder``; returns its model.skops."""
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    FittedModel(
        "logistic regression",
        "classical",
        model,
        {"modality": "array", "task": "classification", "classes": [0, 1]},
    ).save(folder)
    return folder / "model.skops"


def _rewrite(path: Path, edit: Any) -> None:
    """Rewrite the schema of the skops file at ``path`` with ``edit(schema)``, keeping its other members."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    edit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _inject(schema: dict[str, Any], key: str, payload: dict[str, Any]) -> None:
    """Add ``key: payload`` to the estimator's attribute dict (with its key type, so skops builds it)."""
    attributes = schema["content"]
    attributes["content"][key] = payload
    attributes["key_types"]["content"].append(_node("builtins", "str", "TypeNode"))


@pytest.mark.parametrize("kind", list(_payloads(Path("m"))))
def test_skops_payload_is_refused_before_it_runs(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    path = _saved_classical(tmp_path / "model")
    payload = _payloads(marker)[kind]
    # hidden deep inside a genuine estimator's attributes, where a shallow check would miss it
    _rewrite(path, lambda schema: _inject(schema, "coef_extra", payload))
    with pytest.raises(UnsafeFileError, match="names types lamina does not write") as error:
        FittedModel.load(tmp_path / "model")
    assert "model.skops" in str(error.value)
    assert not marker.exists()


def test_skops_payload_as_the_whole_file_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _saved_classical(tmp_path / "model")
    _rewrite(
        path, lambda schema: (schema.clear(), schema.update(_payloads(marker)["exec"], protocol=2))
    )
    with pytest.raises(UnsafeFileError, match=r"builtins\.exec"):
        FittedModel.load(tmp_path / "model")
    assert not marker.exists()


def test_the_exec_payload_is_live_when_skops_is_told_to_trust_it(tmp_path: Path) -> None:
    """The control: the crafted file really runs code under a prefix allowlist, so refusing it matters."""
    marker = tmp_path / "ran"
    path = _saved_classical(tmp_path / "model")
    _rewrite(path, lambda schema: _inject(schema, "extra", _payloads(marker)["exec"]))
    untrusted = skops.io.get_untrusted_types(file=path)
    assert "builtins.exec" in untrusted
    skops.io.load(path, trusted=untrusted)
    assert marker.exists()


def test_skops_bit_generator_name_and_protocol_are_checked(tmp_path: Path) -> None:
    path = _saved_classical(tmp_path / "model")
    generator = _node(
        "numpy.random._generator",
        "Generator",
        "RandomGeneratorNode",
        {
            "bit_generator": {"content": {"bit_generator": _text("set_bit_generator")}},
            "seed_seq": _text(""),
        },
    )
    _rewrite(path, lambda schema: _inject(schema, "rng", generator))
    with pytest.raises(UnsafeFileError, match="numpy.random.set_bit_generator"):
        FittedModel.load(tmp_path / "model")
    path = _saved_classical(tmp_path / "old")
    _rewrite(path, lambda schema: schema.update(protocol=0))
    with pytest.raises(UnsafeFileError, match="protocol 0"):
        FittedModel.load(tmp_path / "old")


def test_a_skops_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = _saved_classical(tmp_path / "model")
    path.write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(UnsafeFileError, match="not a readable skops file"):
        FittedModel.load(tmp_path / "model")


def test_trusted_types_are_exact_names() -> None:
    assert all("." in name and not name.endswith(".") for name in TRUSTED_TYPES)
    assert not {"builtins.exec", "builtins.eval", "builtins.getattr", "os.system"} & TRUSTED_TYPES


def _table(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=rows),
            "rooms": rng.integers(1, 6, rows),
            "city": rng.choice(["north", "south", "east"], rows),
        }
    )
    frame.loc[::9, "size"] = np.nan
    frame["label"] = np.where(frame["rooms"] > 3, "big", "small")
    frame["price"] = frame["rooms"] * 2.0 + rng.normal(size=rows)
    return frame


@pytest.mark.parametrize("case", ["table classes", "table regression", "array", "text"])
def test_every_classical_candidate_round_trips(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(1)
    if case.startswith("table"):
        frame = _table()
        target = "label" if case == "table classes" else "price"
        data: Any = frame.drop(columns=["price" if target == "label" else "label"])
        x: Any = data.drop(columns=[target])
        advice = lamina.advise(data, target, time_budget=0.5, keep=True)
    elif case == "array":
        x = rng.normal(size=(150, 4)).astype("float32")
        advice = lamina.advise(
            (x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)), time_budget=0.5, keep=True
        )
    else:
        words = ["good", "bad", "plot", "great", "awful", "film"]
        x = [" ".join(rng.choice(words, 6)) for _ in range(120)]
        advice = lamina.advise(
            (x, np.array(["pos" if "good" in t else "neg" for t in x])), time_budget=0.5, keep=True
        )
    classical = {
        name: fitted for name, fitted in advice.fitted.items() if fitted.family == "classical"
    }
    assert classical
    for name, fitted in classical.items():
        folder = fitted.save(tmp_path / name.replace(" ", "_"))
        loaded = FittedModel.load(folder)
        np.testing.assert_array_equal(loaded.predict(x[:10]), fitted.predict(x[:10]), err_msg=name)


def test_boosting_with_early_stopping_round_trips(tmp_path: Path) -> None:
    """Over 10,000 rows the boosting candidate keeps a NumPy random generator; it is on the list too."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(0).normal(size=(10_500, 2))
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(x, x[:, 0] > 0)
    assert (
        "RandomGeneratorNode"
        in zipfile.ZipFile(io.BytesIO(skops.io.dumps(model))).read("schema.json").decode()
    )
    fitted = FittedModel(
        "HistGradientBoosting",
        "classical",
        model,
        {"modality": "array", "task": "classification", "classes": [False, True]},
    )
    loaded = FittedModel.load(fitted.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict(x[:50]), fitted.predict(x[:50]))


# ---------------------------------------------------------------- the other loaders
class _Touch:
    """Pickles to a call that creates ``marker`` (plain pickle would run it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


def test_artifact_spec_naming_os_system_is_refused(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "ran"
    model = lamina.Sequential([lamina.layers.Dense(2)])
    model.build(torch.ones(1, 3))
    folder = Path(model.save(tmp_path / "model"))
    manifest = json.loads((folder / "lamina.json").read_text())
    for spec in (
        {"class": "os.system", "config": {"__args__": [f"touch '{marker}'"]}},
        {
            "class": "lamina.Sequential",
            "config": {
                "layers": [
                    {
                        "class": "builtins.eval",
                        "config": {"__args__": [f"open({str(marker)!r}, 'w')"]},
                    }
                ]
            },
        },
    ):
        manifest["architecture"] = spec
        (folder / "lamina.json").write_text(json.dumps(manifest))
        with pytest.raises(UnsafeFileError, match="not on lamina's allowlist"):
            lamina.load(folder)
    assert not marker.exists()


def test_pipeline_json_naming_an_unknown_step_is_refused(tmp_path: Path) -> None:
    from lamina.prepare import Pipeline, Scale

    folder = Pipeline([Scale()]).fit(np.ones((4, 2), np.float32)).save(tmp_path / "pipeline")
    saved = json.loads((folder / "pipeline.json").read_text())
    saved["steps"][0]["name"] = "os.system"
    (folder / "pipeline.json").write_text(json.dumps(saved))
    with pytest.raises(UnsafeFileError, match="os.system"):
        Pipeline.load(folder)


def test_npy_with_pickled_objects_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "data.npy"
    np.save(path, np.array([_Touch(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(lamina.errors.DataError, match="pickle"):
        lamina.data.load(str(path))
    assert not marker.exists()


def test_project_yaml_with_python_tags_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "lamina.yaml").write_text(
        f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(lamina.errors.ConfigError, match="not valid YAML"):
        lamina.project.Project.load(tmp_path)
    assert not marker.exists()


def test_checkpoint_latest_pointing_outside_is_not_followed(tmp_path: Path) -> None:
    import torch
    from lamina.checkpoint import Checkpointer, CheckpointError

    inside, outside = Checkpointer(tmp_path / "run"), Checkpointer(tmp_path / "elsewhere")
    inside.save({"step": 1, "w": torch.zeros(2)}, 1)
    foreign = outside.save({"step": 9, "w": torch.ones(2)}, 9)
    (tmp_path / "run" / "LATEST").write_text(f"../elsewhere/{foreign.name}")
    assert inside.latest() == tmp_path / "run" / "step-000001"
    assert inside.load()["step"] == 1  # type: ignore[index]
    state = json.loads((inside.latest() / "state.json").read_text())  # type: ignore[operator]
    state["w"] = {"__tensor__": "no such tensor"}
    (tmp_path / "run" / "step-000001" / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="malformed"):
        inside.load()


@pytest.mark.parametrize("link", ["file outside", "folder outside", "dangling", "folder inside"])
def test_registry_refuses_links_out_of_a_model_folder(
    tmp_path: Path, link: str, plain_dir: Any
) -> None:
    import shutil

    from lamina.model_registry import ModelRegistry

    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0")
    folder = tmp_path / "model"
    shutil.copytree(plain_dir[0], folder)
    target = {
        "file outside": secret / "passwd",
        "folder outside": secret,
        "dangling": tmp_path / "missing",
        "folder inside": folder,
    }[link]
    (folder / "extra").symlink_to(target)
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(UnsafeFileError, match="link that points outside") as error:
        registry.register(folder, "churn")
    assert "extra" in str(error.value)
    assert not registry.versions()
    assert not any(
        "root:x" in path.read_text(errors="ignore")
        for path in (tmp_path / "registry").rglob("*")
        if path.is_file() and path.suffix != ".db"
    )


def test_registry_copies_a_link_to_a_file_inside_as_that_file(
    tmp_path: Path, plain_dir: Any
) -> None:
    import shutil

    from lamina.model_registry import ModelRegistry

    folder = tmp_path / "model"
    shutil.copytree(plain_dir[0], folder)
    (folder / "notes.txt").write_text("v1")
    (folder / "README").symlink_to(folder / "notes.txt")
    version = ModelRegistry(tmp_path / "registry").register(folder, "churn")
    stored = version.path / "README"
    assert not stored.is_symlink() and stored.read_text() == "v1"
