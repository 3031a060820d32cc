"""Quality row: LeNet-5 (ReLU, max pooling) on MNIST."""

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
    model.fit(data.x_train, data.y_train, epochs=12, batch_size=128, callbacks=[schedule], seed=0, verbose=0)
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


ROWS = [Row("MNIST / CNN lenet5 / test acc", 0.993, mnist_lenet5)]
