"""Drift monitoring: compare logged inputs and predictions with the reference profile saved at
training time.

The reference (``lamina.eda.Profile.reference()``, saved with a model as ``reference_profile.json``)
holds no raw rows, only per column the row count, missing share, quantiles and a 20-bin histogram
over [p1, p99] (values outside are clipped into the end bins), or category frequencies. Every
statistic is computed against that:

- the current values are clipped to [p1, p99] and binned on the reference's edges, so both
  histograms are made the same way; PSI, Jensen-Shannon and Wasserstein (bin midpoints weighted by
  the counts, divided by the reference's IQR / 1.349, the standard deviation of a normal with that
  IQR) compare the two histograms;
- the reference CDF is known exactly at the inner histogram edges (the count of values below each
  edge) and at the quantiles (up to ties); the KS statistic is the largest gap between the current
  empirical CDF and the reference CDF at those points. It is a lower bound of the two-sample KS
  statistic, so its p-value (Kolmogorov distribution with n = n_ref * n_cur / (n_ref + n_cur)) is
  conservative;
- categories: a chi-squared test of the reference counts (frequency x rows) against the current
  counts, the reference's less frequent categories and unseen ones pooled as "other".

The deciding test follows Evidently's defaults, chosen by sample size (the smaller of reference and
current rows; small: <= 1,000): large samples make every p-value tiny, so they use an effect size
instead.

==============  ===========================  ===========================================
feature kind    small samples (<= 1,000)      large samples
==============  ===========================  ===========================================
numeric         KS p-value < 0.05             Wasserstein (normed) >= 0.1
categorical     chi-squared p-value < 0.05    Jensen-Shannon distance >= 0.1
prediction      as its kind above             as its kind above
images, texts   domain classifier ROC AUC > 0.55 (5-fold cross-validated logistic regression)
==============  ===========================  ===========================================

PSI (>= 0.1 is a notable change) is reported for every feature. ``dataset_drift`` is True when at
least half of the input features drift (Evidently's default share, 0.5); ``alarm`` (alerts, the
CLI's exit code 1) when any feature, the predictions or the embeddings drift. ``thresholds=``
overrides any of ``THRESHOLDS``. Images and texts are compared by the profile's per-row columns
(brightness and contrast; characters and words) and, given ``reference_data``, by the domain
classifier on per-image mean, std and pixels shrunk to 8 x 8, or TF-IDF.

>>> import numpy as np, pandas
>>> from lamina.eda import profile
>>> rng = np.random.default_rng(0)
>>> reference = profile(pandas.DataFrame({"a": rng.normal(size=3000)})).reference()
>>> report = drift(reference, pandas.DataFrame({"a": rng.normal(1.0, 1.0, size=3000)}))
>>> report.drifted["names"], report.rows[0]["test"], report.dataset_drift
(['a'], 'wasserstein', True)
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.reference import (
    as_frame,
    category_key,
    clean_json,
    image_features,
    numeric_summary,
    text_features,
)
from lamina.maintain.drift_stats import compare_column, domain_classifier

__all__ = ["THRESHOLDS", "DriftReport", "alert", "drift"]

THRESHOLDS = {
    "small_rows": 1000,
    "ks": 0.05,
    "chi2": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "auc": 0.55,
    "share": 0.5,
    "missing_jump": 0.1,
}
PLOTS = 8  # features plotted on the HTML page, the most drifted first


@dataclass
class DriftReport:
    """What :func:`drift` found: one row per compared feature, the drifted share and data-quality
    findings."""

    rows: list[dict[str, Any]]
    drifted: dict[str, Any]
    dataset_drift: bool
    findings: list[str] = field(default_factory=list)
    # per feature: bins, reference and current shares
    histograms: dict[str, Any] = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        """True when any feature, the predictions or the embeddings drifted."""
        return any(row["drifted"] for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        """The report :meth:`to_dict` described."""
        return cls(**data)

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON, also written to ``path``."""
        text = json.dumps(self.to_dict(), allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained dashboard (inline CSS, embedded PNG plots, no links), also written to
        ``path``."""
        page = _html(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def to_prometheus(self) -> str:
        """Gauges in the Prometheus text exposition format: drift share, dataset drift, per feature
        statistic."""
        lines = [
            "# HELP lamina_drift_share Share of input features that drifted.",
            "# TYPE lamina_drift_share gauge",
            f"lamina_drift_share {self.drifted['share']:.6g}",
            "# HELP lamina_dataset_drift 1 when the data set drifted.",
            "# TYPE lamina_dataset_drift gauge",
            f"lamina_dataset_drift {int(self.dataset_drift)}",
            "# HELP lamina_feature_drift The deciding drift statistic per feature.",
            "# TYPE lamina_feature_drift gauge",
        ]
        lines += [
            f'lamina_feature_drift{{feature="{_label(r["feature"])}",test="{r["test"]}",drifted="'
            f'{int(bool(r["drifted"]))}"}} {r["statistic"]:.6g}'
            for r in self.rows
            if r["statistic"] is not None
        ]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (
            f"lamina.monitor.DriftReport(drifted={self.drifted['names']}, "
            f"share={self.drifted['share']:.2f}, dataset_drift={self.dataset_drift})"
        )


def drift(
    reference: Any,
    current: Any,
    *,
    predictions: Any = None,
    reference_predictions: Any = None,
    reference_data: Any = None,
    thresholds: dict[str, float] | None = None,
) -> DriftReport:
    """Compare current inputs (and predictions) with a training reference, feature by feature.

    Args:
        reference: a reference dict (``Profile.reference()``), a ``lamina.eda.Profile``, a loaded
            ``lamina.fitted.FittedModel``, a model folder holding ``reference_profile.json``, or
            that file.
        current: the logged inputs: a DataFrame (tables), a ``lamina.data.Dataset``, images ``(N, H,
            W)`` or ``(N, C, H, W)``, or texts; their modality follows the reference's.
        predictions: the model's predictions on ``current`` ``(N,)``, compared with the reference
            target (or ``reference_predictions``).
        reference_predictions: predictions on the training data ``(M,)``, compared instead of the
            target.
        reference_data: training images or texts for the domain classifier (embedding drift).
        thresholds: overrides of ``THRESHOLDS`` (e.g. ``{"wasserstein": 0.2}``).

    Returns:
        A :class:`DriftReport`.
    """
    limits = {**THRESHOLDS, **_checked(thresholds)}
    ref, findings, rows, histograms = _reference(reference), [], [], {}
    x = getattr(current, "x", current)
    modality = ref.get("modality", "table")
    frame = _features(x, modality)
    if len(frame) == 0:
        findings.append("The current data are empty: nothing to compare.")
    columns = {
        name: c for name, c in ref["columns"].items() if "histogram" in c or "frequencies" in c
    }
    skipped = [name for name in ref["columns"] if name not in columns and name in frame.columns]
    if skipped:
        findings.append(f"Columns not compared (ids, texts, dates): {skipped[:20]}.")
    missing = [name for name in ref["columns"] if name not in frame.columns]
    if missing and len(frame):
        findings.append(f"Columns missing from the current data: {missing[:20]}.")
    new = [str(name) for name in frame.columns if name not in ref["columns"]]
    if new:
        findings.append(f"New columns not in the reference: {new[:20]}.")
    for name, column in columns.items():
        if name not in frame.columns or not len(frame):
            continue
        share, before = float(frame[name].isna().mean()), column.get("missing_share") or 0.0
        if share == 1.0:
            findings.append(f"Column {name!r} is empty (all values missing) in the current data.")
        elif share - before >= limits["missing_jump"]:
            findings.append(
                f"Column {name!r}: missing values rose from {before:.1%} to {share:.1%}."
            )
        row, histograms[name] = compare_column(
            name, column, frame[name], ref["rows"], limits, findings
        )
        rows.append({**row, "role": "feature"})
    if predictions is not None and len(predictions):
        given = reference_predictions is not None and len(reference_predictions) > 0
        target = _summary(reference_predictions) if given else ref.get("target")
        if not target:
            findings.append(
                "Prediction drift needs the reference target or reference_predictions; "
                "neither is there."
            )
        else:
            values = _pandas().Series(np.asarray(predictions).reshape(len(predictions), -1)[:, 0])
            count = len(reference_predictions) if given else ref["rows"]
            row, histograms["prediction"] = compare_column(
                "prediction", target, values, count, limits, findings
            )
            rows.append({**row, "role": "prediction"})
    if reference_data is not None and len(x):
        rows.append(domain_classifier(reference_data, x, modality, limits))
        if min(len(reference_data), len(x)) < 1000:
            findings.append(
                "The domain classifier saw under 1,000 samples a side: its AUC varies by about "
                "0.05 by chance (more samples make it steadier)."
            )
    features = [row for row in rows if row["role"] == "feature"]
    names = [row["feature"] for row in features if row["drifted"]]
    share = len(names) / len(features) if features else 0.0
    return DriftReport(
        clean_json(rows),
        {"share": share, "count": len(names), "of": len(features), "names": names},
        bool(features) and share >= limits["share"],
        findings,
        clean_json(histograms),
    )


def alert(
    report: DriftReport,
    *,
    command: list[str] | None = None,
    webhook: str | None = None,
    timeout: float = 30.0,
) -> bool:
    """When the report shows drift, run ``command`` with its JSON on stdin and POST the JSON to
    ``webhook``.

    Args:
        report: a :class:`DriftReport`.
        command: an argv list, run without a shell (e.g. ``["notify", "--channel", "ml"]``).
        webhook: an ``http://`` or ``https://`` URL receiving the JSON.
        timeout: seconds each may take.

    Returns:
        True when the report drifted and the alert went out (a failed delivery warns, it does not
        raise).
    """
    if command is not None and (
        not isinstance(command, (list, tuple))
        or not all(isinstance(a, str) for a in command)
        or not command
    ):
        raise ConfigError(
            message(
                "command must be an argv list of strings.",
                repr(command),
                "e.g. ['notify', '--to', 'ml-team']",
                "Split the command into its arguments (no shell).",
            )
        )
    if webhook is not None and not re.match(r"https?://", str(webhook)):
        raise ConfigError(
            message(
                "webhook must be an http(s) URL.",
                repr(webhook),
                "http://... or https://...",
                "Pass the full URL.",
            )
        )
    if not report.alarm:
        return False
    body = report.to_json().encode()
    if command:
        done = subprocess.run(
            list(command), input=body, capture_output=True, timeout=timeout, check=False
        )
        if done.returncode:
            warnings.warn(
                f"The alert command exited with {done.returncode}: "
                f"{done.stderr.decode(errors='replace')[-300:]}",
                stacklevel=2,
            )
    if webhook:
        request = urllib.request.Request(
            webhook, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (scheme checked above)
                answer.read()
        except OSError as error:
            warnings.warn(f"The alert webhook failed: {error}", stacklevel=2)
    return True


# ---------------------------------------------------------------- inputs
def _pandas() -> Any:
    from lamina.core.optional import require_pandas

    return require_pandas()


def _checked(thresholds: dict[str, float] | None) -> dict[str, float]:
    unknown = sorted(set(thresholds or {}) - set(THRESHOLDS))
    if unknown:
        raise ConfigError(
            message(
                "Unknown threshold.", unknown, f"keys of {sorted(THRESHOLDS)}", "Fix the names."
            )
        )
    return dict(thresholds or {})


def _reference(reference: Any) -> dict[str, Any]:
    """The reference dict from a dict, a Profile, a model folder or a JSON file."""
    if hasattr(reference, "reference"):  # a Profile, or a loaded lamina.fitted.FittedModel
        reference = reference.reference() if callable(reference.reference) else reference.reference
    if isinstance(reference, (str, Path)):
        path = (
            Path(reference) / "reference_profile.json"
            if Path(reference).is_dir()
            else Path(reference)
        )
        if not path.is_file():
            raise DataError(
                message(
                    "No reference profile there.",
                    str(path),
                    "a model folder with reference_profile.json, or that file",
                    "Save the model from a project's train "
                    "stage (it stores the profile), or pass Profile.reference().",
                )
            )
        reference = json.loads(path.read_text(encoding="utf-8"))
    if (
        not isinstance(reference, dict)
        or not isinstance(reference.get("columns"), dict)
        or "rows" not in reference
    ):
        raise ConfigError(
            message(
                "Not a reference profile.",
                type(reference).__name__,
                "a dict with rows and "
                "columns (lamina.eda.Profile.reference()), a Profile or a model folder",
                "Pass profile(training_data).reference().",
            )
        )
    return reference


def _features(x: Any, modality: str) -> Any:
    """Per-row columns like the profile's: the table itself, or image brightness/contrast, text
    chars/words."""
    if x is None or len(x) == 0:
        return _pandas().DataFrame()
    if modality == "image":
        return image_features(np.asarray(x, dtype=np.float32))
    return text_features(list(x)) if modality == "text" else as_frame(x)


def _summary(values: Any) -> dict[str, Any]:
    """A reference entry (kind, quantiles and histogram, or frequencies) from raw values such as
    predictions."""
    values = np.asarray(values).reshape(len(values), -1)[:, 0]
    if values.dtype.kind in "fc" or (values.dtype.kind in "iu" and len(np.unique(values)) > 20):
        return {"kind": "numeric", **numeric_summary(values.astype(float))}
    keys, counts = np.unique([category_key(v) for v in values], return_counts=True)
    return {
        "kind": "categorical",
        "frequencies": dict(zip(keys.tolist(), (counts / counts.sum()).tolist())),
    }


# ---------------------------------------------------------------- output
def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _html(report: DriftReport) -> str:
    """The dashboard: summary, findings, the table, and histograms of the most drifted features."""
    from lamina.core.pages import CSS, html_table, png_panels

    def draw(ax: Any, part: dict[str, Any]) -> None:
        if "edges" in part:
            ax.stairs(part["reference"], part["edges"], label="reference", fill=True, alpha=0.5)
            ax.stairs(part["current"], part["edges"], label="current", linewidth=2)
        else:
            spots = np.arange(len(part["labels"]))
            ax.bar(spots - 0.2, part["reference"], 0.4, label="reference")
            ax.bar(spots + 0.2, part["current"], 0.4, label="current")
            ax.set_xticks(spots, [str(k)[:10] for k in part["labels"]], rotation=90, fontsize=7)
        ax.legend(fontsize=7)

    ranked = sorted(report.rows, key=lambda r: (not r["drifted"], -(r.get("psi") or 0.0)))
    panels = [
        (
            f"{r['feature']}{' (drifted)' * r['drifted']}",
            lambda ax, p=report.histograms[r["feature"]]: draw(ax, p),
        )
        for r in ranked
        if report.histograms.get(r["feature"])
    ][:PLOTS]
    keys = [
        "feature",
        "role",
        "kind",
        "test",
        "statistic",
        "p_value",
        "threshold",
        "drifted",
        "psi",
        "rows",
    ]
    table = html_table(
        [keys]
        + [
            [
                html.escape(f"{r.get(k):.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")))
                for k in keys
            ]
            for r in ranked
        ]
    )
    summary = (
        f"<p><b>{'Drift' if report.alarm else 'No drift'}.</b> {report.drifted['count']} of "
        f"{report.drifted['of']} features drifted ({report.drifted['share']:.0%}); data set drift: "
        f"<b>{report.dataset_drift}</b> (at least half of the features).</p>"
    )
    findings = (
        "<ul>"
        + "".join(f"<li>{html.escape(f)}</li>" for f in report.findings or ["None."])
        + "</ul>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift monitor</title>"
        f"<style>{CSS}</style></head><body><h1>Drift monitor</h1>{summary}"
        f"<h2>Data quality</h2>{findings}<h2>Features</h2>{table}"
        "<h2>Reference vs current</h2><p>Shares per bin; the end bins also hold the values beyond "
        f"the reference's 1st and 99th percentiles.</p>{png_panels(panels)}</body></html>"
    )
