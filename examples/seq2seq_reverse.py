"""Reverse rows of digits with an attention encoder-decoder; decode greedily and by beam search; save and reload."""

import numpy as np
from lamina.datasets.synthetic import DIGIT_OFFSET, digit_sequences

from lamina import callbacks, load
from lamina.models.seq2seq import EOS, Seq2Seq

# Ids: 0 padding, 1 start, 2 end, digits 0-9 -> 3..12. Targets are the reversed digits, then EOS.
x_train, y_train = digit_sequences(
    "reverse", rows=2500, min_length=3, max_length=8, seed=0
)  # (2500, 8), (2500, 9)
x_test, y_test = digit_sequences("reverse", rows=300, min_length=3, max_length=8, seed=1)

model = Seq2Seq(units=48, embedding_dim=24, attention="bahdanau")
model.compile(optimizer="adam", metrics=["sequence_accuracy"], learning_rate=5e-3, clip_norm=1.0)
schedule = callbacks.LearningRateScheduler("cosine", per="step")  # decay to 0 over the run
model.fit(x_train, y_train, epochs=4, batch_size=64, callbacks=[schedule], seed=0, verbose=2)


def text(ids: np.ndarray) -> str:
    """The digits of one id row, up to its EOS."""
    digits = []
    for i in ids:
        if i == EOS:
            break
        if i >= DIGIT_OFFSET:
            digits.append(str(i - DIGIT_OFFSET))
    return "".join(digits)


predicted = model.predict(x_test)  # (300, 9): greedy ids, 0 after EOS
print(
    "test:",
    {
        "exact_sequence_accuracy": float((predicted == y_test).all(axis=1).mean()),
        **model.evaluate(x_test, y_test),
    },
)
beam_ids, beam_scores = model.decode(x_test[:3], beam_width=4)
for source, greedy, beam, score in zip(x_test[:3], predicted[:3], beam_ids, beam_scores):
    print(f"{text(source)} -> greedy {text(greedy)}, beam {text(beam)} (mean log-prob {score:.3f})")

path = model.save("lamina-runs/seq2seq_reverse")
reloaded = load(path)
print("reloaded predictions identical:", np.array_equal(reloaded.predict(x_test), predicted))
