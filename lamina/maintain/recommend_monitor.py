"""Monitoring a served recommender: unknown customers and items, and item-popularity drift.

:func:`recommend_drift` reads the request log of ``POST /recommend`` (``lamina serve --log``,
written by ``lamina.deploy.recommend``) against the recommender's training catalogue:

* **unknown customers**: the share of requests with a customer id that the model never saw
  (requests without an id are counted apart, as anonymous);
* **unknown items**: the share of basket items that are not in the catalogue (those requests
  were refused with 422, and logged);
* **item-popularity drift**: the catalogue items in the logged baskets against the training
  popularity (how many customers had each item). The Jensen-Shannon distance between the two
  item distributions (natural log, as ``lamina.maintain.monitor``) is mostly sampling noise
  when a few thousand basket items meet thousands of catalogue items (about 0.2 for 10,000 basket
  items of Online Retail's 3,665 even with no drift at all), so it is corrected for it: 200
  samples of the same size drawn from the training popularity give the noise, and the drift is
  ``sqrt(max(0, JS^2 - mean noise^2))`` (divergences of independent parts add), about 0 with no
  drift at any log size. Two further views: the PSI over popularity deciles (the items that held
  the top 10% of training purchases, the next 10%, ...), which says whether demand moved to the
  head or to the tail, and the items whose share rose most.

Alarms (``alarm``; ``lamina monitor`` exits 1): unknown customers over ``unknown_customers``,
unknown items over ``unknown_items``, or popularity drift: the corrected distance at or past
``jensenshannon`` with the raw distance past the ``noise_quantile`` of the noise (significant),
or the decile PSI at or past ``psi``; with fewer than ``min_items`` basket items, popularity drift
is not judged (a finding says so). On Online Retail (a Popularity model fitted before a date, the
purchases after it as baskets) the corrected distance was 0.00-0.03 for samples of the training
purchases themselves (0.11 when the baskets weigh every customer alike rather than every
purchase), 0.19-0.26 for June to August 2011 and 0.26-0.35 for the Christmas months, at 500 to
10,000 basket items; hence the threshold 0.15.

>>> import pandas as pd
>>> from lamina.data.interactions import interactions
>>> from lamina.project.recommenders import Popularity
>>> log = pd.DataFrame({"u": [1, 1, 2, 3], "i": ["a", "b", "a", "a"], "t": [1, 2, 1, 1]})
>>> model = Popularity().fit(interactions(log, "u", "i", "t"))
>>> records = [{"customer": 1, "basket": None}, {"customer": 9, "basket": ["b", "zz"]}]
>>> report = recommend_drift(records, model)
>>> report.customers["unknown_share"], report.basket_items["unknown_share"], report.alarm
(0.5, 0.5, True)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message
from lamina.deploy.predlog import read

__all__ = ["THRESHOLDS", "RecommendReport", "recommend_drift"]

THRESHOLDS = {
    "unknown_customers": 0.5,  # share of requests with an id the model never saw
    "unknown_items": 0.05,  # share of basket items not in the catalogue
    # the noise-corrected distance: about 0.03 at most with no drift, 0.11 when baskets weigh
    # every customer alike instead of every purchase, 0.19 and more across seasons (module doc)
    "jensenshannon": 0.15,
    "psi": 0.2,  # PSI over popularity deciles
    "noise_quantile": 0.99,  # the raw distance must also pass this quantile of the noise
    "min_items": 100,  # fewer basket items: popularity drift not judged
}
DECILES = 10
SAMPLES = 200


@dataclass
class RecommendReport:
    """What :func:`recommend_drift` found (see the module doc)."""

    requests: int
    customers: dict[str, Any]
    basket_items: dict[str, Any]
    popularity: dict[str, Any]
    alarms: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        """True when any alarm was raised."""
        return bool(self.alarms)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (with ``alarm``)."""
        return {**asdict(self), "alarm": self.alarm}

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON, also written to ``path``."""
        text = json.dumps(self.to_dict(), allow_nan=False, default=str)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_prometheus(self) -> str:
        """Gauges: unknown shares, the popularity distance and PSI, the alarm."""
        values = {
            "lamina_recommend_unknown_customer_share": self.customers["unknown_share"],
            "lamina_recommend_unknown_item_share": self.basket_items["unknown_share"],
            "lamina_recommend_popularity_jensenshannon": self.popularity.get("jensenshannon"),
            "lamina_recommend_popularity_psi": self.popularity.get("psi"),
            "lamina_recommend_alarm": int(self.alarm),
        }
        lines = []
        for name, value in values.items():
            if value is not None:
                lines += [f"# TYPE {name} gauge", f"{name} {value:.6g}"]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """A few lines for a person: the numbers, the alarms and the findings."""
        c, b, p = self.customers, self.basket_items, self.popularity
        lines = [
            f"{self.requests} requests: {c['unknown']} of {c['with_id']} customer ids unknown "
            f"({c['unknown_share']:.1%}), {c['anonymous']} without an id.",
            f"Basket items: {b['unknown']} of {b['count']} unknown ({b['unknown_share']:.1%})"
            + (f", e.g. {b['top_unknown'][:5]}." if b["top_unknown"] else "."),
        ]
        if p.get("jensenshannon") is not None:
            shares = ", ".join(f"{share:.0%}" for share in p["current_deciles"][:3])
            lines.append(
                f"Item popularity: Jensen-Shannon {p['jensenshannon']:.3f} beyond sampling noise "
                f"(threshold {p['threshold']}; raw {p['raw_jensenshannon']:.3f}, noise "
                f"{p['noise']:.3f}), PSI over deciles "
                f"{p['psi']:.3f}; the top three training deciles hold {shares} of basket items "
                "(10% each in training)."
            )
            if p["rising"]:
                named = ", ".join(f"{r['id']} ({r['name'] or '?'})" for r in p["rising"][:3])
                lines.append(f"Items rising most: {named}.")
        lines += [f"ALARM: {text}" for text in self.alarms]
        lines += [f"finding: {text}" for text in self.findings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"lamina.maintain.recommend_monitor.RecommendReport(requests={self.requests}, "
            f"alarms={len(self.alarms)})"
        )


def _records(log: Any) -> list[dict[str, Any]]:
    if isinstance(log, (str, Path)):
        if not Path(log).is_file():
            raise DataError(
                message(
                    "No request log at this path.",
                    str(log),
                    "the JSON-lines log of lamina serve --log (a recommender)",
                    "Serve with --log PATH (a project logs to runs/serve/recommendations.jsonl).",
                )
            )
        return list(read(log))
    if isinstance(log, Iterable) and not isinstance(log, (bytes, dict)):
        records = list(log)
        if all(isinstance(record, dict) for record in records):
            return records
    raise DataError(
        message(
            "recommend_drift reads a request log.",
            type(log).__name__,
            "a path to the JSON-lines log, or a list of its records (dicts)",
            "Pass the file lamina serve --log wrote.",
        )
    )


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _key(value: Any) -> Any:
    """An id from the log as a dict key (a hand-edited log may hold lists: their JSON text)."""
    return value if value is None or isinstance(value, (int, str, float)) else json.dumps(value)


def recommend_drift(
    log: Any, model: Any, *, thresholds: dict[str, float] | None = None, seed: int = 0
) -> RecommendReport:
    """Unknown customers and items, and item-popularity drift, of a ``POST /recommend`` log.

    Args:
        log: the request log's path, or its records (dicts with ``customer`` and ``basket``).
        model: the served recommender, or its folder (``load_recommender``).
        thresholds: overrides of :data:`THRESHOLDS`.
        seed: seeds the sampling-noise draws.

    Returns:
        A :class:`RecommendReport`.
    """
    limits = {**THRESHOLDS, **(thresholds or {})}
    unknown_keys = set(limits) - set(THRESHOLDS)
    if unknown_keys:
        raise ConfigError(
            message(
                "Unknown threshold names.",
                sorted(unknown_keys),
                f"some of {sorted(THRESHOLDS)}",
                "Fix the names.",
            )
        )
    if isinstance(model, (str, Path)):
        from lamina.project.recommender_files import load_recommender

        model = load_recommender(model)
    records = _records(log)
    users = {_python(user) for user in model.users_}
    items = {_python(item): code for code, item in enumerate(model.items_)}
    ids = [_key(record.get("customer")) for record in records]
    with_id = [customer for customer in ids if customer is not None]
    unknown_customers = sum(1 for customer in with_id if customer not in users)
    baskets = [record.get("basket") or [] for record in records]
    basket = [_key(item) for items_of in baskets if isinstance(items_of, list) for item in items_of]
    unknown_items = Counter(item for item in basket if item not in items)
    customers = {
        "with_id": len(with_id),
        "unknown": unknown_customers,
        "unknown_share": unknown_customers / max(1, len(with_id)),
        "anonymous": len(ids) - len(with_id),
    }
    items_report: dict[str, Any] = {
        "count": len(basket),
        "unknown": sum(unknown_items.values()),
        "unknown_share": sum(unknown_items.values()) / max(1, len(basket)),
        "top_unknown": [item for item, _ in unknown_items.most_common(10)],
    }
    _, arrays = model.catalogue_state()
    training = np.bincount(arrays["history_items"], minlength=len(items)).astype(np.float64)
    current = np.bincount(
        [items[item] for item in basket if item in items], minlength=len(items)
    ).astype(np.float64)
    report = RecommendReport(
        len(records), customers, items_report, {"items": int(current.sum())}, thresholds=limits
    )
    if customers["with_id"] and customers["unknown_share"] > limits["unknown_customers"]:
        report.alarms.append(
            f"{customers['unknown_share']:.0%} of customer ids are unknown (over "
            f"{limits['unknown_customers']:.0%}): they get basket or popular fallbacks; refit "
            "on recent purchases."
        )
    if basket and items_report["unknown_share"] > limits["unknown_items"]:
        report.alarms.append(
            f"{items_report['unknown_share']:.1%} of basket items are not in the catalogue (over "
            f"{limits['unknown_items']:.0%}), e.g. {items_report['top_unknown'][:5]}: those "
            "requests were refused; refit with the new items."
        )
    if current.sum() < limits["min_items"]:
        report.findings.append(
            f"Only {int(current.sum())} known basket items (fewer than {int(limits['min_items'])}):"
            " item-popularity drift is not judged."
        )
    else:
        report.popularity = _popularity(training, current, model, limits, seed)
        report.alarms += report.popularity.pop("alarms")
    return report


def _popularity(
    training: np.ndarray, current: np.ndarray, model: Any, limits: dict[str, float], seed: int
) -> dict[str, Any]:
    """Jensen-Shannon against sampling noise, PSI over popularity deciles, the rising items."""
    from scipy.spatial.distance import jensenshannon

    p, q = training / training.sum(), current / current.sum()
    distance = float(jensenshannon(p, q))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(current.sum()), p, size=SAMPLES)
    noise = np.array([jensenshannon(p, draw / draw.sum()) for draw in draws])
    corrected = float(np.sqrt(max(0.0, distance**2 - float(np.mean(noise**2)))))
    significant = distance > float(np.quantile(noise, limits["noise_quantile"]))
    # deciles: items by training popularity, cut where the cumulative share passes 10%, 20%, ...
    order = np.argsort(-training, kind="stable")
    decile = np.empty(len(p), dtype=np.int64)
    decile[order] = np.minimum((np.cumsum(p[order]) - p[order]) * DECILES, DECILES - 1).astype(int)
    reference = np.clip(np.bincount(decile, weights=p, minlength=DECILES), 1e-4, None)
    shares = np.clip(np.bincount(decile, weights=q, minlength=DECILES), 1e-4, None)
    psi = float(np.sum((shares - reference) * np.log(shares / reference)))
    names = model.item_names_ or {}
    rising = [
        {
            "id": _python(model.items_[code]),
            "name": names.get(_python(model.items_[code])),
            "training_share": float(p[code]),
            "current_share": float(q[code]),
        }
        for code in np.argsort(-(q - p), kind="stable")[:10]
        if q[code] > p[code]
    ]
    alarms = []
    drifted = corrected >= limits["jensenshannon"] and significant
    if drifted:
        alarms.append(
            f"Item popularity drifted: Jensen-Shannon {corrected:.3f} beyond sampling noise >= "
            f"{limits['jensenshannon']} (raw {distance:.3f}); items rising most: "
            f"{[r['id'] for r in rising[:5]]}."
        )
    if psi >= limits["psi"]:
        alarms.append(
            f"Demand moved across popularity deciles: PSI {psi:.3f} >= {limits['psi']} (top "
            f"decile {shares[0]:.0%} of basket items against {reference[0]:.0%} in training)."
        )
    return {
        "items": int(current.sum()),
        "jensenshannon": corrected,
        "raw_jensenshannon": distance,
        "noise": float(np.mean(noise)),
        "significant": bool(significant),
        "threshold": limits["jensenshannon"],
        "psi": psi,
        "training_deciles": reference.tolist(),
        "current_deciles": shares.tolist(),
        "drifted": drifted or psi >= limits["psi"],
        "rising": rising,
        "alarms": alarms,
    }
