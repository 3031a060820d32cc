"""Classical recommenders on UCI Online Retail, over the full catalogue (issue 18's protocol).

Protocol: the first purchase of each (customer, item) after cleaning (cancellations, non-positive
quantities and missing customers dropped); customers with >= 2 items; each customer's latest new
item held out (``lamina.data.interactions.leave_last_out``: among the items of the latest basket,
one drawn with seed 0); every item ranked, the customer's training items last. Rows: popularity, cosine item-kNN (all neighbours) and
EASE (l2 = 50), against the issue's reference figures (within +-0.01).

    LAMINA_DATA=../shared/datasets python -m benchmarks.recommend
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from lamina.data.interactions import Interactions, interactions, leave_last_out
from lamina.project.recommenders import EASE, ItemKNN, Popularity, evaluate_rankings

# The reference HR@10 (and NDCG@10 for EASE), measured by its author with this protocol.
REFERENCE = {"popularity": 0.033, "item-kNN": 0.152, "EASE": 0.237}
REFERENCE_NDCG_EASE = 0.144
TOLERANCE = 0.01


def load_split() -> tuple[Interactions, Interactions, Interactions]:
    """The protocol's data: (all interactions, train, test) of Online Retail under LAMINA_DATA."""
    root = Path(os.environ.get("LAMINA_DATA", "../shared/datasets"))
    data = interactions(
        root / "online-retail" / "online_retail.parquet",
        user="CustomerID",
        item="StockCode",
        time="InvoiceDate",
        quantity="Quantity",
        price="UnitPrice",
        invoice="InvoiceNo",
        description="Description",
        country="Country",
    )
    train, test = leave_last_out(data, min_items=2, seed=0)
    return data, train, test


def main() -> None:
    """Print one row per model and PASS/FAIL against the reference figures."""
    start = time.perf_counter()
    data, train, test = load_split()
    matrix = train.matrix()
    user_codes = {user: code for code, user in enumerate(train.users)}
    item_codes = {item: code for code, item in enumerate(train.items)}
    targets = np.full(matrix.shape[0], -1, dtype=np.int64)
    for user, item in zip(test.table["user"], test.table["item"]):
        targets[user_codes[user]] = item_codes[item]
    print(
        f"{len(data.users):,} customers, {len(data.items):,} items, {len(data.table):,} "
        f"interactions; {int((targets >= 0).sum()):,} held out ({time.perf_counter() - start:.1f} s)"
    )
    print("\n| model | HR@10 | NDCG@10 | MRR | coverage | fit s | reference HR@10 | result |")
    print("|---|--:|--:|--:|--:|--:|--:|---|")
    for name, model in (
        ("popularity", Popularity()),
        ("item-kNN", ItemKNN()),
        ("EASE", EASE(l2=50.0)),
    ):
        began = time.perf_counter()
        model.fit(matrix)
        fit_seconds = time.perf_counter() - began
        scores = evaluate_rankings(model, matrix, targets, k=10)
        hit = scores["hr@10"]
        ok = abs(hit - REFERENCE[name]) <= TOLERANCE
        if name == "EASE":
            ok = ok and abs(scores["ndcg@10"] - REFERENCE_NDCG_EASE) <= TOLERANCE
        print(
            f"| {name} | {hit:.4f} | {scores['ndcg@10']:.4f} | {scores['mrr']:.4f} | "
            f"{scores['coverage']:.3f} | {fit_seconds:.1f} | {REFERENCE[name]:.3f} | "
            f"{'PASS' if ok else 'FAIL'} |"
        )


if __name__ == "__main__":
    main()
