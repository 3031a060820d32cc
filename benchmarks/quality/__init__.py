"""Quality rows: one file per model family, each exposing ``ROWS = [Row(name, target, fn)]``.

Run ``python -m benchmarks.quality [--only NAME]``; ``fn()`` returns the measured value and a row
passes when it reaches ``target``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Row"]


@dataclass(frozen=True)
class Row:
    """One quality row: ``fn()`` returns the measured value, which must be >= ``target``."""

    name: str
    target: float
    fn: Callable[[], float]
