"""The files of a saved model directory, read safely: the manifest, the weights, the history.

Every reader refuses pickles (unpickling can run any code), keeps file names inside the model
directory, and checks the weights against the hashes recorded at save time. Format 1 directories
(``spec.json`` + ``model.safetensors``) are read through :func:`migrate_v1`. ``lamina.io.artifact``
writes these files (``save``) and builds the model from them (``load``).

>>> example_input({"inputs": [{"name": "input", "shape": [None, 3], "dtype": "float32"}]})
tensor([[0., 0., 0.]])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from lamina.core.errors import ArtifactError, UnsafeFileError, WeightsError, message

__all__ = [
    "FORMAT_VERSION",
    "HISTORY",
    "MANIFEST",
    "SLOTS",
    "WEIGHTS",
    "check_weights",
    "example_input",
    "file_hash",
    "member",
    "migrate_v1",
    "read_json",
    "read_manifest",
    "read_weights",
    "refuse_if_pickle",
    "tensor_hash",
]

FORMAT_VERSION = 2
MANIFEST, WEIGHTS, HISTORY = "lamina.json", "weights.safetensors", "history.json"
# JSON slots a model carries in its manifest (set ``model.slots_ = {name: value}`` before saving):
# the preprocessing pipeline's config and the training data's reference profile for drift
# monitoring.
SLOTS = ("preprocessing", "reference_profile")


def tensor_hash(tensor: torch.Tensor) -> str:
    """The SHA-256 of a tensor's raw bytes, as recorded per tensor in the manifest.

    Args:
        tensor: any tensor; it is copied to the CPU as a contiguous block first.

    Returns:
        The hex digest.
    """
    raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    return hashlib.sha256(raw.data).hexdigest()


def file_hash(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks.

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def refuse_if_pickle(path: Path) -> None:
    """Raise ``UnsafeFileError`` when ``path`` starts like a pickle (and not like safetensors).

    Args:
        path: the file to look at; only its first 9 bytes are read.
    """
    with open(path, "rb") as handle:
        head = handle.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header. Its first byte can
    # be 0x80 or '(' like a pickle's, so recognise a plausible safetensors file before looking for
    # pickles.
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


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a pickle, invalid JSON or a non-object raises a lamina error.

    Args:
        path: a JSON file of a model directory.

    Returns:
        The parsed object.
    """
    refuse_if_pickle(path)
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


def member(root: Path, name: Any) -> Path:
    """A file named by the manifest: only plain names inside the model directory.

    Args:
        root: the model directory.
        name: the file name the manifest gives.

    Returns:
        ``root / name``; a path or a non-string raises ``UnsafeFileError``.
    """
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


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the model directory ``root`` (format 1 directories are migrated).

    Args:
        root: the model directory.

    Returns:
        The manifest as a dict, checked for a readable format version, weights and compile entries.
    """
    if root.is_file():
        refuse_if_pickle(root)
        raise ArtifactError(
            message(
                "lamina.load takes a model directory.",
                str(root),
                f"a directory containing {MANIFEST}",
                "Pass the directory model.save() wrote.",
            )
        )
    if (root / MANIFEST).is_file():
        manifest = read_json(root / MANIFEST)
        version = manifest.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise ArtifactError(
                message(
                    f"This model was saved in format version {version}, newer than this lamina can "
                    "read.",
                    f"format_version={version}",
                    f"format_version 1 to {FORMAT_VERSION}",
                    "Upgrade lamina to the version that saved it (see lamina_version in the "
                    "manifest).",
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
        return migrate_v1(root)
    raise ArtifactError(
        message(
            "Not a lamina model directory.",
            str(root),
            f"a directory with {MANIFEST}",
            "Pass the directory that model.save() wrote.",
        )
    )


def migrate_v1(root: Path) -> dict[str, Any]:
    """The manifest of a format 1 directory (``spec.json`` + ``model.safetensors``).

    Args:
        root: a directory holding ``spec.json`` (class, config, input shape) and the weights.

    Returns:
        A format 2 manifest describing the same model.
    """
    spec = read_json(root / "spec.json")
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
    """One all-zeros input row matching the saved input signature.

    Args:
        signature: the manifest's ``"signature"`` entry.

    Returns:
        A ``(1, *shape[1:])`` tensor of the saved dtype, or None when no shape was saved.
    """
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


def read_weights(root: Path, info: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The weights named by the manifest, checked against the hashes recorded at save time.

    Args:
        root: the model directory.
        info: the manifest's ``"weights"`` entry (file, sha256, per-tensor hashes).

    Returns:
        ``{state-dict key: tensor}``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = member(root, info.get("file"))
    if not path.is_file():
        raise WeightsError(
            message(
                "The weights file is missing.",
                str(path),
                "a safetensors file",
                "Copy the whole model directory, or re-save the model.",
            )
        )
    refuse_if_pickle(path)
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
    if info.get("sha256") and file_hash(path) != info["sha256"]:
        bad = [k for k, v in tensors.items() if k in expected and tensor_hash(v) != expected[k]]
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


def check_weights(
    model: nn.Module, tensors: Mapping[str, torch.Tensor], extra_state: Mapping[str, Any]
) -> None:
    """Raise ``WeightsError`` unless ``tensors`` hold exactly ``model``'s tensors, shaped alike.

    Args:
        model: the rebuilt (and built) model.
        tensors: the weights read from the file.
        extra_state: the non-tensor extra states, as state-dict entries.
    """
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
            # a lazy layer with no saved input signature: load_state_dict gives it the file's shape
            continue
        if tuple(value.shape) != tuple(tensors[key].shape):
            raise WeightsError(
                message(
                    f"Tensor {key!r} has the wrong shape.",
                    f"shape {tuple(tensors[key].shape)} in the file",
                    f"shape {tuple(value.shape)} for this architecture",
                    "Load weights saved from this same architecture and input size.",
                )
            )
