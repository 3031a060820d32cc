"""Quality rows: the RNN family (lamina.models.rnn) on a forecast, a 1-D signal set and a character language model."""

from __future__ import annotations

import math

import numpy as np
from lamina.sequences import forecast_windows

import lamina
from benchmarks.quality import Row
from lamina.models.rnn import IGNORE_INDEX, RNN

SEASON = 12  # months


def airline_lstm(
    seeds: tuple[int, ...] = (0, 1, 2), lookback: int = 24, epochs: int = 300
) -> float:
    """Test RMSE (passengers, thousands) of an LSTM forecasting the last 24 months from the first 120.

    The split is the target's: the last 24 of the 144 months (the loader's own ``x_test`` holds 29).
    The whole test period is forecast at once from the end of the training data (``horizon=24``, no
    test value is ever an input). Preprocessing: log, then the seasonal difference
    ``d[t] = log y[t] - log y[t-12]`` (the year-on-year log growth), standardised with the training
    mean and deviation. The model maps ``lookback`` months of ``d`` to the next 24 values; the
    forecast is rebuilt as ``log y[t] = log y[t-12] + d[t]``, month by month. Mean over 3 seeds.

    The target 49.99 is the seasonal naive forecast ``y[t-12]``, which for the second test year reads
    the first test year's actual values; repeating the last training year instead (the same
    information this model has) gives 76.99.
    """
    series = lamina.datasets.load("airline_passengers").frame.to_numpy().astype(np.float64)
    horizon = 24
    train, test = series[:-horizon], series[-horizon:]
    log = np.log(train)
    growth = log[SEASON:] - log[:-SEASON]  # (108,) year-on-year log growth
    mean, std = growth.mean(), growth.std()
    x, y = forecast_windows(
        (growth - mean) / std, lookback, horizon
    )  # (windows, lookback), (windows, horizon)
    scores = []
    for seed in seeds:
        model = RNN("lstm", units=32, task="forecast", horizon=horizon)
        model.compile(optimizer="adam", loss="mse", learning_rate=3e-3)
        model.fit(x, y, epochs=epochs, batch_size=16, seed=seed, verbose=0)
        last = ((growth[-lookback:] - mean) / std).astype(np.float32)[None]  # (1, lookback)
        predicted = model.predict(last)[0] * std + mean  # (24,) growth for each test month
        levels = list(log)
        for step in range(horizon):
            levels.append(levels[-SEASON] + predicted[step])
        scores.append(float(np.sqrt(np.mean((np.exp(levels[-horizon:]) - test) ** 2))))
    return float(np.mean(scores))


def mnist1d_gru() -> float:
    """Test accuracy of a 128-unit GRU reading the 40 points of each MNIST-1D signal, one per step.

    Recipe: inputs standardised with the training mean and deviation, 40 epochs of Adam (lr 3e-3,
    cosine decay per step), batch 64.
    """
    data = lamina.datasets.load("mnist1d")  # x: (4000, 40) train, (1000, 40) test
    mean, std = data.x_train.mean(), data.x_train.std()
    model = RNN("gru", units=128, outputs=10)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=3e-3)
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(
        (data.x_train - mean) / std,
        data.y_train,
        epochs=40,
        batch_size=64,
        callbacks=[schedule],
        seed=0,
        verbose=0,
    )
    return model.evaluate((data.x_test - mean) / std, data.y_test)["accuracy"]


def shakespeare_char_lstm(
    units: int = 512,
    epochs: int = 6,
    stride: int = 50,
    length: int = 100,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    rows: int = 16,
) -> float:
    """Mean cross-entropy (nats) of a character LSTM over every character of the validation text.

    Training: ``task="label"`` next-character prediction on windows of ``length`` characters of
    ``x_train`` (the first 90% of the text) starting every ``stride`` characters; one LSTM layer of
    ``units``, 64-d character embeddings, Adam with gradient clipping (norm 1) and a cosine decay
    per step. Evaluation: each character of ``x_test`` is predicted from the text before it (the
    first from the last training character). The validation text is cut into ``rows``
    non-overlapping windows covering it, ~7,000 characters each; the hidden state is not carried
    across windows, so only the first character of each window starts without context.
    The value is ``log(perplexity)``: the mean over every validation character, not over batches.
    6 epochs (about 12M training characters) take about 6 minutes at 2 threads with bf16 autocast
    (about 60,000 characters per second for 512 units at batch 64 on an AMX CPU).
    """
    data = lamina.datasets.load("tinyshakespeare")
    vocabulary = lamina.sequences.CharVocabulary(
        data.extra["vocabulary"], pad=True
    )  # 65 characters; 0 = padding
    x, y = lamina.sequences.windows(
        vocabulary.encode(data.x_train), length, stride=stride
    )  # (windows, length)
    model = RNN(
        "lstm",
        units=units,
        outputs=len(vocabulary),
        task="label",
        vocabulary_size=len(vocabulary),
        embedding_dim=64,
    )
    model.compile(
        optimizer="adam",
        loss="cross_entropy",
        metrics=["perplexity"],
        learning_rate=learning_rate,
        clip_norm=1.0,
    )
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[schedule],
        seed=0,
        verbose=0,
        precision="bf16",
    )  # bf16 autocast: 2.5-3x the float32 speed of an LSTM on AVX-512 CPUs
    ids = vocabulary.encode(data.x_train[-1] + data.x_test)
    inputs, targets = ids[:-1], ids[1:]  # one target per validation character
    width = -(-len(targets) // rows)
    x_val = np.zeros((rows, width), dtype=np.int64)  # the last row is padded with id 0 ...
    y_val = np.full(
        (rows, width), IGNORE_INDEX, dtype=np.int64
    )  # ... and its padded targets never count
    x_val.reshape(-1)[: len(inputs)], y_val.reshape(-1)[: len(targets)] = inputs, targets
    return math.log(model.evaluate(x_val, y_val, batch_size=4)["perplexity"])


ROWS = [
    Row(
        "Airline passengers / RNN lstm forecaster / test RMSE",
        49.99,
        airline_lstm,
        lower_is_better=True,
    ),
    Row("MNIST-1D / GRU / test acc", 0.95, mnist1d_gru),
    Row(
        "Tiny Shakespeare / char LSTM / full validation loss",
        1.60,
        shakespeare_char_lstm,
        lower_is_better=True,
    ),
]
