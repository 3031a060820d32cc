"""``lamina.models.RNN``: recurrent networks (simple RNN, LSTM, GRU) for sequences and time series.

One class covers three tasks, picked by ``task``:

* ``"classify"``: one output row per sequence, read from the final hidden state (the last real
  step of each row; with ``bidirectional`` the backward direction's state after step 0 is joined);
* ``"label"``: one output row per step, ``(N, T, outputs)`` (tagging, character language models);
* ``"forecast"``: the next ``horizon`` values of a series from a window of ``lookback`` steps,
  ``(N, horizon)`` for one target series or ``(N, horizon, outputs)`` for several.

Inputs are float sequences ``(N, T, features)`` (``(N, T)`` is one feature), or integer token ids
``(N, T)`` when ``vocabulary_size`` is given (an embedding layer; id 0 is padding).

Padding. Rows of a batch may have different lengths: pad them at the end with 0 (id 0, or an
all-zero step for floats; see ``lamina.sequences.pad_sequences``). A row's length is one past its
last non-padding step (``lamina.sequences.lengths``), and the rows run packed
(``torch.nn.utils.rnn.pack_padded_sequence``), so padding never changes a row's output. A trailing
all-zero float step therefore counts as padding: shift or scale data whose real steps can be
exactly zero. ``fit``, ``evaluate`` and ``predict`` refuse a row with no real step (a ``DataError``
naming it); called directly, the model reads such a row as one padding step.

Labelling targets. Integer targets at padded steps never count in the loss or the metrics: steps
past a row's length are ignored, and so is any step whose target is ``-100`` (``IGNORE_INDEX``,
torch's ``ignore_index``), so ``pad_sequences(labels, value=-100)`` pads targets safely.

>>> import lamina
>>> x = lamina.sequences.pad_sequences([[3, 1, 2], [2, 2], [1, 3, 3, 1]])  # (3, 4) ids, 0 = padding
>>> model = RNN(cell="gru", units=8, outputs=2, vocabulary_size=4)
>>> model = model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
>>> history = model.fit(x, [1, 0, 1], epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(3, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models._names import check_dropout
from lamina.models.base import Model
from lamina.nn.layers import Dense, Dropout, Embedding
from lamina.nn.sequences import lengths

__all__ = ["IGNORE_INDEX", "RNN"]

CELLS: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TASKS = ("classify", "label", "forecast")
IGNORE_INDEX = -100  # a labelling target that never counts (torch's ignore_index)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check(
    cell: Any,
    units: Any,
    outputs: Any,
    task: Any,
    num_layers: Any,
    bidirectional: Any,
    dropout: Any,
    horizon: Any,
    vocabulary_size: Any,
    embedding_dim: Any,
) -> None:
    if not isinstance(cell, str) or cell not in CELLS:
        raise ConfigError(
            message(
                "Unknown RNN cell.",
                repr(cell),
                f"one of {', '.join(map(repr, CELLS))}",
                "Pass cell='lstm' (or 'gru', or 'rnn' for a simple tanh RNN).",
            )
        )
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(
            message(
                "Unknown RNN task.",
                repr(task),
                f"one of {', '.join(map(repr, TASKS))}",
                "Pass task='classify' (one output per sequence), 'label' (one per step) "
                "or 'forecast' (the next `horizon` values).",
            )
        )
    for name, value, example in (
        ("units", units, 64),
        ("outputs", outputs, 10),
        ("num_layers", num_layers, 2),
        ("horizon", horizon, 12),
    ):
        if not _positive_int(value):
            raise ConfigError(
                message(
                    f"RNN {name} must be a positive int.",
                    f"{name}={value!r}",
                    "an int >= 1",
                    f"Pass e.g. {name}={example}.",
                )
            )
    if not isinstance(bidirectional, bool):
        raise ConfigError(
            message(
                "RNN bidirectional must be a bool.",
                f"bidirectional={bidirectional!r}",
                "True or False",
                "Pass bidirectional=True to read each row both ways.",
            )
        )
    check_dropout("RNN", dropout)
    if horizon != 1 and task != "forecast":
        raise ConfigError(
            message(
                "horizon is only used with task='forecast'.",
                f"task={task!r}, horizon={horizon}",
                "horizon=1 for 'classify' and 'label'",
                "Pass task='forecast' or drop horizon.",
            )
        )
    if vocabulary_size is not None and (not _positive_int(vocabulary_size) or vocabulary_size < 2):
        raise ConfigError(
            message(
                "RNN vocabulary_size must be an int >= 2 (id 0 is padding).",
                f"vocabulary_size={vocabulary_size!r}",
                "None for float inputs, or an int >= 2",
                "Pass len(vocabulary) of a vocabulary built with pad=True.",
            )
        )
    if embedding_dim is not None and (vocabulary_size is None or not _positive_int(embedding_dim)):
        raise ConfigError(
            message(
                "RNN embedding_dim sizes the token vectors of an id input.",
                f"embedding_dim={embedding_dim!r}, vocabulary_size={vocabulary_size!r}",
                "a positive int together with vocabulary_size",
                "Pass vocabulary_size too, or drop embedding_dim for float inputs.",
            )
        )


class RNN(Model):
    """A stack of recurrent layers (``torch.nn.RNN``/``LSTM``/``GRU``) and a linear output layer.

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (simple tanh RNN).
        units: hidden size of each recurrent layer (per direction).
        outputs: classes (or regression values) per sequence for ``"classify"``, per step for
            ``"label"``; for ``"forecast"``, the number of target series (1 gives ``(N, horizon)``).
        task: ``"classify"``, ``"label"`` or ``"forecast"`` (see the module docstring).
        num_layers: stacked recurrent layers.
        bidirectional: also read each row backwards and join both directions (``2 * units``
            features).
        dropout: rate between stacked layers and before the output layer, in ``[0, 1)``.
        horizon: values forecast per series (``task="forecast"`` only).
        vocabulary_size: for integer token-id inputs ``(N, T)``: the number of ids, padding id 0
            included (ids in ``[0, vocabulary_size)``); None for float inputs.
        embedding_dim: size of the token vectors (default ``units``); needs ``vocabulary_size``.

    Input ``(N, T, features)``, ``(N, T)`` floats (one feature) or ``(N, T)`` ids. Output
    ``(N, outputs)`` (classify), ``(N, T, outputs)`` (label), ``(N, horizon)`` or
    ``(N, horizon, outputs)`` (forecast). The recurrent layer takes its input size from the first
    batch.

    >>> RNN(units=8, outputs=3, task="label", bidirectional=True)(torch.rand(2, 5, 4)).shape
    torch.Size([2, 5, 3])
    >>> RNN(cell="gru", units=8, task="forecast", horizon=6, num_layers=2)(torch.rand(2, 24)).shape
    torch.Size([2, 6])
    """

    _lamina_name = "lamina.models.RNN"

    def __init__(
        self,
        cell: str = "lstm",
        units: int = 64,
        outputs: int = 1,
        task: str = "classify",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        *,
        horizon: int = 1,
        vocabulary_size: int | None = None,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        _check(
            cell,
            units,
            outputs,
            task,
            num_layers,
            bidirectional,
            dropout,
            horizon,
            vocabulary_size,
            embedding_dim,
        )
        self.cell, self.units, self.outputs, self.task = cell, units, outputs, task
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.horizon, self.vocabulary_size, self.embedding_dim = (
            horizon,
            vocabulary_size,
            embedding_dim,
        )
        self.embedding = (
            None
            if vocabulary_size is None
            else Embedding(vocabulary_size, embedding_dim or units, padding_idx=0)
        )
        self.recurrent: nn.RNNBase | None
        self.register_module(
            "recurrent", None
        )  # made on the first batch, when the input size is known
        width = outputs * horizon if task == "forecast" else outputs
        self.head = nn.Sequential(*([Dropout(dropout)] if dropout else []), Dense(width))

    def _make_recurrent(self, x: torch.Tensor) -> nn.RNNBase:
        self.recurrent = CELLS[self.cell](
            input_size=x.shape[-1],
            hidden_size=self.units,
            num_layers=self.num_layers,
            batch_first=True,
            dropout=self.dropout if self.num_layers > 1 else 0.0,
            bidirectional=self.bidirectional,
            device=x.device,
            dtype=x.dtype,
        )
        return self.recurrent

    def _sequences(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input; returns ``(N, T)`` ids or ``(N, T, features)`` floats."""
        if self.vocabulary_size is not None:
            if x.dim() != 2 or x.is_floating_point() or x.shape[1] == 0:
                raise ShapeError(
                    message(
                        "An RNN with vocabulary_size takes integer token ids (N, T).",
                        f"{x.dtype} of shape {tuple(x.shape)}",
                        "int64 ids of shape (N, T), T >= 1",
                        "Encode tokens as ids (e.g. lamina.sequences.CharVocabulary), "
                        "or drop vocabulary_size for float features.",
                    )
                )
            if _host_check(
                x
            ):  # fit/evaluate/predict check the ids once, before the data moves to the device
                _check_ids(x, self.vocabulary_size)
            return x
        x = x if x.is_floating_point() else x.float()
        x = x.unsqueeze(-1) if x.dim() == 2 else x  # (N, T) -> (N, T, 1)
        if x.dim() != 3 or x.shape[1] == 0:
            raise ShapeError(
                message(
                    "RNN takes sequences (N, T, features) or (N, T).",
                    f"shape {tuple(x.shape)}",
                    "a 2-D or 3-D batch with T >= 1 steps",
                    "Reshape to (rows, steps, features); windows of a series come from "
                    "lamina.sequences.forecast_windows.",
                )
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._sequences(x)  # (N, T) ids or (N, T, F)
        steps = lengths(x).clamp(min=1)  # (N,); a row with no real step runs as one padding step
        x = x if self.embedding is None else self.embedding(x)  # (N, T) ids -> (N, T, E)
        recurrent = self.recurrent if self.recurrent is not None else self._make_recurrent(x)
        if x.shape[-1] != recurrent.input_size:
            raise ShapeError(
                message(
                    "The input has a different number of features than the RNN was built for.",
                    f"{x.shape[-1]} features (shape {tuple(x.shape)})",
                    f"{recurrent.input_size} features",
                    "Pass the same features as during fit.",
                )
            )
        total = x.shape[1]
        if not self.bidirectional:
            # One direction: padding comes after each row's last real step, so the output at
            # step length-1 is the packed result, with no lengths copied to the host.
            out, _ = recurrent(x)  # (N, T, units)
            if self.task == "label":
                real = torch.arange(total, device=x.device) < steps[:, None]  # (N, T)
                return self.head(
                    out * real[..., None].to(out.dtype)
                )  # zeros after each length, as packed
            last = out[
                torch.arange(len(x), device=x.device), steps - 1
            ]  # (N, units): each row's last real step
            return self._output(last)
        host_steps = (
            steps.cpu()
        )  # pack_padded_sequence needs the lengths on the host (a sync off the CPU)
        if bool((host_steps == total).all()):  # no padding: the plain (faster) path
            out, state = recurrent(x)
        else:
            packed = pack_padded_sequence(x, host_steps, batch_first=True, enforce_sorted=False)
            out, state = recurrent(packed)
            out = pad_packed_sequence(out, batch_first=True, total_length=total)[
                0
            ]  # zeros after each length
        if self.task == "label":
            return self.head(out)  # (N, T, D * units) -> (N, T, outputs)
        hidden = (
            state[0] if isinstance(state, tuple) else state
        )  # LSTM: (h, c); (layers * 2, N, units)
        final = (
            hidden[-2:].transpose(0, 1).reshape(len(x), -1)
        )  # last layer: (2, N, units) -> (N, 2 * units)
        return self._output(final)

    def _output(self, final: torch.Tensor) -> torch.Tensor:
        """The output layer on each row's final state ``(N, D * units)``."""
        y = self.head(final)  # (N, outputs) or (N, horizon * outputs)
        if self.task == "forecast" and self.outputs > 1:
            y = y.reshape(
                len(final), self.horizon, self.outputs
            )  # (N, horizon * outputs) -> (N, horizon, outputs)
        return y  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ data checks (fit, predict)
    def _check_input(self, x: torch.Tensor) -> None:
        """Only the features must match the fitted ones: the number of steps may change."""
        spec = self.input_spec_
        if spec is not None and (
            x.dim() != len(spec["shape"]) or list(x.shape[2:]) != spec["shape"][2:]
        ):
            raise ShapeError(
                message(
                    "The input's features differ from the ones the model was fitted on.",
                    f"shape {(None, None, *x.shape[2:])}",
                    f"shape {(None, None, *spec['shape'][2:])} (any steps)",
                    "Pass data with the same features, in the same order, as during fit.",
                )
            )

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        tensors = super()._tensors(x, y, name)
        if (
            self.vocabulary_size is not None
            and tensors[0].dim() == 2
            and not tensors[0].is_floating_point()
        ):
            _check_ids(tensors[0], self.vocabulary_size)
        _check_rows(tensors[0], f"{name}()")
        if (
            self.task == "label"
            and len(tensors) > 1
            and tuple(tensors[1].shape[:2]) != tuple(tensors[0].shape[:2])
        ):
            raise ShapeError(
                message(
                    "task='label' needs one target per step.",
                    f"x of shape {tuple(tensors[0].shape)}, y of shape {tuple(tensors[1].shape)}",
                    "y of shape (N, T) (class ids) with x of shape (N, T[, features])",
                    "Pad the targets like the inputs: pad_sequences(labels, value=-100).",
                )
            )
        return tensors

    # ------------------------------------------------------------------ labelling skips padding
    def _masked(self, batch: Any) -> Any:
        """``(x, y, ...)`` with integer labelling targets set to ``IGNORE_INDEX`` past each row's
        length."""
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            return batch
        x, y = batch[0], batch[1]
        if _host_check(
            x
        ):  # in-memory data was checked once at entry; this covers DataLoaders on the CPU
            _check_rows(x, "This batch")
        if self.task != "label" or y.is_floating_point() or y.dim() < 2:
            return batch
        padded = torch.arange(y.shape[1], device=y.device) >= lengths(x)[:, None]  # (N, T)
        return (x, y.masked_fill(padded, IGNORE_INDEX), *batch[2:])

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The default gradient step; labelling targets at padded steps are ignored."""
        return super().train_step(self._masked(batch))

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The default evaluation step; labelling targets at padded steps are ignored."""
        return super().test_step(self._masked(batch))

    def predict_step(self, x: Any) -> torch.Tensor:
        """The model output for one batch; a row with no real step raises ``DataError`` (CPU
        batches)."""
        if _host_check(x):
            _check_rows(x, "This batch")
        return super().predict_step(x)

    def _labels(self, y_pred: torch.Tensor, y: torch.Tensor) -> bool:
        return self.task == "label" and y_pred.dim() == 3 and not y.is_floating_point()

    def compute_loss(
        self, y_pred: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The compiled loss; for labelling, the mean over the steps whose target is not
        ``IGNORE_INDEX``.

        Labelling: ``y_pred`` ``(N, T, C)``, ``y`` ``(N, T)``; with ``sample_weight`` ``(N,)`` each
            step
        weighs its row's weight. The loss must skip ``-100`` targets (``cross_entropy`` and ``nll``
        do).
        """
        if not self._labels(y_pred, y):
            return super().compute_loss(y_pred, y, sample_weight)
        flat_pred, flat_y = y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1)  # (N*T, C), (N*T,)
        if sample_weight is None:
            return self.loss_fn(flat_pred, flat_y)
        try:
            losses = self.loss_fn(flat_pred, flat_y, reduction="none").reshape(
                y.shape
            )  # (N, T), 0 where ignored
        except (
            TypeError
        ):  # a loss without `reduction`: the base class raises its standard ConfigError
            return super().compute_loss(y_pred, y, sample_weight)
        real = (y != IGNORE_INDEX).to(losses.dtype)
        weights = sample_weight.to(losses.dtype)[:, None] * real
        return (losses * weights).sum() / real.sum().clamp(min=1)

    def update_metrics(self, y_pred: torch.Tensor, y: torch.Tensor) -> None:
        """Feed one batch to the compiled metrics; labelling steps with target ``IGNORE_INDEX``
        weigh 0."""
        if not self._labels(y_pred, y):
            return super().update_metrics(y_pred, y)
        real = y != IGNORE_INDEX
        for metric in self._compiled["metric_objs"] if self._compiled else ():
            metric.update(y_pred, y.clamp(min=0), sample_weight=real)
        return None

    def _check_targets(self, out: Any, y: torch.Tensor) -> None:
        super()._check_targets(
            out, y[y != IGNORE_INDEX] if self.task == "label" and not y.is_floating_point() else y
        )


def _check_rows(x: Any, where: str) -> None:
    """Raise ``DataError`` naming the first row of ``x`` that is all padding (length 0)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[1] == 0:
        return
    empty = (lengths(x) == 0).nonzero()
    if len(empty):
        first = int(empty[0, 0])
        raise DataError(
            message(
                f"{where} has a row with no real step: row {first} is all padding (length 0).",
                f"{len(empty)} empty row(s), first at row index {first}",
                "every row with at least one non-padding step (id != 0, or a step not all 0.0)",
                f"Drop row {first} (and the other empty rows) before calling.",
            )
        )


def _check_ids(x: torch.Tensor, vocabulary_size: int) -> None:
    """Raise ``DataError`` when a token id falls outside ``0..vocabulary_size-1``."""
    if not x.numel():
        return
    low, high = (int(v) for v in torch.aminmax(x))
    if low < 0 or high >= vocabulary_size:
        raise DataError(
            message(
                "Token ids outside the vocabulary.",
                f"ids from {low} to {high}",
                f"ids in 0..{vocabulary_size - 1} (0 = padding)",
                f"Pass vocabulary_size={high + 1} or more, or re-encode the tokens.",
            )
        )


def _host_check(x: Any) -> bool:
    """True when a data check on ``x`` is free: a CPU tensor outside ``torch.compile`` tracing."""
    return (
        isinstance(x, torch.Tensor) and x.device.type == "cpu" and not torch.compiler.is_compiling()
    )
