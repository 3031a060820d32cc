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
    to_floats,
)

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
        row, histograms[name] = _compare(name, column, frame[name], ref["rows"], limits, findings)
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
            row, histograms["prediction"] = _compare(
                "prediction", target, values, count, limits, findings
            )
            rows.append({**row, "role": "prediction"})
    if reference_data is not None and len(x):
        rows.append(_embedding(reference_data, x, modality, limits))
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


# ---------------------------------------------------------------- statistics
def _compare(
    name: str,
    column: dict[str, Any],
    values: Any,
    reference_rows: int,
    limits: dict[str, float],
    findings: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One row (feature, kind, test, statistic, p_value, threshold, drifted, psi, ...) and its
    histograms."""
    numeric = "histogram" in column
    kind = "numeric" if numeric else "categorical"
    present = values.dropna()
    if numeric and len(present):
        present = to_floats(present)
        present = present[np.isfinite(present)]
        if not len(present):
            findings.append(f"Column {name!r} holds no numbers in the current data.")
    n_ref = max(1, round(reference_rows * (1 - (column.get("missing_share") or 0.0))))
    if not len(present):
        return {
            "feature": name,
            "kind": kind,
            "test": "none",
            "statistic": None,
            "p_value": None,
            "threshold": None,
            "drifted": False,
            "rows": 0,
        }, {}
    small = min(n_ref, len(present)) <= limits["small_rows"]
    row, plot = (_numeric if numeric else _categorical)(column, present, n_ref, findings, name)
    test = (
        ("ks" if numeric else "chi2") if small else ("wasserstein" if numeric else "jensenshannon")
    )
    statistic = row["p_value"] if small else row[test]
    drifted = statistic < limits[test] if small else statistic >= limits[test]
    return {
        "feature": name,
        "kind": kind,
        "test": test,
        "statistic": row[test],
        "p_value": row["p_value"],
        "threshold": limits[test],
        "drifted": bool(drifted),
        "rows": len(present),
        **{k: v for k, v in row.items() if k not in (test, "p_value")},
    }, plot


def _shares(counts: np.ndarray) -> np.ndarray:
    return np.clip(counts / max(1.0, float(counts.sum())), 1e-4, None)


def _psi_js(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    from scipy.spatial.distance import jensenshannon

    a, b = _shares(reference), _shares(current)
    return float(np.sum((b - a) * np.log(b / a))), float(
        jensenshannon(reference, current) if current.sum() else 1.0
    )


def _numeric(
    column: dict[str, Any], values: np.ndarray, n_ref: int, findings: list[str], name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """KS, Wasserstein (normed), PSI and JS of current numbers against the reference histogram and
    quantiles."""
    from scipy import stats

    edges, counts = (np.asarray(column["histogram"][k], dtype=float) for k in ("edges", "counts"))
    q, current = column["quantiles"], values
    binned = np.histogram(np.clip(current, edges[0], edges[-1]), bins=edges)[0].astype(float)
    # the reference CDF: the share below each inner edge is exact; at a quantile q of level p (ties
    # allowed), share below q <= p <= share up to q, so the current CDF counts as far as it falls
    # outside that interval
    ordered, levels = np.sort(current), np.array([0.01, 0.25, 0.5, 0.75, 0.99])
    below = np.abs(
        np.searchsorted(ordered, edges[1:-1], side="left") / len(current)
        - np.cumsum(counts)[:-1] / counts.sum()
    )
    knots = np.array([q[k] for k in ("p1", "p25", "p50", "p75", "p99")])
    under, upto = (
        np.searchsorted(ordered, knots, side=side) / len(current) for side in ("left", "right")
    )
    gap = float(np.max(np.r_[below, under - levels, levels - upto, 0.0]))
    p_value = float(
        stats.kstwo.sf(gap, max(1, round(n_ref * len(current) / (n_ref + len(current)))))
    )
    middles = (edges[:-1] + edges[1:]) / 2
    # IQR as a normal's std
    scale = (q["p75"] - q["p25"]) / 1.349 or (edges[-1] - edges[0]) / 4.65 or 1.0
    wasserstein = (
        float(stats.wasserstein_distance(middles, middles, counts + 1e-12, binned + 1e-12)) / scale
    )
    outside = float(np.mean((current < edges[0]) | (current > edges[-1])))
    if outside > 0.1:
        findings.append(
            f"Column {name!r}: {outside:.0%} of current values lie outside the reference's "
            "1-99% range."
        )
    psi, js = _psi_js(counts, binned)
    return (
        {
            "ks": gap,
            "p_value": p_value,
            "wasserstein": wasserstein,
            "psi": psi,
            "jensenshannon": js,
        },
        {"edges": edges, "reference": _shares(counts), "current": _shares(binned)},
    )


def _categorical(
    column: dict[str, Any], values: Any, n_ref: int, findings: list[str], name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chi-squared test, PSI and JS of current category counts against the reference frequencies."""
    from scipy import stats

    frequencies = column["frequencies"]
    keys = [category_key(v) for v in values]
    seen = _pandas().Series(keys).value_counts()
    unseen = sorted(set(seen.index) - set(frequencies))
    if unseen:
        share = seen[unseen].sum() / len(keys)
        every = sum(frequencies.values()) > 0.999  # the reference kept every category, not a top 20
        what = "new categories" if every else "categories outside the reference's 20 most frequent"
        findings.append(f"Column {name!r}: {what} {unseen[:10]} ({share:.1%} of rows).")
    labels = [*frequencies, "other"]
    reference = np.array([*frequencies.values(), max(0.0, 1 - sum(frequencies.values()))]) * n_ref
    current = np.array(
        [seen.get(k, 0) for k in frequencies] + [seen[unseen].sum() if unseen else 0], dtype=float
    )
    table = np.array([reference, current])[:, (reference + current) > 0]
    statistic, p_value = stats.chi2_contingency(table)[:2] if table.shape[1] > 1 else (0.0, 1.0)
    psi, js = _psi_js(reference, current)
    return (
        {"chi2": float(statistic), "p_value": float(p_value), "jensenshannon": js, "psi": psi},
        {"labels": labels, "reference": _shares(reference), "current": _shares(current)},
    )


def _embedding(
    reference: Any, current: Any, modality: str, limits: dict[str, float]
) -> dict[str, Any]:
    """A domain classifier (logistic regression) telling reference from current samples; drift: ROC
    AUC > 0.55."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    a, b = (_pick(part, rng) for part in (reference, current))
    x: Any
    if modality == "text" or isinstance(a[0], str):
        from sklearn.feature_extraction.text import TfidfVectorizer

        model, x = (
            make_pipeline(TfidfVectorizer(max_features=5000), LogisticRegression(max_iter=1000)),
            [*a, *b],
        )
    else:
        model, x = (
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)),
            np.concatenate([_image_vector(a), _image_vector(b)]),
        )
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    folds = StratifiedKFold(min(5, len(a), len(b)), shuffle=True, random_state=0)
    auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    return {
        "feature": "embedding",
        "kind": modality,
        "test": "domain_classifier_auc",
        "statistic": auc,
        "p_value": None,
        "threshold": limits["auc"],
        "drifted": auc > limits["auc"],
        "rows": len(b),
        "role": "embedding",
    }


def _pick(part: Any, rng: np.random.Generator, limit: int = 1000) -> Any:
    """At most ``limit`` seeded random samples (images or texts)."""
    part = getattr(part, "x", part)
    rows = np.sort(rng.choice(len(part), min(len(part), limit), replace=False))
    if len(rows) < 2:
        raise DataError(
            message(
                "Embedding drift needs samples on both sides.",
                f"{len(rows)} samples",
                ">= 2",
                "Pass more reference_data and current rows.",
            )
        )
    return (
        [str(part[i]) for i in rows]
        if isinstance(part, list) or np.ndim(part) == 1
        else np.asarray(part)[rows]
    )


def _image_vector(images: np.ndarray) -> np.ndarray:
    """Per image: mean, std and the pixels shrunk to at most 8 x 8 per channel."""
    images = np.asarray(images, dtype=np.float32)
    images = images[:, None] if images.ndim == 3 else images  # (N, H, W) -> (N, 1, H, W)
    step = max(1, max(images.shape[2:]) // 8)
    small = images[:, :, ::step, ::step].reshape(len(images), -1)
    flat = images.reshape(len(images), -1)
    return np.c_[flat.mean(1), flat.std(1), small]


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
