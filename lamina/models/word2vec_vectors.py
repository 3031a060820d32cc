"""What a fitted ``lamina.models.Word2Vec`` answers: word vectors, similarities, nearest words.

:meth:`~WordVectorsMixin.vector` looks a word up (an unknown word raises ``DataError`` naming the
close words of the vocabulary), :meth:`~WordVectorsMixin.similarity` and
:meth:`~WordVectorsMixin.most_similar` compare vectors by cosine,
:meth:`~WordVectorsMixin.embedding_layer` hands the vectors to another model as a
``lamina.layers.Embedding``, and :meth:`~WordVectorsMixin.plot_words` draws words on the first two
principal components of their vectors.

>>> from lamina.models.word2vec import Word2Vec
>>> model = Word2Vec(embedding_dim=4, window=1, min_count=1)
>>> history = model.compile().fit("a b a c a b", epochs=1, verbose=0, seed=0)
>>> [word for word, _ in model.most_similar("a", topn=2)] in (["b", "c"], ["c", "b"])
True
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from lamina.core.errors import ConfigError, DataError, NotBuiltError, message
from lamina.nn.layers import Embedding
from lamina.nn.tensors import WordVocabulary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WordVectorsMixin"]


class WordVectorsMixin:
    """``vector``, ``similarity``, ``most_similar``, ``embedding_layer`` and ``plot_words`` for
    ``lamina.models.Word2Vec``."""

    vocabulary_: WordVocabulary | None
    input_vectors: Any
    embedding_dim: int
    min_count: int

    def _vocabulary(self, what: str) -> WordVocabulary:
        if self.vocabulary_ is None:
            raise NotBuiltError(
                message(
                    f"{what}() needs a fitted Word2Vec.",
                    "a model with no vocabulary yet",
                    "a model that has been fit on text",
                    "Call model.fit(text) first.",
                )
            )
        return self.vocabulary_

    def _id(self, word: str) -> int:
        vocabulary = self._vocabulary("Looking up a word")
        if (
            not isinstance(word, str)
            or word not in vocabulary
            or word in (vocabulary.PAD, vocabulary.UNK)
        ):
            close = difflib.get_close_matches(str(word), vocabulary.words[2:], n=5, cutoff=0.6)
            raise DataError(
                message(
                    f"The word {word!r} is not in the vocabulary.",
                    repr(word),
                    f"one of the {len(vocabulary) - 2} words seen at least min_count="
                    f"{self.min_count} times" + (f"; close words: {close}" if close else ""),
                    f"Did you mean {close[0]!r}?"
                    if close
                    else "Check the spelling (texts are lower-cased), or fit with a smaller "
                    "min_count.",
                )
            )
        return vocabulary.encode([word])[0].item()  # type: ignore[no-any-return]

    def vector(self, word: str) -> np.ndarray:
        """The vector of ``word``, ``(dim,)``; an unknown word raises ``DataError`` naming close
        words."""
        return self.input_vectors[self._id(word)].detach().cpu().numpy()  # type: ignore[no-any-return]

    def similarity(self, a: str, b: str) -> float:
        """The cosine similarity of two words' vectors."""
        vectors = self.input_vectors[[self._id(a), self._id(b)]].detach()
        return float(F.cosine_similarity(vectors[0], vectors[1], dim=0))

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words nearest to ``word`` by cosine similarity, as ``(word, cosine)``,
        nearest first."""
        if not isinstance(topn, int) or isinstance(topn, bool) or topn < 1:
            raise ConfigError(
                message(
                    "topn must be a positive int.", f"topn={topn!r}", "an int >= 1", "Pass topn=10."
                )
            )
        index, words = self._id(word), self._vocabulary("most_similar").words
        vectors = F.normalize(self.input_vectors.detach(), dim=1)  # (V, dim)
        scores = vectors @ vectors[index]  # (V,)
        scores[[0, 1, index]] = -float("inf")  # not <pad>, <unk> or the word itself
        best = scores.topk(min(topn, len(words) - 3))
        return [(words[i], float(s)) for s, i in zip(best.values.tolist(), best.indices.tolist())]

    def embedding_layer(self, trainable: bool = False) -> Embedding:
        """A ``lamina.layers.Embedding`` holding the word vectors (ids from ``vocabulary_.encode``).

        Args:
            trainable: let a downstream model keep training the vectors (False freezes them).

        Returns:
            An ``Embedding(len(vocabulary_), dim, padding_idx=0)`` whose weight equals
            ``input_vectors``.
        """
        layer = Embedding(
            len(self._vocabulary("embedding_layer")), self.embedding_dim, padding_idx=0
        )
        with torch.no_grad():
            layer.weight.copy_(self.input_vectors)
        layer.weight.requires_grad_(trainable)
        return layer

    def plot_words(
        self, words: Sequence[str], path: str | os.PathLike[str] | None = None
    ) -> Figure:
        """A scatter plot of ``words`` projected on the first two principal components of their
        vectors.

        Args:
            words: at least two words of the vocabulary.
            path: where to write the PNG; None only returns the figure.

        Returns:
            The ``matplotlib.figure.Figure``; its axes hold one labelled point per word.
        """
        from lamina.train.plot import new_figure, save_figure

        if isinstance(words, str) or len(words) < 2:
            raise ConfigError(
                message(
                    "plot_words() needs at least two words.",
                    repr(words)[:80],
                    "a list of two or more words",
                    "Pass e.g. ['king', 'queen', 'lord'].",
                )
            )
        vectors = self.input_vectors[[self._id(w) for w in words]].detach().cpu().double()
        centered = vectors - vectors.mean(0)
        _, _, directions = torch.linalg.svd(centered, full_matrices=False)
        points = F.pad(centered @ directions[:2].T, (0, max(0, 2 - len(directions))))  # (words, 2)
        figure = new_figure(6.0, 5.0)
        ax = figure.subplots()
        ax.scatter(points[:, 0], points[:, 1], s=12)
        for word, (px, py) in zip(words, points.tolist()):
            ax.annotate(word, (px, py), textcoords="offset points", xytext=(3, 3), fontsize=9)
        ax.set_title("word vectors (PCA)")
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.grid(alpha=0.3)
        return save_figure(figure, path)
