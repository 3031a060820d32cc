"""The lamina exception tree.

Every error lamina raises on bad input derives from :class:`LaminaError` and from the
matching built-in (``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working.
Messages say what was received, what was expected and how to fix it.

    LaminaError
    ├── ConfigError (ValueError)        bad argument or unknown name
    ├── DataError (ValueError)          data that cannot be trained on
    │   ├── ShapeError                  shapes that do not fit the model
    │   ├── DatasetNotFoundError        lamina.datasets: a file is missing (says where it goes)
    │   └── ChecksumError               lamina.datasets: a download with the wrong hash
    ├── NotCompiledError (RuntimeError) fit/evaluate before compile
    ├── NotBuiltError (RuntimeError)    needs a forward pass first
    └── ArtifactError (ValueError)      a saved model that cannot be loaded
        ├── UnsafeFileError             pickle or a disallowed class
        ├── WeightsError                corrupt or mismatched weights
        └── CheckpointError             lamina.checkpoint: a checkpoint from another run
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataError",
    "IntegrityError",
    "LaminaError",
    "NotBuiltError",
    "NotCompiledError",
    "ShapeError",
    "UnsafeFileError",
    "WeightsError",
]


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose."""


class ConfigError(LaminaError, ValueError):
    """An argument or a name that lamina cannot resolve."""


class DataError(LaminaError, ValueError):
    """Data that lamina cannot train or predict on."""


class ShapeError(DataError):
    """Data whose shape does not match the model."""


class NotCompiledError(LaminaError, RuntimeError):
    """``fit`` or ``evaluate`` was called before ``compile``."""


class NotBuiltError(LaminaError, RuntimeError):
    """An operation that needs the input shape ran before the model saw any data."""


class ArtifactError(LaminaError, ValueError):
    """A saved model directory that cannot be loaded."""


class UnsafeFileError(ArtifactError):
    """A file that would execute code when loaded (pickle) or names a disallowed class."""


class WeightsError(ArtifactError):
    """Weights that are corrupt or do not fit the architecture."""


class IntegrityError(ArtifactError):
    """A stored model whose bytes no longer match the content hash recorded for it."""


def message(what: str, received: Any, expected: str, fix: str) -> str:
    """Build the standard three-part message: what happened, received vs expected, how to fix.

    >>> message("Unknown loss.", "'crossentropy'", "one of 'mse', 'mae'", "Pass one of those.")
    "Unknown loss. Received: 'crossentropy'. Expected: one of 'mse', 'mae'. Fix: Pass one of those."
    """
    return f"{what} Received: {received}. Expected: {expected}. Fix: {fix}"
