"""``lamina.models.Word2Vec``: word vectors from raw text, by skip-gram or CBOW with negative
sampling.

Each word of the text is a *center*; the words up to ``window`` places before and after it (inside
the same document) are its *context*. Skip-gram scores every (center, context) pair; CBOW scores the
mean of the context vectors against the center. Each true pair is set against ``negative`` noise
words drawn from the unigram distribution raised to the power 0.75, and the loss per pair is::

    -log sigmoid(v . u_true) - sum_k log sigmoid(-v . u_noise_k)

with ``v`` the input vector (of the center for skip-gram, the context mean for CBOW) and ``u`` the
output vectors (Mikolov et al., 2013). ``fit`` takes text alone (no ``y``): the vocabulary is
learned on the first fit, from the words seen ``min_count`` times; other words are dropped from the
text.

>>> from lamina.models.word2vec import Word2Vec
>>> text = "the king rules the land . the queen rules the land . " * 20
>>> model = Word2Vec(embedding_dim=8, window=2, min_count=1).compile(learning_rate=0.05)
>>> history = model.fit(text, epochs=2, verbose=0, seed=0)
>>> len(model.vocabulary_), model.vector("king").shape
(8, (8,))
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.core import catalog as registry
from lamina.core.errors import ConfigError, DataError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.models.word2vec_vectors import WordVectorsMixin
from lamina.nn.sequences import pad_sequences
from lamina.nn.tensors import WordVocabulary, to_tensor, tokenize
from lamina.train.callbacks import History

if TYPE_CHECKING:
    pass

__all__ = ["Word2Vec", "context_windows", "negative_sampling_loss", "skipgram_pairs"]

MODES = ("skipgram", "cbow")


def negative_sampling_loss(
    scores: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy on logits, summed over the last axis: the negative-sampling loss per
    row.

    Args:
        scores: logits ``(P, 1 + negative)``: the true word first, then the noise words.
        labels: ``(P, 1 + negative)``, 1 for the true word and 0 for noise.
        reduction: ``"mean"`` or ``"sum"`` over rows, or ``"none"`` for the ``(P,)`` row losses.

    Returns:
        ``-log sigmoid(s_0) - sum_k log sigmoid(-s_k)`` per row, reduced; registered as the loss
        ``"negative_sampling"``.
    """
    rows = F.binary_cross_entropy_with_logits(
        scores, labels.to(scores.dtype), reduction="none"
    ).sum(-1)
    return {"mean": rows.mean, "sum": rows.sum}.get(reduction, lambda: rows)()


registry.registries["loss"].add("negative_sampling", negative_sampling_loss, overwrite=True)


def context_windows(documents: Sequence[Any], window: int) -> np.ndarray:
    """One row per word of every document: the ``window`` ids before it, its own id, the ``window``
    after.

    Args:
        documents: id sequences (one per document); id 0 is padding and must not occur in them.
        window: context words on each side.

    Returns:
        ``(words, 2 * window + 1)`` int64 ids; places outside the word's document are 0, so a
        window never crosses into the next document.

    >>> context_windows([[5, 6, 7], [8]], 1).tolist()
    [[0, 5, 6], [5, 6, 7], [6, 7, 0], [0, 8, 0]]
    """
    rows = [np.asarray(ids, dtype=np.int64).reshape(-1) for ids in documents]
    gap = np.zeros(window, dtype=np.int64)
    stream = np.concatenate(
        [gap, *(np.concatenate([ids, gap]) for ids in rows)]
    )  # docs separated by padding
    is_word = np.concatenate(
        [gap.astype(bool), *(np.r_[np.ones(len(ids), bool), gap.astype(bool)] for ids in rows)]
    )
    centers = np.flatnonzero(is_word)
    return stream[centers[:, None] + np.arange(-window, window + 1)]  # (words, 2 * window + 1)


def _split(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centers ``(N,)``, contexts ``(N, 2W)`` and each context place's distance to the center
    ``(2W,)``."""
    w = windows.shape[1] // 2
    distance = torch.cat([torch.arange(w, 0, -1), torch.arange(1, w + 1)]).to(windows.device)
    return windows[:, w], torch.cat([windows[:, :w], windows[:, w + 1 :]], 1), distance


def _context_mask(windows: torch.Tensor, reach: torch.Tensor | None) -> torch.Tensor:
    """``(N, 2W)``: True where a context place holds a word, within ``reach``, of a row whose center
    is a word."""
    centers, contexts, distance = _split(windows)
    mask = (contexts != 0) & (centers != 0)[:, None]
    return mask if reach is None else mask & (distance[None, :] <= reach[:, None])


def skipgram_pairs(
    windows: torch.Tensor, reach: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (center, context) id pairs of ``windows``, built with tensor ops.

    Args:
        windows: ``(N, 2W + 1)`` ids from :func:`context_windows` (0 is padding; a row whose center
            is 0 gives no pairs).
        reach: ``(N,)`` window size per row, in ``1..W``; default ``W`` for every row.

    Returns:
        ``(centers, contexts)``, two ``(P,)`` id tensors, row by row, each row's contexts left to
        right.

    >>> centers, contexts = skipgram_pairs(torch.tensor([[0, 5, 6], [5, 6, 7]]))
    >>> centers.tolist(), contexts.tolist()
    ([5, 6, 6], [6, 5, 7])
    """
    mask = _context_mask(windows, reach)
    centers, contexts, _ = _split(windows)
    return centers[:, None].expand_as(contexts)[mask], contexts[mask]


def _labels(scores: torch.Tensor) -> torch.Tensor:
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1  # the true word; the other columns are noise
    return labels


class Word2Vec(WordVectorsMixin, Model):
    """Word vectors trained with negative sampling on text (skip-gram or CBOW).

    Args:
        embedding_dim: the size of each word vector.
        window: context words on each side of a center word. During training each center draws its
            own window size in ``1..window``, so nearer words count more (as in word2vec).
        mode: ``"skipgram"`` (predict each context word from the center) or ``"cbow"`` (predict the
            center from the mean of its context).
        negative: noise words per true word, drawn from unigram counts ** 0.75.
        min_count: the vocabulary keeps words seen at least this often on the first ``fit``.
        subsample: the threshold ``t`` for dropping frequent words: a word of frequency ``f`` is
            kept with probability ``(sqrt(f / t) + 1) * t / f``, drawn anew at each step; 0 keeps
            all.
        max_size: keep at most this many words (the most frequent).

    Learned: ``vocabulary_`` (a ``lamina.data.WordVocabulary``, saved with the model), the input
    vectors ``input_vectors`` ``(len(vocabulary_), dim)`` (the word vectors; rows 0 ``<pad>`` and
    1 ``<unk>`` stay zero) and the output vectors ``output_vectors`` of the same shape.

    ``forward``/``predict`` map rows of word ids ``(N, T)`` (or texts) to the mean vector of their
    known words ``(N, dim)``. Compile with the default loss ``"negative_sampling"``; the optimizer
    updates both vector tables (Adam with ``learning_rate`` from 1e-3 to 1e-2 works well).

    >>> Word2Vec(embedding_dim=50, mode="cbow")
    lamina.models.Word2Vec()
    """

    _lamina_name = "lamina.models.Word2Vec"
    _keep: torch.Tensor
    _noise: torch.Tensor

    def __init__(
        self,
        embedding_dim: int = 100,
        window: int = 5,
        mode: str = "skipgram",
        negative: int = 5,
        min_count: int = 5,
        *,
        subsample: float = 1e-3,
        max_size: int | None = None,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("Word2Vec", renamed)
        dim = embedding_dim
        if mode not in MODES:
            raise ConfigError(
                message(
                    "Unknown Word2Vec mode.",
                    repr(mode),
                    "'skipgram' or 'cbow'",
                    "Pass mode='skipgram' (better for rare words) or mode='cbow' (faster).",
                )
            )
        for name, value in (
            ("embedding_dim", dim),
            ("window", window),
            ("negative", negative),
            ("min_count", min_count),
            ("max_size", 1 if max_size is None else max_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    message(
                        f"Word2Vec {name} must be a positive int.",
                        f"{name}={value!r}",
                        "an int >= 1",
                        f"Pass e.g. {name}=5.",
                    )
                )
        if (
            isinstance(subsample, bool)
            or not isinstance(subsample, (int, float))
            or not 0 <= subsample < 1
        ):
            raise ConfigError(
                message(
                    "Word2Vec subsample must be a frequency threshold.",
                    f"subsample={subsample!r}",
                    "a number in [0, 1), e.g. 1e-3 (0 keeps every word)",
                    "Pass subsample=1e-3.",
                )
            )
        self.embedding_dim, self.window, self.mode, self.negative = dim, window, mode, negative
        self.min_count, self.subsample, self.max_size = min_count, subsample, max_size
        self.vocabulary_: WordVocabulary | None = None
        self.input_vectors: torch.Tensor = (
            nn.UninitializedParameter()
        )  # sized by the vocabulary on the first fit
        self.output_vectors: torch.Tensor = nn.UninitializedParameter()
        self.register_buffer(
            "_keep", torch.ones(0), persistent=False
        )  # (V,) subsampling keep probability
        self.register_buffer(
            "_noise", torch.ones(0), persistent=False
        )  # (V,) noise weights: counts ** 0.75

    # ------------------------------------------------------------------ vocabulary and state
    def get_extra_state(self) -> dict[str, Any] | None:
        """The vocabulary as JSON (saved in the model's manifest)."""
        return None if self.vocabulary_ is None else {"vocabulary": self.vocabulary_.get_config()}

    def set_extra_state(self, state: Any) -> None:
        """Restore the vocabulary; the vector tables are (re)made only when their size changes."""
        if not state:
            return
        self.vocabulary_ = WordVocabulary.from_config(state["vocabulary"])
        device = self._keep.device
        counts = torch.tensor(self.vocabulary_.counts, dtype=torch.float64, device=device)
        frequency, t = counts / counts.sum(), self.subsample
        keep = ((frequency / t).sqrt() + 1) * t / frequency if t else torch.ones_like(counts)
        self._keep = torch.where(counts > 0, keep.clamp(max=1), 1.0).float()
        self._noise = (counts**0.75).float()
        size = (len(self.vocabulary_), self.embedding_dim)
        if (
            isinstance(self.input_vectors, nn.UninitializedParameter)
            or self.input_vectors.shape != size
        ):
            self.input_vectors = nn.Parameter(torch.zeros(size, device=device))
            self.output_vectors = nn.Parameter(torch.zeros(size, device=device))

    # ------------------------------------------------------------------ data
    @staticmethod
    def _documents(x: Any) -> list[list[str]]:
        """Token lists from a text, a list of texts or a list of token lists."""
        if isinstance(x, str):
            return [tokenize(x)]
        if isinstance(x, (list, tuple)) and all(isinstance(d, str) for d in x):
            return [tokenize(d) for d in x]
        if isinstance(x, (list, tuple)) and all(
            isinstance(d, (list, tuple)) and all(isinstance(w, str) for w in d) for d in x
        ):
            return [list(d) for d in x]
        raise DataError(
            message(
                "Word2Vec reads text.",
                f"{type(x).__name__} {str(x)[:60]}",
                "a str, a list of str (one document each) or a list of token lists",
                "Pass the text itself, e.g. open(path).read(), or lamina.data.tokenize(text).",
            )
        )

    def windows(self, x: Any) -> np.ndarray:
        """The training rows for ``x``: ``(words, 2 * window + 1)`` ids (:func:`context_windows`).

        Words outside the vocabulary are dropped first, as word2vec does.
        """
        vocabulary = self._vocabulary("windows")
        ids = [row[row > 1] for row in map(vocabulary.encode, self._documents(x))]
        if not sum(map(len, ids)):
            raise DataError(
                message(
                    "The text has no word of the vocabulary.",
                    f"{str(x)[:60]!r}",
                    "text with words seen during the first fit",
                    "Pass more (or other) text.",
                )
            )
        return context_windows(ids, self.window)

    # ------------------------------------------------------------------ training
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = "negative_sampling",
        metrics: Sequence[Any] | None = None,
        **options: Any,
    ) -> Word2Vec:
        """``Model.compile`` with the negative-sampling loss as default. Returns the model."""
        super().compile(optimizer, loss, metrics, **options)
        return self

    def fit(
        self,
        x: Any,
        y: Any = None,
        *,
        epochs: int = 1,  # type: ignore[override]
        batch_size: int = 256,
        **options: Any,
    ) -> History:
        """Learn the vocabulary (first fit only) and the vectors from text. Returns a ``History``.

        Args:
            x: a text (one document), a list of texts or a list of token lists (one document each;
                context windows stay inside a document). Texts are split by
                ``lamina.data.tokenize``.
            y: must be None: the text is its own target.
            epochs: passes over the text.
            batch_size: center words per step.
            **options: other ``Model.fit`` options (``seed``, ``verbose``, ``callbacks``,
                ``device``, ``validation_split``, ``validation_data`` as text, ...).
        """
        self._compiled_or_raise("fit")
        if y is not None:
            raise ConfigError(
                message(
                    "Word2Vec.fit() takes no y: words are predicted from their neighbours.",
                    f"y of type {type(y).__name__}",
                    "y=None",
                    "Call model.fit(text).",
                )
            )
        documents = self._documents(x)
        if not any(documents):
            raise DataError(
                message(
                    "Word2Vec.fit() got no words.",
                    repr(x)[:60],
                    "text with at least one word",
                    "Check the text you loaded.",
                )
            )
        if self.vocabulary_ is None:
            vocabulary = WordVocabulary(
                itertools.chain.from_iterable(documents),
                min_count=self.min_count,
                max_size=self.max_size,
            )
            if len(vocabulary) == 2:
                raise DataError(
                    message(
                        f"No word appears min_count={self.min_count} times.",
                        f"{sum(map(len, documents))} tokens",
                        "at least one frequent enough word",
                        "Pass more text or a smaller min_count.",
                    )
                )
            self.set_extra_state({"vocabulary": vocabulary.get_config()})
            generator = (
                torch.Generator().manual_seed(options["seed"])
                if options.get("seed") is not None
                else None
            )
            with (
                torch.no_grad()
            ):  # word2vec's start: small random input vectors, zero output vectors
                bound = 0.5 / self.embedding_dim
                self.input_vectors.uniform_(-bound, bound, generator=generator)[:2] = 0
        if options.get("validation_data") is not None:
            options["validation_data"] = self.windows(options["validation_data"])
        return super().fit(self.windows(documents), epochs=epochs, batch_size=batch_size, **options)

    def logits(
        self, windows: torch.Tensor, reach: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of the true words and of fresh noise words for a batch of windows.

        Args:
            windows: ``(N, 2W + 1)`` ids (:meth:`windows`).
            reach: ``(N,)`` window size per row; default the full window.

        Returns:
            ``(scores, candidates)``, both ``(P, 1 + negative)``: ``candidates[:, 0]`` is the true
            word (skip-gram: each context word of :func:`skipgram_pairs`, in order; CBOW: the center
            of each row that has a context) and the other columns are noise ids; ``scores`` are the
            dot products of the input vector with the candidates' output vectors.
        """
        if self.mode == "skipgram":
            centers, targets = skipgram_pairs(windows, reach)
            inputs = F.embedding(centers, self.input_vectors)  # (P, dim)
        else:
            mask = _context_mask(windows, reach)
            targets, contexts, _ = _split(windows)
            rows = mask.any(1)
            weights = (mask / mask.sum(1, keepdim=True).clamp(min=1))[
                rows
            ]  # (P, 2W): the mean over the context
            inputs = (weights.unsqueeze(-1) * F.embedding(contexts[rows], self.input_vectors)).sum(
                1
            )  # (P, dim)
            targets = targets[rows]
        draws = len(targets) * self.negative
        noise = torch.multinomial(self._noise, max(draws, 1), replacement=True)[
            :draws
        ]  # (torch refuses 0 draws)
        candidates = torch.cat(
            [targets[:, None], noise.view(len(targets), self.negative)], 1
        )  # (P, 1 + negative)
        scores = (F.embedding(candidates, self.output_vectors) * inputs.unsqueeze(1)).sum(
            -1
        )  # (P, 1 + negative)
        return scores, candidates

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One step on a batch of windows, with subsampling and a random window size per center."""
        windows = batch[0]
        if (
            self.subsample
        ):  # drop frequent words (each place independently), turning them into padding
            windows = windows * (
                torch.rand(windows.shape, device=windows.device) < self._keep[windows]
            )
        reach = torch.randint(1, self.window + 1, (len(windows),), device=windows.device)
        with self.engine.autocast():
            scores, _ = self.logits(windows, reach)
            if not len(scores):  # every word of the batch was dropped: nothing to learn or log
                return {}
            loss = self.compute_loss(scores, _labels(scores))
        self.optimize(loss)
        return {"loss": loss.detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The loss on a batch of windows: full window, no subsampling, fresh noise words."""
        scores, _ = self.logits(batch[0])
        return {"loss": self.compute_loss(scores, _labels(scores))}

    # ------------------------------------------------------------------ vectors
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """The mean input vector of each row's words: ids ``(N,)`` or ``(N, T)`` -> ``(N, dim)``.

        ``<pad>`` (0) and ``<unk>`` (1) are skipped; a row with neither known word gives zeros.
        """
        ids = ids.reshape(len(ids), -1)  # (N, T)
        known = (ids > 1).unsqueeze(-1).to(self.input_vectors.dtype)  # (N, T, 1)
        return (F.embedding(ids, self.input_vectors) * known).sum(1) / known.sum(1).clamp(min=1)

    def predict(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """One row per text: the mean vector of its known words, ``(N, dim)``.

        Args:
            x: a list of texts or of token lists (a single str is one text), or word ids ``(N, T)``.
            batch_size: rows per forward pass.
        """
        vocabulary = self._vocabulary("predict")
        if isinstance(x, (str, list, tuple)):
            rows = [vocabulary.encode(d) for d in self._documents([x] if isinstance(x, str) else x)]
            ids = torch.from_numpy(pad_sequences([row.tolist() or [0] for row in rows]))
        else:
            ids = to_tensor(x, name="x")
            if (
                ids.is_floating_point()
                or ids.dim() == 0
                or not ids.numel()
                or ids.min() < 0
                or ids.max() >= len(vocabulary)
            ):
                raise DataError(
                    message(
                        "predict() got ids outside the vocabulary.",
                        f"{ids.dtype} {tuple(ids.shape)}",
                        f"int ids in 0..{len(vocabulary) - 1}",
                        "Make them with vocabulary_.encode.",
                    )
                )
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = torch.cat(
                [self(chunk.to(self.input_vectors.device)) for chunk in ids.split(batch_size)]
            )
        self.train(was_training)
        return out.cpu().numpy()  # type: ignore[no-any-return]
