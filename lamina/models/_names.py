"""One set of constructor names across the families, and the error for a spelling that was renamed.

``units`` (hidden width), ``outputs`` (output size: classes or values), ``embedding_dim`` (token or
model vectors), ``num_layers``, ``num_heads`` and ``dropout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.core.errors import ConfigError, message

__all__ = ["RENAMED", "check_dropout", "refuse_renamed"]

RENAMED = {
    "dim": "embedding_dim",
    "embedding_size": "embedding_dim",
    "hidden_size": "units",
    "hidden": "units",
    "heads": "num_heads",
    "num_classes": "outputs",
}


def refuse_renamed(owner: str, given: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` for keyword arguments a constructor does not take, naming the new
    spelling.

    Args:
        owner: the class name, for the message.
        given: the extra keyword arguments the constructor received (its ``**renamed``).

    >>> refuse_renamed("MLP", {})
    """
    for old, value in given.items():
        new = RENAMED.get(old)
        if new is not None:
            raise ConfigError(
                message(
                    f"{owner}: the argument `{old}` is now called `{new}`.",
                    f"{old}={value!r}",
                    f"{new}=... (lamina's families share units, outputs, embedding_dim, "
                    "num_layers, num_heads, dropout)",
                    f"Pass {new}={value!r}.",
                )
            )
    if given:
        raise ConfigError(
            message(
                f"{owner} got unknown arguments.",
                sorted(given),
                "its documented arguments",
                f"Check help(lamina.models.{owner}) or get_params() for the names.",
            )
        )


def check_dropout(owner: str, dropout: Any) -> None:
    """Raise ``ConfigError`` unless ``dropout`` is a number in [0, 1) (the families' shared check).

    Args:
        owner: the class name, for the message.
        dropout: the rate received.

    >>> check_dropout("MLP", 0.1)
    """
    if (
        not isinstance(dropout, (int, float))
        or isinstance(dropout, bool)
        or not 0.0 <= dropout < 1.0
    ):
        raise ConfigError(
            message(
                f"{owner} dropout out of range.",
                f"dropout={dropout!r}",
                "0 <= dropout < 1",
                "Pass e.g. dropout=0.1, or 0.0 for none.",
            )
        )
