"""Level 1: a Keras-simple classifier on the bundled digits, saved and reloaded."""

import lamina

(x_train, y_train), (x_test, y_test) = lamina.datasets.load("digits")
x_train, x_test = x_train / 16.0, x_test / 16.0  # pixel values 0..16 -> 0..1

model = lamina.Sequential(
    [
        lamina.layers.Dense(64, activation="relu"),
        lamina.layers.Dropout(0.1),
        lamina.layers.Dense(10),
    ]
)
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=20, batch_size=32, validation_split=0.1, seed=0)
model.summary()
print("test:", model.evaluate(x_test, y_test))

path = model.save("lamina-runs/quickstart")
reloaded = lamina.load(path)
print("reloaded test:", reloaded.evaluate(x_test, y_test))
