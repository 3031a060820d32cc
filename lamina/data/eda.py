"""Exploratory data analysis: ``profile(data)`` describes a data set in numbers and plain words
before training.

Sections: columns (kind, missing values, distribution, outliers), correlations, target (balance,
mutual information), leakage, duplicates, train/test shift, images, text, time series; and
plain-language ``findings``.
The inputs are read in ``lamina.data.eda_inputs``; the sections are computed in
``lamina.data.eda_tables`` (tables) and ``lamina.data.eda_media`` (images, text, time series).

>>> import pandas
>>> sizes = [1.0, 2.0, 3.0, 30.0] * 25
>>> frame = pandas.DataFrame({"id": range(100), "size": sizes, "label": [0, 1] * 50})
>>> report = profile(frame, "label")
>>> suspects = [suspect["column"] for suspect in report.leakage]
>>> report.columns["id"]["kind"], report.target["balance"], suspects
('id', {'0': 50, '1': 50}, ['size'])
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.eda_inputs import Data as Data
from lamina.data.eda_inputs import labelled as labelled
from lamina.data.eda_inputs import read_data as read_data
from lamina.data.eda_inputs import read_for_profile
from lamina.data.eda_media import image_section, pick_series, text_section, time_series_section
from lamina.data.eda_tables import (
    column_section,
    correlation_section,
    duplicate_section,
    infer_kind,
    shift_section,
    target_section,
)
from lamina.data.reference import (
    as_frame,
    clean_json,
    image_features,
    text_features,
)
from lamina.data.sources import label_task

__all__ = ["Profile", "profile"]

# rows sampled above: for correlations and tokens; for mutual information
SAMPLE_ROWS, MI_ROWS = 100_000, 20_000


@dataclass
class Profile:
    """What ``profile`` found: one JSON-able attribute per section, and ``findings`` in plain
    language."""

    overview: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)
    correlations: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    leakage: list[dict[str, Any]] = field(default_factory=list)
    duplicates: dict[str, Any] = field(default_factory=dict)
    shift: dict[str, Any] | None = None
    images: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    time_series: dict[str, Any] | None = None
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (numbers to 6 significant digits, None for NaN); :meth:`from_dict` reads
        it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile :meth:`to_dict` described."""
        return cls(**data)

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (inline CSS, plots as embedded PNG, no links), also written to
        ``path``."""
        from lamina.data.eda_page import render

        page = render(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def reference(self) -> dict[str, Any]:
        """The training reference kept with a model for monitoring: per column (and for the target)
        its kind or task, missing share, and quantiles and histogram or category frequencies."""

        def compact(part: dict[str, Any]) -> dict[str, Any]:
            counts, present = (
                part.get("top") or part.get("balance") or {},
                self.overview["rows"] - part["missing"],
            )
            return {
                **{
                    k: part[k]
                    for k in ("kind", "task", "missing_share", "quantiles", "histogram")
                    if k in part
                },
                **({"frequencies": {k: n / present for k, n in counts.items()}} if counts else {}),
            }

        return {
            "rows": self.overview["rows"],
            "modality": self.overview["modality"],
            "columns": {name: compact(c) for name, c in self.columns.items()},
            "target": self.target and compact(self.target),
        }

    def __repr__(self) -> str:
        return f"lamina.eda.Profile({self.overview['modality']!r}, rows={self.overview['rows']:,})"


def profile(
    data: Any,
    target: str | None = None,
    *,
    test: Any = None,
    time_column: str | None = None,
    sample_rows: int | None = None,
) -> Profile:
    """Profile a data set: columns, correlations, target, leakage, duplicates, shift, images, text,
    time series.

    Args:
        data: a ``lamina.data.Dataset``, a DataFrame, ``(x, y)`` (``x``: a DataFrame, an array
            ``(N, F)``, images ``(N, H, W)``/``(N, C, H, W)`` or texts), or a 1-D series.
        target: the label column of a DataFrame.
        test: data of the same form for the shift section (default: the Dataset's ``x_test``).
        time_column: the time column (default: the first datetime column) for the time-series
            section.
        sample_rows: rows sampled for correlations and text tokens when there are more (default
            100,000).

    Returns:
        A :class:`Profile`.
    """
    started, limit = time.perf_counter(), SAMPLE_ROWS if sample_rows is None else sample_rows
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 10:
        raise ConfigError(
            message(
                "sample_rows must be an int >= 10.", repr(sample_rows), "an int >= 10", "E.g. 9999."
            )
        )
    read = read_for_profile(data, target)
    if test is not None:
        read.x_test = read_for_profile(
            test, read.target if read.target in getattr(test, "columns", ()) else None
        ).x
    x, y, modality, x_test, rng = (
        read.x,
        read.y,
        read.modality,
        read.x_test,
        np.random.default_rng(0),
    )
    if (
        read.classes
        and y is not None
        and y.dtype.kind in "iu"
        and 0 <= y.min() <= y.max() < len(read.classes)
    ):
        y = np.asarray(read.classes, dtype=object)[y]  # class ids -> class names
    if len(x) == 0 or len(getattr(x, "columns", [0])) == 0:
        raise DataError(
            message(
                "The data are empty.", f"shape {np.shape(x)}", "rows and columns", "Pass some data."
            )
        )
    sample = None if len(x) <= limit else np.sort(rng.choice(len(x), limit, replace=False))
    report = Profile(
        {
            "rows": len(x),
            "modality": modality,
            "source": read.source,
            "target": read.target,
            "task": None,
            "test_rows": None if x_test is None else len(x_test),
            "sampled": sample is not None
            and (
                f"Correlations and text statistics use a seeded sample of {limit:,} rows, "
                f"mutual information {MI_ROWS:,}."
            ),
        }
    )
    report.images = image_section(np.asarray(x), y, rng) if modality == "image" else None
    report.text = text_section(x, y, sample) if modality == "text" else None
    features = {"image": image_features, "text": text_features}.get(
        modality, as_frame
    )  # per-row columns
    frame, test_frame = features(x), None if x_test is None else features(x_test)
    if time_column is not None and time_column not in frame.columns:
        raise DataError(
            message(
                "No such time column.", repr(time_column), f"one of {list(frame)[:50]}", "Pick one."
            )
        )
    unique = {c: int(frame[c].nunique()) for c in frame.columns}
    kinds = {c: infer_kind(frame[c], unique[c]) for c in frame.columns}
    report.columns = {c: column_section(frame[c], kinds[c], unique[c]) for c in frame.columns}
    report.correlations = correlation_section(
        frame if sample is None else frame.iloc[sample], kinds, unique
    )
    if y is not None:
        report.overview["task"] = task = read.task or label_task(y[labelled(y)])
        report.target, report.leakage = target_section(
            frame, kinds, y, task, rng, min(limit, MI_ROWS)
        )
    report.duplicates = duplicate_section(x, y, modality)
    if test_frame is not None:
        report.shift, leaks = shift_section(frame, test_frame, kinds, time_column)
        report.leakage += leaks
    series = pick_series(frame, kinds, time_column, one_column=len(frame.columns) == 1)
    report.time_series = time_series_section(*series) if series else None
    report.overview.update(columns=len(frame.columns), seconds=time.perf_counter() - started)
    report = Profile.from_dict(clean_json(report.to_dict()))  # plain Python numbers from here on
    report.findings = _findings(report)
    return report


# ---------------------------------------------------------------- findings and output
def _listed(items: list[str], shown: int = 3) -> str:
    """``'a', 'b', 'c' and 4 more``: at most ``shown`` items named."""
    return ", ".join(items[:shown]) + (
        f" and {len(items) - shown} more" if len(items) > shown else ""
    )


def _findings(p: Profile) -> list[str]:
    """Plain-language sentences about what stands out, one per kind (columns named up to 3, then
    "and N more")."""
    t, d, ts, found = (
        p.target or {},
        p.duplicates,
        p.time_series or {},
        [p.overview["sampled"] or ""],
    )
    columns = p.columns.items()
    ids = [f"'{n}'" for n, c in columns if c["kind"] == "id"]
    constant = [f"'{n}'" for n, c in columns if c["unique"] <= 1]
    missing = [
        f"'{n}' {c['missing_share']:.1%}"
        for n, c in sorted(columns, key=lambda i: -i[1]["missing_share"])
        if c["missing"] > 0
    ]
    outliers = [
        f"'{n}' {(c.get('outliers') or {}).get('iqr_share') or 0:.1%}"
        for n, c in columns
        if ((c.get("outliers") or {}).get("iqr_share") or 0) >= 0.01
    ]
    found += [
        f"{len(ids)} column(s) look like identifiers (nearly every value differs): {_listed(ids)}; "
        "leave them out of the features." * bool(ids),
        f"{len(constant)} column(s) hold a single value and carry no information: "
        f"{_listed(constant)}." * bool(constant),
        f"{len(missing)} column(s) have missing values: {_listed(missing)}." * bool(missing),
        f"{len(outliers)} column(s) have over 1% outliers (far outside their middle half): "
        f"{_listed(outliers)}." * bool(outliers),
    ]
    pairs = []
    for group, key, what in (
        ("numeric", "pearson", "Pearson"),
        ("categorical", "cramers_v", "Cramer's V"),
    ):
        matrix, names = p.correlations.get(key) or [], p.correlations.get(group, [])
        pairs += [
            f"'{a}' and '{b}' ({what} {matrix[i][j]:.2f})"
            for i, a in enumerate(names)
            for j, b in enumerate(names[:i])
            if abs(matrix[i][j] or 0) >= 0.95
        ]
    found += [
        f"{len(pairs)} pair(s) of columns move almost together, so one of each may be redundant: "
        f"{_listed(pairs)}." * bool(pairs)
    ]
    ratio, information = (
        t.get("imbalance_ratio") or 1,
        list(t.get("mutual_information", {}).items())[:1],
    )
    found += [
        f"The classes are imbalanced: the largest is {ratio:.1f} times the smallest."
        * (ratio >= 3),
        f"{t.get('missing', 0):,} rows have no target value." * bool(t.get("missing")),
    ]
    found += [
        f"'{c}' tells the most about the target (mutual information {v:.3f})."
        for c, v in information
    ]
    leaks = [f"'{s['column']}' {s['reason']}" for s in p.leakage]
    found += [f"Possible leakage: {_listed(leaks)}." * bool(leaks)]
    found += [
        f"{d['rows']:,} rows ({d['share']:.1%}) repeat an earlier row exactly." * (d["rows"] > 0),
        f"{d['conflicting'] or 0:,} rows share their features with a row of another target (label "
        "noise, or features that miss something)." * bool(d["conflicting"]),
    ]
    shifted = [
        f"'{c}' ({s['test']} {s['statistic']:.3g}, PSI {s['psi']:.2f})"
        for c, s in (p.shift or {}).items()
        if s["shifted"]
    ]
    found += [
        f"{len(shifted)} column(s) differ between training and test data: {_listed(shifted)}."
        * bool(shifted)
    ]
    season, slope, series = (
        ts.get("season") or 0,
        ts.get("slope") or 0,
        f"The series ({ts.get('series')})",
    )
    found += [
        f"{series} repeats every {season} steps (autocorrelation "
        f"{(ts.get('acf') or [0])[season]:.2f})." * (season > 0),
        f"{series} trends {'up' if slope > 0 else 'down'} by {slope:.3g} per step."
        * bool(ts.get("std") and abs(slope) * ts["steps"] >= ts["std"]),
    ]
    return [sentence for sentence in found if sentence] or ["Nothing unusual stands out."]
