"""The network recommenders on UCI Online Retail, over the full catalogue (issue 18's protocol).

Protocol as ``benchmarks/recommend.py`` (``load_split``): train on ``train``, rank every item for
each held-out customer with their training items last, ``evaluate_ranking(test, k=10)``; 2 CPU
threads. One row per network: HR@10, NDCG@10, MRR, catalogue coverage, fit seconds and epochs,
then PASS/FAIL per target: the best network HR@10 >= 0.20 and above item-kNN (0.149), then
beating EASE (HR@10 >= 0.24), and each fit <= 10 minutes.

The epochs are never chosen on the test split. ``--select`` holds out each customer's latest item
of ``train`` again (``leave_last_out(train, seed=1)``), trains each network on the rest with
``EarlyStopping(monitor="val_ndcg@10", patience=2)`` on that validation part, and prints the best
epoch; ``EPOCHS`` below records what it chose. The default run refits each network on the whole
of ``train`` for those epochs and reports the test split.

    LAMINA_DATA=../shared/datasets python -m benchmarks.recommend_networks [--select] [names...]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from lamina.callbacks import EarlyStopping

from benchmarks.recommend import load_split
from lamina.data.interactions import leave_last_out
from lamina.models import GRU4Rec, MatrixFactorization, SASRec, TwoTower

ITEM_KNN, EASE = 0.149, 0.2385  # HR@10 of benchmarks/recommend.py on this protocol
TARGET, FIT_SECONDS = 0.20, 600.0

# name -> (maker, compile options, batch size); the defaults of each family unless noted.
NETWORKS: dict[str, tuple[Callable[[], Any], dict[str, Any], int]] = {
    "GRU4Rec": (GRU4Rec, {}, 64),
    "SASRec": (SASRec, {}, 64),
    "MatrixFactorization": (MatrixFactorization, {}, 1024),
    "TwoTower": (TwoTower, {}, 1024),
}
# Epochs: SASRec's is the best epoch of --select (val NDCG@10 0.0877 at 21 of 23); GRU4Rec,
# MatrixFactorization and TwoTower still improved on the validation split when their runs ended
# (GRU4Rec 0.161 HR@10 after 5 epochs at 1e-2), so theirs are what fits the time, not a chosen best.
EPOCHS = {"GRU4Rec": 12, "SASRec": 21, "MatrixFactorization": 20, "TwoTower": 8}


def make(name: str) -> Any:
    maker, options, _ = NETWORKS[name]
    return maker().compile(**options)


def select(name: str, train: Any, max_epochs: int = 40) -> int:
    """The best epoch count of ``name`` on a validation split held out of ``train``."""
    fit_part, validation = leave_last_out(train, min_items=2, seed=1)
    stop = EarlyStopping(monitor="val_ndcg@10", patience=2, restore_best_weights=True)
    model = make(name)
    began = time.perf_counter()
    history = model.fit(
        fit_part,
        epochs=max_epochs,
        batch_size=NETWORKS[name][2],
        validation_data=validation,
        callbacks=[stop],
        verbose=2,
        seed=0,
    )
    best = int(
        max(
            range(len(history.history["val_ndcg@10"])),
            key=history.history["val_ndcg@10"].__getitem__,
        )
    )
    print(f"{name}: best epoch {best + 1} ({time.perf_counter() - began:.0f} s)")
    return best + 1


def main(arguments: list[str]) -> None:
    torch.set_num_threads(2)
    choose = "--select" in arguments
    names = [a for a in arguments if not a.startswith("--")] or list(NETWORKS)
    _, train, test = load_split()
    if choose:
        for name in names:
            select(name, train)
        return
    print("| model | HR@10 | NDCG@10 | MRR | coverage | fit s | epochs | fit <= 10 min |")
    print("|---|--:|--:|--:|--:|--:|--:|---|")
    best = 0.0
    for name in names:
        model = make(name)
        began = time.perf_counter()
        model.fit(train, epochs=EPOCHS[name], batch_size=NETWORKS[name][2], verbose=0, seed=0)
        seconds = time.perf_counter() - began
        scores = model.evaluate_ranking(test, k=10)
        best = max(best, scores["hr@10"])
        print(
            f"| {name} | {scores['hr@10']:.4f} | {scores['ndcg@10']:.4f} | {scores['mrr']:.4f} | "
            f"{scores['coverage']:.3f} | {seconds:.0f} | {EPOCHS[name]} | "
            f"{'PASS' if seconds <= FIT_SECONDS else 'FAIL'} |",
            flush=True,
        )
    print("\n| target | measured | wanted | result |\n|---|--:|--:|---|")
    wanted = max(TARGET, ITEM_KNN)
    print(
        f"| best network HR@10 | {best:.4f} | >= {TARGET} and > item-kNN {ITEM_KNN} | "
        f"{'PASS' if best >= wanted else 'FAIL'} |"
    )
    print(
        f"| beat EASE | {best:.4f} | >= 0.24 (EASE {EASE}) | {'PASS' if best >= 0.24 else 'FAIL'} |"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
