"""Quality rows: LeNet-5 (ReLU, max pooling) on MNIST; a 1-D conv stack on MNIST-1D."""

from __future__ import annotations

import lamina
from benchmarks.quality import Row


def mnist_lenet5() -> float:
    """Test accuracy of ``CNN(preset="lenet5")`` after 12 epochs of Adam with a one-cycle schedule.

    Recipe: batch 128, one-cycle up to lr 3e-3 (per step), random shifts of up to 2 pixels.
    """
    data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) in [0, 1]
    model = lamina.models.CNN(preset="lenet5", outputs=10, augment={"shift": 2})
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
    schedule = lamina.callbacks.LearningRateScheduler("one_cycle", per="step", max_lr=3e-3)
    model.fit(
        data.x_train,
        data.y_train,
        epochs=12,
        batch_size=128,
        callbacks=[schedule],
        seed=0,
        verbose=0,
    )
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


def mnist1d_cnn() -> float:
    """Test accuracy of a 1-D conv stack (32-64-128 filters, kernel 5) on MNIST-1D's 40-point signals.

    Recipe: inputs standardised with the training mean and deviation (``(N, 40)`` gets one channel),
    dropout 0.2 before the output layer, 30 epochs of Adam (lr 3e-3, cosine decay per step), batch 64.
    """
    data = lamina.datasets.load("mnist1d")  # x: (4000, 40) train, (1000, 40) test
    mean, std = data.x_train.mean(), data.x_train.std()
    model = lamina.models.CNN(dims=1, filters=(32, 64, 128), kernel_size=5, outputs=10, dropout=0.2)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3)
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(
        (data.x_train - mean) / std,
        data.y_train,
        epochs=30,
        batch_size=64,
        callbacks=[schedule],
        seed=0,
        verbose=0,
    )
    return model.evaluate((data.x_test - mean) / std, data.y_test)["accuracy"]


ROWS = [
    Row("MNIST / CNN lenet5 / test acc", 0.993, mnist_lenet5),
    Row("MNIST-1D / CNN / test acc", 0.92, mnist1d_cnn),
]
