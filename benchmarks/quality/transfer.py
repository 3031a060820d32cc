"""Quality rows: transfer learning, a CNN pretrained on MNIST 0-4 and fine-tuned on 100 labels per class of 5-9.

Pretrain ``CNN(preset="lenet5")`` once on every training image of the digits 0-4. Then, for three
seeds, draw 100 training images per class of the digits 5-9 (500 in all) and train (a) a copy of
the pretrained model with a fresh head via ``fine_tune`` and (b) the same architecture from scratch,
with equal budgets: the same 500 images, epochs, batch size, optimizer and learning rate. Both are
scored on every test image of the digits 5-9. The first row is the mean of (fine-tuned - scratch)
accuracy; the two report-only rows give each mean. The experiment runs once (cached) for all three
rows, so the first row's seconds are the whole cost.
"""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np

import lamina
from benchmarks.quality import Row
from lamina.models.cnn import CNN

SEEDS = (0, 1, 2)
LABELS_PER_CLASS = 100
PRETRAIN_EPOCHS = 2  # 99.1% test accuracy on the digits 0-4 already
# Both arms: 20 epochs over the same 500 images, batch 32, Adam at 3e-3 (better than 1e-3 for both arms on
# seed 0). fine_tune: 1 frozen epoch, then 19 with rates from 1e-3 (first conv) to 3e-3 (head).
EPOCHS, FREEZE_EPOCHS, BATCH_SIZE, LEARNING_RATE, DISCRIMINATIVE = 20, 1, 32, 3e-3, 3.0


def _new_cnn() -> CNN:
    model = CNN(preset="lenet5", outputs=5)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=LEARNING_RATE)
    return model


@functools.cache
def experiment() -> dict[str, float]:
    """Mean test accuracies on MNIST 5-9: ``{"fine_tuned": ..., "scratch": ..., "gain": ...}``."""
    data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
    source = data.y_train < 5
    pretrained = _new_cnn()
    pretrained.fit(data.x_train[source], data.y_train[source], epochs=PRETRAIN_EPOCHS, batch_size=128, seed=0,
                   verbose=0)
    pretrained_path = pretrained.save(os.path.join(tempfile.mkdtemp(), "pretrained"))
    target = data.y_test >= 5
    x_test, y_test = data.x_test[target], data.y_test[target] - 5  # labels 5..9 -> 0..4
    tuned_scores, scratch_scores = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.choice(np.flatnonzero(data.y_train == digit), LABELS_PER_CLASS, replace=False)
                                 for digit in range(5, 10)])
        x, y = data.x_train[chosen], data.y_train[chosen] - 5
        tuned = lamina.load(pretrained_path).replace_head(5)  # a fresh copy of the pretrained model
        tuned.fine_tune(x, y, epochs=EPOCHS - FREEZE_EPOCHS, freeze_epochs=FREEZE_EPOCHS,
                        discriminative=DISCRIMINATIVE, batch_size=BATCH_SIZE, seed=seed, verbose=0)
        scratch = _new_cnn()
        scratch.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, seed=seed, verbose=0)
        tuned_scores.append(tuned.evaluate(x_test, y_test)["accuracy"])
        scratch_scores.append(scratch.evaluate(x_test, y_test)["accuracy"])
        print(f"  seed {seed}: fine-tuned {tuned_scores[-1]:.4f}, scratch {scratch_scores[-1]:.4f}", flush=True)
    result = {"fine_tuned": float(np.mean(tuned_scores)), "scratch": float(np.mean(scratch_scores))}
    result["gain"] = result["fine_tuned"] - result["scratch"]
    print(f"  mean: fine-tuned {result['fine_tuned']:.4f}, scratch {result['scratch']:.4f}, "
          f"gain {result['gain']:.4f}", flush=True)
    return result


ROWS = [
    Row("MNIST 5-9 (100 labels/class) / CNN fine-tuned minus scratch / test acc", 0.05,
        lambda: experiment()["gain"]),
    Row("MNIST 5-9 (100 labels/class) / CNN fine-tuned (lenet5 pretrained on 0-4) / test acc", None,
        lambda: experiment()["fine_tuned"]),
    Row("MNIST 5-9 (100 labels/class) / CNN from scratch / test acc", None, lambda: experiment()["scratch"]),
]
