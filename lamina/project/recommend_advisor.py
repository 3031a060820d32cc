"""Deep learning or classical, for a recommender: measured on the same split, decided by the noise.

:func:`advise_recommend` fits popularity, cosine item-kNN and EASE (closed forms, seconds) and
the network recommenders of ``lamina.models`` on the training interactions less each customer's
latest new item (the validation purchases), and ranks the full catalogue for every validation
customer. A network is recommended only when it beats the best classical model by more than the
noise: the 95% half-width of a paired bootstrap over customers of the KPI difference. The test
purchases are never looked at.

>>> import numpy as np
>>> gap, noise = bootstrap_gap(np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0]))
>>> round(gap, 2), noise > 0
(0.5, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, message
from lamina.project.kpi import get, score
from lamina.train.callback_base import Callback
from lamina.train.ranking import target_ranks

__all__ = [
    "CANDIDATES",
    "Deadline",
    "advise_recommend",
    "bootstrap_gap",
    "fit_candidate",
    "gains",
    "test_ranks",
]


def gains(kpi: str, ranks: np.ndarray) -> np.ndarray:
    """Each customer's share of the KPI: ``mean(gains(kpi, ranks)) == score(kpi, ranks)``."""
    ranks = np.asarray(ranks, dtype=float)
    if kpi == "mrr":
        return 1.0 / ranks
    cut = float(kpi.split("@")[1])
    if kpi.startswith("ndcg"):
        return np.where(ranks <= cut, 1.0 / np.log2(ranks + 1.0), 0.0)
    return (ranks <= cut).astype(float)


def bootstrap_gap(
    first: np.ndarray, second: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """``(mean(first - second), noise)``: noise is 1.96 bootstrap standard errors of that mean.

    Args:
        first: per-customer values of one model.
        second: the same customers' values of another (paired).
        resamples: bootstrap resamples of the customers.
        seed: the resampling seed.
    """
    difference = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    if difference.size == 0:
        return 0.0, float("inf")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, difference.size, size=(resamples, difference.size))
    means = difference[picks].mean(axis=1)
    return float(difference.mean()), float(1.96 * means.std(ddof=1))


def test_ranks(model: Any, test: Any, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The 1-based rank of each held-out item among all items, the customer's history last.

    Args:
        model: a fitted recommender (``lamina.models.recommend.RecommenderMixin``).
        test: held-out ``lamina.data.Interactions``.
        batch_size: customers scored at once.

    Returns:
        ``(ranks, rows)``: int64 ranks and the positions of the ``test.table`` rows they are of
        (rows whose customer or item the model does not know are left out).
    """
    users = model.users_.get_indexer(test.table["user"])
    items = model.items_.get_indexer(test.table["item"])
    rows = np.flatnonzero((users >= 0) & (items >= 0))
    ranks = []
    for start in range(0, len(rows), batch_size):
        chosen = rows[start : start + batch_size]
        ids = [model.users_[code] for code in users[chosen]]
        scores = torch.from_numpy(np.asarray(model.score(users=ids), dtype=np.float32))
        exclude = torch.zeros(scores.shape, dtype=torch.bool)
        for row, code in enumerate(users[chosen]):
            exclude[row, torch.from_numpy(np.asarray(model.history(code)))] = True
        targets = torch.from_numpy(items[chosen].astype(np.int64))
        ranks.append(target_ranks(scores, targets, exclude).numpy())
    return (np.concatenate(ranks) if ranks else np.zeros(0, np.int64)), rows


def _classical(name: str) -> Callable[[], Any]:
    from lamina.project.recommenders import EASE, ItemKNN, Popularity

    makers: dict[str, Callable[[], Any]] = {
        "popularity": Popularity,
        "item-kNN": ItemKNN,
        "EASE": lambda: EASE(l2=50.0),
    }
    return makers[name]


def _network(name: str) -> Callable[[], Any]:
    import lamina.models.recommend as recommend

    return getattr(recommend, name)  # type: ignore[no-any-return]


# name -> (family, maker); networks are fitted with their defaults and early stopping.
CANDIDATES: dict[str, tuple[str, Callable[[str], Callable[[], Any]]]] = {
    "popularity": ("classical", _classical),
    "item-kNN": ("classical", _classical),
    "EASE": ("classical", _classical),
    "SASRec": ("deep", _network),
    "GRU4Rec": ("deep", _network),
}


class Deadline(Callback):
    """Stops training at the end of the first epoch that ends past ``seconds`` after the start."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)

    def on_train_begin(self, logs: Any = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if time.perf_counter() - self.started > self.seconds:
            self.model.stop_training = True


MAX_EPOCHS = 40  # networks stop early long before (patience PATIENCE on the validation KPI)
PATIENCE = 3


def fit_candidate(
    name: str,
    train: Any,
    validation: Any,
    budget: float,
    seed: int,
    epochs: int | None = None,
    kpi: str = "hr@10",
) -> Any:
    """A fitted candidate.

    A network trains for ``epochs`` when given (the refit on all training interactions), else
    until its ``kpi`` on ``validation`` stops improving for ``PATIENCE`` epochs, keeping the best
    epoch's weights (``best_epoch_``); never past the first epoch that ends after ``budget``
    seconds.
    """
    from lamina.train.callbacks import EarlyStopping

    family, maker = CANDIDATES[name]
    model = maker(name)()
    if family == "classical":
        return model.fit(train)
    model.compile()
    if epochs:
        model.fit(train, epochs=int(epochs), verbose=0, seed=seed, callbacks=[Deadline(budget)])
        return model
    stop = EarlyStopping(
        monitor=f"val_{kpi}", mode="max", patience=PATIENCE, restore_best_weights=True
    )
    model.fit(
        train,
        epochs=MAX_EPOCHS,
        validation_data=validation,
        verbose=0,
        seed=seed,
        callbacks=[stop, Deadline(budget)],
    )
    model.best_epoch_ = stop.best_epoch + 1
    return model


def advise_recommend(
    train: Any,
    kpi: str = "hr@10",
    budget: float = 600.0,
    seed: int = 0,
    candidates: list[str] | None = None,
    say: Callable[[str], Any] = lambda text: None,
) -> dict[str, Any]:
    """Compare the candidates on a validation split of ``train`` and pick one.

    Args:
        train: the training ``lamina.data.Interactions``.
        kpi: the project's ranking KPI.
        budget: seconds each network may train.
        seed: the validation split's and the bootstrap's seed.
        candidates: names of :data:`CANDIDATES` (default all).
        say: prints progress.

    Returns:
        ``rows`` (candidate, family, value, seconds, and the network's epochs), ``winner``,
        ``best_classical``, ``best_network``, ``gap``, ``noise`` and ``reason``.
    """
    from lamina.data.interactions import leave_last_out

    names = candidates or list(CANDIDATES)
    unknown = [name for name in names if name not in CANDIDATES]
    if unknown:
        raise ConfigError(
            message("Unknown recommender.", unknown, f"one of {list(CANDIDATES)}", "Fix model:.")
        )
    get(kpi)
    fit_part, validation = leave_last_out(train, min_items=2, seed=seed)
    rows: list[dict[str, Any]] = []
    values: dict[str, np.ndarray] = {}
    for name in names:
        started = time.perf_counter()
        model = fit_candidate(name, fit_part, validation, budget, seed, kpi=kpi)
        ranks, _ = test_ranks(model, validation)
        values[name] = gains(kpi, ranks)
        epochs = getattr(model, "best_epoch_", None)
        row = {
            "candidate": name,
            "family": CANDIDATES[name][0],
            "value": score(kpi, ranks),
            "seconds": round(time.perf_counter() - started, 1),
            "epochs": epochs,
        }
        rows.append(row)
        say(f"  {name:<12} {kpi} {row['value']:.4f} ({row['seconds']} s)")
    best = {
        family: max(
            (r for r in rows if r["family"] == family), key=lambda r: r["value"], default=None
        )
        for family in ("classical", "deep")
    }
    classical, network = best["classical"], best["deep"]
    gap, noise, winner = 0.0, 0.0, (classical or network)["candidate"]  # type: ignore[index]
    if classical and network:
        gap, noise = bootstrap_gap(
            values[network["candidate"]], values[classical["candidate"]], seed=seed
        )
        winner = network["candidate"] if gap > noise else classical["candidate"]
        reason = (
            f"{network['candidate']} beats {classical['candidate']} by {gap:+.4f} {kpi}, more "
            f"than the noise {noise:.4f}"
            if gap > noise
            else f"{network['candidate']} is {gap:+.4f} {kpi} from {classical['candidate']}, not "
            f"better by more than the noise {noise:.4f}: the classical model is simpler and "
            "faster"
        )
    else:
        reason = f"Only {winner} was compared"
    return {
        "kpi": kpi,
        "rows": rows,
        "winner": winner,
        "best_classical": classical and classical["candidate"],
        "best_network": network and network["candidate"],
        "gap": gap,
        "noise": noise,
        "reason": reason,
        "validation_customers": int(len(validation.table)),
    }
