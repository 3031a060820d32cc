"""Transfer learning on the bundled 8x8 digits: pretrain a CNN on 0-4, fine-tune it on a few labelled 5-9s.

The pretrained body gets a new head (``replace_head``) and is fine-tuned (``fine_tune``: one epoch with
the body frozen, then everything with smaller learning rates for earlier layers). A model of the same
architecture trained from scratch on the same images, for as many epochs, is the baseline. On this tiny
test set (179 images of 5-9) the two land within noise of each other (0.87-0.93 over seeds for both); see
the MNIST row in benchmarks/quality/transfer.py for a larger comparison.
"""

import numpy as np

import lamina

(x_train, y_train), (x_test, y_test) = lamina.datasets.load(
    "digits", images=True
)  # x: (N, 1, 8, 8)
x_train, x_test = x_train / 16.0, x_test / 16.0  # pixel values 0..16 -> 0..1


def new_cnn():
    model = lamina.models.CNN(filters=(16, 32), outputs=5, dropout=0.1)
    return model.compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3
    )


# 1. pretrain on every training image of the digits 0-4
source = y_train < 5
pretrained = new_cnn()
pretrained.fit(x_train[source], y_train[source], epochs=10, batch_size=32, seed=0, verbose=0)
print("pretrained on 0-4:", pretrained.evaluate(x_test[y_test < 5], y_test[y_test < 5]))
pretrained_path = pretrained.save("lamina-runs/pretrained_0_4")

# 2. the new task: digits 5-9 (labels 0-4), with only 10 labelled training images per class
rng = np.random.default_rng(0)
few = np.concatenate(
    [rng.choice(np.flatnonzero(y_train == digit), 10, replace=False) for digit in range(5, 10)]
)
x_few, y_few = x_train[few], y_train[few] - 5
target = y_test >= 5
epochs, batch_size = 20, 10

# 3a. fine-tune: the saved pretrained model with a fresh head
tuned = lamina.load(pretrained_path).replace_head(5)
print(
    "head:",
    tuned.head_name(),
    "| trainable after freeze():",
    [name for name, p in tuned.freeze().named_parameters() if p.requires_grad],
)
history = tuned.fine_tune(
    x_few,
    y_few,
    epochs=epochs - 1,
    freeze_epochs=1,
    discriminative=3.0,
    batch_size=batch_size,
    seed=0,
    verbose=0,
)
print("learning rates per layer group:", [f"{g['lr']:.1e}" for g in tuned.optimizer.param_groups])
print("fine-tuned test:", tuned.evaluate(x_test[target], y_test[target] - 5))

# 3b. the same architecture from scratch, same images, epochs and batch size
scratch = new_cnn()
scratch.fit(x_few, y_few, epochs=epochs, batch_size=batch_size, seed=0, verbose=0)
print("scratch test:", scratch.evaluate(x_test[target], y_test[target] - 5))

path = tuned.save("lamina-runs/transfer_digits")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:",
    np.array_equal(tuned.predict(x_test), reloaded.predict(x_test)),
)
