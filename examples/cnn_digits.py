"""A small CNN on the bundled 8x8 digit images, with shift augmentation, saved and reloaded."""

import numpy as np

import lamina

(x_train, y_train), (x_test, y_test) = lamina.datasets.load(
    "digits", images=True
)  # x: (N, 1, 8, 8)
x_train, x_test = x_train / 16.0, x_test / 16.0  # pixel values 0..16 -> 0..1

model = lamina.models.CNN(filters=(16, 32), outputs=10, dropout=0.1, augment={"shift": 1})
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3)
model.fit(x_train, y_train, epochs=15, batch_size=32, validation_split=0.1, seed=0, verbose=2)
model.summary()
print("test:", model.evaluate(x_test, y_test))

path = model.save("lamina-runs/cnn_digits")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:",
    np.array_equal(model.predict(x_test), reloaded.predict(x_test)),
)
