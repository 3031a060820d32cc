"""An MLP on the bundled 8x8 digits: batch norm, dropout, saved and reloaded."""

import numpy as np

import lamina

(x_train, y_train), (x_test, y_test) = lamina.datasets.load("digits")
x_train, x_test = x_train / 16.0, x_test / 16.0  # pixel values 0..16 -> 0..1

model = lamina.models.MLP(units=(128, 64), outputs=10, activation="relu", dropout=0.1, norm="batch")
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1, seed=0, verbose=2)
model.summary()
print("test:", model.evaluate(x_test, y_test))

path = model.save("lamina-runs/mlp_digits")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:",
    np.array_equal(model.predict(x_test), reloaded.predict(x_test)),
)
