"""Saving and loading: round trips, fresh processes, and the safety promises of README "Saving is safe".

A saved model is a directory (``lamina.json`` + ``weights.safetensors`` + ``history.json``).
Loading must rebuild only allowlisted classes, never import a name read from a file, never
unpickle, and refuse corrupt or mismatched weights with an error that names the tensor.
"""

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from lamina.errors import ArtifactError, NotBuiltError, UnsafeFileError, WeightsError
from lamina.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Reshape
from safetensors.torch import load_file, save_file

import lamina

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(lamina.__file__).resolve().parents[1]
RNG = np.random.default_rng(0)
X16 = RNG.normal(size=(48, 16)).astype(np.float32)
Y3 = RNG.integers(0, 3, size=48)
X4 = RNG.normal(size=(24, 4)).astype(np.float32)


# ---------------------------------------------------------------- user code used by the tests
@lamina.register
class Scale(torch.nn.Module):
    """A user module: a linear map times a constant."""

    def __init__(self, features: int = 4, factor: float = 2.0):
        super().__init__()
        self.linear = torch.nn.Linear(features, 2)
        self.factor = factor

    def forward(self, x):
        return self.linear(x) * self.factor


SCALE_SOURCE = """
class Scale(torch.nn.Module):  # the user's code, as in the test module, but not registered
    def __init__(self, features=4, factor=2.0):
        super().__init__()
        self.linear = torch.nn.Linear(features, 2)
        self.factor = factor

    def forward(self, x):
        return self.linear(x) * self.factor
"""


@lamina.register
class LastStep(torch.nn.Module):
    """Run a recurrent module and keep its last time step: (N, T, F) -> (N, H)."""

    def __init__(self, rnn: torch.nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)
        return out[:, -1]


class Touch:
    """Unpickling this creates ``marker``: a stand-in for a malicious pickle payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def cnn():
    """A small fitted CNN, shared (fitting costs seconds on a slow CPU); tests must not modify it."""
    torch.manual_seed(0)
    model = lamina.Sequential(
        [
            Reshape((1, 4, 4)),
            Conv2D(4, (3, 3), padding="same", activation="relu"),
            BatchNorm(),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.2),
            Dense(8, activation="relu"),
            Dense(3),
        ]
    )
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=0.01)
    model.fit(X16, Y3, epochs=2, batch_size=24, verbose=0, seed=0)
    return model


def mlp(hidden=8):
    model = lamina.Sequential([Dense(hidden, activation="relu"), Dense(3)])
    model.build(torch.from_numpy(X4))
    return model


def read_manifest(path):
    return json.loads((Path(path) / "lamina.json").read_text())


def edit_manifest(path, edit):
    manifest = read_manifest(path)
    edit(manifest)
    (Path(path) / "lamina.json").write_text(json.dumps(manifest))


def replace_weights(path, tensors):
    """Write new weights and record their file hash, as if model.save() had written them."""
    save_file(tensors, str(Path(path) / "weights.safetensors"), metadata={"format": "pt"})
    digest = hashlib.sha256((Path(path) / "weights.safetensors").read_bytes()).hexdigest()
    edit_manifest(path, lambda m: m["weights"].update(sha256=digest))


def header(path):
    """(header length, parsed header) of a safetensors file."""
    raw = Path(path).read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return length, json.loads(raw[8 : 8 + length])


def flip_byte(path, offset):
    raw = bytearray(Path(path).read_bytes())
    raw[offset] ^= 0xFF
    Path(path).write_bytes(bytes(raw))


def load_fails(path, error=ArtifactError):
    """Load must raise ``error``: never return a model, partially loaded or not. Returns the message."""
    result = "not returned"
    with pytest.raises(error) as info:
        result = lamina.load(path)
    assert result == "not returned"
    assert isinstance(info.value, lamina.LaminaError)
    text = str(info.value)
    assert "Fix:" in text
    return text


# ---------------------------------------------------------------- 1. round trips
def test_sequential_round_trip_restores_weights_params_signature_compile_and_history(tmp_path, cnn):
    model = cnn
    path = model.save(tmp_path / "cnn")
    reloaded = lamina.load(path)

    assert type(reloaded) is lamina.Sequential
    np.testing.assert_array_equal(reloaded.predict(X16), model.predict(X16))
    assert repr(reloaded.get_params()) == repr(
        model.get_params()
    )  # tuples such as (1, 4, 4) stay tuples
    assert reloaded.layers[0].get_config()["target_shape"] == (1, 4, 4)
    assert reloaded.input_spec_ == model.input_spec_ == {"shape": [None, 16], "dtype": "float32"}
    assert reloaded.evaluate(X16, Y3) == pytest.approx(
        model.evaluate(X16, Y3)
    )  # compiled without compile()
    assert reloaded.history_.history == model.history_.history
    assert len(reloaded.history_.history["loss"]) == 2
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


def test_reloaded_model_keeps_training_with_the_saved_compile_settings(tmp_path, cnn):
    reloaded = lamina.load(cnn.save(tmp_path / "cnn"))
    before = {k: v.clone() for k, v in reloaded.state_dict().items()}
    history = reloaded.fit(X16, Y3, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "accuracy"]
    assert any(not torch.equal(before[k], v) for k, v in reloaded.state_dict().items())


def test_wrapped_plain_torch_layers_round_trip(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model = lamina.Model(module).compile(optimizer="sgd", loss="mse")
    model.fit(X4, X4[:, :2], epochs=2, verbose=0)
    reloaded = lamina.load(model.save(tmp_path / "torch"))

    assert type(reloaded) is lamina.Model and type(reloaded.module) is torch.nn.Sequential
    assert repr(reloaded) == repr(model)
    np.testing.assert_array_equal(reloaded.predict(X4), model.predict(X4))
    assert reloaded.evaluate(X4, X4[:, :2]) == pytest.approx(model.evaluate(X4, X4[:, :2]))
    assert (
        read_manifest(tmp_path / "torch")["architecture"]["config"]["module"]["class"]
        == "torch.nn.Sequential"
    )


@pytest.mark.parametrize(
    "rnn",
    [
        torch.nn.LSTM(3, 6, num_layers=2, batch_first=True, bidirectional=True),
        pytest.param(
            torch.nn.LSTM(3, 6, batch_first=True, proj_size=2),
            marks=pytest.mark.filterwarnings("ignore:LSTM with projections is not supported"),
        ),
        torch.nn.GRU(3, 5, batch_first=True, dropout=0.0, num_layers=2),
        torch.nn.RNN(3, 5, batch_first=True, nonlinearity="relu", bias=False),
    ],
    ids=["lstm-bidirectional", "lstm-proj", "gru", "rnn-relu"],
)
def test_recurrent_torch_layers_inside_a_registered_module_round_trip(tmp_path, rnn):
    # LSTM/GRU/RNN take (*args, **kwargs): their arguments must still be recorded
    torch.manual_seed(0)
    outputs = (
        rnn.hidden_size * (2 if rnn.bidirectional else 1) if not rnn.proj_size else rnn.proj_size
    )
    model = lamina.Model(torch.nn.Sequential(LastStep(rnn), torch.nn.Linear(outputs, 2)))
    x = torch.randn(5, 7, 3)
    model.build(x)
    reloaded = lamina.load(model.save(tmp_path / "rnn"))

    assert repr(reloaded) == repr(model)
    assert type(reloaded.module[0]) is LastStep
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))


def test_model_built_by_calling_it_directly_loads_without_an_input_signature(tmp_path):
    model = lamina.Sequential([Dense(5, activation="tanh"), Dense(2)])
    with torch.no_grad():
        model(torch.from_numpy(X4))  # lazy layers get their sizes, but input_spec_ stays None
    path = model.save(tmp_path / "direct")
    assert read_manifest(path)["signature"]["inputs"][0] == {"name": "input"}
    reloaded = lamina.load(path)
    np.testing.assert_array_equal(reloaded.predict(X4), model.predict(X4))


def test_activation_function_object_is_saved_as_its_registered_name(tmp_path):
    model = lamina.Sequential([Dense(6, activation=torch.relu), Dense(3, activation=torch.tanh)])
    model.build(torch.from_numpy(X4))
    path = model.save(tmp_path / "fn")
    layers = read_manifest(path)["architecture"]["config"]["layers"]
    assert [layer["config"]["activation"] for layer in layers] == ["relu", "tanh"]
    reloaded = lamina.load(path)
    assert reloaded.layers[0].get_config()["activation"] == "relu"
    np.testing.assert_array_equal(reloaded.predict(X4), model.predict(X4))


# ---------------------------------------------------------------- 2. fresh process (and 3., 4.)
# One new interpreter runs every fresh-process job (starting torch costs seconds); each job records
# its result or its traceback, and each test below checks one job. The interpreter can import
# lamina but none of the test code: it runs in an empty directory with only the repo on its path.
FRESH_JOBS = (
    """
import json, sys, traceback
import numpy as np
import torch
import lamina, lamina.artifact, lamina.models

jobs = json.loads(sys.argv[1])
results = {}


def job(function):
    try:
        results[function.__name__] = function(**jobs[function.__name__])
    except Exception:
        results[function.__name__] = {"traceback": traceback.format_exc()}


@job
def imports(paths, modules):  # first, before anything else imports more modules
    before = [m for m in modules if m in sys.modules]
    outcomes = []
    for path in paths:
        try:
            lamina.load(path)
            outcomes.append("loaded")
        except lamina.errors.UnsafeFileError:
            outcomes.append("UnsafeFileError")
    return {"before": before, "after": [m for m in modules if m in sys.modules], "outcomes": outcomes}


@job
def predict(path, x, y):
    model = lamina.load(path)
    user_code = sorted(name for name in sys.modules if name.startswith(("test_", "tests", "conftest")))
    return {"class": type(model).__name__, "prediction": model.predict(np.load(x)).tolist(),
            "evaluate": model.evaluate(np.load(x), np.load(y)), "user_code": user_code}


@job
def user_class(path, x):
    try:
        lamina.load(path)
        refused = None
    except lamina.errors.UnsafeFileError as error:
        refused = str(error)
"""
    + textwrap.indent(SCALE_SOURCE, "    ")
    + """
    model = lamina.load(path, custom_objects={"Scale": Scale})
    return {"refused": refused, "module": type(model.module).__name__, "factor": model.module.factor,
            "prediction": model.predict(np.load(x)).tolist()}


print(json.dumps(results))
"""
)
REFUSED_NAMES = {
    "xml.dom.minidom.parseString": ["<a/>"],
    "http.server.HTTPServer": [["", 0], None],
    "smtplib.SMTP": ["localhost"],
    "ftplib.FTP": ["localhost"],
}
REFUSED_MODULES = ["xml.dom.minidom", "xml.dom", "http.server", "smtplib", "ftplib"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, cnn):
    """Save the models, run FRESH_JOBS once; returns (in-process models, {job: result})."""
    root = tmp_path_factory.mktemp("fresh")
    np.save(root / "x16.npy", X16)
    np.save(root / "y3.npy", Y3)
    np.save(root / "x4.npy", X4)
    torch.manual_seed(0)
    user = lamina.Model(Scale(4, factor=3.0))
    user.build(torch.from_numpy(X4))
    refused = []
    for i, (name, args) in enumerate(REFUSED_NAMES.items()):
        path = mlp().save(root / f"refused{i}")
        edit_manifest(
            path,
            lambda m, n=name, a=args: m.update(
                architecture={"class": n, "config": {"__args__": a}}
            ),
        )
        refused.append(path)
    jobs = {
        "imports": {"paths": refused, "modules": REFUSED_MODULES},
        "predict": {
            "path": cnn.save(root / "cnn"),
            "x": str(root / "x16.npy"),
            "y": str(root / "y3.npy"),
        },
        "user_class": {"path": user.save(root / "user"), "x": str(root / "x4.npy")},
    }
    (root / "work").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", FRESH_JOBS, json.dumps(jobs)],
        cwd=root / "work",
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return {"cnn": cnn, "user": user}, json.loads(done.stdout.strip().splitlines()[-1])


def fresh_result(fresh, name):
    result = fresh[1][name]
    assert "traceback" not in result, result.get("traceback")
    return result


def test_fresh_process_with_only_import_lamina_predicts_identically(fresh):
    out, model = fresh_result(fresh, "predict"), fresh[0]["cnn"]
    assert out["class"] == "Sequential"
    assert out["user_code"] == []
    np.testing.assert_array_equal(np.array(out["prediction"], dtype=np.float32), model.predict(X16))
    assert out["evaluate"] == pytest.approx(model.evaluate(X16, Y3))


def test_user_class_in_fresh_process_needs_register_or_custom_objects(fresh):
    out, model = fresh_result(fresh, "user_class"), fresh[0]["user"]
    assert out["refused"] is not None, "a fresh process without the class must refuse to load"
    assert f"'{Scale.__module__}.Scale'" in out["refused"]
    assert "@lamina.register" in out["refused"] and "custom_objects" in out["refused"]
    assert out["module"] == "Scale" and out["factor"] == 3.0
    np.testing.assert_array_equal(np.array(out["prediction"], dtype=np.float32), model.predict(X4))


def test_refused_class_names_are_never_imported(fresh):
    # in a fresh interpreter (lamina imported, these modules not), loading names them but imports none
    out = fresh_result(fresh, "imports")
    assert out["before"] == [], "precondition: `import lamina` must not import these already"
    assert out["outcomes"] == ["UnsafeFileError"] * len(REFUSED_NAMES)
    assert out["after"] == []


# ---------------------------------------------------------------- 3. user classes
def test_registered_user_module_round_trips(tmp_path):
    torch.manual_seed(0)
    model = lamina.Model(Scale(4, factor=3.0))
    model.build(torch.from_numpy(X4))
    path = model.save(tmp_path / "user")
    assert read_manifest(path)["architecture"]["config"]["module"] == {
        "class": f"{Scale.__module__}.Scale",
        "config": {"features": 4, "factor": 3.0},
    }
    reloaded = lamina.load(path)
    assert type(reloaded.module) is Scale and reloaded.module.factor == 3.0
    np.testing.assert_array_equal(reloaded.predict(X4), model.predict(X4))


def test_unregistered_user_class_fails_at_save_with_the_fix(tmp_path):
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.linear(x)

    model = lamina.Model(Plain())
    model.build(torch.from_numpy(X4))
    with pytest.raises(ArtifactError) as info:
        model.save(tmp_path / "plain")
    assert "Plain" in str(info.value) and "@lamina.register" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a staging directory


# ---------------------------------------------------------------- 4. names off the allowlist
@pytest.mark.parametrize(
    "name,args",
    [
        ("os.system", ["touch {marker}"]),
        ("builtins.eval", ["__import__('pathlib').Path({marker!r}).touch()"]),
        ("subprocess.Popen", [["touch", "{marker}"]]),
        ("builtins.open", ["{marker}", "w"]),
    ],
)
@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "nested"])
def test_class_off_the_allowlist_is_refused_with_no_side_effect(tmp_path, name, args, nested):
    marker = tmp_path / "pwned"
    path = mlp().save(tmp_path / "model")
    args = json.loads(
        json.dumps(args).replace("{marker}", str(marker)).replace("{marker!r}", repr(str(marker)))
    )
    spec = {"class": name, "config": {"__args__": args}}
    if nested:
        spec = {
            "class": "lamina.Sequential",
            "config": {"layers": [{"class": "lamina.layers.Dense", "config": {"units": 2}}, spec]},
        }
    edit_manifest(path, lambda m: m.update(architecture=spec))

    text = load_fails(path, UnsafeFileError)
    assert repr(name) in text and "allowlist" in text
    assert "@lamina.register" in text and "custom_objects" in text
    assert not marker.exists()


# ---------------------------------------------------------------- 5. no pickle on any load path
def pickled(marker, protocol):
    return pickle.dumps(Touch(marker), protocol=protocol)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_the_pickle_payload_is_live(tmp_path, protocol):
    # the payload used below really runs code when unpickled, so "marker absent" means something
    marker = tmp_path / "pwned"
    pickle.loads(pickled(marker, protocol))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_file_passed_to_load_is_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"
    (tmp_path / "model.pkl").write_bytes(pickled(marker, protocol))
    text = load_fails(tmp_path / "model.pkl", UnsafeFileError)
    assert "pickle" in text and "torch.load(path, weights_only=True)" in text
    assert not marker.exists()


def torch_saved(marker, path):
    torch.save({"layers.0.weight": torch.ones(3, 4), "payload": Touch(marker)}, path)
    assert Path(path).read_bytes()[:2] == b"PK"
    return Path(path).read_bytes()


def test_torch_save_file_passed_to_load_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch_saved(marker, tmp_path / "model.pt")
    text = load_fails(tmp_path / "model.pt", UnsafeFileError)
    assert "pickle" in text
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle-0", "pickle-2", "pickle-5", "torch.save"])
@pytest.mark.parametrize("member", ["weights.safetensors", "lamina.json", "history.json"])
def test_pickle_inside_a_model_directory_is_refused(tmp_path, kind, member):
    marker = tmp_path / "pwned"
    path = Path(mlp().save(tmp_path / "model"))
    if kind == "torch.save":
        payload = torch_saved(marker, tmp_path / "payload.pt")
    else:
        payload = pickled(marker, int(kind.split("-")[1]))
    (path / member).write_bytes(payload)
    if member == "weights.safetensors":  # even with a matching recorded hash
        edit_manifest(
            path, lambda m: m["weights"].update(sha256=hashlib.sha256(payload).hexdigest())
        )
    text = load_fails(path, UnsafeFileError)
    assert "pickle" in text and member in text
    assert not marker.exists()


@pytest.mark.parametrize("member", ["spec.json", "model.safetensors"])
def test_pickle_inside_a_format_1_directory_is_refused(tmp_path, member):
    marker = tmp_path / "pwned"
    path = tmp_path / "v1"
    shutil.copytree(FIXTURES / "format_v1", path)
    (path / member).write_bytes(pickled(marker, 4))
    text = load_fails(path, UnsafeFileError)
    assert "pickle" in text
    assert not marker.exists()


def test_valid_weights_whose_header_length_looks_like_a_pickle_opcode_load(tmp_path):
    # a safetensors file starts with its header length: 384 is b"\x80\x01...", the pickle PROTO opcode
    layers = []
    for _ in range(5):
        layers += [torch.nn.Linear(1, 1, bias=False), torch.nn.ReLU()]
    model = lamina.Model(torch.nn.Sequential(*layers[:-1]))
    model.build(torch.ones(2, 1))
    path = model.save(tmp_path / "model")
    assert (Path(path) / "weights.safetensors").read_bytes()[:1] == b"\x80"  # precondition
    reloaded = lamina.load(path)
    np.testing.assert_array_equal(reloaded.predict(np.ones((3, 1))), model.predict(np.ones((3, 1))))


# ---------------------------------------------------------------- 6. corrupt or mismatched weights
@pytest.fixture
def saved(tmp_path):
    """A saved Dense(8) -> Dense(3) model on 4 features, and its weights as tensors."""
    path = Path(mlp().save(tmp_path / "model"))
    return path, load_file(str(path / "weights.safetensors"))


def test_wrong_shape_names_the_tensor_and_both_shapes(saved):
    path, tensors = saved
    tensors["layers.1.weight"] = torch.zeros(3, 5)
    replace_weights(path, tensors)
    text = load_fails(path, WeightsError)
    assert "'layers.1.weight'" in text and "(3, 5)" in text and "(3, 8)" in text


def test_wrong_shape_from_an_edited_architecture_names_the_tensor(saved):
    path, _ = saved
    edit_manifest(
        path, lambda m: m["architecture"]["config"]["layers"][0]["config"].update(units=6)
    )
    text = load_fails(path, WeightsError)
    assert "'layers.0.weight'" in text and "(8, 4)" in text and "(6, 4)" in text


def test_missing_tensor_is_named(saved):
    path, tensors = saved
    del tensors["layers.1.bias"]
    replace_weights(path, tensors)
    text = load_fails(path, WeightsError)
    assert "missing" in text and "'layers.1.bias'" in text


def test_unexpected_tensor_is_named(saved):
    path, tensors = saved
    tensors["layers.2.weight"] = torch.zeros(3, 3)
    replace_weights(path, tensors)
    text = load_fails(path, WeightsError)
    assert "unexpected" in text and "'layers.2.weight'" in text


def test_truncated_weights_file(saved):
    path, _ = saved
    raw = (path / "weights.safetensors").read_bytes()
    (path / "weights.safetensors").write_bytes(raw[: len(raw) // 2])
    text = load_fails(path, WeightsError)
    assert "truncated" in text and "weights.safetensors" in text


def test_missing_weights_file(saved):
    path, _ = saved
    (path / "weights.safetensors").unlink()
    assert "missing" in load_fails(path, WeightsError)


@pytest.mark.parametrize(
    "name", ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
)
def test_flipped_byte_in_a_tensor_names_that_tensor(saved, name):
    path, _ = saved
    length, meta = header(path / "weights.safetensors")
    start, end = meta[name]["data_offsets"]
    flip_byte(path / "weights.safetensors", 8 + length + (start + end) // 2)
    text = load_fails(path, WeightsError)
    assert f"changed tensor(s) ['{name}']" in text


def test_flipped_byte_in_the_header_structure(saved):
    path, _ = saved
    flip_byte(path / "weights.safetensors", 8)  # the opening brace of the JSON header
    assert "corrupt" in load_fails(path, WeightsError)


def test_flipped_byte_in_a_tensor_name_in_the_header(saved):
    path, _ = saved
    raw = (path / "weights.safetensors").read_bytes()
    offset = raw.index(b'"layers.1.bias"') + len('"layers.1.b')
    (path / "weights.safetensors").write_bytes(
        raw[:offset] + b"x" + raw[offset + 1 :]
    )  # layers.1.bxas
    text = load_fails(path, WeightsError)
    assert "hash" in text and "'layers.1.bias'" in text


def test_flipped_byte_in_a_shape_in_the_header(saved):
    path, _ = saved
    raw = (path / "weights.safetensors").read_bytes()
    offset = raw.index(b'"shape":[8,4]') + len('"shape":[')
    raw = raw[:offset] + b"9" + raw[offset + 1 :]  # [9,4] no longer matches the data offsets
    (path / "weights.safetensors").write_bytes(raw)
    assert "corrupt" in load_fails(path, WeightsError)


def test_corrupt_weights_fail_even_when_the_recorded_hashes_are_removed(saved):
    path, tensors = saved
    tensors["layers.0.weight"] = torch.zeros(8, 5)
    save_file(tensors, str(path / "weights.safetensors"))
    edit_manifest(path, lambda m: m["weights"].update(sha256=None, tensors={}))
    assert "'layers.0.weight'" in load_fails(path, WeightsError)


# ---------------------------------------------------------------- 7. weights from another architecture
def test_weights_from_another_architecture_name_the_tensor_and_both_shapes(tmp_path):
    small = Path(mlp(hidden=8).save(tmp_path / "small"))
    big = Path(mlp(hidden=16).save(tmp_path / "big"))
    shutil.copyfile(small / "weights.safetensors", big / "weights.safetensors")
    assert "hash" in load_fails(big, WeightsError)  # the recorded hash catches the swap first

    digest = hashlib.sha256((big / "weights.safetensors").read_bytes()).hexdigest()
    edit_manifest(big, lambda m: m["weights"].update(sha256=digest))
    text = load_fails(big, WeightsError)
    assert "'layers.0.weight'" in text and "(8, 4)" in text and "(16, 4)" in text


# ---------------------------------------------------------------- 8. format versions
def test_format_1_fixture_loads_and_matches_a_hand_computation():
    model = lamina.load(FIXTURES / "format_v1")
    weights = {
        k: v.numpy().astype(np.float64)
        for k, v in load_file(str(FIXTURES / "format_v1" / "model.safetensors")).items()
    }
    hidden = np.maximum(X4 @ weights["layers.0.weight"].T + weights["layers.0.bias"], 0.0)
    expected = hidden @ weights["layers.1.weight"].T + weights["layers.1.bias"]

    assert type(model) is lamina.Sequential
    assert model.manifest_["format_version"] == 1
    assert model.input_spec_ == {"shape": [None, 4], "dtype": "float32"}
    np.testing.assert_allclose(model.predict(X4), expected, rtol=1e-5, atol=1e-5)
    scores = model.evaluate(
        X4, np.zeros((len(X4), 2), dtype=np.float32)
    )  # compile settings restored
    assert set(scores) == {"loss", "mae"}
    assert scores["loss"] == pytest.approx(float(np.mean(expected**2)), rel=1e-4)


def test_format_1_model_resaves_in_the_current_format(tmp_path):
    model = lamina.load(FIXTURES / "format_v1")
    path = model.save(tmp_path / "v2")
    assert read_manifest(path)["format_version"] == lamina.artifact.FORMAT_VERSION
    np.testing.assert_array_equal(lamina.load(path).predict(X4), model.predict(X4))


def test_newer_format_version_is_refused_with_a_clear_message(saved):
    path, _ = saved
    newer = lamina.artifact.FORMAT_VERSION + 1
    edit_manifest(path, lambda m: m.update(format_version=newer))
    text = load_fails(path, ArtifactError)
    assert f"format version {newer}" in text and "newer" in text and "Upgrade lamina" in text


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(format_version="2"),
        lambda m: m.update(format_version=0),
        lambda m: m.pop("format_version"),
        lambda m: m.pop("weights"),
        lambda m: m.pop("architecture"),
        lambda m: m.update(architecture=["lamina.Sequential"]),
        lambda m: m.update(signature={"inputs": [{"shape": [None, 4], "dtype": "load"}]}),
        lambda m: m.update(signature={"inputs": [{"shape": [None, "4"], "dtype": "float32"}]}),
        lambda m: m.update(signature={"inputs": [{"shape": [None, 4], "dtype": ["float32"]}]}),
        lambda m: m.update(compile="adam"),
    ],
    ids=[
        "version-str",
        "version-0",
        "no-version",
        "no-weights",
        "no-architecture",
        "architecture-list",
        "dtype-not-a-dtype",
        "shape-str",
        "dtype-list",
        "compile-str",
    ],
)
def test_malformed_manifest_is_an_artifact_error(saved, edit):
    path, _ = saved
    edit_manifest(path, edit)
    load_fails(path, ArtifactError)


def test_manifest_that_is_not_json_or_not_an_object(saved):
    path, _ = saved
    (path / "lamina.json").write_text("{not json")
    assert "not valid JSON" in load_fails(path, ArtifactError)
    (path / "lamina.json").write_text("[1, 2]")
    assert "not a JSON object" in load_fails(path, ArtifactError)


@pytest.mark.parametrize(
    "field,value",
    [
        ("weights", "../other/weights.safetensors"),
        ("weights", "/etc/hostname"),
        ("history", "../secret.json"),
        ("history", "/etc/hostname"),
        ("weights", ".."),
    ],
)
def test_manifest_cannot_point_outside_the_model_directory(tmp_path, saved, field, value):
    path, _ = saved
    (tmp_path / "other").mkdir()
    shutil.copyfile(path / "weights.safetensors", tmp_path / "other" / "weights.safetensors")
    (tmp_path / "secret.json").write_text("{}")
    if field == "weights":
        edit_manifest(path, lambda m: m["weights"].update(file=value))
    else:
        edit_manifest(path, lambda m: m.update(history=value))
    assert repr(value) in load_fails(path, UnsafeFileError)


def test_not_a_model_directory(tmp_path):
    assert "Not a lamina model directory" in load_fails(tmp_path, ArtifactError)
    (tmp_path / "notes.txt").write_text("hello")
    assert "takes a model directory" in load_fails(tmp_path / "notes.txt", ArtifactError)


# ---------------------------------------------------------------- 9. atomic save
def test_save_over_an_existing_model_replaces_it_and_leaves_no_temporary_directories(tmp_path):
    first, second = mlp(hidden=8), mlp(hidden=5)
    first.save(tmp_path / "model")
    (tmp_path / "model" / "stale.txt").write_text("from the first save")
    second.save(tmp_path / "model")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "history.json",
        "lamina.json",
        "weights.safetensors",
    ]
    np.testing.assert_array_equal(lamina.load(tmp_path / "model").predict(X4), second.predict(X4))


def test_save_into_an_empty_existing_directory(tmp_path):
    (tmp_path / "model").mkdir()
    model = mlp()
    model.save(tmp_path / "model")
    np.testing.assert_array_equal(lamina.load(tmp_path / "model").predict(X4), model.predict(X4))


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_save_refuses_to_replace_something_that_is_not_a_saved_model(tmp_path, kind):
    target = tmp_path / "documents"
    if kind == "directory":
        target.mkdir()
        (target / "thesis.txt").write_text("precious")
    else:
        target.write_text("precious")
    with pytest.raises(ArtifactError) as info:
        mlp().save(target)
    assert str(target) in str(info.value) and "Fix:" in str(info.value)
    assert (target / "thesis.txt" if kind == "directory" else target).read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents"]


def test_failed_save_keeps_the_previous_model_and_leaves_nothing_behind(tmp_path):
    good = mlp()
    good.save(tmp_path / "model")
    bad = mlp().compile(optimizer="sgd", loss="cross_entropy", learning_rate=np.float32(0.1))
    with pytest.raises(ArtifactError) as info:
        bad.save(tmp_path / "model")
    assert "JSON" in str(info.value) and "float32" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    np.testing.assert_array_equal(lamina.load(tmp_path / "model").predict(X4), good.predict(X4))


def test_saving_an_unbuilt_model_raises_not_built(tmp_path):
    with pytest.raises(NotBuiltError) as info:
        lamina.Sequential([Dense(3)]).save(tmp_path / "model")
    assert "build" in str(info.value) and "Fix:" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- 10. arguments that JSON cannot hold
def test_lambda_argument_fails_at_save_naming_the_argument(tmp_path):
    model = lamina.Sequential([Dense(3, activation=lambda t: t)])
    model.build(torch.from_numpy(X4))
    with pytest.raises(ArtifactError) as info:
        model.save(tmp_path / "model")
    text = str(info.value)
    assert (
        "lamina.layers.Dense.activation" in text
        and "<lambda>" in text
        and "activation='relu'" in text
    )
    assert list(tmp_path.iterdir()) == []


def test_slots_carry_json_through_save_and_load(tmp_path):
    model = lamina.Sequential([lamina.layers.Dense(2)])
    model.build(torch.zeros(1, 3))
    model.slots_ = {"reference_profile": {"columns": {"a": {"mean": 1.5}}}, "unknown": "dropped"}
    loaded = lamina.load(model.save(tmp_path / "m"))
    assert loaded.slots_ == {"reference_profile": {"columns": {"a": {"mean": 1.5}}}}
    plain = lamina.Sequential([lamina.layers.Dense(2)])
    plain.build(torch.zeros(1, 3))
    assert lamina.load(plain.save(tmp_path / "n")).slots_ == {}  # no slot set: nothing stored
