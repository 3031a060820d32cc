"""The Perceptron: Rosenblatt's rule and its gradient version, on a separable set and on XOR.

A single linear layer learns any linearly separable labelling (here OR), but on XOR no line puts
(0, 1) and (1, 0) on one side and (0, 0) and (1, 1) on the other: it stays at 3 of 4 at best.
"""

import numpy as np

import lamina

points = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
labellings = {"OR": np.array([0, 1, 1, 1]), "XOR": np.array([0, 1, 1, 0])}


def accuracy(model, y):
    return (
        float((model.predict(points).argmax(1) == y).mean())
        if model.rule != "logistic"
        else float(((model.predict(points)[:, 0] > 0) == y).mean())
    )


for name, y in labellings.items():
    # Rosenblatt: zero start, online updates (batch_size=1), step 1.0 from the compiled SGD rate.
    rosenblatt = lamina.models.Perceptron(outputs=2, rule="perceptron")
    rosenblatt.compile(optimizer="sgd", loss="cross_entropy", learning_rate=1.0)
    history = rosenblatt.fit(points, y, epochs=20, batch_size=1, seed=0, verbose=0)
    # The gradient version: one logit, binary cross-entropy, Adam.
    logistic = lamina.models.Perceptron(outputs=2, rule="logistic")
    logistic.compile(optimizer="adam", loss="binary_cross_entropy", learning_rate=0.1)
    logistic.fit(points, y, epochs=100, batch_size=4, seed=0, verbose=0)
    print(
        f"{name}: perceptron rule accuracy {accuracy(rosenblatt, y):.2f} "
        f"(last-epoch mistake rate {history.history['mistake_rate'][-1]:.2f}), "
        f"logistic accuracy {accuracy(logistic, y):.2f}"
    )

# A hidden layer fixes XOR.
mlp = lamina.models.MLP(units=(8,), outputs=2, activation="tanh")
mlp.compile(optimizer="adam", loss="cross_entropy", learning_rate=0.05)
mlp.fit(points, labellings["XOR"], epochs=300, batch_size=4, seed=0, verbose=0)
print(
    "test: XOR accuracy, MLP(units=(8,)):",
    float((mlp.predict(points).argmax(1) == labellings["XOR"]).mean()),
)
