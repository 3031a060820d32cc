"""Drift statistics: one column, or a sample of images or texts, against the reference.

Numbers are binned on the reference's histogram edges (KS against the reference CDF known at those
edges and its quantiles, Wasserstein, PSI, Jensen-Shannon); categories are counted against the
reference frequencies (chi-squared, PSI, Jensen-Shannon); images and texts are told apart by a
domain classifier. ``lamina.monitor.drift`` explains the choices and combines the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.core.errors import DataError, message
from lamina.core.optional import require_pandas
from lamina.data.reference import category_key, to_floats

__all__ = ["compare_column", "domain_classifier"]


def compare_column(
    name: str,
    column: dict[str, Any],
    values: Any,
    reference_rows: int,
    limits: dict[str, float],
    findings: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compare the current values of one column with its reference entry.

    The deciding test follows the sample size: KS (numbers) or chi-squared (categories) below
    ``limits["small_rows"]`` rows, else Wasserstein or Jensen-Shannon; PSI is always reported.

    Args:
        name: the column's name (in findings and the row).
        column: its reference entry (``histogram`` and ``quantiles``, or ``frequencies``).
        values: the current values, a pandas Series (missing values are dropped).
        reference_rows: the reference's row count.
        limits: the thresholds (``lamina.monitor.THRESHOLDS`` with overrides).
        findings: data-quality findings, appended to.

    Returns:
        One row (feature, kind, test, statistic, p_value, threshold, drifted, rows, psi, ...) and
        its histograms (edges or labels, reference and current shares) for the page.
    """
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
    seen = require_pandas().Series(keys).value_counts()
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


def domain_classifier(
    reference: Any, current: Any, modality: str, limits: dict[str, float]
) -> dict[str, Any]:
    """A domain classifier (logistic regression) telling reference from current samples.

    Args:
        reference: reference images ``(N, H, W)`` / ``(N, C, H, W)`` or texts (a dataset's ``x``
            too); at most 1,000 seeded random samples a side are used.
        current: current samples of the same kind.
        modality: ``"image"`` or ``"text"``.
        limits: the thresholds; drift when the cross-validated ROC AUC > ``limits["auc"]``.

    Returns:
        One row (feature ``"embedding"``, test ``domain_classifier_auc``, statistic, drifted, ...).
    """
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
