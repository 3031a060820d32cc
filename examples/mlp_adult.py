"""A tabular MLP on UCI Adult: the raw DataFrame goes in, column types are inferred, saved and reloaded.

Numeric columns (age, hours-per-week, ...) are standardised, text columns (workclass, occupation,
...) go through entity embeddings; missing values ('?' in the file) need no preprocessing. The example
trains on a subset to stay fast; benchmarks/quality/mlp.py trains on all 32,561 rows (about 0.86).
"""

import numpy as np

import lamina
from lamina.models.mlp import MLP

data = lamina.datasets.load(
    "adult"
)  # x_*: DataFrames with int and str columns; y_*: 1 = income > 50K
x_train, y_train = data.x_train.iloc[:8000], data.y_train[:8000]
x_test, y_test = data.x_test.iloc[:4000], data.y_test[:4000]

model = MLP(units=(64, 32), outputs=2, dropout=0.1, norm="batch")
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3)
model.fit(x_train, y_train, epochs=5, batch_size=128, validation_split=0.1, seed=0, verbose=2)

for column in model.tabular.columns_:  # what fit learned about each column
    detail = (
        f"{len(column['vocabulary'])} categories -> embedding {column['embedding_size']}"
        if column["kind"] == "categorical"
        else f"mean {column['mean']:.1f}, std {column['std']:.1f}"
    )
    print(f"{column['name']:>15}: {column['kind']:<11} {detail}")

print("test:", model.evaluate(x_test, y_test))
print("majority class:", round(1 - y_test.mean(), 4))

path = model.save("lamina-runs/mlp_adult")
reloaded = lamina.load(path)  # the column info travels with the weights
shuffled = x_test[list(reversed(x_test.columns))]  # any column order works
print(
    "reloaded predictions identical:",
    np.array_equal(model.predict(x_test), reloaded.predict(shuffled)),
)
