"""A deep belief network on an MNIST subset: greedy RBM pretraining, then fine-tuning as a classifier.

Each hidden layer is first trained as an RBM (CD-1) on the layer below; the sigmoid network is then
fine-tuned with Adam. The first RBM's filters and the stack's fantasies are written as PNGs, beside a
network of the same shape trained from random initialisation with the same fine-tuning budget.
(benchmarks/quality/dbn.py runs the full-size comparison.)
"""

import numpy as np

import lamina
from lamina.models.dbn import DBN, RBM

data = lamina.datasets.load("mnist", normalize=True)  # x: (N, 28, 28) float32 in [0, 1]
x_train, y_train = data.x_train[:10000], data.y_train[:10000]
x_test, y_test = data.x_test[:2000], data.y_test[:2000]

# 1. one RBM on its own: reconstruction error per epoch, pseudo-log-likelihood, filters
rbm = RBM(hidden=64).compile(optimizer="momentum", learning_rate=0.05)
history = rbm.fit(x_train, epochs=2, batch_size=64, seed=0, verbose=0)
print("RBM reconstruction error per epoch:", [round(e, 4) for e in history.history["loss"]])
print(
    "RBM pseudo-log-likelihood (test):",
    round(float(rbm.pseudo_log_likelihood(x_test, seed=0).mean()), 2),
)
rbm.plot_filters("rbm_filters.png", count=64)

# 2. a DBN: pretrain each layer for one epoch, then fine-tune the whole network
dbn = DBN(units=(256, 256), outputs=10)
for layer, pretraining in enumerate(dbn.pretrain(x_train, epochs=1, batch_size=64, seed=0)):
    print(
        f"layer {layer} RBM reconstruction error:",
        [round(e, 4) for e in pretraining.history["loss"]],
    )
dbn.plot_filters("dbn_filters.png", count=64)
dbn.plot_samples("dbn_samples.png", n=36, steps=200)
dbn.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
dbn.fit(x_train, y_train, epochs=6, batch_size=64, seed=0, verbose=2)

# 3. the same network from random initialisation, same fine-tuning
scratch = DBN(units=(256, 256), outputs=10)
scratch.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-3)
scratch.fit(x_train, y_train, epochs=6, batch_size=64, seed=0, verbose=0)
print("random init test:", scratch.evaluate(x_test, y_test))
print("test:", dbn.evaluate(x_test, y_test))

path = dbn.save("lamina-runs/dbn_mnist")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:", np.array_equal(dbn.predict(x_test), reloaded.predict(x_test))
)
