"""``lamina.models.Seq2Seq``: an RNN encoder-decoder on token ids, with Bahdanau or Luong attention.

Special ids (module constants): ``PAD = 0`` pads sources and targets, ``BOS = 1`` starts decoding,
``EOS = 2`` ends a target. Sources are ``(N, T_in)`` ids padded with 0 (``lamina.sequences.pad_sequences``);
targets are ``(N, T_out)``: the output ids, then EOS, then 0-padding. The loss ignores padding.

A bidirectional GRU or LSTM encodes the packed source (padding never enters it); a linear bridge turns
its final states into the decoder's first state. The decoder reads the previous token (the true one under
teacher forcing) and, with attention, a context: the encoder outputs weighted by a softmax in which padded
source steps weigh exactly 0.

* ``attention="bahdanau"`` (Bahdanau et al., 2015): additive scores ``v . tanh(W_q s + W_k h_j)`` from
  the decoder state before the step; the context joins the decoder's input and its output layer.
* ``attention="luong"`` (Luong et al., 2015, "general" scores, no input feeding): scores ``s . (W h_j)``
  from the state after the step; the output layer reads ``tanh(W_c [s; context])``.
* ``attention=None``: the fixed-size encoding of Sutskever et al. (2014) and Cho et al. (2014); without
  attention or with Luong's, a fully teacher-forced decoder runs over all steps in one call.

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

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lamina.core.catalog import registries
from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.nn.layers import Embedding, Layer
from lamina.nn.sequences import lengths
from lamina.train.metrics import Metric, Weight, broadcast_weights, shape_error

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ATTENTIONS", "BOS", "BahdanauAttention", "CELLS", "EOS", "LuongAttention", "PAD", "Seq2Seq",
           "SequenceAccuracy"]

PAD, BOS, EOS = 0, 1, 2  # padding, start of decoding, end of a target
ATTENTIONS = ("bahdanau", "luong")
CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}

State: TypeAlias = "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"  # GRU h or LSTM (h, c), each (layers, N, H)
Memory: TypeAlias = "tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]"  # keys, mask, projected keys


def _attend(scores: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax of ``scores`` (N, Q, T_in) over the real steps of ``mask`` (N, T_in): weights (N, Q, T_in)
    and the context (N, Q, key_size). Padded steps score the lowest float: weight exactly 0, and no NaN."""
    scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, keys), weights


class BahdanauAttention(Layer):
    """Additive attention (Bahdanau et al., 2015): ``score(q, k_j) = v . tanh(W_q q + W_k k_j)``.

    Args:
        query_size: size of a query (a decoder state).
        key_size: size of a key (an encoder output).
        units: size of the hidden layer inside the score.

    ``forward(query (N, Q, query_size), keys (N, T_in, key_size), mask (N, T_in) True at real steps)``
    returns the context (N, Q, key_size) and the weights (N, Q, T_in), 0 at padded steps.

    >>> attention = BahdanauAttention(4, 6, units=8)
    >>> mask = torch.tensor([[True, True, False]])
    >>> context, weights = attention(torch.ones(1, 2, 4), torch.ones(1, 3, 6), mask)
    >>> context.shape, weights[0, :, 2].tolist()
    (torch.Size([1, 2, 6]), [0.0, 0.0])
    """

    def __init__(self, query_size: int, key_size: int, units: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(query_size, units, bias=False)
        self.key_projection = nn.Linear(key_size, units, bias=False)
        self.score = nn.Linear(units, 1, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """The key projection, computed once per source: (N, T_in, key_size) -> (N, T_in, units)."""
        return self.key_projection(keys)  # type: ignore[no-any-return]

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                prepared: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        prepared = self.prepare(keys) if prepared is None else prepared
        hidden = torch.tanh(self.query_projection(query)[:, :, None] + prepared[:, None])  # (N, Q, T_in, units)
        return _attend(self.score(hidden).squeeze(-1), keys, mask)  # scores (N, Q, T_in)


class LuongAttention(Layer):
    """Multiplicative attention, Luong et al.'s (2015) "general" score: ``score(q, k_j) = q . (W k_j)``.

    Args:
        query_size: size of a query (a decoder state).
        key_size: size of a key (an encoder output).

    Shapes as in :class:`BahdanauAttention`.

    >>> LuongAttention(4, 6)(torch.ones(2, 3, 4), torch.ones(2, 5, 6), torch.ones(2, 5, dtype=torch.bool))[1].shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.key_projection = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """``W k_j`` for every key, computed once per source: (N, T_in, key_size) -> (N, T_in, query_size)."""
        return self.key_projection(keys)  # type: ignore[no-any-return]

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                prepared: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        prepared = self.prepare(keys) if prepared is None else prepared
        return _attend(torch.bmm(query, prepared.transpose(1, 2)), keys, mask)  # scores (N, Q, T_in)


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check(sizes: dict[str, Any], attention: Any, cell: Any, dropout: Any, teacher_forcing: Any) -> None:
    for name, value in sizes.items():
        low = 4 if name.endswith("vocabulary_size") else 1  # ids 0, 1, 2 are PAD, BOS, EOS
        if not _is_int(value, low):
            raise ConfigError(message(f"Seq2Seq {name} must be an int >= {low}.", f"{name}={value!r}",
                                      f"an int >= {low}", f"Pass e.g. {name}={13 if low > 1 else 64}."))
    if attention is not None and attention not in ATTENTIONS:
        raise ConfigError(message("Unknown Seq2Seq attention.", repr(attention), f"None or one of {ATTENTIONS}",
                                  "Pass attention='bahdanau', attention='luong', or None for no attention."))
    if cell not in CELLS:
        raise ConfigError(message("Unknown Seq2Seq cell.", repr(cell), f"one of {tuple(CELLS)}",
                                  "Pass cell='gru' or cell='lstm'."))
    for name, value, top in (("dropout", dropout, 0.999999), ("teacher_forcing", teacher_forcing, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= top:
            raise ConfigError(message(f"Seq2Seq {name} out of range.", f"{name}={value!r}",
                                      f"0 <= {name} {'<' if top < 1 else '<='} 1", f"Pass e.g. {name}=0.5."))


def _check_ids(ids: torch.Tensor, vocabulary_size: int, side: str, name: str) -> None:
    """Integer ids (N, T) inside ``[0, vocabulary_size)``; one host sync, before the first batch."""
    if ids.dim() != 2 or ids.is_floating_point():
        raise ShapeError(message(f"Seq2Seq.{name}() takes {side} ids as a 2-D integer array.",
                                 f"shape {tuple(ids.shape)}, dtype {ids.dtype}", f"an int array (N, T_{side})",
                                 "Pad the rows of ids with lamina.sequences.pad_sequences(rows)."))
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocabulary_size:
        raise DataError(message(f"Seq2Seq.{name}() got {side} ids outside the vocabulary.",
                                f"ids from {low} to {high}", f"ids in 0..{vocabulary_size - 1}",
                                f"Pass {side}_vocabulary_size={high + 1} (or more), or re-encode the {side}s."))


def _check_rows(bad: torch.Tensor, what: str, expected: str, fix: str) -> None:
    rows = bad.nonzero()  # (bad rows, 1)
    if len(rows):
        raise DataError(message(what, f"{len(rows)} row(s), first at index {int(rows[0, 0])}", expected, fix))


def _allowed(logits: torch.Tensor) -> torch.Tensor:
    """Logits (N, V) with PAD and BOS ruled out: decoding only emits real tokens and EOS."""
    return logits.index_fill(-1, torch.tensor([PAD, BOS], device=logits.device), float("-inf"))


class Seq2Seq(Model):
    """An encoder-decoder that maps a source id sequence to a target id sequence.

    Args:
        source_vocabulary_size: number of source ids (ids ``0..size - 1``; 0 is padding).
        target_vocabulary_size: number of target ids, including PAD, BOS and EOS (0, 1, 2).
        units: units of each recurrent layer (the encoder has this many per direction).
        embedding_dim: size of the source and target token vectors.
        attention: ``"bahdanau"``, ``"luong"`` or ``None`` (see the module docstring).
        cell: ``"gru"`` or ``"lstm"``.
        num_layers: stacked recurrent layers in the encoder and in the decoder.
        dropout: rate on embeddings, between recurrent layers and before the output layer, in ``[0, 1)``.
        teacher_forcing: during training, the probability of feeding the true previous token at each
            step (else the model's own argmax, "scheduled sampling"); 1.0 always feeds the truth.

    The defaults (13 ids a side) fit ``lamina.datasets.synthetic.digit_sequences``. ``model(source, target)``
    gives teacher-forced logits ``(N, T_out, target_vocabulary_size)``, ``model(source)`` those of greedy
    decoding. ``predict`` returns greedy ids ``(N, max_length)``, 0 after EOS; ``decode`` adds beam search.
    ``max_length`` defaults to the target width seen in ``fit`` (``target_length_``, saved with the
    weights), or twice the source width before any fit.

    >>> Seq2Seq(units=8, embedding_dim=4)(torch.tensor([[3, 4, 0]]), torch.tensor([[4, 3, 2]])).shape
    torch.Size([1, 3, 13])
    """

    _lamina_name = "lamina.models.Seq2Seq"
    target_length_: torch.Tensor

    def __init__(self, source_vocabulary_size: int = 13, target_vocabulary_size: int = 13, units: int = 128,
                 embedding_dim: int = 64, attention: str | None = "bahdanau", cell: str = "gru", *,
                 num_layers: int = 1, dropout: float = 0.0, teacher_forcing: float = 1.0, **renamed: Any) -> None:
        super().__init__()
        refuse_renamed("Seq2Seq", renamed)
        sizes = {"source_vocabulary_size": source_vocabulary_size, "target_vocabulary_size": target_vocabulary_size,
                 "units": units, "embedding_dim": embedding_dim, "num_layers": num_layers}
        _check(sizes, attention, cell, dropout, teacher_forcing)
        self.source_vocabulary_size, self.target_vocabulary_size = source_vocabulary_size, target_vocabulary_size
        self.units, self.embedding_dim, self.attention, self.cell = units, embedding_dim, attention, cell
        self.num_layers, self.dropout, self.teacher_forcing = num_layers, dropout, teacher_forcing
        rnn, between = CELLS[cell], dropout if num_layers > 1 else 0.0
        states = 2 if cell == "lstm" else 1  # (h, c) or h
        self.source_embedding = Embedding(source_vocabulary_size, embedding_dim, padding_idx=PAD)
        self.encoder = rnn(embedding_dim, units, num_layers, batch_first=True, dropout=between, bidirectional=True)
        self.bridge = nn.Linear(2 * units * states, units * states)
        context = 2 * units if attention == "bahdanau" else 0  # Bahdanau feeds the context to the cell
        self.target_embedding = Embedding(target_vocabulary_size, embedding_dim, padding_idx=PAD)
        self.decoder = rnn(embedding_dim + context, units, num_layers, batch_first=True, dropout=between)
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

        Returns ``(keys, mask, state)``: encoder outputs (N, T_in, 2 * hidden_size), 0 at padded steps;
        the mask of real steps (N, T_in); the decoder's first state (layers, N, hidden_size), ``(h, c)`` for LSTM.
        """
        steps = lengths(source).clamp(min=1)  # (N,)
        embedded = self.dropout_layer(self.source_embedding(source))  # (N, T_in, E)
        packed = pack_padded_sequence(embedded, steps.cpu(), batch_first=True, enforce_sorted=False)
        outputs, final = self.encoder(packed)
        keys, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])  # (N, T_in, 2H)
        mask = torch.arange(source.shape[1], device=source.device) < steps[:, None]  # (N, T_in)
        finals = final if isinstance(final, tuple) else (final,)  # each (layers * 2, N, H)
        merged = [f.reshape(self.num_layers, 2, len(source), -1) for f in finals]  # (layers, [fwd, bwd], N, H)
        state = torch.tanh(self.bridge(torch.cat([m[:, i] for m in merged for i in (0, 1)], -1)))  # (layers, N, H*)
        if self.cell == "lstm":
            hidden, cell = state.chunk(2, dim=-1)
            return keys, mask, (hidden.contiguous(), cell.contiguous())
        return keys, mask, state

    def _memory(self, source: torch.Tensor) -> tuple[Memory, State]:
        keys, mask, state = self.encode(source)
        prepared = None if self.attention_layer is None else self.attention_layer.prepare(keys)
        return (keys, mask, prepared), state

    def _decode(self, tokens: torch.Tensor, state: State,
                memory: Memory) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Run the decoder over previous tokens (N, Q) (Q = 1 with Bahdanau attention): logits
        (N, Q, target_vocabulary_size), the new state, attention weights (N, Q, T_in) or None."""
        keys, mask, prepared = memory
        embedded = self.dropout_layer(self.target_embedding(tokens))  # (N, Q, E)
        weights = None
        if isinstance(self.attention_layer, BahdanauAttention):
            top = (state[0] if isinstance(state, tuple) else state)[-1]  # (N, H): last layer, before this step
            context, weights = self.attention_layer(top[:, None], keys, mask, prepared)  # (N, 1, 2H)
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
        """Logits (N, T_out, target_vocabulary_size): teacher-forced on ``target`` (N, T_out), else greedy."""
        if target is None:
            return self._greedy(source, self._max_length(source))[2]
        memory, state = self._memory(source)
        previous = F.pad(target[:, :-1], (1, 0), value=BOS)  # (N, T_out): BOS, then the target shifted right
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

    # ------------------------------------------------------------------ decoding
    def _max_length(self, source: torch.Tensor, max_length: int | None = None) -> int:
        if max_length is not None:
            if not _is_int(max_length, 1):
                raise ConfigError(message("max_length must be a positive int.", repr(max_length), "an int >= 1",
                                          "Pass e.g. max_length=20, or None for the target width seen in fit."))
            return max_length
        seen = int(self.target_length_)
        return seen if seen > 0 else 2 * source.shape[1]

    def _greedy(self, source: torch.Tensor,
                max_length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Greedy decoding: ids (N, L) with PAD after EOS, weights (N, L, T_in) (0 without attention), logits."""
        memory, state = self._memory(source)
        token = torch.full((len(source),), BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros_like(token, dtype=torch.bool)
        ids, weights, logits = [], [], []
        for _ in range(max_length):
            step_logits, state, step_weights = self._decode(token[:, None], state, memory)  # (N, 1, V)
            token = _allowed(step_logits[:, 0]).argmax(-1).masked_fill(finished, PAD)  # (N,)
            finished = finished | (token == EOS)
            ids.append(token)
            logits.append(step_logits[:, 0])
            weights.append(torch.zeros_like(source, dtype=step_logits.dtype) if step_weights is None
                           else step_weights[:, 0] * (token != PAD)[:, None])  # (N, T_in); 0 after EOS
            if bool(finished.all()):
                break
        missing = (0, 0, 0, max_length - len(ids))  # every row ended early: pad the remaining steps
        out = F.pad(torch.stack(ids, 1), missing[2:], value=PAD)
        return out, F.pad(torch.stack(weights, 1), missing), F.pad(torch.stack(logits, 1), missing)

    def _beam_search(self, source: torch.Tensor, beam_width: int,
                     max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search ranked by length-normalised log-probability; returns ids (N, L) and scores (N,)."""
        rows, width = len(source), beam_width
        memory, state = self._memory(source.repeat_interleave(width, 0))  # each row becomes `width` beams
        vocabulary = self.target_vocabulary_size
        total = torch.full((rows, width), float("-inf"), device=source.device)  # summed log-probabilities
        total[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
        length = torch.zeros(rows, width, device=source.device)  # tokens so far, EOS included
        finished = torch.zeros(rows, width, dtype=torch.bool, device=source.device)
        history = torch.zeros(rows, width, 0, dtype=torch.long, device=source.device)
        token = torch.full((rows * width,), BOS, dtype=torch.long, device=source.device)
        frozen = F.pad(torch.full((vocabulary - 1,), float("-inf"), device=source.device), (1, 0))  # PAD costs 0
        for _ in range(max_length):
            logits, state, _ = self._decode(token[:, None], state, memory)  # (N * width, 1, V)
            log_probs = F.log_softmax(_allowed(logits[:, 0]).float(), -1).reshape(rows, width, vocabulary)
            candidates = total[..., None] + torch.where(finished[..., None], frozen, log_probs)  # (N, width, V)
            grown = length + (~finished)  # (N, width)
            normalised = candidates / grown.clamp(min=1)[..., None]
            best = normalised.reshape(rows, -1).topk(width, dim=-1).indices  # (N, width) over width * V
            beam, new_token = best // vocabulary, best % vocabulary
            total = candidates.reshape(rows, -1).gather(1, best)
            length = grown.gather(1, beam)
            finished = finished.gather(1, beam) | (new_token == EOS)
            history = torch.cat([history.gather(1, beam[..., None].expand_as(history)), new_token[..., None]], -1)
            kept = (torch.arange(rows, device=source.device)[:, None] * width + beam).reshape(-1)  # surviving beams
            state = (state[0][:, kept], state[1][:, kept]) if isinstance(state, tuple) else state[:, kept]
            token = new_token.reshape(-1)
            if bool(finished.all()):
                break
        scores = total / length.clamp(min=1)  # (N, width)
        best_beam = scores.argmax(-1)  # (N,)
        ids = history[torch.arange(rows, device=source.device), best_beam]  # (N, steps)
        return F.pad(ids, (0, max_length - ids.shape[1]), value=PAD), scores.amax(-1)

    def _each_batch(self, x: Any, name: str, batch_size: int,
                    fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]) -> list[np.ndarray]:
        """``fn`` on batches of checked source ids, in eval mode; its outputs concatenated as arrays."""
        self._require_built(name)
        (source,) = self._tensors(x, None, name)
        device, was_training = next(self.parameters()).device, self.training
        self.eval()
        with torch.inference_mode():
            outputs = [fn(part.to(device)) for part in source.split(batch_size)]
        self.train(was_training)
        return [np.concatenate([out[i].cpu().numpy() for out in outputs]) for i in range(len(outputs[0]))]

    def decode(self, x: Any, *, beam_width: int = 1, max_length: int | None = None,
               batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Decode sources by beam search (``beam_width=1`` is greedy decoding).

        Args:
            x: source ids (N, T_in), 0-padded.
            beam_width: hypotheses kept per row; 1 keeps only the best continuation at each step.
            max_length: output steps; default the target width seen in ``fit``.
            batch_size: rows decoded at once.

        Returns:
            ``(ids, scores)``: int64 ids (N, max_length), 0 after EOS; float32 scores (N,), the length-normalised
            log-probability (summed over the output tokens, EOS included, divided by their number) by which
            beams are ranked. PAD and BOS are never emitted (probabilities renormalised over the other ids).
        """
        if not _is_int(beam_width, 1):
            raise ConfigError(message("beam_width must be a positive int.", repr(beam_width), "an int >= 1",
                                      "Pass beam_width=1 for greedy decoding or e.g. 4 for beam search."))
        ids, scores = self._each_batch(x, "decode", batch_size, lambda source: self._beam_search(
            source, beam_width, self._max_length(source, max_length)))
        return ids, scores

    def attention_weights(self, x: Any, *, max_length: int | None = None, batch_size: int = 256) -> np.ndarray:
        """Attention of greedy decoding: float32 (N, max_length, T_in), rows summing to 1 up to EOS, then 0."""
        if self.attention_layer is None:
            raise ConfigError(message("This Seq2Seq has no attention.", "attention=None", "'bahdanau' or 'luong'",
                                      "Build the model with Seq2Seq(attention='bahdanau') to inspect attention."))
        return self._each_batch(x, "attention_weights", batch_size, lambda source: self._greedy(
            source, self._max_length(source, max_length))[1:2])[0]

    def plot_attention(self, source: Any, path: str | os.PathLike[str] | None = None, *,
                       source_labels: Any = None, target_labels: Any = None) -> Figure:
        """Heat map of the greedy decoder's attention for one source row (needs matplotlib).

        Args:
            source: one row of source ids (T_in,), 0-padded.
            path: where to write a PNG; None only returns the figure.
            source_labels, target_labels: tick labels indexed by source (target) id; default the ids.

        Returns:
            The figure: one row per output token up to EOS, one column per real source token.
        """
        from lamina.train.plot import new_figure, save_figure

        row = np.asarray(source).reshape(1, -1)
        weights = self.attention_weights(row)[0]  # (L, T_in)
        output = self.predict(row)[0]
        steps = int((output != PAD).sum())
        source_ids = row[0, : int(lengths(torch.as_tensor(row))[0])]
        figure = new_figure(1.5 + 0.35 * len(source_ids), 1.2 + 0.35 * steps)
        axes = figure.add_subplot(xlabel="source", ylabel="output")
        axes.imshow(weights[:steps, : len(source_ids)], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for ticks, ids, labels in ((axes.set_xticks, source_ids, source_labels),
                                   (axes.set_yticks, output[:steps], target_labels)):
            ticks(range(len(ids)), [str(i if labels is None else labels[i]) for i in ids])
        return save_figure(figure, path)

    # ------------------------------------------------------------------ the model contract hooks
    def compile(self, optimizer: Any = "adam", loss: Any = "cross_entropy",  # type: ignore[override]
                metrics: Any = None, **options: Any) -> Model:
        """As :meth:`lamina.Model.compile` (same options), with the token cross-entropy as the default loss."""
        return super().compile(optimizer, loss, metrics, **options)

    def compute_loss(self, y_pred: torch.Tensor, y: torch.Tensor,
                     sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean compiled loss over the real (non-padding) target tokens.

        ``y_pred`` logits (N, T_out, V), ``y`` ids (N, T_out); ``sample_weight`` (N,) or (N, T_out)
        multiplies each token's loss (the denominator stays the number of real tokens).
        """
        try:
            per_token = self.loss_fn(y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1), reduction="none")
        except TypeError:
            raise ConfigError(message("Seq2Seq needs a loss that accepts reduction='none' to skip padding.",
                                      repr(self.loss_fn), "a built-in loss name or fn(y_pred, y, reduction=...)",
                                      "Compile with loss='cross_entropy'.")) from None
        weights = (y != PAD).to(per_token.dtype)  # (N, T_out)
        count = weights.sum().clamp(min=1.0)
        if sample_weight is not None:
            weights = weights * sample_weight.to(weights.dtype).reshape(len(y), -1)
        return (per_token.reshape(y.shape) * weights).sum() / count

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One teacher-forced optimisation step on ``(source, target[, sample_weight])``."""
        source, target = batch[0], batch[1]
        self.target_length_.clamp_(min=target.shape[1])  # the default decoding length (no host sync)
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
        """Any source width works (the base class pins the one seen at build); ``_tensors`` checks the ids."""

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        tensors = super()._tensors(x, y, name)
        _check_ids(tensors[0], self.source_vocabulary_size, "source", name)
        _check_rows(lengths(tensors[0]) == 0, f"Seq2Seq.{name}() got sources of length 0 (all padding).",
                    "at least one non-padding id per source row", "Drop the empty rows.")
        if len(tensors) > 1:
            _check_ids(tensors[1], self.target_vocabulary_size, "target", name)
            _check_rows(~(tensors[1] == EOS).any(1), f"Seq2Seq.{name}() got targets without EOS ({EOS}).",
                        f"each target row: output ids, then EOS ({EOS}), then 0-padding",
                        "Append EOS to every target before padding, e.g. row + [2].")
        return tensors


class SequenceAccuracy(Metric):
    """Exact-sequence accuracy: the fraction of rows whose whole target sequence is right.

    ``y_pred``: teacher-forced logits (N, T, V) as in ``fit``/``evaluate``, or ids (N, T') from ``predict``;
    ``y_true``: ids (N, T), 0-padded. With logits a row counts when the argmax is right at every
    non-padding step, which under teacher forcing is when greedy decoding reproduces the row up to
    its EOS. Ids are 0-padded to one width and compared whole. ``sample_weight``: (N,).

    >>> metric = SequenceAccuracy()
    >>> metric.update(torch.tensor([[4, 3, 2, 0], [4, 4, 2, 0]]), torch.tensor([[4, 3, 2], [4, 3, 2]]))
    >>> metric.compute()
    0.5
    """

    name = "sequence_accuracy"

    def update(self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: Weight = None) -> None:
        target = y_true.detach().long()
        logits = y_pred.is_floating_point()
        if target.dim() != 2 or y_pred.shape[0] != target.shape[0] or (
                y_pred.shape[1:-1] != target.shape[1:] if logits else y_pred.dim() != 2):
            raise shape_error(self, y_pred, y_true, "logits (N, T, V) or ids (N, T') for y_true ids (N, T)")
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


registries["metric"].add("sequence_accuracy", SequenceAccuracy, aliases=("exact_sequence_accuracy",))
