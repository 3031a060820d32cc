"""The report of live performance on labelled predictions: JSON, Prometheus gauges, words, HTML.

:func:`lamina.feedback.performance` measures; :class:`PerformanceReport` holds what it found and
writes it out, also into a ``lamina monitor`` folder (``monitor.html``, ``metrics.prom``).
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TOLERANCE", "PerformanceReport"]

# how much worse than the training-time test the live metric may be (lamina.feedback's docstring)
TOLERANCE = 0.05


@dataclass
class PerformanceReport:
    """What :func:`performance` measured; ``degraded`` and ``value`` are what a retraining trigger
    reads."""

    task: str
    # the main metric: the reference's KPI, else accuracy (classification) or rmse (regression)
    metric: str
    value: float | None  # its live value on every labelled prediction (None before any label)
    metrics: dict[str, float | None]
    labelled: int  # labelled predictions (rows)
    unlabelled: int  # logged predictions without a label yet
    degraded: bool
    reasons: list[str] = field(default_factory=list)
    # kpi, value, threshold of the training-time test
    reference: dict[str, Any] = field(default_factory=dict)
    tolerance: float = TOLERANCE
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> recall, support
    confusion: dict[str, Any] = field(default_factory=dict)  # labels, counts[true][predicted]
    trend: list[dict[str, Any]] = field(default_factory=list)  # per window: start, count, value
    # model version -> count, value
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON, also written to ``path``."""
        text = json.dumps(self.to_dict(), allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_prometheus(self) -> str:
        """Gauges ``lamina_live_<metric>``, ``lamina_labelled_predictions`` and
        ``lamina_performance_degraded``."""
        gauges = [
            ("labelled_predictions", "Logged predictions with a label.", self.labelled),
            (
                "performance_degraded",
                "1 when the live metric is worse than the reference or threshold.",
                int(self.degraded),
            ),
        ] + [
            (f"live_{name}", f"Live {name} on the labelled predictions.", value)
            for name, value in self.metrics.items()
            if value is not None
        ]
        return "".join(
            f"# HELP lamina_{name} {text}\n# TYPE lamina_{name} gauge\nlamina_{name} {value:.6g}\n"
            for name, text, value in gauges
        )

    def summary(self) -> str:
        """A few lines in words: the live metric against the reference, the reasons and findings."""
        base = self.reference.get("value")
        if self.value is None:
            lines = ["No labelled predictions yet."]
        else:
            against = "" if base is None else f" (training-time test: {base:.4f})"
            lines = [
                f"{'Degraded' if self.degraded else 'OK'}: "
                f"live {self.metric} {self.value:.4f}{against} on {self.labelled:,} labelled "
                f"predictions ({self.unlabelled:,} still unlabelled)."
            ]
        lines += [
            f"  {name:<18} {value:.4f}" for name, value in self.metrics.items() if value is not None
        ]
        return "\n".join(
            lines
            + [f"  degraded: {r}" for r in self.reasons]
            + [f"  note: {f}" for f in self.findings]
        )

    def to_html_section(self) -> str:
        """An HTML section: summary, metrics, per model version, and an embedded PNG of the
        trend."""
        from lamina.core.pages import html_table, png_panels

        def trend(ax: Any) -> None:
            ends = [w["start"] + w["count"] for w in self.trend]
            ax.plot(
                ends,
                [np.nan if w["value"] is None else w["value"] for w in self.trend],
                "o-",
                label="live",
            )
            for key, style in (("value", "--"), ("threshold", ":")):
                if self.reference.get(key) is not None:
                    ax.axhline(
                        self.reference[key], linestyle=style, color="gray", label=f"reference {key}"
                    )
            ax.legend(fontsize=7)

        def cell(value: Any) -> str:
            return html.escape(f"{value:.4g}" if isinstance(value, float) else str(value))

        metrics = html_table(
            [["metric", "live", "reference"]]
            + [
                [cell(k), cell(v), cell(self.reference.get("value") if k == self.metric else "")]
                for k, v in self.metrics.items()
            ]
        )
        versions = html_table(
            [["version", "labelled", self.metric]]
            + [[cell(k), cell(v["count"]), cell(v["value"])] for k, v in self.versions.items()]
        )
        notes = "".join(f"<li>{html.escape(t)}</li>" for t in self.reasons + self.findings)
        headline = html.escape(self.summary().splitlines()[0])
        plot = ""
        if self.trend:
            plot = png_panels([(f"{self.metric} per window of labelled predictions", trend)])
        return (
            f"<h2>Performance on labelled predictions</h2><p>{headline}</p>"
            f"{'<ul>' + notes + '</ul>' if notes else ''}{metrics}"
            f"<h3>Per model version</h3>{versions}{plot}"
        )

    def write_into(self, folder: str | Path) -> None:
        """``performance.json`` in ``folder``; the section joins its ``monitor.html``, the gauges
        ``metrics.prom``."""
        self.to_json(Path(folder) / "performance.json")
        for name, change in (
            ("monitor.html", lambda t: t.replace("</body>", self.to_html_section() + "</body>")),
            ("metrics.prom", lambda t: t + self.to_prometheus()),
        ):
            if (Path(folder) / name).is_file():
                (Path(folder) / name).write_text(
                    change((Path(folder) / name).read_text("utf-8")), "utf-8"
                )
