"""A graph convolutional network (GCN) classifies the papers of the Cora citation graph, saved and reloaded.

Needs torch_geometric (pip install "lamina[graph]") and the Cora files in LAMINA_DATA (see lamina.datasets).
"""

import functools

import numpy as np
import torch

import lamina
from lamina.models.gnn import GCN, to_graph

# 2,708 papers (nodes) with 1,433 word features, 10,556 directed citation edges and the Planetoid masks:
# 140 training nodes, 500 validation nodes, 1,000 test nodes.
graph = to_graph(lamina.datasets.load("cora"), normalize=True)  # each feature row sums to 1
print(graph)

# The published recipe: 16 hidden units, dropout 0.5, Adam with lr 0.01 and weight decay 5e-4.
model = GCN(units=16, outputs=7, dropout=0.5)
adam = functools.partial(torch.optim.Adam, lr=0.01, weight_decay=5e-4)
model.compile(optimizer=adam, loss="cross_entropy", metrics=["accuracy"])
history = model.fit(
    graph, epochs=200, seed=0, verbose=0
)  # full batch: one step per epoch on the train_mask nodes
print(
    f"epoch 200: loss {history.history['loss'][-1]:.3f}, val_accuracy {history.history['val_accuracy'][-1]:.3f}"
)
print("test:", model.evaluate(graph, mask="test"))  # the 1,000 nodes of graph.test_mask

path = model.save("lamina-runs/gnn_cora")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:", np.array_equal(model.predict(graph), reloaded.predict(graph))
)
