"""Word vectors from a slice of Tiny Shakespeare: train skip-gram, look up neighbours, plot, save and reload."""

import numpy as np
import torch

import lamina
from lamina.models.word2vec import Word2Vec

torch.set_num_threads(1)  # each step works on small tensors: a second thread only adds overhead

data = lamina.datasets.load(
    "tinyshakespeare"
)  # x_train, x_test: str (first 90% / last 10% of the text)
text = data.x_train[:300_000]  # a slice keeps the example fast (about 65k tokens)

model = Word2Vec(embedding_dim=50, window=4, mode="skipgram", negative=5, min_count=5)
model.compile(optimizer="adam", learning_rate=1e-2)
history = model.fit(text, epochs=3, batch_size=256, seed=0, verbose=2)
print(f"{len(model.vocabulary_)} ids (words seen at least 5 times, plus <pad> and <unk>)")

for word in ["king", "lord", "thou", "good", "death"]:
    print(f"{word:>6}:", ", ".join(f"{w} ({s:.2f})" for w, s in model.most_similar(word, topn=5)))
print(
    "test:",
    {
        "king~queen": round(model.similarity("king", "queen"), 3),
        "king~sword": round(model.similarity("king", "sword"), 3),
    },
)

layer = (
    model.embedding_layer()
)  # frozen vectors for a downstream model: ids from model.vocabulary_.encode
print("embedding layer:", tuple(layer.weight.shape))

path = model.save("lamina-runs/word2vec_shakespeare")
model.plot_words(
    ["king", "queen", "lord", "lady", "father", "mother", "thou", "thee", "day", "night"],
    "lamina-runs/word2vec_words.png",
)
reloaded = lamina.load(path)
print(
    "reloaded vectors are identical:", np.array_equal(reloaded.vector("king"), model.vector("king"))
)
