"""Quality row: a softmax Perceptron (multinomial logistic regression) on MNIST."""

from __future__ import annotations

import lamina
from benchmarks.quality import Row


def mnist_softmax() -> float:
    """Test accuracy of ``Perceptron(10, rule="softmax")`` after 5 epochs of Adam."""
    data = lamina.datasets.load("mnist", flatten=True, normalize=True)
    model = lamina.models.Perceptron(outputs=10, rule="softmax")
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
    model.fit(data.x_train, data.y_train, epochs=5, batch_size=128, seed=0, verbose=0)
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


ROWS = [Row("MNIST / Perceptron (softmax) / test acc", 0.915, mnist_softmax)]
