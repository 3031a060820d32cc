"""A tiny character-level GPT on a slice of Tiny Shakespeare: train, score, sample, save and reload."""

import numpy as np
from lamina.callbacks import LearningRateScheduler
from lamina.sequences import CharVocabulary, windows

import lamina
from lamina.models.transformer import TransformerLM

data = lamina.datasets.load(
    "tinyshakespeare"
)  # x_train, x_test: str (first 90% / last 10% of the text)
vocabulary = CharVocabulary(data.extra["vocabulary"])  # 65 characters -> ids 0..64
train_ids = vocabulary.encode(data.x_train[:200_000])  # a slice keeps the example fast
validation_ids = vocabulary.encode(data.x_test[:20_000])

x, y = windows(train_ids, 64, stride=32)  # (windows, 64) inputs and the same windows shifted by one
model = TransformerLM(
    vocabulary_size=len(vocabulary), embedding_dim=64, num_heads=4, num_layers=2, max_length=64
)
model.compile(optimizer="adamw", loss="cross_entropy", learning_rate=3e-3, clip_norm=1.0)
model.fit(
    x,
    y,
    epochs=2,
    batch_size=32,
    seed=0,
    verbose=2,
    callbacks=[LearningRateScheduler("warmup", per="step", steps=30, then="cosine")],
)

x_val, y_val = windows(validation_ids, 64)
print("test:", {"validation loss (nats/char)": round(model.evaluate(x_val, y_val)["loss"], 3)})
prompt = vocabulary.encode("ROMEO:\n")
sample = model.generate(prompt, max_new_tokens=200, temperature=0.8, top_k=10, seed=0)
print(vocabulary.decode(sample))

path = model.save("lamina-runs/transformer_shakespeare")
reloaded = lamina.load(path)
print(
    "reloaded generates the same text:",
    np.array_equal(
        sample, reloaded.generate(prompt, max_new_tokens=200, temperature=0.8, top_k=10, seed=0)
    ),
)
