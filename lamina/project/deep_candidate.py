"""The advisor's deep candidate: the lamina network of the data's family, trained within a budget.

:func:`train_network` picks the family (tabular MLP, CNN, GRU over word ids, MLP), trains it with
early stopping and a :class:`Deadline`, and measures it like every classical candidate
(``lamina.project.measure``). ``lamina.advise`` (in
``lamina.project.advisor``) compares it with the classical candidates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lamina.project.measure import latency, take
from lamina.project.planning import (
    MAX_TOKENS,
    MIN_COUNT,
    NETWORK_UNITS,
    SMALL_FILTERS,
    TEXT_UNITS,
    uses_lenet,
)
from lamina.train.callbacks import Callback, EarlyStopping

__all__ = ["Deadline", "train_network"]


class Deadline(Callback):
    """A callback that stops ``fit`` at the first batch end after ``seconds`` of training."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.reached = seconds, False

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.end = time.perf_counter() + self.seconds

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if time.perf_counter() > self.end:
            self.reached = self.model.stop_training = True


def train_network(
    modality: str,
    task: str,
    x: Any,
    y: np.ndarray,
    x_test: Any,
    outputs: int,
    budget: float,
    seed: int,
    verbose: int,
) -> tuple[dict[str, Any], np.ndarray, Any, dict[str, Any]]:
    """Train the lamina network of ``modality``'s family within ``budget`` seconds.

    Args:
        modality: ``"table"``, ``"image"``, ``"text"`` or ``"array"`` (``lamina.data.eda``).
        task: ``"classification"`` or ``"regression"``.
        x: the training inputs.
        y: their labels (class ids) or regression targets, shape ``(N,)``.
        x_test: the test inputs.
        outputs: the number of classes, or 1 for regression.
        budget: seconds of training before the :class:`Deadline` stops it.
        seed: the shuffle, the held-out rows and the initial weights.
        verbose: 2 prints the network's epochs.

    Returns:
        ``(row, predicted, model, prep)``: the candidate's row of the advisor's table, its test
        predictions ``(N_test,)``, the trained model and the preprocessing prediction repeats.
    """
    from lamina.models.cnn import CNN
    from lamina.models.mlp import MLP
    from lamina.models.rnn import RNN
    from lamina.nn.sequences import pad_sequences
    from lamina.nn.tensors import WordVocabulary, tokenize

    # Layers made in a constructor (embeddings) draw their initial weights now.
    torch.manual_seed(seed)
    extra, batch, epochs, learning_rate = 0, 256 if len(y) >= 10_000 else 32, 50, 2e-3
    prep: dict[str, Any] = {}  # what prediction needs to repeat (lamina.fitted.FittedModel)
    if modality == "text":
        tokens = [tokenize(text) for text in x]
        vocabulary = WordVocabulary((t for row in tokens for t in row), min_count=MIN_COUNT)

        def ids(texts: Any, known: list[list[str]] | None = None) -> np.ndarray:
            rows = known or [tokenize(text) for text in texts]
            return pad_sequences(
                [list(vocabulary.encode(row)) or [1] for row in rows],
                maxlen=min(MAX_TOKENS, max(len(row) for row in tokens) or 1),
            )

        x, x_test = ids(x, tokens), ids(x_test)
        model: Any = RNN(
            "gru",
            units=TEXT_UNITS,
            outputs=outputs,
            vocabulary_size=len(vocabulary),
            embedding_dim=TEXT_UNITS,
            dropout=0.2,
        )
        name, extra = "GRU (lamina)", len(json.dumps(vocabulary.get_config()))
        prep = {"vocabulary": vocabulary.get_config(), "maxlen": int(x.shape[1])}
    elif modality == "image":
        lenet = uses_lenet(*x.shape[-2:])
        model = (
            CNN(preset="lenet5", outputs=outputs)
            if lenet
            else CNN(filters=SMALL_FILTERS, outputs=outputs)
        )
        name, batch, epochs, learning_rate = f"CNN {'lenet5 ' * lenet}(lamina)", 128, 30, 1e-3
    else:
        model, name = (
            MLP(units=NETWORK_UNITS, outputs=outputs, dropout=0.1, norm="batch"),
            "MLP (lamina)",
        )
        # Standardise with the training statistics (DataFrames: the tabular encoder does).
        if modality == "array":
            center, spread = x.mean(axis=0), x.std(axis=0)
            x, x_test = ((v - center) / np.where(spread > 0, spread, 1.0) for v in (x, x_test))
            prep = {"center": center.tolist(), "spread": spread.tolist()}
    classify = task == "classification"
    mean, std = (0.0, 1.0) if classify else (float(np.mean(y)), float(np.std(y)) or 1.0)
    # Regression targets are standardised, shape (N, 1).
    targets = y if classify else ((y - mean) / std).astype(np.float32)[:, None]
    order = np.random.default_rng(seed).permutation(len(y))  # validation_split takes the last rows
    x, targets = take(x, order), targets[order]
    held = 0.1 if len(y) >= 20 else 0.0
    # No batch of one row (BatchNorm cannot train on it).
    while (len(y) - round(held * len(y))) % batch == 1:
        batch += 1
    model.compile(
        optimizer="adam",
        loss="cross_entropy" if classify else "mse",
        learning_rate=learning_rate,
        metrics=["accuracy"] if classify else None,
    )
    deadline = Deadline(budget)
    stop = EarlyStopping("val_loss" if held else "loss", patience=3, restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(
        x,
        targets,
        epochs=epochs,
        batch_size=batch,
        validation_split=held,
        seed=seed,
        callbacks=[stop, deadline],
        verbose=2 if verbose > 1 else 0,
    )
    seconds = time.perf_counter() - start
    out = model.predict(x_test)
    predicted = out.argmax(1) if classify else out[:, 0] * std + mean
    state = model.state_dict().values()
    size = extra + sum(
        t.numel() * t.element_size() if hasattr(t, "numel") else len(json.dumps(t)) for t in state
    )
    why = (
        "the time budget"
        if deadline.reached
        else "early stopping"
        if stop.stopped_epoch >= 0
        else "the epoch cap"
    )
    note = (
        f"{len(history.epoch)} epochs, stopped by {why}; "
        f"trained on {len(y) - round(held * len(y)):,} rows, "
        f"{round(held * len(y)):,} held out for early stopping"
    )
    return (
        {
            "candidate": name,
            "family": "deep",
            "cv_mean": None,
            "cv_sd": None,
            "fit_seconds": seconds,
            "latency_ms": latency(model.predict, x_test),
            "size_bytes": int(size),
            "interpretability": "low",
            "note": note,
        },
        predicted,
        model,
        {**prep, "mean": mean, "std": std},
    )
