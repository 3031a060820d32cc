"""Quality rows: an unconditional DCGAN on MNIST, judged by a fixed LeNet-5 classifier on 1,000 unfiltered samples.

The experiment trains ``CNN(preset="lenet5")`` (3 epochs, one-cycle Adam; >= 0.99 test accuracy) and a
``GAN`` on the 60,000 training digits, then draws 1,000 samples (seed 1, no filtering) and measures:

* the fraction the classifier labels with confidence > 0.9 (digits that look like one digit);
* the smallest share of any predicted class (mode coverage: 0.1 is uniform, 0 is a dropped digit);
* memorisation: the samples' mean L2 distance to their nearest training image over the same for 1,000
  test digits (a ratio >= 1 means samples are no closer to the training set than unseen digits are);
* FID (Heusel et al., 2017) between the samples and the 10,000 test digits in the classifier's
  penultimate (84-unit) feature space; reported only (1,000 samples bias it upwards).

The experiment runs once (cached) for all rows, so the first row's seconds are the whole cost.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import scipy.linalg
import torch

import lamina
from benchmarks.quality import Row
from lamina.models.cnn import CNN
from lamina.models.gan import GAN

SAMPLES = 1000
# GAN recipe: two extra 3x3 generator convolutions (generator_depth=2), Adam(betas 0.5, 0.999) at 1e-3 for both
# networks, cosine decay per step, batch 64, 6 epochs (5,628 steps) under bf16 autocast (1.6x faster per step
# than float32 at 2 threads here). Measured 2026-11-30 at 1 thread beside another run: plain DCGAN 8 epochs bf16
# 0.602 (FID 9.0); one extra conv, 8 epochs bf16 0.656 (FID 6.4); two extra convs, 6 epochs bf16 0.714
# (FID 7.5). Earlier, at 4 epochs float32 unless noted, none better than the plain DCGAN's 0.60 (seed-to-seed
# noise is about +-0.02 on the first row):
# lr 2e-4 (0.44 after 4 epochs), lr 2e-3, filters 32 (0.62-0.64, 4 to 8 epochs), label smoothing 0.1,
# spectral norm, a deeper or wider discriminator, an EMA of the generator's weights. An extra 3x3 generator conv
# at 7x7 (measured 2026-11-29): 0.668 after 4 epochs, 0.683 after 6 (FID 9.9 / 7.7 vs 14.4), but 25% slower and
# it collapsed the two-mode toy set of the unit tests to one mode; BatchNorm in train mode or recalibrated
# running statistics at sampling time: 0.675 / 0.685 vs 0.680 (no gain).
LATENT, FILTERS, DEPTH, BATCH_SIZE, EPOCHS, LEARNING_RATE = 64, 64, 2, 64, 6, 1e-3


def _nearest_distance(images: np.ndarray, train: torch.Tensor) -> float:
    """Mean L2 distance from each image to its nearest training image."""
    flat = torch.as_tensor(images).reshape(len(images), -1)
    return float(
        torch.cat([torch.cdist(chunk, train).min(1).values for chunk in flat.split(250)]).mean()
    )


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N, D)``."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@functools.cache
def experiment() -> dict[str, float]:
    """Train the classifier and the GAN; score 1,000 samples."""
    data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
    start = time.perf_counter()
    classifier = CNN(preset="lenet5", outputs=10)
    classifier.compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3
    )
    schedule = lamina.callbacks.LearningRateScheduler("one_cycle", per="step", max_lr=3e-3)
    classifier.fit(
        data.x_train,
        data.y_train,
        epochs=3,
        batch_size=128,
        callbacks=[schedule],
        seed=0,
        verbose=0,
    )
    accuracy = classifier.evaluate(data.x_test, data.y_test)["accuracy"]
    print(
        f"  classifier: test acc {accuracy:.4f} in {time.perf_counter() - start:.0f} s", flush=True
    )

    start = time.perf_counter()
    gan = GAN(latent=LATENT, image_shape=(1, 28, 28), filters=FILTERS, generator_depth=DEPTH)
    gan.compile(learning_rate=LEARNING_RATE)
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    gan.fit(
        data.x_train,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=[schedule],
        seed=0,
        verbose=0,
        precision="bf16",
    )
    print(
        f"  GAN: {EPOCHS * -(-len(data.x_train) // BATCH_SIZE)} steps in {time.perf_counter() - start:.0f} s",
        flush=True,
    )

    samples = gan.sample(SAMPLES, seed=1)  # (1000, 1, 28, 28), unfiltered
    classifier.eval()
    with torch.no_grad():
        probabilities = torch.as_tensor(classifier.predict(samples[:, 0])).softmax(1)
        confidence, predicted = probabilities.max(1)
        sample_features = (
            classifier.features(torch.as_tensor(samples)).double().numpy()
        )  # (1000, 84)
        test_features = classifier.features(torch.as_tensor(data.x_test)[:, None]).double().numpy()
    shares = np.bincount(predicted.numpy(), minlength=10) / SAMPLES
    train = torch.as_tensor(data.x_train).reshape(len(data.x_train), -1)
    test = data.x_test[np.random.default_rng(0).choice(len(data.x_test), SAMPLES, replace=False)]
    result = {
        "confident": float((confidence > 0.9).float().mean()),
        "min_share": float(shares.min()),
        "distance_ratio": _nearest_distance(samples, train) / _nearest_distance(test, train),
        "fid": _fid(sample_features, test_features),
    }
    print(f"  class shares {np.round(shares, 3).tolist()}; {result}", flush=True)
    return result


ROWS = [
    Row(
        "MNIST / GAN / samples with classifier confidence > 0.9",
        0.70,
        lambda: experiment()["confident"],
    ),
    Row("MNIST / GAN / smallest predicted class share", 0.03, lambda: experiment()["min_share"]),
    Row(
        "MNIST / GAN / NN distance to train, samples / test digits",
        1.0,
        lambda: experiment()["distance_ratio"],
    ),
    Row(
        "MNIST / GAN / FID in LeNet-5 features (1,000 samples)",
        None,
        lambda: experiment()["fid"],
        lower_is_better=True,
    ),
]
