"""An LSTM forecasting the last 24 months of airline passengers from the first 120, saved and reloaded.

The series is log-transformed and seasonally differenced (year-on-year log growth), the model maps
24 months of growth to the next 24, and the forecast is rebuilt month by month.
"""

import numpy as np
from lamina.sequences import forecast_windows

import lamina
from lamina.models.rnn import RNN

series = (
    lamina.datasets.load("airline_passengers").frame.to_numpy().astype(np.float64)
)  # 144 months
train, test = series[:-24], series[-24:]
log = np.log(train)
growth = log[12:] - log[:-12]  # (108,) log y[t] - log y[t-12]: no trend, no season left
mean, std = growth.mean(), growth.std()
x, y = forecast_windows((growth - mean) / std, lookback=24, horizon=24)  # (61, 24) -> (61, 24)

model = RNN("lstm", units=32, task="forecast", horizon=24)
model.compile(optimizer="adam", loss="mse", learning_rate=3e-3)
model.fit(x, y, epochs=150, batch_size=16, seed=0, verbose=0)
model.summary()

last = ((growth[-24:] - mean) / std).astype(np.float32)[
    None
]  # (1, 24): the last two training years
predicted = model.predict(last)[0] * std + mean  # (24,) growth for each test month
levels = list(log)
for value in predicted:
    levels.append(levels[-12] + value)  # log y[t] = log y[t-12] + growth[t]
forecast = np.exp(levels[-24:])
rmse = float(np.sqrt(np.mean((forecast - test) ** 2)))
naive = float(np.sqrt(np.mean((np.concatenate([train[-12:], train[-12:]]) - test) ** 2)))
print(f"test: RMSE {rmse:.1f} thousand passengers (seasonal naive from the same data: {naive:.1f})")

path = model.save("lamina-runs/rnn_forecast")
reloaded = lamina.load(path)
print(
    "reloaded predictions identical:", np.array_equal(model.predict(last), reloaded.predict(last))
)
