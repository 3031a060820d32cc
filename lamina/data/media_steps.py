"""Preprocessing steps for texts and images: token ids, per-channel normalisation, augmentation.

``TextTokens`` turns texts into padded ids; ``ImageNormalize`` and ``Augment`` take image batches
``(N, C, H, W)`` or ``(N, H, W)``. All are public in ``lamina.prepare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, ShapeError, message
from lamina.data.splits import check_choice
from lamina.data.step import Step, check_count

__all__ = ["Augment", "ImageNormalize", "TextTokens"]


class TextTokens(Step):
    """Texts -> padded token ids ``(N, max_length)`` int64: 0 pads, 1 is unknown.

    Args:
        level: ``"char"`` (case kept), ``"word"`` (``lamina.data.tokenize``, lower case) or
            ``"subword"`` (a byte-pair encoding of the ``tokenizers`` library, trained on the texts,
            saved as its JSON).
        vocabulary_size: ids in all, padding and unknown included; the most frequent tokens are
            kept.
        max_length: tokens per row (longer rows lose their end); default the longest training row.
    """

    inputs = ("text",)

    def __init__(
        self, level: str = "word", vocabulary_size: int = 20_000, max_length: int | None = None
    ) -> None:
        check_choice("TextTokens level", level, ("char", "word", "subword"))
        check_count("vocabulary_size", vocabulary_size, 3)
        check_count("max_length", 1 if max_length is None else max_length, 1)
        super().__init__(level=level, vocabulary_size=vocabulary_size, max_length=max_length)

    def _tokens(self, text: str) -> list[str]:
        from lamina.nn.tensors import tokenize

        return list(text) if self._config["level"] == "char" else tokenize(text)

    def _encode(self, texts: Sequence[str], state: dict[str, Any]) -> list[list[int]]:
        """Id lists made from the state alone, as a loaded pipeline makes them."""
        if self._config["level"] == "subword":
            from tokenizers import Tokenizer

            return [e.ids for e in Tokenizer.from_str(state["tokenizer"]).encode_batch(list(texts))]
        from lamina.nn.tensors import WordVocabulary

        vocabulary = WordVocabulary.from_config(state["vocabulary"])
        return [vocabulary.encode(self._tokens(text)).tolist() for text in texts]

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        size = self._config["vocabulary_size"]
        if self._config["level"] == "subword":
            from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

            tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
            tokenizer.normalizer = normalizers.Sequence(
                [normalizers.NFKC(), normalizers.Lowercase()]
            )
            tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
            tokenizer.train_from_iterator(
                x,
                trainers.BpeTrainer(
                    vocab_size=size, show_progress=False, special_tokens=["<pad>", "<unk>"]
                ),
            )  # ids 0, 1
            state["tokenizer"] = tokenizer.to_str()
        else:
            from lamina.nn.tensors import WordVocabulary

            tokens = [token for text in x for token in self._tokens(text)]
            state["vocabulary"] = WordVocabulary(
                tokens, max_size=size - 2
            ).get_config()  # + <pad> and <unk>
        state["length"] = self._config["max_length"] or max(
            [len(ids) for ids in self._encode(x, state)] + [1]
        )

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        out = np.zeros((len(x), state["length"]), dtype=np.int64)  # (N, T), 0 = padding
        for row, ids in zip(out, self._encode(x, state)):
            row[: min(len(ids), len(row))] = ids[: len(row)]
        return out


def _images(x: np.ndarray, step: str) -> np.ndarray:
    """``(N, C, H, W)`` or ``(N, H, W)`` images as ``(N, C, H, W)``."""
    if x.ndim not in (3, 4):
        raise ShapeError(
            message(
                f"{step} takes a batch of images.",
                f"shape {x.shape}",
                "(N, C, H, W) or (N, H, W)",
                "Reshape them, e.g. x.reshape(-1, 1, 28, 28).",
            )
        )
    return x[:, None] if x.ndim == 3 else x


class ImageNormalize(Step):
    """Per channel ``(pixel - mean) / std`` with the training images' statistics; float32 out.

    Args:
        mean: per-channel means to use instead (one number, or one per channel).
        std: per-channel standard deviations to use instead.
    """

    inputs = ("array",)

    def __init__(
        self,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(mean=mean, std=std)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        images = _images(x, "ImageNormalize")
        for name, given in self._config.items():
            value = (
                np.asarray(given, dtype=np.float64).ravel()
                if given is not None
                else (images.mean if name == "mean" else images.std)(
                    axis=(0, 2, 3), dtype=np.float64
                )
            )
            if value.size not in (1, images.shape[1]):
                raise ConfigError(
                    message(
                        f"ImageNormalize {name} needs one value per channel.",
                        value.tolist(),
                        f"1 or {images.shape[1]} values",
                        "Pass one per channel, or None.",
                    )
                )
            state[name] = np.broadcast_to(value, images.shape[1:2]).copy()
        state.update(std=np.where(state["std"] > 0, state["std"], 1.0), shape=list(x.shape[1:]))

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        if list(x.shape[1:]) != state["shape"]:
            raise ShapeError(
                message(
                    "The images differ in shape from the training images.",
                    f"(N, *{x.shape[1:]})",
                    f"(N, *{tuple(state['shape'])})",
                    "Resize them to the training shape.",
                )
            )
        shape = (-1, 1, 1) if x.ndim == 4 else ()
        mean, std = (state[name].astype(np.float32).reshape(shape) for name in ("mean", "std"))
        return (x.astype(np.float32) - mean) / std


class Augment(Step):
    """Random image changes in training only (``transform(x, training=True)``); otherwise no change.

    Args:
        crop: keep a random window of ``crop`` to 1.0 of each side, resized back (None: no crop).
        flip: mirror half of the images left to right.
        shift: move the images by up to this many pixels each way (zeros fill in).
        seed: the generator's seed; ``fit`` restarts it, each training call draws anew.
    """

    inputs = ("array",)

    def __init__(
        self, crop: float | None = None, flip: bool = False, shift: int = 0, *, seed: int = 0
    ) -> None:
        if crop is not None and not (isinstance(crop, (int, float)) and 0 < crop <= 1):
            raise ConfigError(
                message(
                    "Augment crop out of range.",
                    repr(crop),
                    "None or a fraction in (0, 1]",
                    "Pass e.g. crop=0.8.",
                )
            )
        check_count("shift", shift, 0)
        super().__init__(crop=crop, flip=flip, shift=shift, seed=seed)
        self._rng = np.random.default_rng(seed)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        state["shape"] = list(_images(x, "Augment").shape[1:])
        self._rng = np.random.default_rng(self._config["seed"])

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        images = _images(x, "Augment")
        if not training:
            return x
        import torch
        import torch.nn.functional as F  # noqa: N812

        rng, (n, _, height, width), shift = self._rng, images.shape, self._config["shift"]
        size = (
            rng.uniform(self._config["crop"], 1.0, n) if self._config["crop"] else np.ones(n)
        )  # window / side
        mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if self._config["flip"] else np.ones(n)
        theta = np.zeros((n, 2, 3))  # output -> input coordinates in [-1, 1]: scale, mirror, move
        theta[:, 0, 0], theta[:, 1, 1] = size * mirror, size
        for row, pixels in ((0, width), (1, height)):
            theta[:, row, 2] = (
                rng.uniform(-1, 1, n) * (1 - size) + 2 * rng.integers(-shift, shift + 1, n) / pixels
            )
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        grid = F.affine_grid(
            torch.from_numpy(theta).float(), list(batch.shape), align_corners=False
        )
        out = F.grid_sample(
            batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        ).numpy()
        return out[:, 0] if x.ndim == 3 else out  # float32, in the input's layout
