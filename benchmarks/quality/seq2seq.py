"""Quality rows: Seq2Seq on synthetic digit tasks (reverse, sort), with attention and without.

Each row trains on 10,000 random rows of 5-15 digits (``digit_sequences(seed=0)``) and reports the
exact-sequence accuracy of greedy decoding (``predict``) on 2,000 held-out rows (``seed=1``): a row
counts only when every output id and the EOS are right.
"""

from __future__ import annotations

from typing import Any

from lamina.datasets.synthetic import digit_sequences

import lamina
from benchmarks.quality import Row
from lamina.models.seq2seq import Seq2Seq


def digits_accuracy(task: str, attention: Any) -> float:
    """Held-out exact-sequence accuracy of greedy decoding on ``task``.

    Recipe (same for all rows): GRU, hidden 64, embeddings 32, Adam at lr 3e-3 with a per-step
    cosine decay to 0, gradient norm clipped at 1, batch 64, 10 epochs, teacher forcing 1.0.
    """
    x_train, y_train = digit_sequences(task, rows=10000, seed=0)
    x_test, y_test = digit_sequences(task, rows=2000, seed=1)
    model = Seq2Seq(units=64, embedding_dim=32, attention=attention)
    model.compile(
        optimizer="adam", metrics=["sequence_accuracy"], learning_rate=3e-3, clip_norm=1.0
    )
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(x_train, y_train, epochs=10, batch_size=64, callbacks=[schedule], seed=0, verbose=0)
    predicted = model.predict(x_test)  # (N, 16): greedy ids, 0 after EOS
    return float((predicted == y_test).all(axis=1).mean())


ROWS = [
    Row(
        "Reverse digits 5-15 / Seq2Seq + attention / exact-seq acc",
        0.95,
        lambda: digits_accuracy("reverse", "bahdanau"),
    ),
    Row(
        "Sort digits 5-15 / Seq2Seq + attention / exact-seq acc",
        0.95,
        lambda: digits_accuracy("sort", "bahdanau"),
    ),
    Row(
        "Reverse digits 5-15 / Seq2Seq, no attention / exact-seq acc",
        None,
        lambda: digits_accuracy("reverse", None),
    ),
    Row(
        "Sort digits 5-15 / Seq2Seq, no attention / exact-seq acc",
        None,
        lambda: digits_accuracy("sort", None),
    ),
]
