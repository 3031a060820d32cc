"""Autoencoders on a subset of MNIST: compress digits to 32 numbers and back, compare with PCA, denoise,
draw the reconstructions and the codes, then reuse the encoder for a classifier trained on few labels.

Writes PNGs to lamina-runs/autoencoder_mnist/: reconstructions, the codes in 2-D (their first two
principal components, coloured by digit), the loss curves, and the denoising autoencoder's outputs.
"""

import os

import numpy as np

import lamina
from lamina.models.autoencoder import Autoencoder

data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
x_train, x_test, y_test = data.x_train[:6000], data.x_test[:1000], data.y_test[:1000]
out = "lamina-runs/autoencoder_mnist"
os.makedirs(out, exist_ok=True)

# 1. a deep autoencoder 784-256-32-256-784: no labels, the input is the target
model = Autoencoder(kind="deep", code_size=32, units=(256,), output_activation="sigmoid")
model.compile(optimizer="adam", loss="mse", learning_rate=3e-3)
history = model.fit(x_train, epochs=8, batch_size=128, validation_split=0.1, seed=0, verbose=2)
mse = model.evaluate(x_test)["loss"]

# the reference: PCA with as many components (the top eigenvectors of the training images' covariance)
flat, test_flat = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
mean = flat.mean(0)
components = np.linalg.eigh(np.cov(flat, rowvar=False))[1][:, ::-1][
    :, :32
].T  # (32, 784), largest first
pca = test_flat - mean
pca_mse = float((((pca @ components.T) @ components - pca) ** 2).mean())
print(f"test reconstruction MSE: autoencoder {mse:.4f}, PCA(32) {pca_mse:.4f}")

model.plot_reconstructions(x_test, f"{out}/reconstructions.png", count=10)
model.plot_latent(x_test, y_test, f"{out}/latent.png")
lamina.plot_history(history, f"{out}/loss.png")

# 2. a denoising autoencoder: trained on inputs with Gaussian noise, asked to return the clean images
denoiser = Autoencoder(
    kind="denoising",
    code_size=32,
    units=(256,),
    noise="gaussian",
    noise_level=0.5,
    output_activation="sigmoid",
)
denoiser.compile(optimizer="adam", loss="mse", learning_rate=3e-3)
denoiser.fit(x_train, epochs=8, batch_size=128, seed=0, verbose=0)
noisy = x_test + 0.5 * np.random.default_rng(0).standard_normal(x_test.shape).astype(np.float32)
cleaned = denoiser.reconstruct(noisy)
print(
    f"denoising: MSE to the clean images {((cleaned - x_test) ** 2).mean():.4f} "
    f"(the noisy input: {((noisy - x_test) ** 2).mean():.4f})"
)
denoiser.plot_reconstructions(noisy, f"{out}/denoised.png", count=10)

# 3. transfer: the trained encoder under a new 10-way head, fine-tuned on 50 labelled images per digit
rng = np.random.default_rng(0)
few = np.concatenate(
    [rng.choice(np.flatnonzero(data.y_train[:6000] == d), 50, replace=False) for d in range(10)]
)
classifier = model.classifier(10).compile(
    optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3
)
classifier.fine_tune(
    x_train[few], data.y_train[few], epochs=20, freeze_epochs=2, batch_size=32, seed=0, verbose=0
)
accuracy = classifier.evaluate(x_test, y_test)["accuracy"]

path = model.save(f"{out}/model")
reloaded = lamina.load(path)
print(
    "reloaded reconstructions identical:",
    np.array_equal(model.predict(x_test), reloaded.predict(x_test)),
)
print(
    f"test: autoencoder MSE {mse:.4f} vs PCA {pca_mse:.4f}; classifier on 500 labels, accuracy {accuracy:.3f}"
)
print("pictures in", out)
