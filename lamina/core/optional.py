"""Optional dependencies, imported on first use with an error that says how to install them."""

from __future__ import annotations

from typing import Any

from lamina.core.errors import message

__all__ = ["require_pandas"]


def require_pandas() -> Any:
    """The ``pandas`` module, imported on first use.

    Returns:
        The module; an ``ImportError`` that says how to install it when pandas is missing.
    """
    try:
        import pandas
    except ImportError:
        raise ImportError(
            message(
                "Tables need pandas, which is not installed.",
                "no module pandas",
                "pandas installed",
                "pip install 'lamina[data]' (pandas, pyarrow, Pillow)",
            )
        ) from None
    return pandas
