"""Quality rows: an MLP on MNIST; a tabular MLP on UCI Adult, beside gradient boosting on the same split."""

from __future__ import annotations

from typing import Any

import numpy as np
from lamina.callbacks import LearningRateScheduler

import lamina
from benchmarks.quality import Row
from lamina.models.mlp import MLP


def mnist_mlp() -> float:
    """Test accuracy of a 256-128 ReLU MLP with dropout 0.2 after 15 epochs of Adam."""
    data = lamina.datasets.load("mnist", flatten=True, normalize=True)
    model = lamina.models.MLP(units=(256, 128), outputs=10, dropout=0.2)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=128, seed=0, verbose=0)
    return model.evaluate(data.x_test, data.y_test)["accuracy"]


def adult_tabular_mlp() -> float:
    """Mean test accuracy over seeds 0, 1, 2 of a tabular MLP fed the raw Adult DataFrame.

    Column types are inferred (6 int columns standardised, 8 string columns through entity embeddings);
    256-128 ReLU blocks with BatchNorm and dropout 0.1, Adam at 3e-3 with per-step cosine decay,
    10 epochs of batch 256 on the published train split, evaluated once on the published test split.
    """
    data = lamina.datasets.load("adult")
    accuracies = []
    for seed in (0, 1, 2):
        model = MLP(units=(256, 128), outputs=2, dropout=0.1, norm="batch")
        model.compile(
            optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3
        )
        model.fit(
            data.x_train,
            data.y_train,
            epochs=10,
            batch_size=256,
            seed=seed,
            verbose=0,
            callbacks=[LearningRateScheduler("cosine", per="step")],
        )
        accuracies.append(model.evaluate(data.x_test, data.y_test)["accuracy"])
    return float(np.mean(accuracies))


def _categories_from_train(train: Any, test: Any) -> tuple[Any, Any]:
    """String columns -> pandas category dtype with the training categories (unseen test values become NaN)."""
    train, test = train.copy(), test.copy()
    for name in train.columns:
        if train[name].dtype.kind not in "biuf":
            categories = sorted(train[name].dropna().unique())
            train[name] = train[name].astype("category").cat.set_categories(categories)
            test[name] = test[name].astype("category").cat.set_categories(categories)
    return train, test


def adult_gradient_boosting() -> float:
    """Test accuracy of scikit-learn's HistGradientBoostingClassifier (defaults, native categorical support)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    data = lamina.datasets.load("adult")
    train, test = _categories_from_train(data.x_train, data.x_test)
    with threadpool_limits(2):  # the 2 cores rows are specified for
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        model.fit(train, data.y_train)
        return float(model.score(test, data.y_test))


ROWS = [
    Row("MNIST / MLP / test acc", 0.980, mnist_mlp),
    Row("UCI Adult / tabular MLP / test acc", 0.850, adult_tabular_mlp),
    Row(
        "UCI Adult / HistGradientBoosting (scikit-learn) / test acc", None, adult_gradient_boosting
    ),
]
