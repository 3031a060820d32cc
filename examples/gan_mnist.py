"""A small DCGAN on 4,096 MNIST digits: a few hundred steps, a grid of samples and the loss curves as PNGs."""

from pathlib import Path

import numpy as np
import torch

import lamina
from lamina.models.gan import GAN

data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
x_train, x_test = data.x_train[:4096], data.x_test[:512]

gan = GAN(latent=32, image_shape=(1, 28, 28), filters=32)
gan.compile(learning_rate=1e-3)  # Adam with betas (0.5, 0.999), for both networks
history = gan.fit(x_train, epochs=5, batch_size=64, seed=0, verbose=2)  # 320 steps

out = Path("lamina-runs/gan_mnist")
out.mkdir(parents=True, exist_ok=True)
gan.plot_samples(out / "samples.png", n=64, seed=0)
lamina.plot.plot_history(history, out / "losses.png")

# Samples should look like digits without copying the training images: their distance to the nearest
# training image should be about that of unseen test digits.
samples = gan.sample(256, seed=1)


def nearest(images: np.ndarray) -> float:
    flat = torch.as_tensor(images).reshape(len(images), -1)
    return float(
        torch.cdist(flat, torch.as_tensor(x_train).reshape(len(x_train), -1)).min(1).values.mean()
    )


real_score, fake_score = gan.predict(x_test).mean(), gan.predict(samples).mean()
print(
    f"test: D(test digits) {real_score:.3f}, D(samples) {fake_score:.3f}, nearest-neighbour distance "
    f"samples {nearest(samples):.2f} vs test digits {nearest(x_test[:256]):.2f}"
)

reloaded = lamina.load(gan.save(str(out / "model")))
print(
    "reloaded samples identical:", np.array_equal(reloaded.sample(8, seed=0), gan.sample(8, seed=0))
)
