"""Quality rows: Word2Vec (skip-gram, negative sampling) on the words of Tiny Shakespeare.

Train on the training split (the first 90% of the text, about 228k tokens; 3,096 words seen at least
5 times), for three seeds. The check list below was written before any training run: pairs of
related words (family, rank, pronoun and opposite pairs, which share contexts) and pairs of words
from unrelated fields, with comparable frequencies. The first row is the fraction of (related,
unrelated) combinations in which the related pair has the higher cosine similarity, averaged over
the seeds (target 0.9: at most one comparison in ten may go the wrong way); the report-only rows
give the mean cosines. The nearest neighbours of ten common words are printed for seed 0. The
experiment runs once (cached) for all rows, so the first row's seconds are the whole cost.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import torch
from lamina.callbacks import LearningRateScheduler

import lamina
from benchmarks.quality import Row
from lamina.models.word2vec import Word2Vec

# The check list: fixed before training; not to be edited after seeing results.
RELATED = [
    ("king", "queen"),
    ("lord", "lady"),
    ("thee", "thou"),
    ("father", "mother"),
    ("son", "daughter"),
    ("brother", "sister"),
    ("husband", "wife"),
    ("he", "she"),
    ("his", "her"),
    ("my", "thy"),
    ("day", "night"),
    ("one", "two"),
    ("life", "death"),
    ("good", "fair"),
]
UNRELATED = [
    ("king", "water"),
    ("queen", "three"),
    ("thou", "gold"),
    ("father", "sword"),
    ("mother", "horse"),
    ("lady", "tongue"),
    ("night", "uncle"),
    ("sweet", "ten"),
    ("daughter", "fire"),
    ("husband", "moon"),
    ("good", "foot"),
    ("heaven", "dog"),
]
COMMON = ["king", "lord", "love", "good", "man", "death", "blood", "heaven", "thou", "day"]

SEEDS = (0, 1, 2)
# gensim's defaults (dim 100, window 5, 5 noise words, min_count 5, subsample 1e-3); Adam with a cosine
# decay. The learning rate was chosen on the loss of held-out windows (validation_split=0.1, seed 0, 6 epochs),
# never on the check list: 1e-3 -> 2.847, 3e-3 -> 2.853, 1e-2 -> 2.929, 3e-2 -> 3.046. 1e-3 and 3e-3 tie;
# 3e-3 fits the training text better (training loss 2.45 against 2.61). The held-out loss is flat after epoch 1.
EPOCHS, BATCH_SIZE, LEARNING_RATE = 6, 256, 3e-3


def train(seed: int) -> Word2Vec:
    """One Word2Vec on the training split of Tiny Shakespeare."""
    text = lamina.datasets.load("tinyshakespeare").x_train
    model = Word2Vec(embedding_dim=100, window=5, mode="skipgram", negative=5, min_count=5)
    model.compile(optimizer="adam", learning_rate=LEARNING_RATE)
    model.fit(
        text,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        seed=seed,
        verbose=0,
        callbacks=[LearningRateScheduler("cosine", per="step")],
    )
    return model


def score(model: Word2Vec) -> dict[str, float]:
    """The share of (related, unrelated) combinations won by the related pair, and the mean cosines."""
    related = [model.similarity(a, b) for a, b in RELATED]
    unrelated = [model.similarity(a, b) for a, b in UNRELATED]
    wins = [r > u for r, u in itertools.product(related, unrelated)]
    return {
        "fraction": float(np.mean(wins)),
        "related": float(np.mean(related)),
        "unrelated": float(np.mean(unrelated)),
    }


@functools.cache
def experiment() -> dict[str, float]:
    """Means over the seeds of :func:`score`."""
    # One thread: a step's tensors are small (about 1,500 pairs x 100 dims), so a second thread gains
    # nothing, and on a busy machine it costs 10x (measured: 3 ms of CPU per step at 1 thread, 66 ms at 2).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    scores = []
    try:
        for seed in SEEDS:
            model = train(seed)
            if seed == SEEDS[0]:
                for word in COMMON:
                    print(
                        f"  {word}: {', '.join(w for w, _ in model.most_similar(word, topn=8))}",
                        flush=True,
                    )
            scores.append(score(model))
            print(f"  seed {seed}: {scores[-1]}", flush=True)
    finally:
        torch.set_num_threads(threads)
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


ROWS = [
    Row(
        "Tiny Shakespeare words / Word2Vec skip-gram / related pair beats unrelated pair (fraction)",
        0.9,
        lambda: experiment()["fraction"],
    ),
    Row(
        "Tiny Shakespeare words / Word2Vec skip-gram / mean cosine of related pairs",
        None,
        lambda: experiment()["related"],
    ),
    Row(
        "Tiny Shakespeare words / Word2Vec skip-gram / mean cosine of unrelated pairs",
        None,
        lambda: experiment()["unrelated"],
    ),
]
