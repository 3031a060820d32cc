"""Quality row: a character-level GPT (``TransformerLM``) on Tiny Shakespeare, nanoGPT's split and metric.

The validation loss is the mean cross-entropy (nats per character) over EVERY character of the
held-out 10% (111,540 characters). The text is cut into consecutive, non-overlapping windows of
the context length; the first window's first target (the first validation character) is
predicted from the last training character, and the final, shorter window is scored as it is.
Each window starts without earlier context, so position ``t`` of a window is predicted from the
``t + 1`` characters before it in that window, exactly as during training (and as nanoGPT's
``estimate_loss``, whose random windows also score every position, so the numbers compare).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from lamina.callbacks import Callback, LearningRateScheduler
from lamina.schedules import CosineDecay, Warmup
from lamina.sequences import CharVocabulary, windows

import lamina
from benchmarks.quality import Row
from lamina.models.transformer import TransformerLM

RECIPE: dict[str, Any] = {
    "dim": 128,
    "num_heads": 4,
    "num_layers": 4,
    "length": 128,
    "stride": 64,
    "batch_size": 32,
    "steps": 1800,
    "learning_rate": 2e-3,
    "warmup": 100,
    "dropout": 0.0,
    "precision": "bf16",
}


class _StopAfter(Callback):
    """Stop training after ``steps`` optimizer steps (the run's length in steps, not in epochs)."""

    def __init__(self, steps: int) -> None:
        self.steps, self.seen = steps, 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.seen += 1
        if self.seen >= self.steps:
            self.model.stop_training = True


def validation_loss(model: TransformerLM, context: np.ndarray, ids: np.ndarray) -> float:
    """Mean next-character cross-entropy over every id of ``ids``; ``context`` supplies the first input.

    Returns:
        The loss in nats per character, averaged over ``len(ids)`` predictions.
    """
    stream = np.concatenate(
        [context[-1:], ids]
    )  # input i predicts target i + 1: len(ids) predictions
    x, y = stream[:-1], stream[1:]
    length = model.max_length
    full = len(x) // length * length
    total = 0.0
    if full:  # (windows, length) non-overlapping windows
        total += (
            model.evaluate(x[:full].reshape(-1, length), y[:full].reshape(-1, length))["loss"]
            * full
        )
    if full < len(x):  # the last, shorter window: (1, rest)
        total += model.evaluate(x[None, full:], y[None, full:])["loss"] * (len(x) - full)
    return total / len(x)


def train_shakespeare(
    recipe: dict[str, Any] | None = None, verbose: int = 0
) -> tuple[TransformerLM, dict[str, Any]]:
    """Train ``TransformerLM`` on the first 90% of Tiny Shakespeare; returns the model and run facts."""
    options = {**RECIPE, **(recipe or {})}
    data = lamina.datasets.load("tinyshakespeare")
    vocabulary = CharVocabulary(data.extra["vocabulary"])
    train_ids, validation_ids = vocabulary.encode(data.x_train), vocabulary.encode(data.x_test)
    x, y = windows(train_ids, options["length"], stride=options["stride"])  # (windows, length) each
    steps_per_epoch = -(-len(x) // options["batch_size"])
    epochs = -(-options["steps"] // steps_per_epoch)
    model = TransformerLM(
        len(vocabulary),
        options["dim"],
        options["num_heads"],
        options["num_layers"],
        max_length=options["length"],
        dropout=options["dropout"],
    )
    model.compile(
        optimizer="adamw",
        loss="cross_entropy",
        learning_rate=options["learning_rate"],
        clip_norm=1.0,
    )
    schedule = Warmup(
        steps=options["warmup"], then=CosineDecay(min_lr=options["learning_rate"] / 10)
    )
    # The schedule spans whole epochs; _StopAfter ends the run at `steps`, so build it for exactly that.
    scheduler = LearningRateScheduler(
        lambda optimizer: schedule.build(optimizer, options["steps"]), per="step"
    )
    start = time.perf_counter()
    model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=options["batch_size"],
        seed=0,
        verbose=verbose,
        precision=options["precision"],
        callbacks=[scheduler, _StopAfter(options["steps"])],
    )
    seconds = time.perf_counter() - start
    loss = validation_loss(model, train_ids, validation_ids)
    facts = {
        **options,
        "train_seconds": seconds,
        "eval_seconds": time.perf_counter() - start - seconds,
        "validation_loss": loss,
        "characters_scored": len(validation_ids),
    }
    return model, facts


def shakespeare_lm() -> float:
    """Validation loss (nats/char) of a 4-layer, 128-wide char GPT after a fixed number of AdamW steps.

    Recipe (``RECIPE``): context 128, windows every 64 characters, batch 32, warmup then cosine
    decay to a tenth, gradient clipping at 1, bf16 autocast, no dropout.
    """
    return float(train_shakespeare()[1]["validation_loss"])


ROWS = [
    Row(
        "Tiny Shakespeare / TransformerLM / full validation loss",
        1.65,
        shakespeare_lm,
        lower_is_better=True,
    )
]
