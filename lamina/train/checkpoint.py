"""Exactly resumable training: checkpoints of everything a run depends on.

A checkpoint holds the model and optimizer state, every RNG (python, numpy, torch CPU and
CUDA, the batch-order generator as of the epoch start), the position in the run (epoch,
step), the running means and metric states, and each callback's ``state_dict()``. Resuming
from it gives weights bit-identical to an uninterrupted run.

Each checkpoint is a directory ``step-<global step>`` written under a temporary name and
renamed into place only when complete, then named in ``LATEST`` (also written-then-renamed),
so a crash during a write never leaves a checkpoint that resume would pick. Tensors go to
safetensors and everything else to JSON: no pickle.

>>> import lamina, tempfile
>>> x, y = lamina.testing.tiny_classification(rows=40)
>>> model = lamina.Sequential([lamina.layers.Dense(3)]).compile(loss="cross_entropy")
>>> directory = tempfile.mkdtemp()
>>> _ = model.fit(x, y, epochs=2, checkpoint_dir=directory, seed=0)
>>> lamina.checkpoint.Checkpointer(directory).latest().name
'step-000004'
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.core.errors import ArtifactError, message

__all__ = ["CheckpointError", "Checkpointer", "flatten", "unflatten"]

VERSION = 1


class CheckpointError(ArtifactError):
    """A checkpoint that cannot be resumed into this run (other architecture or optimizer)."""


# ---------------------------------------------------------------- nested state <-> JSON + tensors
_TAGS = ("__tensor__", "__items__", "__tuple__")


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """Replace tensors in a nested structure by references, collecting them in ``tensors``.

    Dicts with non-string keys and tuples are tagged so that :func:`unflatten` restores them; so
    are dicts that use a tag as a key (a JSON spec's ``{"__tuple__": [...]}``, a module's extra
    state), which would otherwise be read back as the tagged value.
    """
    if isinstance(obj, torch.Tensor):
        key = prefix or "tensor"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not any(tag in obj for tag in _TAGS):
            return {k: flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}
        return {"__items__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return obj


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: unflatten(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


# ---------------------------------------------------------------- RNG state
def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and every CUDA device) RNG states."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            kind,
            torch.from_numpy(np.array(keys, dtype=np.int64)),
            int(position),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- the checkpoint directory
class Checkpointer:
    """Writes and finds checkpoints in ``directory``.

    Args:
        directory: where checkpoints live (created when needed).
        every: save every this many optimisation steps; None saves at the end of each epoch.
        keep: how many recent checkpoints to keep.
    """

    def __init__(
        self, directory: str | os.PathLike[str], every: int | None = None, keep: int = 2
    ) -> None:
        self.directory = Path(directory)
        self.every = every
        self.keep = keep

    def __repr__(self) -> str:
        return f"lamina.checkpoint.Checkpointer({str(self.directory)!r}, every={self.every})"

    def checkpoints(self) -> Iterator[Path]:
        """Complete checkpoints, oldest first."""
        if self.directory.is_dir():
            yield from sorted(
                p for p in self.directory.glob("step-*") if (p / "state.json").is_file()
            )

    def latest(self) -> Path | None:
        """The newest complete checkpoint named in ``LATEST`` (or found on disk), if any."""
        pointer = self.directory / "LATEST"
        name = pointer.read_text().strip() if pointer.is_file() else ""
        # only a checkpoint in this directory
        if name.startswith("step-") and Path(name).name == name:
            candidate = self.directory / name
            if (candidate / "state.json").is_file() and (
                candidate / "tensors.safetensors"
            ).is_file():
                return candidate
        found = list(self.checkpoints())
        return found[-1] if found else None

    def save(self, state: dict[str, Any], global_step: int) -> Path:
        """Write ``state`` (dicts of JSON values and tensors) as checkpoint ``global_step``."""
        from safetensors.torch import save_file

        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"step-{global_step:06d}"
        staging = self.directory / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        tensors: dict[str, torch.Tensor] = {}
        meta = flatten({"format": "lamina.checkpoint", "version": VERSION, **state}, tensors)
        save_file(tensors, str(staging / "tensors.safetensors"))
        _write_synced(staging / "state.json", json.dumps(meta))
        target = self.directory / name
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        _write_synced(self.directory / ".LATEST.partial", name)
        os.replace(self.directory / ".LATEST.partial", self.directory / "LATEST")
        for old in list(self.checkpoints())[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def load(self, path: Path | None = None) -> dict[str, Any] | None:
        """The state in ``path`` (default: the latest checkpoint), or None when there is none."""
        from safetensors.torch import load_file

        path = path or self.latest()
        if path is None:
            return None
        try:
            meta = json.loads((path / "state.json").read_text())
            tensors = load_file(str(path / "tensors.safetensors"))
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                message(
                    "The checkpoint cannot be read.",
                    f"{path}: {exc}",
                    "a checkpoint written by lamina",
                    "Delete it to start over.",
                )
            ) from None
        if meta.get("format") != "lamina.checkpoint" or meta.get("version") != VERSION:
            raise CheckpointError(
                message(
                    "Unknown checkpoint format.",
                    repr(meta.get("format")),
                    f"lamina.checkpoint version {VERSION}",
                    "Delete it to start over.",
                )
            )
        try:
            return unflatten(meta, tensors)  # type: ignore[no-any-return]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                message(
                    "The checkpoint is malformed.",
                    f"{path}: {exc!r}"[:300],
                    "a checkpoint written by lamina",
                    "Delete it to start over.",
                )
            ) from None


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def check_compatible(saved: dict[str, Any], current: dict[str, Any], path: Path | None) -> None:
    """Refuse a checkpoint whose architecture, parameter shapes or optimizer differ from the run."""
    for key, label in (
        ("architecture", "architecture"),
        ("optimizer_class", "optimizer"),
        ("shapes", "parameter shapes"),
    ):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                message(
                    f"The checkpoint in {path} was written by a run with a different {label}.",
                    f"{label} {json.dumps(saved.get(key))[:200]}",
                    f"{label} {json.dumps(current.get(key))[:200]}",
                    "Resume with the same model and optimizer, or pass a new checkpoint_dir (or "
                    "resume=False).",
                )
            )
