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

from lamina.core.errors import ArtifactError, NotBuiltError, message
from lamina.io.manifest import (
    FORMAT_VERSION,
    HISTORY,
    MANIFEST,
    SLOTS,
    WEIGHTS,
    check_weights,
    example_input,
    file_hash,
    member,
    read_json,
    read_manifest,
    read_weights,
    tensor_hash,
)
from lamina.io.spec import deserialize, serialize

__all__ = [
    "FORMAT_VERSION",
    "HISTORY",
    "MANIFEST",
    "WEIGHTS",
    "deserialize",
    "example_input",
    "load",
    "save",
    "serialize",
]


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
            "Refusing to save over a path that is not a saved lamina model (saving replaces it "
            "entirely).",
            str(target),
            "a new path, an empty directory or a directory written by model.save()",
            "Choose another path, or delete it yourself first.",
        )
    )


def save(model: Any, path: str | os.PathLike[str]) -> str:
    """Write ``model`` to directory ``path`` atomically (a new directory, then a rename).

    An existing ``path`` is replaced only when it is empty or a saved model; anything else is
    refused.
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
                    f"Cannot save: the extra state of module {where or '(the model)'!r} is not "
                    "JSON-friendly.",
                    str(exc),
                    "get_extra_state() returning plain numbers (finite), strings, lists and dicts",
                    "Return JSON values from get_extra_state(), or a tensor (saved with the "
                    "weights).",
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
            "tensors": {k: tensor_hash(v) for k, v in state.items()},
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
                "plain numbers, strings, lists and dicts in the compile settings, config_ and "
                "history_",
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
        manifest["weights"]["sha256"] = file_hash(staging / WEIGHTS)
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
        device: where the weights go (``"cpu"``, ``"cuda"``, ``"auto"``, a ``torch.device`` or a
            model, whose device is taken); default: the CPU.
    """
    # The built-in families are in the name registry: ``import lamina`` (run before any lamina
    # module) imports them, so loading never reaches up to the model families itself.
    root = Path(path)
    manifest = read_manifest(root)
    model = deserialize(manifest.get("architecture"), custom_objects)
    extra_state = _extra_keys(manifest)
    if extra_state:  # before build: a module may make or size its layers from its extra state
        model.load_state_dict(extra_state, strict=False)
    example = example_input(manifest.get("signature"))
    if example is not None:
        model.build(example)
    tensors = read_weights(root, manifest["weights"])
    check_weights(model, tensors, extra_state)
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
        # from_logits only where it was set: families with their own compile (GAN, VAE, ...) do
        # not take it.
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
    if manifest.get("history") and member(root, manifest["history"]).is_file():
        from lamina.train.callbacks import History

        model.history_ = History()
        model.history_.history = read_json(member(root, manifest["history"]))
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
