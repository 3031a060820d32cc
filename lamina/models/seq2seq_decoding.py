"""Decoding for ``lamina.models.Seq2Seq``: the special ids, greedy decoding and beam search.

Special ids: ``PAD = 0`` pads sources and targets, ``BOS = 1`` starts decoding, ``EOS = 2`` ends a
target; decoding never emits PAD or BOS (:func:`allowed`). :class:`Seq2SeqDecodingMixin` gives the
model ``decode`` (beam search), ``attention_weights`` and ``plot_attention``, on top of its
``_memory`` (the encoded source) and ``_decode`` (decoder steps).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from lamina.core.errors import ConfigError, message
from lamina.nn.sequences import lengths

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BOS", "EOS", "PAD", "Seq2SeqDecodingMixin", "allowed", "is_int"]

PAD, BOS, EOS = 0, 1, 2  # padding, start of decoding, end of a target


def is_int(value: Any, low: int) -> bool:
    """True for an int ``>= low`` (a bool is not an int here).

    >>> is_int(3, 1), is_int(True, 1), is_int(0, 1)
    (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def allowed(logits: torch.Tensor) -> torch.Tensor:
    """Logits (N, V) with PAD and BOS ruled out: decoding only emits real tokens and EOS.

    >>> allowed(torch.zeros(1, 4)).tolist()
    [[-inf, -inf, 0.0, 0.0]]
    """
    return logits.index_fill(-1, torch.tensor([PAD, BOS], device=logits.device), float("-inf"))


class Seq2SeqDecodingMixin:
    """``decode``, ``attention_weights`` and ``plot_attention`` for ``lamina.models.Seq2Seq``."""

    attention_layer: Any
    target_vocabulary_size: int
    target_length_: torch.Tensor
    training: bool
    _memory: Any
    _decode: Any
    _require_built: Any
    _tensors: Any
    predict: Any
    parameters: Any
    eval: Any
    train: Any

    def _max_length(self, source: torch.Tensor, max_length: int | None = None) -> int:
        if max_length is not None:
            if not is_int(max_length, 1):
                raise ConfigError(
                    message(
                        "max_length must be a positive int.",
                        repr(max_length),
                        "an int >= 1",
                        "Pass e.g. max_length=20, or None for the target width seen in fit.",
                    )
                )
            return max_length
        seen = int(self.target_length_)
        return seen if seen > 0 else 2 * source.shape[1]

    def _greedy(
        self, source: torch.Tensor, max_length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Greedy decoding: ids (N, L) with PAD after EOS, weights (N, L, T_in) (0 without
        attention), logits (N, L, V)."""
        memory, state = self._memory(source)
        token = torch.full((len(source),), BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros_like(token, dtype=torch.bool)
        ids, weights, logits = [], [], []
        for _ in range(max_length):
            # step_logits (N, 1, V)
            step_logits, state, step_weights = self._decode(token[:, None], state, memory)
            token = allowed(step_logits[:, 0]).argmax(-1).masked_fill(finished, PAD)  # (N,)
            finished = finished | (token == EOS)
            ids.append(token)
            logits.append(step_logits[:, 0])
            weights.append(
                torch.zeros_like(source, dtype=step_logits.dtype)
                if step_weights is None
                else step_weights[:, 0] * (token != PAD)[:, None]
            )  # (N, T_in); 0 after EOS
            if bool(finished.all()):
                break
        missing = (0, 0, 0, max_length - len(ids))  # every row ended early: pad the remaining steps
        out = F.pad(torch.stack(ids, 1), missing[2:], value=PAD)
        return out, F.pad(torch.stack(weights, 1), missing), F.pad(torch.stack(logits, 1), missing)

    def _beam_search(
        self, source: torch.Tensor, beam_width: int, max_length: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search ranked by length-normalised log-probability; returns ids (N, L) and scores
        (N,)."""
        rows, width = len(source), beam_width
        # each row becomes `width` beams
        memory, state = self._memory(source.repeat_interleave(width, 0))
        vocabulary = self.target_vocabulary_size
        # summed log-probabilities
        total = torch.full((rows, width), float("-inf"), device=source.device)
        total[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
        length = torch.zeros(rows, width, device=source.device)  # tokens so far, EOS included
        finished = torch.zeros(rows, width, dtype=torch.bool, device=source.device)
        history = torch.zeros(rows, width, 0, dtype=torch.long, device=source.device)
        token = torch.full((rows * width,), BOS, dtype=torch.long, device=source.device)
        # a finished beam only grows by PAD, which costs 0
        frozen = F.pad(torch.full((vocabulary - 1,), float("-inf"), device=source.device), (1, 0))
        for _ in range(max_length):
            logits, state, _ = self._decode(token[:, None], state, memory)  # (N * width, 1, V)
            log_probs = F.log_softmax(allowed(logits[:, 0]).float(), -1).reshape(
                rows, width, vocabulary
            )
            # (N, width, V)
            candidates = total[..., None] + torch.where(finished[..., None], frozen, log_probs)
            grown = length + (~finished)  # (N, width)
            normalised = candidates / grown.clamp(min=1)[..., None]
            # (N, width) over width * V
            best = normalised.reshape(rows, -1).topk(width, dim=-1).indices
            beam, new_token = best // vocabulary, best % vocabulary
            total = candidates.reshape(rows, -1).gather(1, best)
            length = grown.gather(1, beam)
            finished = finished.gather(1, beam) | (new_token == EOS)
            history = torch.cat(
                [history.gather(1, beam[..., None].expand_as(history)), new_token[..., None]], -1
            )
            # the surviving beams
            kept = (torch.arange(rows, device=source.device)[:, None] * width + beam).reshape(-1)
            if isinstance(state, tuple):
                state = (state[0][:, kept], state[1][:, kept])
            else:
                state = state[:, kept]
            token = new_token.reshape(-1)
            if bool(finished.all()):
                break
        scores = total / length.clamp(min=1)  # (N, width)
        best_beam = scores.argmax(-1)  # (N,)
        ids = history[torch.arange(rows, device=source.device), best_beam]  # (N, steps)
        return F.pad(ids, (0, max_length - ids.shape[1]), value=PAD), scores.amax(-1)

    def _each_batch(
        self,
        x: Any,
        name: str,
        batch_size: int,
        fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
    ) -> list[np.ndarray]:
        """``fn`` on batches of checked source ids, in eval mode; its outputs concatenated as
        arrays."""
        self._require_built(name)
        (source,) = self._tensors(x, None, name)
        device, was_training = next(self.parameters()).device, self.training
        self.eval()
        with torch.inference_mode():
            outputs = [fn(part.to(device)) for part in source.split(batch_size)]
        self.train(was_training)
        return [
            np.concatenate([out[i].cpu().numpy() for out in outputs])
            for i in range(len(outputs[0]))
        ]

    def decode(
        self, x: Any, *, beam_width: int = 1, max_length: int | None = None, batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decode sources by beam search (``beam_width=1`` is greedy decoding).

        Args:
            x: source ids (N, T_in), 0-padded.
            beam_width: hypotheses kept per row; 1 keeps only the best continuation at each step.
            max_length: output steps; default the target width seen in ``fit``.
            batch_size: rows decoded at once.

        Returns:
            ``(ids, scores)``: int64 ids (N, max_length), 0 after EOS; float32 scores (N,), the
            length-normalised log-probability (summed over the output tokens, EOS included, divided
            by their number) by which beams are ranked. PAD and BOS are never emitted
            (probabilities renormalised over the other ids).
        """
        if not is_int(beam_width, 1):
            raise ConfigError(
                message(
                    "beam_width must be a positive int.",
                    repr(beam_width),
                    "an int >= 1",
                    "Pass beam_width=1 for greedy decoding or e.g. 4 for beam search.",
                )
            )
        ids, scores = self._each_batch(
            x,
            "decode",
            batch_size,
            lambda source: self._beam_search(
                source, beam_width, self._max_length(source, max_length)
            ),
        )
        return ids, scores

    def attention_weights(
        self, x: Any, *, max_length: int | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """Attention of greedy decoding: float32 (N, max_length, T_in), rows summing to 1 up to
        EOS, then 0."""
        if self.attention_layer is None:
            raise ConfigError(
                message(
                    "This Seq2Seq has no attention.",
                    "attention=None",
                    "'bahdanau' or 'luong'",
                    "Build the model with Seq2Seq(attention='bahdanau') to inspect attention.",
                )
            )
        return self._each_batch(
            x,
            "attention_weights",
            batch_size,
            lambda source: self._greedy(source, self._max_length(source, max_length))[1:2],
        )[0]

    def plot_attention(
        self,
        source: Any,
        path: str | os.PathLike[str] | None = None,
        *,
        source_labels: Any = None,
        target_labels: Any = None,
    ) -> Figure:
        """Heat map of the greedy decoder's attention for one source row (needs matplotlib).

        Args:
            source: one row of source ids (T_in,), 0-padded.
            path: where to write a PNG; None only returns the figure.
            source_labels, target_labels: tick labels indexed by source (target) id; default the
                ids.

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
        axes.imshow(
            weights[:steps, : len(source_ids)], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto"
        )
        for ticks, ids, labels in (
            (axes.set_xticks, source_ids, source_labels),
            (axes.set_yticks, output[:steps], target_labels),
        ):
            ticks(range(len(ids)), [str(i if labels is None else labels[i]) for i in ids])
        return save_figure(figure, path)
