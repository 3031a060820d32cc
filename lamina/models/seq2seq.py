"""``lamina.models.Seq2Seq``: an RNN encoder-decoder on token ids, with Bahdanau or Luong attention.

Special ids (module constants): ``PAD = 0`` pads sources and targets, ``BOS = 1`` starts decoding,
``EOS = 2`` ends a target. Sources are ``(N, T_in)`` ids padded with 0
(``lamina.sequences.pad_sequences``); targets are ``(N, T_out)``: the output ids, then EOS, then
0-padding. The loss ignores padding.

A bidirectional GRU or LSTM encodes the packed source (padding never enters it); a linear bridge
turns its final states into the decoder's first state. The decoder reads the previous token (the
true one under teacher forcing) and, with attention, a context: the encoder outputs weighted by a
softmax in which padded source steps weigh exactly 0.

* ``attention="bahdanau"`` (Bahdanau et al., 2015): additive scores ``v . tanh(W_q s + W_k h_j)``
  from the decoder state before the step; the context joins the decoder's input and its output
  layer.
* ``attention="luong"`` (Luong et al., 2015, "general" scores, no input feeding): scores
  ``s . (W h_j)`` from the state after the step; the output layer reads ``tanh(W_c [s; context])``.
* ``attention=None``: the fixed-size encoding of Sutskever et al. (2014) and Cho et al. (2014);
  without attention or with Luong's, a fully teacher-forced decoder runs over all steps in one call.

The attention layers live in ``lamina.models.seq2seq_attention``, greedy decoding and beam search
in ``lamina.models.seq2seq_decoding``; this module re-exports their public names.

>>> from lamina.datasets.synthetic import digit_sequences
>>> x, y = digit_sequences("reverse", rows=64, min_length=2, max_length=4)  # x: (64, 4), y: (64, 5)
>>> model = Seq2Seq(units=16, embedding_dim=8).compile(metrics=["sequence_accuracy"])
>>> history = model.fit(x, y, epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(64, 5)
>>> ids, scores = model.decode(x[:3], beam_width=2)
>>> ids.shape, scores.shape
((3, 5), (3,))
"""

from __future__ import annotations

from typing import Any, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lamina.core.catalog import registries
from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.models.seq2seq_attention import ATTENTIONS, BahdanauAttention, LuongAttention
from lamina.models.seq2seq_decoding import BOS, EOS, PAD, Seq2SeqDecodingMixin, is_int
from lamina.nn.layers import Embedding
from lamina.nn.sequences import lengths
from lamina.train.metrics import Metric, Weight, broadcast_weights, shape_error

__all__ = [
    "ATTENTIONS",
    "BOS",
    "BahdanauAttention",
    "CELLS",
    "EOS",
    "LuongAttention",
    "PAD",
    "Seq2Seq",
    "SequenceAccuracy",
]

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}

# GRU h or LSTM (h, c), each (layers, N, H)
State: TypeAlias = "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"
# keys, mask, projected keys
Memory: TypeAlias = "tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]"


def _check(
    sizes: dict[str, Any], attention: Any, cell: Any, dropout: Any, teacher_forcing: Any
) -> None:
    for name, value in sizes.items():
        low = 4 if name.endswith("vocabulary_size") else 1  # ids 0, 1, 2 are PAD, BOS, EOS
        if not is_int(value, low):
            raise ConfigError(
                message(
                    f"Seq2Seq {name} must be an int >= {low}.",
                    f"{name}={value!r}",
                    f"an int >= {low}",
                    f"Pass e.g. {name}={13 if low > 1 else 64}.",
                )
            )
    if attention is not None and attention not in ATTENTIONS:
        raise ConfigError(
            message(
                "Unknown Seq2Seq attention.",
                repr(attention),
                f"None or one of {ATTENTIONS}",
                "Pass attention='bahdanau', attention='luong', or None for no attention.",
            )
        )
    if cell not in CELLS:
        raise ConfigError(
            message(
                "Unknown Seq2Seq cell.",
                repr(cell),
                f"one of {tuple(CELLS)}",
                "Pass cell='gru' or cell='lstm'.",
            )
        )
    for name, value, top in (
        ("dropout", dropout, 0.999999),
        ("teacher_forcing", teacher_forcing, 1.0),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0.0 <= value <= top
        ):
            raise ConfigError(
                message(
                    f"Seq2Seq {name} out of range.",
                    f"{name}={value!r}",
                    f"0 <= {name} {'<' if top < 1 else '<='} 1",
                    f"Pass e.g. {name}=0.5.",
                )
            )


def _check_ids(ids: torch.Tensor, vocabulary_size: int, side: str, name: str) -> None:
    """Integer ids (N, T) inside ``[0, vocabulary_size)``; one host sync, before the first batch."""
    if ids.dim() != 2 or ids.is_floating_point():
        raise ShapeError(
            message(
                f"Seq2Seq.{name}() takes {side} ids as a 2-D integer array.",
                f"shape {tuple(ids.shape)}, dtype {ids.dtype}",
                f"an int array (N, T_{side})",
                "Pad the rows of ids with lamina.sequences.pad_sequences(rows).",
            )
        )
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocabulary_size:
        raise DataError(
            message(
                f"Seq2Seq.{name}() got {side} ids outside the vocabulary.",
                f"ids from {low} to {high}",
                f"ids in 0..{vocabulary_size - 1}",
                f"Pass {side}_vocabulary_size={high + 1} (or more), or re-encode the {side}s.",
            )
        )


def _check_rows(bad: torch.Tensor, what: str, expected: str, fix: str) -> None:
    rows = bad.nonzero()  # (bad rows, 1)
    if len(rows):
        raise DataError(
            message(what, f"{len(rows)} row(s), first at index {int(rows[0, 0])}", expected, fix)
        )


class Seq2Seq(Seq2SeqDecodingMixin, Model):
    """An encoder-decoder that maps a source id sequence to a target id sequence.

    Args:
        source_vocabulary_size: number of source ids (ids ``0..size - 1``; 0 is padding).
        target_vocabulary_size: number of target ids, including PAD, BOS and EOS (0, 1, 2).
        units: units of each recurrent layer (the encoder has this many per direction).
        embedding_dim: size of the source and target token vectors.
        attention: ``"bahdanau"``, ``"luong"`` or ``None`` (see the module docstring).
        cell: ``"gru"`` or ``"lstm"``.
        num_layers: stacked recurrent layers in the encoder and in the decoder.
        dropout: rate on embeddings, between recurrent layers and before the output layer, in
            ``[0, 1)``.
        teacher_forcing: during training, the probability of feeding the true previous token at each
            step (else the model's own argmax, "scheduled sampling"); 1.0 always feeds the truth.

    The defaults (13 ids a side) fit ``lamina.datasets.synthetic.digit_sequences``.
    ``model(source, target)`` gives teacher-forced logits ``(N, T_out, target_vocabulary_size)``,
    ``model(source)`` those of greedy decoding. ``predict`` returns greedy ids ``(N, max_length)``,
    0 after EOS; ``decode`` adds beam search. ``max_length`` defaults to the target width seen in
    ``fit`` (``target_length_``, saved with the weights), or twice the source width before any fit.

    >>> model = Seq2Seq(units=8, embedding_dim=4)
    >>> model(torch.tensor([[3, 4, 0]]), torch.tensor([[4, 3, 2]])).shape
    torch.Size([1, 3, 13])
    """

    _lamina_name = "lamina.models.Seq2Seq"
    target_length_: torch.Tensor

    def __init__(
        self,
        source_vocabulary_size: int = 13,
        target_vocabulary_size: int = 13,
        units: int = 128,
        embedding_dim: int = 64,
        attention: str | None = "bahdanau",
        cell: str = "gru",
        *,
        num_layers: int = 1,
        dropout: float = 0.0,
        teacher_forcing: float = 1.0,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("Seq2Seq", renamed)
        sizes = {
            "source_vocabulary_size": source_vocabulary_size,
            "target_vocabulary_size": target_vocabulary_size,
            "units": units,
            "embedding_dim": embedding_dim,
            "num_layers": num_layers,
        }
        _check(sizes, attention, cell, dropout, teacher_forcing)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.units, self.embedding_dim = units, embedding_dim
        self.attention, self.cell = attention, cell
        self.num_layers, self.dropout, self.teacher_forcing = num_layers, dropout, teacher_forcing
        rnn, between = CELLS[cell], dropout if num_layers > 1 else 0.0
        states = 2 if cell == "lstm" else 1  # (h, c) or h
        self.source_embedding = Embedding(source_vocabulary_size, embedding_dim, padding_idx=PAD)
        self.encoder = rnn(
            embedding_dim, units, num_layers, batch_first=True, dropout=between, bidirectional=True
        )
        self.bridge = nn.Linear(2 * units * states, units * states)
        context = 2 * units if attention == "bahdanau" else 0  # Bahdanau feeds it to the cell
        self.target_embedding = Embedding(target_vocabulary_size, embedding_dim, padding_idx=PAD)
        self.decoder = rnn(
            embedding_dim + context, units, num_layers, batch_first=True, dropout=between
        )
        self.attention_layer: BahdanauAttention | LuongAttention | None = None
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(units, 2 * units, units)
        elif attention == "luong":
            self.attention_layer = LuongAttention(units, 2 * units)
            self.combine = nn.Linear(3 * units, units)
        self.dropout_layer = nn.Dropout(dropout)
        self.output = nn.Linear(units + context, target_vocabulary_size)
        self.register_buffer("target_length_", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ the network
    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Encode 0-padded source ids (N, T_in); an all-padding row is read as one padding step.

        Returns ``(keys, mask, state)``: encoder outputs (N, T_in, 2 * hidden_size), 0 at padded
        steps; the mask of real steps (N, T_in); the decoder's first state (layers, N, hidden_size),
        ``(h, c)`` for LSTM.
        """
        steps = lengths(source).clamp(min=1)  # (N,)
        embedded = self.dropout_layer(self.source_embedding(source))  # (N, T_in, E)
        packed = pack_padded_sequence(embedded, steps.cpu(), batch_first=True, enforce_sorted=False)
        outputs, final = self.encoder(packed)
        # (N, T_in, 2H)
        keys, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        mask = torch.arange(source.shape[1], device=source.device) < steps[:, None]  # (N, T_in)
        finals = final if isinstance(final, tuple) else (final,)  # each (layers * 2, N, H)
        # each (layers, [fwd, bwd], N, H)
        merged = [f.reshape(self.num_layers, 2, len(source), -1) for f in finals]
        # (layers, N, H*)
        state = torch.tanh(self.bridge(torch.cat([m[:, i] for m in merged for i in (0, 1)], -1)))
        if self.cell == "lstm":
            hidden, cell = state.chunk(2, dim=-1)
            return keys, mask, (hidden.contiguous(), cell.contiguous())
        return keys, mask, state

    def _memory(self, source: torch.Tensor) -> tuple[Memory, State]:
        keys, mask, state = self.encode(source)
        prepared = None if self.attention_layer is None else self.attention_layer.prepare(keys)
        return (keys, mask, prepared), state

    def _decode(
        self, tokens: torch.Tensor, state: State, memory: Memory
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Run the decoder over previous tokens (N, Q) (Q = 1 with Bahdanau attention): logits
        (N, Q, target_vocabulary_size), the new state, attention weights (N, Q, T_in) or None."""
        keys, mask, prepared = memory
        embedded = self.dropout_layer(self.target_embedding(tokens))  # (N, Q, E)
        weights = None
        if isinstance(self.attention_layer, BahdanauAttention):
            # (N, H): the last layer, before this step
            top = (state[0] if isinstance(state, tuple) else state)[-1]
            # context (N, 1, 2H)
            context, weights = self.attention_layer(top[:, None], keys, mask, prepared)
            output, state = self.decoder(torch.cat([embedded, context], -1), state)  # (N, 1, H)
            features = torch.cat([output, context], -1)  # (N, 1, 3H)
        else:
            output, state = self.decoder(embedded, state)  # (N, Q, H)
            features = output
            if self.attention_layer is not None:
                context, weights = self.attention_layer(output, keys, mask, prepared)  # (N, Q, 2H)
                features = torch.tanh(self.combine(torch.cat([output, context], -1)))  # (N, Q, H)
        return self.output(self.dropout_layer(features)), state, weights

    def forward(self, source: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, T_out, target_vocabulary_size): teacher-forced on ``target`` (N, T_out), else
        greedy."""
        if target is None:
            return self._greedy(source, self._max_length(source))[2]
        memory, state = self._memory(source)
        # (N, T_out): BOS, then the target shifted right
        previous = F.pad(target[:, :-1], (1, 0), value=BOS)
        sampling = self.training and self.teacher_forcing < 1.0
        if not sampling and self.attention != "bahdanau":
            return self._decode(previous, state, memory)[0]  # every step in one call
        steps: list[torch.Tensor] = []
        for t in range(previous.shape[1]):
            token = previous[:, t]
            if sampling and t > 0:  # scheduled sampling: the model's own last guess, per row
                truth = torch.rand(len(token), device=token.device) < self.teacher_forcing
                token = torch.where(truth, token, steps[-1].argmax(-1))
            logits, state, _ = self._decode(token[:, None], state, memory)  # (N, 1, V)
            steps.append(logits[:, 0])
        return torch.stack(steps, dim=1)

    # ------------------------------------------------------------------ the model contract hooks
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = "cross_entropy",
        metrics: Any = None,
        **options: Any,
    ) -> Model:
        """As :meth:`lamina.Model.compile` (same options), with the token cross-entropy as the
        default loss."""
        return super().compile(optimizer, loss, metrics, **options)

    def compute_loss(
        self, y_pred: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean compiled loss over the real (non-padding) target tokens.

        ``y_pred`` logits (N, T_out, V), ``y`` ids (N, T_out); ``sample_weight`` (N,) or (N, T_out)
        multiplies each token's loss (the denominator stays the number of real tokens).
        """
        try:
            per_token = self.loss_fn(
                y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1), reduction="none"
            )
        except TypeError:
            raise ConfigError(
                message(
                    "Seq2Seq needs a loss that accepts reduction='none' to skip padding.",
                    repr(self.loss_fn),
                    "a built-in loss name or fn(y_pred, y, reduction=...)",
                    "Compile with loss='cross_entropy'.",
                )
            ) from None
        weights = (y != PAD).to(per_token.dtype)  # (N, T_out)
        count = weights.sum().clamp(min=1.0)
        if sample_weight is not None:
            weights = weights * sample_weight.to(weights.dtype).reshape(len(y), -1)
        return (per_token.reshape(y.shape) * weights).sum() / count

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One teacher-forced optimisation step on ``(source, target[, sample_weight])``."""
        source, target = batch[0], batch[1]
        # the default decoding length (no host sync)
        self.target_length_.clamp_(min=target.shape[1])
        with self.engine.autocast():
            logits = self(source, target)
            loss = self.compute_loss(logits, target, self._weights(batch, target))
        self.engine.optimize(self, loss)
        self.update_metrics(logits.detach(), target)
        return {"loss": loss.detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Teacher-forced loss and metrics on ``(source, target)``."""
        logits = self(batch[0], batch[1])
        self.update_metrics(logits, batch[1])
        return {"loss": self.compute_loss(logits, batch[1])}

    def predict_step(self, x: Any) -> torch.Tensor:
        """Greedy ids (N, max_length), 0 after EOS."""
        return self._greedy(x, self._max_length(x))[0]

    def _check_input(self, x: torch.Tensor) -> None:
        """Any source width works (the base class pins the one seen at build); ``_tensors`` checks
        the ids."""

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        tensors = super()._tensors(x, y, name)
        _check_ids(tensors[0], self.source_vocabulary_size, "source", name)
        _check_rows(
            lengths(tensors[0]) == 0,
            f"Seq2Seq.{name}() got sources of length 0 (all padding).",
            "at least one non-padding id per source row",
            "Drop the empty rows.",
        )
        if len(tensors) > 1:
            _check_ids(tensors[1], self.target_vocabulary_size, "target", name)
            _check_rows(
                ~(tensors[1] == EOS).any(1),
                f"Seq2Seq.{name}() got targets without EOS ({EOS}).",
                f"each target row: output ids, then EOS ({EOS}), then 0-padding",
                "Append EOS to every target before padding, e.g. row + [2].",
            )
        return tensors


class SequenceAccuracy(Metric):
    """Exact-sequence accuracy: the fraction of rows whose whole target sequence is right.

    ``y_pred``: teacher-forced logits (N, T, V) as in ``fit``/``evaluate``, or ids (N, T') from
    ``predict``; ``y_true``: ids (N, T), 0-padded. With logits a row counts when the argmax is right
    at every non-padding step, which under teacher forcing is when greedy decoding reproduces the
    row up to its EOS. Ids are 0-padded to one width and compared whole. ``sample_weight``: (N,).

    >>> metric = SequenceAccuracy()
    >>> predicted = torch.tensor([[4, 3, 2, 0], [4, 4, 2, 0]])
    >>> metric.update(predicted, torch.tensor([[4, 3, 2], [4, 3, 2]]))
    >>> metric.compute()
    0.5
    """

    name = "sequence_accuracy"

    def update(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None
    ) -> None:
        target = y_true.detach().long()
        logits = y_pred.is_floating_point()
        if (
            target.dim() != 2
            or y_pred.shape[0] != target.shape[0]
            or (y_pred.shape[1:-1] != target.shape[1:] if logits else y_pred.dim() != 2)
        ):
            raise shape_error(
                self, y_pred, y_true, "logits (N, T, V) or ids (N, T') for y_true ids (N, T)"
            )
        correct, count = self._zeros(y_pred.device, (), ())
        if logits:
            hit = ((y_pred.detach().argmax(-1) == target) | (target == PAD)).all(-1)  # (N,)
        else:
            width = max(y_pred.shape[1], target.shape[1])
            predicted = F.pad(y_pred.detach().long(), (0, width - y_pred.shape[1]), value=PAD)
            hit = (predicted == F.pad(target, (0, width - target.shape[1]), value=PAD)).all(-1)
        weight = broadcast_weights(sample_weight, hit.shape, correct)
        correct += (weight * hit).sum()
        count += weight.sum()


registries["metric"].add(
    "sequence_accuracy", SequenceAccuracy, aliases=("exact_sequence_accuracy",)
)
