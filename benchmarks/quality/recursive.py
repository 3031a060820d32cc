"""Quality rows: a binary TreeLSTM (``RecursiveNet``) against a flat-string LSTM on arithmetic trees.

Task: the sign of a random expression tree's value (``lamina.datasets.synthetic_trees``: integers
-9..9, ``+ - *``, saturating at +-9, depth 1..6). Two classes: positive (about 44%) vs not.

Both models get the same budget: the same 20,000 training trees, 10 epochs, batch 64, Adam with a
one-cycle schedule up to 5e-3, a 64-unit state, cross entropy. The TreeLSTM reads the tree; the
LSTM reads its fully parenthesised infix tokens (``flatten``), e.g. ``( 3 + ( 2 * -1 ) )``.
The test set is 2,000 fresh trees, less those that also occur in the training set (only depth-1
trees repeat: there are just 1,083 of them), so every test tree is new. Each row is the mean test
accuracy over seeds 0, 1, 2 (each seed draws its own trees and initial weights).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from lamina.datasets.synthetic_trees import LABELS, arithmetic_trees, flatten
from lamina.sequences import pad_sequences
from lamina.trees import Tree

import lamina
from benchmarks.quality import Row
from lamina.models.recursive import RecursiveNet
from lamina.models.rnn import RNN

SEEDS = (0, 1, 2)
TRAIN_TREES, TEST_TREES, MAX_DEPTH = 20_000, 2_000, 6
EPOCHS, BATCH_SIZE, HIDDEN_SIZE, MAX_LR = 10, 64, 64, 5e-3
TOKENS = {token: i + 1 for i, token in enumerate((*LABELS, "(", ")"))}  # id 0 is padding


@functools.cache
def _data(seed: int) -> tuple[list[Tree], np.ndarray, list[Tree], np.ndarray]:
    """Training and novel test trees with their sign labels (1 = value > 0)."""
    train, train_values = arithmetic_trees(TRAIN_TREES, MAX_DEPTH, seed=1000 * seed + 1)
    test, test_values = arithmetic_trees(TEST_TREES, MAX_DEPTH, seed=1000 * seed + 2)
    seen = set(train)
    novel = [i for i, tree in enumerate(test) if tree not in seen]
    y_train, y_test = (train_values > 0).astype(np.int64), (test_values[novel] > 0).astype(np.int64)
    return train, y_train, [test[i] for i in novel], y_test


def _train(
    make_model: Callable[[], lamina.Model], x: object, y: np.ndarray, seed: int
) -> lamina.Model:
    torch.manual_seed(
        seed
    )  # weights made in a constructor (embeddings) come before fit(seed=...) seeds torch
    model = make_model()
    model.compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=MAX_LR
    )
    schedule = lamina.callbacks.LearningRateScheduler("one_cycle", per="step", max_lr=MAX_LR)
    model.fit(
        x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, callbacks=[schedule], seed=seed, verbose=0
    )
    return model


@functools.cache
def _recursive_accuracy(seed: int) -> float:
    train, y_train, test, y_test = _data(seed)
    model = _train(
        lambda: RecursiveNet(
            cell="treelstm", units=HIDDEN_SIZE, outputs=2, arity=2, labels=list(LABELS)
        ),
        train,
        y_train,
        seed,
    )
    return model.evaluate(test, y_test)["accuracy"]


def _tokens(trees: list[Tree]) -> np.ndarray:
    return pad_sequences(
        [[TOKENS[token] for token in flatten(tree).split()] for tree in trees]
    )  # (N, T)


@functools.cache
def _flat_accuracy(seed: int) -> float:
    train, y_train, test, y_test = _data(seed)
    model = _train(
        lambda: RNN(
            cell="lstm",
            units=HIDDEN_SIZE,
            outputs=2,
            task="classify",
            vocabulary_size=len(TOKENS) + 1,
        ),
        _tokens(train),
        y_train,
        seed,
    )
    return model.evaluate(_tokens(test), y_test)["accuracy"]


def recursive_sign() -> float:
    """Mean test accuracy of the binary TreeLSTM over the seeds."""
    return float(np.mean([_recursive_accuracy(seed) for seed in SEEDS]))


def flat_sign() -> float:
    """Mean test accuracy of the LSTM over the flat token strings, same trees and budget."""
    return float(np.mean([_flat_accuracy(seed) for seed in SEEDS]))


def margin() -> float:
    """How much the tree model beats the flat one (reuses the two rows' runs when they ran first)."""
    return recursive_sign() - flat_sign()


ROWS = [
    Row("Arithmetic trees depth<=6 / RecursiveNet / sign acc", 0.95, recursive_sign),
    Row("Arithmetic trees depth<=6 / flat-string LSTM / sign acc", None, flat_sign),
    Row("Arithmetic trees depth<=6 / RecursiveNet minus flat LSTM / sign acc margin", 0.01, margin),
]
