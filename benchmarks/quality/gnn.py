"""Quality rows: GCN and GAT on Cora (Planetoid split), the published recipes, mean over 10 seeds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

import lamina
from benchmarks.quality import Row
from lamina.models.gnn import GAT, GCN, to_graph

SEEDS = range(10)


def _cora_mean(
    make: Callable[[], Any], learning_rate: float, epochs: int, callbacks: Callable[[], list[Any]]
) -> float:
    """Mean test accuracy over ``SEEDS``: Adam with weight decay 5e-4, up to ``epochs`` full-graph epochs each.

    Features are row-normalised as in both papers; ``fit(seed=...)`` seeds every weight.
    """
    graph = to_graph(lamina.datasets.load("cora"), normalize=True)
    accuracies = []
    for seed in SEEDS:
        model = make()
        adam = functools.partial(torch.optim.Adam, lr=learning_rate, weight_decay=5e-4)
        model.compile(optimizer=adam, loss="cross_entropy", metrics=["accuracy"])
        model.fit(graph, epochs=epochs, seed=seed, verbose=0, callbacks=callbacks())
        accuracies.append(model.evaluate(graph, mask="test")["accuracy"])
    return sum(accuracies) / len(accuracies)


def cora_gcn() -> float:
    """GCN (Kipf and Welling, 2017): 16 hidden units, dropout 0.5, lr 0.01, weight decay 5e-4, 200 epochs."""
    return _cora_mean(lambda: GCN(units=16, outputs=7, dropout=0.5), 0.01, 200, list)


def cora_gat() -> float:
    """GAT (Velickovic et al., 2018): 8 heads x 8 hidden units, ELU, dropout 0.6 (inputs and attention),
    lr 0.005, weight decay 5e-4; early stopping with patience 100 on the validation loss (as the paper),
    here within 500 epochs, keeping the weights of the best validation epoch."""

    def early_stopping() -> list[Any]:
        return [lamina.callbacks.EarlyStopping("val_loss", patience=100, restore_best_weights=True)]

    return _cora_mean(
        lambda: GAT(units=8, num_heads=8, outputs=7, dropout=0.6), 0.005, 500, early_stopping
    )


ROWS = [
    Row("Cora / GCN / mean test acc over 10 seeds", 0.810, cora_gcn),
    Row("Cora / GAT / mean test acc over 10 seeds", 0.825, cora_gat),
]
