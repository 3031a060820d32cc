"""Run configuration: defaults -> config file -> ``LAMINA_*`` environment -> keyword arguments.

The resolved configuration is written into every saved model.

>>> import lamina
>>> lamina.config.resolve(device="cpu").device
'cpu'
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from lamina.core.errors import ConfigError, message

__all__ = ["Config", "config_path", "resolve", "select_device"]


def _default_data_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lamina", "datasets")


@dataclasses.dataclass
class Config:
    """Settings shared by every stage.

    Attributes:
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        seed: seed for python, numpy and torch at the start of ``fit``; None leaves them alone.
        verbose: ``"auto"`` (progress bar on a terminal only), 0, 1 (bar) or 2 (one line per epoch).
        data_dir: where dataset loaders look for files (``LAMINA_DATA``).
        num_threads: torch CPU threads; None keeps torch's choice.
        debug: 0 is quiet; each step up logs more (``LAMINA_DEBUG``).
    """

    device: str = "auto"
    seed: int | None = None
    verbose: str | int = "auto"
    data_dir: str = dataclasses.field(default_factory=_default_data_dir)
    num_threads: int | None = None
    debug: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return dataclasses.asdict(self)


_ENV = {
    "device": "LAMINA_DEVICE",
    "seed": "LAMINA_SEED",
    "verbose": "LAMINA_VERBOSE",
    "data_dir": "LAMINA_DATA",
    "num_threads": "LAMINA_NUM_THREADS",
    "debug": "LAMINA_DEBUG",
}


def config_path() -> Path:
    """The config file: ``$LAMINA_CONFIG`` or ``~/.config/lamina/config.json``."""
    env = os.environ.get("LAMINA_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "lamina" / "config.json"


def _coerce(field: dataclasses.Field[Any], raw: Any, source: str) -> Any:
    if raw is None or raw == "":
        return None
    if field.name in ("seed", "num_threads", "debug") or (
        field.name == "verbose" and str(raw).isdigit()
    ):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(
                message(
                    f"Bad value for {field.name} in {source}.",
                    repr(raw),
                    "an integer",
                    f"Set {field.name} to a whole number.",
                )
            ) from None
    return str(raw)


def resolve(**overrides: Any) -> Config:
    """Merge defaults, the config file, ``LAMINA_*`` variables and ``overrides`` (None: unset)."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    path = config_path()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(
                message(
                    "The lamina config file is not valid JSON.",
                    f"{path}: {exc}",
                    "a JSON object",
                    "Fix or delete the file.",
                )
            ) from None
        values.update({k: _coerce(fields[k], v, str(path)) for k, v in data.items() if k in fields})
    for name, var in _ENV.items():
        if var in os.environ:
            values[name] = _coerce(fields[name], os.environ[var], var)
    unknown = set(overrides) - set(fields)
    if unknown:
        raise ConfigError(
            message(
                "Unknown config option.",
                sorted(unknown),
                f"one of {sorted(fields)}",
                "Check the spelling.",
            )
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**values)


def select_device(device: str | None = "auto") -> Any:
    """Resolve ``"auto"`` to CUDA when available, else CPU; validate anything else.

    >>> str(lamina.config.select_device("cpu"))
    'cpu'
    """
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            message(
                "Unknown device.",
                repr(device),
                "'auto', 'cpu', 'cuda' or 'cuda:N'",
                "Pass device='auto'.",
            )
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            message(
                "CUDA was requested but is not available.",
                repr(device),
                "a device present on this machine",
                "Pass device='auto' or 'cpu'.",
            )
        )
    return resolved
