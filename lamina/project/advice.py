"""What the advisor measured and its honest pick: the :class:`Advice` table and :func:`recommend`.

The recommendation rule: the best metric wins, except that the network (family ``"deep"``) must
beat the best classical model by more than the noise in metric units; otherwise the simpler
classical model is recommended, and the reason says so with the numbers. ``lamina.advise`` (in
``lamina.project.advisor``) measures the candidates and builds the :class:`Advice`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.project.kpi import get
from lamina.project.planning import markdown_table

__all__ = ["Advice", "recommend"]


@dataclass
class Advice:
    """What ``advise`` measured and recommends.

    ``rows`` holds one dict per candidate: ``candidate``, ``family`` (``"classical"``/``"deep"``),
    ``value`` (the test metric), ``cv_mean``/``cv_sd`` (k-fold CV on small data, else None),
    ``fit_seconds``, ``latency_ms`` (prediction time per row, measured on a batch of up to 1,000
    rows), ``size_bytes`` (scikit-learn: the pickled estimator's length in memory; lamina: the bytes
    of the ``state_dict`` tensors plus its JSON state and vocabulary), ``interpretability``
    (``"high"``, ``"medium"`` or ``"low"``) and ``note``. ``notes`` say how the data were split,
    what was skipped or subsampled, and how the noise was computed.
    """

    rows: list[dict[str, Any]]
    metric: str
    winner: str
    recommendation: str
    reason: str
    noise: float = 0.0
    notes: list[str] = field(default_factory=list)
    fitted: dict[str, Any] = field(
        default_factory=dict, repr=False, compare=False
    )  # advise(keep=True)
    definition: str = ""  # the metric in words: "F1 of class '>50K'", "macro F1", "accuracy"

    def table(self) -> Any:
        """The rows as a pandas DataFrame, the ``value`` column named after the metric."""
        import pandas

        return pandas.DataFrame(self.rows).rename(columns={"value": self.metric})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field but ``fitted``."""
        return {key: value for key, value in asdict(self).items() if key != "fitted"}

    def to_markdown(self) -> str:
        """The table, the recommendation, the reason and the notes as markdown."""
        headers = [
            "candidate",
            "family",
            self.definition or self.metric,
            "CV",
            "fit s",
            "ms/row",
            "size",
            "interpretability",
            "note",
        ]
        rows = [
            [
                r["candidate"],
                r["family"],
                f"{r['value']:.4f}",
                _cv(r),
                f"{r['fit_seconds']:.1f}",
                f"{r['latency_ms']:.4f}",
                _bytes(r["size_bytes"]),
                r["interpretability"],
                r["note"],
            ]
            for r in self.rows
        ]
        return "\n".join(
            [
                markdown_table(headers, rows),
                "",
                f"**Recommendation**: {self.recommendation}",
                "",
                f"**Why**: {self.reason}",
                "",
                *(f"- {note}" for note in self.notes),
            ]
        )

    def __str__(self) -> str:
        table = (
            self.table()
            .drop(columns=["note"])
            .to_string(index=False, float_format=lambda v: f"{v:.4g}")
        )
        notes = [f"  {r['candidate']}: {r['note']}" for r in self.rows if r["note"]]
        return "\n".join(
            [
                table,
                *notes,
                f"Recommendation: {self.recommendation}",
                f"Why: {self.reason}",
                *(f"- {note}" for note in self.notes),
            ]
        )


def _cv(row: Mapping[str, Any]) -> str:
    return "" if row.get("cv_mean") is None else f"{row['cv_mean']:.4f} +- {row['cv_sd']:.4f}"


def _bytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def recommend(rows: Sequence[Mapping[str, Any]], metric: str, noise: float) -> tuple[str, str, str]:
    """The honest recommendation ``(winner, recommendation, reason)`` for the candidates ``rows``.

    The network (family ``"deep"``) is recommended only when it beats the best classical model by
    more than ``noise`` in ``metric`` (whose direction comes from ``lamina.kpi.KPIS``); otherwise
    the best classical model is, and the reason names the numbers.

    >>> rows = [
    ...     {"candidate": "HGB", "family": "classical", "value": 0.870, "fit_seconds": 3.0,
    ...      "latency_ms": 0.01},
    ...     {"candidate": "MLP", "family": "deep", "value": 0.873, "fit_seconds": 60.0,
    ...      "latency_ms": 0.02},
    ... ]
    >>> recommend(rows, "accuracy", noise=0.005)[0]
    'HGB'
    """
    higher = get(metric).higher
    sign = 1.0 if higher else -1.0
    best = {
        family: max(
            (r for r in rows if r["family"] == family and np.isfinite(r["value"])),
            key=lambda r: sign * r["value"],
            default=None,
        )
        for family in ("classical", "deep")
    }
    classical, deep = best["classical"], best["deep"]
    if classical is None or deep is None:
        only = classical or deep
        if only is None:
            raise DataError(
                message(
                    "No candidate has a finite score.",
                    [r["value"] for r in rows],
                    "at least one finite metric value",
                    "Check the data for NaN labels.",
                )
            )
        return (
            only["candidate"],
            f"Use {only['candidate']}.",
            f"it is the only candidate with a score ({metric} {only['value']:.4f}).",
        )
    gain = sign * (deep["value"] - classical["value"])
    numbers = (
        f"{deep['candidate']} scores {metric} {deep['value']:.4f}, the best classical model "
        f"({classical['candidate']}) {classical['value']:.4f}: the network is "
        f"{'ahead' if gain > 0 else 'behind'} by {abs(gain):.4f}, "
        f"against a noise level of {noise:.4f}."
    )
    if gain > noise:
        return (
            deep["candidate"],
            f"Use {deep['candidate']}: it beats every classical model by more than the noise.",
            numbers,
        )
    cost = (
        f" Fit: {classical['fit_seconds']:.1f} s vs {deep['fit_seconds']:.1f} s for the network; "
        f"prediction: {classical['latency_ms']:.4f} vs {deep['latency_ms']:.4f} ms per row."
    )
    verdict = (
        "The network is not better by more than the noise, so the simpler classical model is "
        "recommended."
        if gain > 0
        else "The classical model scores at least as well."
    )
    return (
        classical["candidate"],
        f"Use {classical['candidate']} (classical): the network does not beat it "
        "by more than the noise.",
        f"{numbers} {verdict}{cost}",
    )
