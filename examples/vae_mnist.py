"""A variational autoencoder on binarised MNIST digits: train, score the ELBO, sample, plot, save and reload."""

import os

import numpy as np

import lamina
from lamina.models.vae import VAE

data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) in [0, 1]
rng = np.random.default_rng(0)
x_train = (rng.random((6000, 28, 28)) < data.x_train[:6000]).astype(
    np.float32
)  # pixels ~ Bernoulli(intensity)
x_test = (rng.random((1000, 28, 28)) < data.x_test[:1000]).astype(np.float32)

model = VAE(latent=2, units=(256, 128))  # a 2-d latent: the codes can be plotted as they are
model.compile(optimizer="adam", learning_rate=2e-3)  # no loss: a VAE trains on its negative ELBO
model.fit(x_train, epochs=6, batch_size=128, seed=0, verbose=2)  # no y: unsupervised

print("test:", model.evaluate(x_test))  # negative ELBO = reconstruction + kl, nats per image
print(
    "importance-weighted bound on -log p(x):",
    round(model.importance_weighted_nll(x_test[:200], samples=50), 2),
)

os.makedirs("lamina-runs", exist_ok=True)
model.plot_samples("lamina-runs/vae_samples.png", n=64, seed=0)
model.plot_reconstructions(x_test, "lamina-runs/vae_reconstructions.png", n=10)
model.plot_latent(x_test, data.y_test[:1000], "lamina-runs/vae_latent.png")

path = model.save("lamina-runs/vae_mnist")
reloaded = lamina.load(path)
print(
    "reloaded codes identical:", np.array_equal(model.encode(x_test)[0], reloaded.encode(x_test)[0])
)
