"""Quality row: an MLP on MNIST."""

from __future__ import annotations

import lamina
from benchmarks.quality import Row


def mnist_mlp() -> float:
    """Test accuracy of a 256-128 ReLU MLP with dropout 0.2 after 15 epochs of Adam."""
    data = lamina.datasets.load("mnist", flatten=True, normalize=True)
    model = lamina.models.MLP(units=(256, 128), outputs=10, dropout=0.2)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=128, seed=0, verbose=0)
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


ROWS = [Row("MNIST / MLP / test acc", 0.980, mnist_mlp)]
