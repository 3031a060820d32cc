"""A TreeLSTM reads arithmetic expression trees and predicts the sign of their value; saved and reloaded."""

import numpy as np
from lamina.datasets.synthetic_trees import LABELS, arithmetic_trees, flatten
from lamina.trees import encode

import lamina
from lamina.models.recursive import RecursiveNet

train, train_values = arithmetic_trees(
    1500, max_depth=4, seed=1
)  # integers -9..9, + - *, saturating at +-9
test, test_values = arithmetic_trees(500, max_depth=4, seed=2)
y_train, y_test = (
    (train_values > 0).astype(np.int64),
    (test_values > 0).astype(np.int64),
)  # 1: value > 0
print(f"{test[0]} = {test_values[0]}   (infix: {flatten(test[0])})")
print("encoded test trees:", encode(test, LABELS).shape, "(trees, nodes, [label id, left, right])")

# arity=2: a binary N-ary TreeLSTM, so "7 - 2" and "2 - 7" differ (Child-Sum, arity=None, would not).
model = RecursiveNet(cell="treelstm", units=32, outputs=2, arity=2, labels=list(LABELS))
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=5e-3)
model.fit(train, y_train, epochs=8, batch_size=64, validation_split=0.1, seed=0, verbose=2)
print("test:", model.evaluate(test, y_test))

path = model.save("lamina-runs/recursive_arithmetic")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:", np.array_equal(model.predict(test), reloaded.predict(test))
)
