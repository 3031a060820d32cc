"""Quality rows: autoencoders on MNIST against PCA, denoising, sparsity and stacked pretraining.

Every model sees the 60,000 training images (no labels; pixels in [0, 1]) and is scored on the 10,000 test
images. The PCA reference is scikit-learn's ``PCA(32)`` fitted on the training images (it centres them).

* linear: ``Autoencoder(kind="linear", code_size=32)``, Adam with a cosine decay, never an SVD; its test
  reconstruction MSE over PCA's, and the largest principal angle between its decoder's column space and
  PCA's 32 components (report only: the last components have nearly equal variances, so that angle
  converges slowly while the MSE is already at PCA's).
* deep: 784-256-32-256-784, ReLU, sigmoid output; the row is ``1 - deep MSE / PCA MSE``.
* denoising: the deep net trained on inputs with Gaussian noise (sigma 0.5), scored on test images with
  fixed noise of the same sigma: ``1 - MSE(denoised, clean) / MSE(noisy, clean)``.
* sparse: KL sparsity on a 64-unit sigmoid code, target mean activation 0.05; the row is the relative
  deviation of the mean test code activation from 0.05; the test MSE is reported beside it.
* stacked: a 784-512-256-128 stacked denoising autoencoder (masking noise 0.7; greedy pretraining, 2 epochs
  per layer, then 3 epochs end to end, on the unlabelled training images, once); then for three seeds,
  100 labelled images per class (1,000 in all) train (a) its ``classifier(10)`` via ``fine_tune`` and
  (b) the same network from a fresh random start, with equal budgets (images, epochs, batch size,
  optimizer, learning rate). The row is the mean gain in test accuracy over twice the standard deviation
  of the three paired gains (ddof=1); the two accuracies are reported beside it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

import lamina
from benchmarks.quality import Row
from lamina.models.autoencoder import Autoencoder

SEEDS = (0, 1, 2)
LABELS_PER_CLASS = 100
BATCH_SIZE = 128


@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
    return data.x_train, data.y_train, data.x_test, data.y_test


@functools.cache
def _pca() -> tuple[float, np.ndarray]:
    """PCA(32) test MSE per pixel and its components ``(32, 784)``."""
    from sklearn.decomposition import PCA

    x, _, x_test, _ = _data()
    pca = PCA(32, random_state=0).fit(x.reshape(len(x), -1))
    flat = x_test.reshape(len(x_test), -1)
    return float(((pca.inverse_transform(pca.transform(flat)) - flat) ** 2).mean()), pca.components_


def _train(model: Autoencoder, epochs: int, learning_rate: float = 3e-3) -> Autoencoder:
    model.compile(optimizer="adam", loss="mse", learning_rate=learning_rate)
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(
        _data()[0], epochs=epochs, batch_size=BATCH_SIZE, callbacks=[schedule], seed=0, verbose=0
    )
    return model


@functools.cache
def linear() -> dict[str, float]:
    from scipy.linalg import subspace_angles

    model = _train(Autoencoder(kind="linear", code_size=32), epochs=5)
    mse, components = _pca()
    decoder = model.decoder[0][0].weight.detach().cpu().numpy()  # (784, 32): spans the code's image
    angles = np.degrees(subspace_angles(decoder, components.T))
    result = {"ratio": model.evaluate(_data()[2])["loss"] / mse, "max_angle": float(angles.max())}
    print(f"  linear: {result}, median angle {np.median(angles):.2f} degrees", flush=True)
    return result


def deep() -> float:
    model = _train(
        Autoencoder(kind="deep", code_size=32, units=(256,), output_activation="sigmoid"), epochs=5
    )
    mse = model.evaluate(_data()[2])["loss"]
    print(f"  deep: test MSE {mse:.5f}, PCA {_pca()[0]:.5f}", flush=True)
    return 1 - mse / _pca()[0]


def denoising() -> float:
    model = _train(
        Autoencoder(
            kind="denoising",
            code_size=32,
            units=(256,),
            noise="gaussian",
            noise_level=0.5,
            output_activation="sigmoid",
        ),
        epochs=3,
    )
    clean = _data()[2]
    noisy = clean + 0.5 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    denoised, before = (
        ((model.reconstruct(noisy) - clean) ** 2).mean(),
        ((noisy - clean) ** 2).mean(),
    )
    print(f"  denoising: MSE to clean {denoised:.5f}, noisy input {before:.5f}", flush=True)
    return float(1 - denoised / before)


@functools.cache
def sparse() -> dict[str, float]:
    target = 0.05
    model = _train(
        Autoencoder(
            kind="sparse",
            code_size=64,
            units=(256,),
            sparsity="kl",
            sparsity_target=target,
            sparsity_weight=0.01,
            output_activation="sigmoid",
        ),
        epochs=5,
    )
    x_test = _data()[2]
    mean = float(model.encode(x_test).mean())
    result = {
        "deviation": abs(mean - target) / target,
        "mse": model.evaluate(x_test)["reconstruction"],
    }
    print(f"  sparse: mean code activation {mean:.4f} (target {target}), {result}", flush=True)
    return result


# Masking noise (70% of the inputs of each layer zeroed) makes the pretrained features worth keeping: without
# noise the fine-tuned net lost 1-2 points to scratch, with it it gained 1.7-1.8 (chosen on a validation split
# of the training images, never the test set). Fine-tuning uses one learning rate for all layers.
STACKED = {
    "kind": "stacked",
    "code_size": 128,
    "units": (512, 256),
    "noise": "masking",
    "noise_level": 0.7,
    "output_activation": "sigmoid",
    "pretrain_epochs": 2,
}
EPOCHS, FREEZE_EPOCHS, LEARNING_RATE = 30, 1, 1e-3


@functools.cache
def stacked() -> dict[str, float]:
    x, y, x_test, y_test = _data()
    pretrained = _train(Autoencoder(**STACKED), epochs=3)
    tuned_scores, scratch_scores = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate(
            [
                rng.choice(np.flatnonzero(y == digit), LABELS_PER_CLASS, replace=False)
                for digit in range(10)
            ]
        )
        tuned = pretrained.classifier(10).compile(
            optimizer="adam",
            loss="cross_entropy",
            metrics=["accuracy"],
            learning_rate=LEARNING_RATE,
        )
        tuned.fine_tune(
            x[chosen],
            y[chosen],
            epochs=EPOCHS - FREEZE_EPOCHS,
            freeze_epochs=FREEZE_EPOCHS,
            discriminative=1.0,
            batch_size=32,
            seed=seed,
            verbose=0,
        )
        torch.manual_seed(seed)
        fresh = Autoencoder(**STACKED)
        fresh.build(torch.from_numpy(x[:2]))
        scratch = fresh.classifier(10).compile(
            optimizer="adam",
            loss="cross_entropy",
            metrics=["accuracy"],
            learning_rate=LEARNING_RATE,
        )
        scratch.fit(x[chosen], y[chosen], epochs=EPOCHS, batch_size=32, seed=seed, verbose=0)
        tuned_scores.append(tuned.evaluate(x_test, y_test)["accuracy"])
        scratch_scores.append(scratch.evaluate(x_test, y_test)["accuracy"])
        print(
            f"  seed {seed}: fine-tuned {tuned_scores[-1]:.4f}, scratch {scratch_scores[-1]:.4f}",
            flush=True,
        )
    gains = np.subtract(tuned_scores, scratch_scores)
    result = {
        "fine_tuned": float(np.mean(tuned_scores)),
        "scratch": float(np.mean(scratch_scores)),
        "score": float(gains.mean() / (2 * gains.std(ddof=1))),
    }
    print(
        f"  stacked: {result}, gains {np.round(gains, 4).tolist()}; with the std of the scratch accuracies "
        f"instead: {gains.mean() / (2 * np.std(scratch_scores, ddof=1)):.2f}",
        flush=True,
    )
    return result


ROWS = [
    Row(
        "MNIST / linear AE code 32 (Adam) / test MSE over PCA(32) test MSE",
        1.005,
        lambda: linear()["ratio"],
        lower_is_better=True,
    ),
    Row(
        "MNIST / linear AE code 32 / largest principal angle to the PCA(32) subspace (degrees)",
        None,
        lambda: linear()["max_angle"],
    ),
    Row("MNIST / deep AE code 32 / 1 - test MSE over PCA(32) test MSE", 0.20, deep),
    Row(
        "MNIST + Gaussian noise 0.5 / denoising AE / 1 - MSE(denoised) over MSE(noisy), to clean",
        0.30,
        denoising,
    ),
    Row(
        "MNIST / sparse AE (KL, target 0.05) / relative deviation of the mean code activation",
        0.20,
        lambda: sparse()["deviation"],
        lower_is_better=True,
    ),
    Row("MNIST / sparse AE (KL, target 0.05, code 64) / test MSE", None, lambda: sparse()["mse"]),
    Row(
        "MNIST 1,000 labels / stacked AE fine-tuned minus scratch / mean gain over 2 std of the gains",
        1.0,
        lambda: stacked()["score"],
    ),
    Row(
        "MNIST 1,000 labels / stacked AE pretrained, fine-tuned / test acc",
        None,
        lambda: stacked()["fine_tuned"],
    ),
    Row(
        "MNIST 1,000 labels / same net from scratch / test acc", None, lambda: stacked()["scratch"]
    ),
]
