"""Quality rows: one file per model family, each exposing ``ROWS = [Row(name, target, fn)]``.

Run ``python -m benchmarks.quality [--only NAME]``; ``fn()`` returns the measured value and a row
passes when it reaches ``target`` (or stays at or below it when ``lower_is_better``). A row with
``target=None`` is reported without a verdict (e.g. an ablation shown beside the row it explains).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Row"]


@dataclass(frozen=True)
class Row:
    """One quality row: ``fn()`` returns the measured value, compared with ``target``."""

    name: str
    target: float | None
    fn: Callable[[], float]
    lower_is_better: bool = False

    def passed(self, value: float) -> bool | None:
        """True/False against the target; None for a report-only row."""
        if self.target is None:
            return None
        return value <= self.target if self.lower_is_better else value >= self.target

    def target_text(self) -> str:
        """The target as shown in the table: ``>= 0.980``, ``<= 1.650`` or ``(reported)``."""
        if self.target is None:
            return "(reported)"
        return f"{'<=' if self.lower_is_better else '>='} {self.target:.3f}"
