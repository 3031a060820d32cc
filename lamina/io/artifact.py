"""Saved models: a directory of safetensors weights and a JSON manifest. Never pickle.

Layout (format version 2)::

    model_dir/
      lamina.json          manifest: architecture spec, compile settings, input signature,
                           resolved config, versions, weight hashes, extra states, reserved slots
      weights.safetensors  every parameter and buffer
      history.json         per-epoch logs of the last fit

The architecture is a JSON spec ``{"class": name, "config": {...}}`` resolved through the
``object`` registry (the allowlist): built-in layers and models, common ``torch.nn`` layers,
and classes you register with ``@lamina.register`` or pass as ``custom_objects``. Nothing
named in a file is ever imported. Format 1 (``spec.json`` + ``model.safetensors``) still loads.

State learned from data that is not a tensor (a module's ``get_extra_state()``, e.g. the column info
of a tabular MLP) must be JSON-able; it goes to the manifest's ``"extra_state"`` as ``{module path:
value}`` and is handed back to ``set_extra_state`` on load, before the model is built, so a module
can size its layers from it. (Extra states that are tensors go to the weights file.)

>>> import lamina, tempfile
>>> model = lamina.Sequential([lamina.layers.Dense(2)])
>>> _ = model.build(torch.ones(1, 3))
>>> path = model.save(tempfile.mkdtemp() + "/m")
>>> lamina.load(path).input_spec_["shape"]
[None, 3]
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from lamina.core import catalog as registry
from lamina.core.errors import ArtifactError, NotBuiltError, UnsafeFileError, WeightsError, message

__all__ = ["FORMAT_VERSION", "deserialize", "example_input", "load", "save", "serialize"]

FORMAT_VERSION = 2
MANIFEST, WEIGHTS, HISTORY = "lamina.json", "weights.safetensors", "history.json"
# JSON slots a model carries in its manifest (set ``model.slots_ = {name: value}`` before saving): the
# preprocessing pipeline's config and the training data's reference profile for drift monitoring.
SLOTS = ("preprocessing", "reference_profile")

_TORCH_ALLOWED = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Embedding,
    nn.LSTM,
    nn.GRU,
    nn.RNN,
    nn.ReLU,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.SiLU,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Sequential,
    nn.ModuleList,
)
for _cls in _TORCH_ALLOWED:
    registry.registries["object"].add(f"torch.nn.{_cls.__name__}", _cls)
_RNN_ARGS = (
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
)


# ---------------------------------------------------------------- architecture spec
def _name_of(cls: type) -> str:
    name = registry.registries["object"].name_of(cls)
    if name is not None:
        return name
    raise ArtifactError(
        message(
            f"Cannot save a {cls.__module__}.{cls.__qualname__}: the class is not registered.",
            cls.__qualname__,
            "built-in lamina layers/models, common torch.nn layers or a registered class",
            "Decorate your class with @lamina.register (its constructor arguments must be JSON-friendly).",
        )
    )


def _torch_config(module: nn.Module) -> dict[str, Any]:
    """Recover constructor arguments of an allowlisted torch.nn layer from its attributes."""
    cls = type(module)
    if cls in (nn.Sequential, nn.ModuleList):
        return {"__args__" if cls is nn.Sequential else "modules": list(module.children())}
    if isinstance(
        module, nn.RNNBase
    ):  # LSTM/GRU/RNN.__init__ take (*args, **kwargs): name the arguments
        extra = {nn.LSTM: ("proj_size",), nn.RNN: ("nonlinearity",)}.get(cls, ())
        return {name: getattr(module, name) for name in (*_RNN_ARGS, *extra)}
    config: dict[str, Any] = {}
    for name, param in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if (
            name.startswith("_")
            or name in ("device", "dtype")
            or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        ):
            continue
        value = getattr(module, name, param.default)
        if name == "bias" and isinstance(param.default, bool) and not isinstance(value, bool):
            value = value is not None  # the attribute holds the bias Parameter (or None)
        config[name] = list(value) if isinstance(value, tuple) else value
    return config


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, nn.Module):
        return serialize(value)
    if isinstance(
        value, tuple
    ):  # JSON has no tuples; mark them so get_params() round-trips exactly
        return {"__tuple__": _encode(list(value), where)}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _encode(v, f"{where}.{k}") for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        for kind in ("activation", "initializer", "loss"):
            name = registry.registries[kind].name_of(value)
            if name is not None:
                return name
    raise ArtifactError(
        message(
            f"Cannot save the argument {where}: it is not JSON-friendly.",
            f"{value!r} ({type(value).__name__})",
            "numbers, strings, booleans, None, lists, dicts, modules or registered names",
            "Pass a registered name (e.g. activation='relu') instead of an object.",
        )
    )


def serialize(module: nn.Module) -> dict[str, Any]:
    """The JSON architecture spec of ``module``: ``{"class": name, "config": {...}}``."""
    cls = type(module)
    name = _name_of(cls)
    if hasattr(module, "get_params"):
        config = getattr(module, "get_params")()  # noqa: B009  (getattr: nn.Module.__getattr__ misleads mypy)
    elif hasattr(module, "get_config"):
        config = getattr(module, "get_config")()  # noqa: B009
    elif hasattr(module, "_lamina_config"):
        config = dict(getattr(module, "_lamina_config"))  # noqa: B009
    elif name.startswith("torch.nn."):
        config = _torch_config(module)
    else:
        raise ArtifactError(
            message(
                f"Cannot read the constructor arguments of {name}.",
                name,
                "a class decorated with @lamina.register",
                "Register the class.",
            )
        )
    return {"class": name, "config": _encode(config, name)}


def _decode(value: Any, custom_objects: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"class", "config"}:
        return deserialize(value, custom_objects)
    if (
        isinstance(value, dict)
        and set(value) == {"__tuple__"}
        and isinstance(value["__tuple__"], list)
    ):
        return tuple(_decode(value["__tuple__"], custom_objects))
    if isinstance(value, list):
        return [_decode(v, custom_objects) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v, custom_objects) for k, v in value.items()}
    return value


def deserialize(spec: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Build a module from its spec. Only allowlisted or ``custom_objects`` classes are built."""
    custom_objects = dict(custom_objects or {})
    if not (
        isinstance(spec, dict)
        and isinstance(spec.get("class"), str)
        and isinstance(spec.get("config"), dict)
    ):
        raise ArtifactError(
            message(
                "Malformed architecture spec.",
                repr(spec)[:200],
                '{"class": "<name>", "config": {...}}',
                "Re-save the model with model.save().",
            )
        )
    name = spec["class"]
    cls = custom_objects.get(name) or custom_objects.get(name.rsplit(".", 1)[-1])
    if cls is None:
        if name not in registry.registries["object"]:
            raise UnsafeFileError(
                message(
                    "The architecture names a class that is not on lamina's allowlist; nothing was imported.",
                    repr(name),
                    "a built-in lamina layer/model, a common torch.nn layer, or a registered class",
                    "If this is your own class, decorate it with @lamina.register or pass "
                    f"custom_objects={{{name!r}: YourClass}} to lamina.load.",
                )
            )
        cls = registry.registries["object"].lookup(name)
    config = _decode(spec["config"], custom_objects)
    args = config.pop("__args__", [])
    try:
        return cls(*args, **config)
    except TypeError as exc:
        raise ArtifactError(
            message(
                f"Could not rebuild {name} from its saved arguments.",
                str(exc),
                "arguments matching the class's constructor",
                "Load with the lamina version that saved it, or re-save.",
            )
        ) from None


# ---------------------------------------------------------------- save
def _tensor_hash(tensor: torch.Tensor) -> str:
    raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    return hashlib.sha256(raw.data).hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_EXTRA = "_extra_state"  # torch's state-dict key suffix for get_extra_state()


def _state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors to save, and the non-tensor extra states as ``{module path: value}``."""
    state, extra, seen = {}, {}, set()
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            extra[key[: -len(_EXTRA)].rstrip(".")] = (
                value  # "tabular._extra_state" -> "tabular"; root -> ""
            )
            continue
        if is_lazy(value):
            raise NotBuiltError(
                message(
                    "Cannot save a model whose layers have no input size yet.",
                    key,
                    "a built model",
                    "Call fit() or model.build(x) before save().",
                )
            )
        tensor = value.detach().cpu().contiguous()
        if tensor.data_ptr() in seen:  # tied weights: safetensors stores each buffer once
            tensor = tensor.clone()
        seen.add(tensor.data_ptr())
        state[key] = tensor
    return state, extra


def _extra_keys(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's extra states as state-dict entries ``{"<path>._extra_state": value}``."""
    extra = manifest.get("extra_state") or {}
    if not isinstance(extra, dict) or not all(isinstance(path, str) for path in extra):
        raise ArtifactError(
            message(
                "The manifest's extra_state is malformed.",
                repr(extra)[:200],
                "a JSON object {module path: value}",
                "Re-save the model with model.save().",
            )
        )
    return {f"{path}.{_EXTRA}" if path else _EXTRA: value for path, value in extra.items()}


def _check_replaceable(target: Path) -> None:
    """Saving replaces ``target`` wholesale, so it must be absent, empty or a saved model."""
    if not target.exists() and not target.is_symlink():
        return
    if (
        target.is_dir()
        and not target.is_symlink()
        and (
            not any(target.iterdir())
            or (target / MANIFEST).is_file()
            or (target / "spec.json").is_file()
        )
    ):
        return
    raise ArtifactError(
        message(
            "Refusing to save over a path that is not a saved lamina model (saving replaces it entirely).",
            str(target),
            "a new path, an empty directory or a directory written by model.save()",
            "Choose another path, or delete it yourself first.",
        )
    )


def save(model: Any, path: str | os.PathLike[str]) -> str:
    """Write ``model`` to directory ``path`` atomically (a new directory, then a rename).

    An existing ``path`` is replaced only when it is empty or a saved model; anything else is refused.
    """
    from safetensors.torch import save_file

    from lamina.core.version import __version__

    target = Path(path)
    state, extra = _state(model)
    for where, value in extra.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(
                message(
                    f"Cannot save: the extra state of module {where or '(the model)'!r} is not JSON-friendly.",
                    str(exc),
                    "get_extra_state() returning plain numbers (finite), strings, lists and dicts",
                    "Return JSON values from get_extra_state(), or a tensor (saved with the weights).",
                )
            ) from None
    compiled = getattr(model, "_compiled", None)
    history = model.history_.history if getattr(model, "history_", None) is not None else {}
    manifest: dict[str, Any] = {
        "format": "lamina.model",
        "format_version": FORMAT_VERSION,
        "lamina_version": __version__,
        "torch_version": torch.__version__,
        "python_version": sys.version.split()[0],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": serialize(model),
        "compile": None
        if compiled is None
        else {
            k: compiled.get(k)
            for k in ("optimizer", "loss", "metrics", "learning_rate", "from_logits")
        },
        "classes": getattr(model, "classes_", None),
        "signature": {"inputs": [{"name": "input", **(getattr(model, "input_spec_", None) or {})}]},
        "config": getattr(model, "config_", None),
        "weights": {
            "file": WEIGHTS,
            "sha256": None,
            "tensors": {k: _tensor_hash(v) for k, v in state.items()},
        },
        "history": HISTORY,
        "extra_state": extra,
        "slots": {slot: (getattr(model, "slots_", None) or {}).get(slot) for slot in SLOTS},
    }
    try:  # fail before touching the disk, not halfway through writing
        json.dumps([manifest, history])
    except (TypeError, ValueError) as exc:
        raise ArtifactError(
            message(
                "Cannot save: a recorded value is not JSON-friendly.",
                str(exc),
                "plain numbers, strings, lists and dicts in the compile settings, config_ and history_",
                "Pass plain Python values, e.g. compile(learning_rate=float(lr)).",
            )
        ) from None
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        save_file(state, str(staging / WEIGHTS), metadata={"format": "pt"})
        manifest["weights"]["sha256"] = _file_hash(staging / WEIGHTS)
        (staging / HISTORY).write_text(json.dumps(history))
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    except BaseException:  # never leave a half-written .partial directory behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return str(target)


# ---------------------------------------------------------------- load
_PICKLE_HINT = (
    "lamina never unpickles files, because unpickling can run any code. If you trust the file, "
    "load it yourself with torch.load(path, weights_only=True), put the weights in a lamina "
    "model and call model.save(dir)."
)
_DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "bool",
    )
}


def _refuse_if_pickle(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header. Its first byte can be
    # 0x80 or '(' like a pickle's, so recognise a plausible safetensors file before looking for pickles.
    if head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size:
        return
    if head[:1] == b"\x80" or head[:2] == b"PK" or head[:1] in (b"(", b"c", b"]", b"}"):
        raise UnsafeFileError(
            message(
                "This file looks like a pickle (pickle.dump or torch.save).",
                f"{path} starting with {head[:4]!r}",
                "a lamina model directory",
                _PICKLE_HINT,
            )
        )


def _read_json(path: Path) -> dict[str, Any]:
    _refuse_if_pickle(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(
            message(
                f"{path.name} is not valid JSON.",
                f"{path}: {exc}",
                "the JSON written by model.save()",
                "Re-save the model.",
            )
        ) from None
    if not isinstance(data, dict):
        raise ArtifactError(
            message(
                f"{path.name} is not a JSON object.",
                f"{type(data).__name__} in {path}",
                "the JSON object written by model.save()",
                "Re-save the model.",
            )
        )
    return data


def _member(root: Path, name: Any) -> Path:
    """A file named by the manifest: only plain names inside the model directory."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or Path(name).name != name
        or "\\" in name
    ):
        raise UnsafeFileError(
            message(
                "The manifest names a file outside the model directory.",
                repr(name),
                "a plain file name such as 'weights.safetensors'",
                "Re-save the model with model.save().",
            )
        )
    return root / name


def _read_manifest(root: Path) -> dict[str, Any]:
    if root.is_file():
        _refuse_if_pickle(root)
        raise ArtifactError(
            message(
                "lamina.load takes a model directory.",
                str(root),
                f"a directory containing {MANIFEST}",
                "Pass the directory model.save() wrote.",
            )
        )
    if (root / MANIFEST).is_file():
        manifest = _read_json(root / MANIFEST)
        version = manifest.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise ArtifactError(
                message(
                    f"This model was saved in format version {version}, newer than this lamina can read.",
                    f"format_version={version}",
                    f"format_version 1 to {FORMAT_VERSION}",
                    "Upgrade lamina to the version that saved it (see lamina_version in the manifest).",
                )
            )
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or version < 1
            or not isinstance(manifest.get("weights"), dict)
            or not isinstance(manifest.get("compile"), (dict, type(None)))
        ):
            raise ArtifactError(
                message(
                    "The manifest is incomplete or malformed.",
                    f"format_version={version!r}",
                    f"an int format_version from 1 to {FORMAT_VERSION}, weights and compile "
                    "entries",
                    "Re-save the model with model.save().",
                )
            )
        return manifest
    if (root / "spec.json").is_file():
        return _migrate_v1(root)
    raise ArtifactError(
        message(
            "Not a lamina model directory.",
            str(root),
            f"a directory with {MANIFEST}",
            "Pass the directory that model.save() wrote.",
        )
    )


def _migrate_v1(root: Path) -> dict[str, Any]:
    """Format 1: ``spec.json`` holding class, config and input shape; weights in ``model.safetensors``."""
    spec = _read_json(root / "spec.json")
    return {
        "format": "lamina.model",
        "format_version": 1,
        "architecture": {"class": spec.get("class"), "config": spec.get("config")},
        "compile": spec.get("compile"),
        "signature": {
            "inputs": [
                {
                    "name": "input",
                    "shape": spec.get("input_shape"),
                    "dtype": spec.get("input_dtype", "float32"),
                }
            ]
        },
        "weights": {"file": "model.safetensors", "sha256": None, "tensors": {}},
        "history": None,
        "slots": {slot: None for slot in SLOTS},
        "config": None,
    }


def example_input(signature: Any) -> torch.Tensor | None:
    """One all-zeros input row matching the saved input signature (None when none was saved)."""
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    spec = inputs[0] if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) else {}
    shape, dtype = spec.get("shape"), spec.get("dtype", "float32")
    if not shape:
        return None
    dtype = _DTYPES.get(dtype) if isinstance(dtype, str) else None
    if (
        not isinstance(shape, list)
        or dtype is None
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape[1:])
    ):
        raise ArtifactError(
            message(
                "The saved input signature is malformed.",
                repr(spec)[:200],
                f"a shape like [null, 4] and a dtype in {sorted(_DTYPES)}",
                "Re-save the model with model.save().",
            )
        )
    return torch.zeros((1, *shape[1:]), dtype=dtype)


def _read_weights(root: Path, info: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = _member(root, info.get("file"))
    if not path.is_file():
        raise WeightsError(
            message(
                "The weights file is missing.",
                str(path),
                "a safetensors file",
                "Copy the whole model directory, or re-save the model.",
            )
        )
    _refuse_if_pickle(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            message(
                "The weights file is corrupt or truncated.",
                f"{path}: {exc}",
                "a complete safetensors file",
                "Re-save or re-download the model.",
            )
        ) from None
    expected: dict[str, Any] = info["tensors"] if isinstance(info.get("tensors"), dict) else {}
    if info.get("sha256") and _file_hash(path) != info["sha256"]:
        bad = [k for k, v in tensors.items() if k in expected and _tensor_hash(v) != expected[k]]
        renamed = sorted(set(tensors) ^ set(expected)) if expected else []
        raise WeightsError(
            message(
                "The weights file does not match the hash recorded at save time.",
                f"changed tensor(s) {bad}"
                if bad
                else f"renamed or missing tensor(s) {renamed[:5]}"
                if renamed
                else f"a changed file {path}",
                "the bytes written by model.save()",
                "The file was modified or damaged; re-save or re-download the model.",
            )
        )
    return tensors


def _check_weights(
    model: nn.Module, tensors: Mapping[str, torch.Tensor], extra_state: Mapping[str, Any]
) -> None:
    everything = model.state_dict()
    own = {k: v for k, v in everything.items() if isinstance(v, torch.Tensor)}
    missing = sorted(set(own) - set(tensors)) + sorted(
        set(everything) - set(own) - set(extra_state)
    )
    extra = sorted(set(tensors) - set(own)) + sorted(set(extra_state) - set(everything))
    if missing or extra:
        raise WeightsError(
            message(
                "The weights do not match the architecture.",
                f"missing tensors {missing[:5]}, unexpected tensors {extra[:5]}",
                f"exactly the model's {len(own)} tensors",
                "Load weights saved from this same architecture.",
            )
        )
    for key, value in own.items():
        if is_lazy(value):
            continue  # a lazy layer with no saved input signature: load_state_dict gives it the file's shape
        if tuple(value.shape) != tuple(tensors[key].shape):
            raise WeightsError(
                message(
                    f"Tensor {key!r} has the wrong shape.",
                    f"shape {tuple(tensors[key].shape)} in the file",
                    f"shape {tuple(value.shape)} for this architecture",
                    "Load weights saved from this same architecture and input size.",
                )
            )


def load(
    path: str | os.PathLike[str],
    *,
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
    device: str | Any | None = None,
) -> Any:
    """Load a model saved by ``model.save``; works in a fresh process.

    Args:
        path: the model directory.
        custom_objects: your own classes by name, if not registered with ``@lamina.register``.
        compile: re-apply the saved compile settings (when they were names).
        device: where the weights go (``"cpu"``, ``"cuda"``, ``"auto"``, a ``torch.device`` or a model, whose
            device is taken); default: the CPU.
    """
    # The built-in families are in the name registry: ``import lamina`` (run before any lamina module)
    # imports them, so loading never reaches up to the model families itself.
    root = Path(path)
    manifest = _read_manifest(root)
    model = deserialize(manifest.get("architecture"), custom_objects)
    extra_state = _extra_keys(manifest)
    if extra_state:  # before build: a module may make or size its layers from its extra state
        model.load_state_dict(extra_state, strict=False)
    example = example_input(manifest.get("signature"))
    if example is not None:
        model.build(example)
    tensors = _read_weights(root, manifest["weights"])
    _check_weights(model, tensors, extra_state)
    model.load_state_dict({**tensors, **extra_state}, strict=True)
    if device is not None:
        from lamina.core.config import select_device

        if isinstance(device, torch.nn.Module):
            device = next(iter(device.parameters()), torch.empty(0)).device
        model.to(device if isinstance(device, torch.device) else select_device(device))
    compiled = manifest.get("compile")
    if (
        compile
        and isinstance(compiled, dict)
        and compiled.get("loss")
        and compiled.get("optimizer")
        and None not in compiled.get("metrics", [])
    ):
        # from_logits only where it was set: families with their own compile (GAN, VAE, ...) do not take it.
        logits = (
            {"from_logits": compiled["from_logits"]}
            if compiled.get("from_logits") is not None
            else {}
        )
        model.compile(
            compiled["optimizer"],
            compiled["loss"],
            compiled["metrics"],
            learning_rate=compiled.get("learning_rate"),
            **logits,
        )
    if manifest.get("history") and _member(root, manifest["history"]).is_file():
        from lamina.train.callbacks import History

        model.history_ = History()
        model.history_.history = _read_json(_member(root, manifest["history"]))
    model.config_ = manifest.get("config")
    classes = manifest.get("classes")
    if classes is not None and (
        not isinstance(classes, list)
        or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)
    ):
        raise ArtifactError(
            message(
                "The manifest's classes are malformed.",
                repr(classes)[:200],
                "a list of class labels (str or int)",
                "Re-save the model with model.save().",
            )
        )
    model.classes_ = classes
    model.slots_ = {k: v for k, v in (manifest.get("slots") or {}).items() if v is not None}
    model.manifest_ = manifest
    return model
