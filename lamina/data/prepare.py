"""Preprocessing fitted on the training rows only, saved as data, and applied the same way at
prediction.

A :class:`Pipeline` saves as ``pipeline.json`` (step names, arguments, JSON state) and
``pipeline.safetensors`` (arrays); ``load`` resolves step names through the allowlist ``STEPS`` and
imports nothing named in the file. ``split`` gives train/validation/test rows with leakage checks
(:func:`check_leakage`); ``class_weights`` and ``resample`` treat imbalanced classes (all four from
``lamina._splits``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    NotBuiltError,
    ShapeError,
    UnsafeFileError,
    message,
)
from lamina.data.splits import (
    Split,
    check_choice,
    check_leakage,
    class_weights,
    is_frame,
    resample,
    split,
)

__all__ = [
    "Augment",
    "DateTimeFeatures",
    "ImageNormalize",
    "Impute",
    "OneHot",
    "Ordinal",
    "Pipeline",
    "STEPS",
    "Scale",
    "Split",
    "Step",
    "TextTokens",
    "auto_pipeline",
    "check_leakage",
    "class_weights",
    "resample",
    "split",
]

FORMAT = 1  # version of the pipeline.json layout
STATE_FILE = "pipeline.safetensors"  # the arrays of the steps' state, beside pipeline.json
HIGH_CARDINALITY = (
    50  # auto_pipeline: categorical columns with more distinct values get Ordinal, not OneHot
)
CYCLES = {
    "month": 12,
    "day": 31,
    "dayofweek": 7,
    "hour": 24,
    "minute": 60,
}  # periods of the cyclical date parts


def _kind(dtype: Any) -> str:
    """``"datetime"``, ``"numeric"`` (ints, floats) or ``"categorical"`` (bools, strings, category,
    objects)."""
    from pandas.api import types

    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return (
        "numeric"
        if types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)
        else "categorical"
    )


def _key(value: Any) -> str:
    """A category as a string; 5 and 5.0 are one (an int column with a missing value turns
    float)."""
    return (
        str(int(value))
        if isinstance(value, (float, np.floating)) and float(value).is_integer()
        else str(value)
    )


def _categories(series: Any, limit: int | None = None) -> list[str]:
    """The sorted categories of ``series``: its ``limit`` most frequent ones (ties:
    alphabetical)."""
    counts = series.dropna().map(_key).value_counts()
    return sorted(
        key for key, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value  # NumPy scalars -> JSON numbers


def _count(what: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            message(
                f"{what} out of range.", repr(value), f"an int >= {minimum}", f"Pass {what}=..."
            )
        )


def _has_columns(frame: Any, names: Sequence[Any], what: str) -> None:
    absent = [name for name in names if name not in frame.columns]
    if absent:
        raise DataError(
            message(
                what,
                f"missing {absent}",
                f"columns among {[str(c) for c in frame.columns][:30]}",
                "Fix the names, or pass those columns.",
            )
        )


# ---------------------------------------------------------------- steps
class Step:
    """A step: arguments in ``get_config()``, what ``fit`` learns in ``state_`` (JSON values or
    NumPy arrays). Table steps work on ``columns`` (default: those of the step's ``kind``: numeric
    for Impute and Scale, categorical for OneHot and Ordinal, datetime for DateTimeFeatures) and
    keep the other columns."""

    kind = ""  # the column kind a table step takes by default
    inputs: tuple[str, ...] = (
        "table",
    )  # of "table" (DataFrame), "array" (numeric ndarray), "text" (list of str)

    def __init__(self, **config: Any) -> None:
        self._config = config
        self.state_: dict[str, Any] | None = None

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"lamina.prepare.{type(self).__name__}({arguments})"

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return dict(self._config)

    def _check(self, x: Any) -> bool:
        what = (
            "table"
            if is_frame(x)
            else "array"
            if isinstance(x, np.ndarray) and x.dtype.kind in "biuf"
            else "text"
            if isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x)
            else type(x).__name__
        )
        if what not in self.inputs:
            raise DataError(
                message(
                    f"{type(self).__name__} cannot take this input.",
                    what,
                    f"one of {self.inputs}",
                    "Pass a DataFrame (table), a numeric ndarray (array) or a list of str (text).",
                )
            )
        return what == "table"

    def fit(self, x: Any, y: Any = None) -> Step:
        """Learn the state from the training rows ``x``. Returns self."""
        state: dict[str, Any] = {}
        if self._check(x):
            names = self._config.get("columns")
            state["columns"] = (
                [c for c in x.columns if _kind(x[c].dtype) == self.kind] if names is None else names
            )
            _has_columns(
                x,
                state["columns"],
                f"{type(self).__name__} names columns the DataFrame does not have.",
            )
        self._fit(x, state)
        self.state_ = state
        return self

    def transform(self, x: Any, training: bool = False) -> Any:
        """Apply the learned state to ``x`` (``training=True``: also the random training-only
        changes)."""
        if self.state_ is None:
            raise NotBuiltError(
                message(
                    f"{type(self).__name__} is not fitted.",
                    "an unfitted step",
                    "fit(x) first",
                    "Fit the pipeline on the training rows.",
                )
            )
        if self._check(x):
            _has_columns(
                x, self.state_["columns"], "The DataFrame lacks columns the pipeline was fitted on."
            )
        return self._transform(x, self.state_, training)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        raise NotImplementedError


class Impute(Step):
    """Fill missing values with a statistic of the training rows.

    Args:
        strategy: ``"median"``, ``"mean"``, ``"most_frequent"`` (ties: the smallest) or
            ``"constant"``.
        add_indicator: add a 0/1 column ``<name>_missing`` per column with a missing training value.
        fill_value: the ``"constant"`` value; default 0, or ``"missing"`` in non-numeric columns.
    """

    kind = "numeric"

    def __init__(
        self,
        strategy: str = "median",
        add_indicator: bool = False,
        *,
        fill_value: Any = None,
        columns: Sequence[Any] | None = None,
    ) -> None:
        check_choice("Impute strategy", strategy, ("median", "mean", "most_frequent", "constant"))
        super().__init__(
            strategy=strategy, add_indicator=add_indicator, fill_value=fill_value, columns=columns
        )

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        strategy, given, fills = self._config["strategy"], self._config["fill_value"], []
        for column in state["columns"]:
            observed, numeric = x[column].dropna(), _kind(x[column].dtype) == "numeric"
            if strategy != "constant" and (
                observed.empty or (strategy != "most_frequent" and not numeric)
            ):
                raise DataError(
                    message(
                        f"Impute cannot take the {strategy} of column {column!r}.",
                        f"dtype {x[column].dtype}, {len(observed)} values",
                        "numbers seen in training",
                        "Use strategy='most_frequent' or 'constant', or drop the column.",
                    )
                )
            if strategy == "constant":
                fills.append(given if given is not None else 0.0 if numeric else "missing")
            elif strategy == "most_frequent":
                fills.append(_plain(observed.mode()[0]))  # ties: the smallest value
            else:
                fills.append(float(observed.median() if strategy == "median" else observed.mean()))
        state.update(
            fill=fills,
            indicators=[
                c for c in state["columns"] if self._config["add_indicator"] and x[c].isna().any()
            ],
        )

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        out = x.copy()
        for column, fill in zip(state["columns"], state["fill"]):
            out[column] = (
                x[column].astype(object) if str(x[column].dtype) == "category" else x[column]
            ).fillna(fill)
        for column in state["indicators"]:
            out[f"{column}_missing"] = x[column].isna().to_numpy(np.float64)
        return out


class Scale(Step):
    """Rescale numbers with statistics of the training rows; missing values stay missing.

    Args:
        method: ``"standard"`` (mean 0, std 1), ``"minmax"`` (to [0, 1]) or ``"robust"`` (median 0,
            interquartile range 1); a constant feature is only shifted. Arrays ``(N, ...)``: float32
            out.
    """

    kind, inputs = "numeric", ("table", "array")

    def __init__(self, method: str = "standard", *, columns: Sequence[Any] | None = None) -> None:
        check_choice("Scale method", method, ("standard", "minmax", "robust"))
        super().__init__(method=method, columns=columns)

    def _values(self, x: Any, state: dict[str, Any]) -> np.ndarray:
        if not is_frame(x):
            return np.asarray(x.reshape(len(x), -1), dtype=np.float64)  # (N, ...) -> (N, features)
        try:
            return x[state["columns"]].to_numpy(dtype=np.float64, na_value=np.nan)  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            raise DataError(
                message(
                    "Scale takes numeric columns.",
                    {c: str(x[c].dtype) for c in state["columns"]},
                    "numbers",
                    "Pass numeric columns= only.",
                )
            ) from None

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        values, method = self._values(x, state), self._config["method"]
        with warnings.catch_warnings():  # an all-missing feature gets NaN statistics
            warnings.simplefilter("ignore", RuntimeWarning)
            if method == "standard":
                center, spread = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
            else:
                # minmax: the minimum and the range; robust: the median and the interquartile range
                low, median, high = np.nanpercentile(
                    values, [0, 50, 100] if method == "minmax" else [25, 50, 75], 0
                )
                center, spread = low if method == "minmax" else median, high - low
        state.update(center=center, scale=np.where(np.isfinite(spread) & (spread > 0), spread, 1.0))

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        values = (self._values(x, state) - state["center"]) / state["scale"]
        if not is_frame(x):
            return values.reshape(x.shape).astype(np.float32)
        out = x.copy()
        out[state["columns"]] = values
        return out


class OneHot(Step):
    """In place of each column, one 0/1 column ``<name>=<category>`` per training category.

    Args:
        max_categories: keep each column's most frequent categories up to this many; the rest are
            unknown.
        handle_unknown: ``"ignore"`` (unknown or missing: all zeros) or ``"error"``.
    """

    kind = "categorical"

    def __init__(
        self,
        max_categories: int = 50,
        handle_unknown: str = "ignore",
        *,
        columns: Sequence[Any] | None = None,
    ) -> None:
        _count("max_categories", max_categories, 1)
        check_choice("OneHot handle_unknown", handle_unknown, ("ignore", "error"))
        super().__init__(
            max_categories=max_categories, handle_unknown=handle_unknown, columns=columns
        )

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        state["categories"] = [
            _categories(x[c], self._config["max_categories"]) for c in state["columns"]
        ]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas

        blocks = {}
        for column, kept in zip(state["columns"], state["categories"]):
            keys = x[column].map(_key, na_action="ignore")
            unknown = sorted(set(keys.dropna()) - set(kept))
            if unknown and self._config["handle_unknown"] == "error":
                raise DataError(
                    message(
                        f"Column {column!r} has categories not kept in training.",
                        unknown[:10],
                        f"one of {kept[:20]}",
                        "Pass handle_unknown='ignore' (all zeros).",
                    )
                )
            blocks.update({f"{column}={key}": (keys == key).to_numpy(np.float64) for key in kept})
        return pandas.concat(
            [x.drop(columns=state["columns"]), pandas.DataFrame(blocks, index=x.index)], axis=1
        )


class Ordinal(Step):
    """Categories -> int64 ids ``0..K-1`` (the sorted training categories), e.g. for entity
    embeddings.

    Args:
        unknown: the id of unseen and missing values.
    """

    kind = "categorical"

    def __init__(self, unknown: int = -1, *, columns: Sequence[Any] | None = None) -> None:
        super().__init__(unknown=unknown, columns=columns)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        state["categories"] = [_categories(x[c]) for c in state["columns"]]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        out = x.copy()
        for column, kept in zip(state["columns"], state["categories"]):
            ids = (
                x[column].map(_key, na_action="ignore").map(dict(zip(kept, range(len(kept)))))
            )  # unseen: NaN
            out[column] = ids.fillna(self._config["unknown"]).to_numpy(np.int64)
        return out


class DateTimeFeatures(Step):
    """In place of each column, date parts as numbers (in UTC); missing times get the training
    median.

    Args:
        parts: of ``"year"``, ``"month"``, ``"day"``, ``"dayofweek"``, ``"hour"``, ``"minute"``.
        cyclical: periodic parts as ``<name>_<part>_sin``/``_cos`` (December next to January);
            otherwise, and for the year, one column ``<name>_<part>``. Named string columns are
            parsed as dates.
    """

    kind = "datetime"

    def __init__(
        self,
        parts: Sequence[str] = ("year", "month", "day", "dayofweek", "hour"),
        cyclical: bool = True,
        *,
        columns: Sequence[Any] | None = None,
    ) -> None:
        for part in parts:
            check_choice("DateTimeFeatures part", part, ("year", *CYCLES))
        super().__init__(parts=parts, cyclical=cyclical, columns=columns)

    def _fit(self, x: Any, state: dict[str, Any]) -> None:
        import pandas

        times = [
            pandas.to_datetime(x[c], errors="coerce", utc=True).dropna() for c in state["columns"]
        ]
        if any(t.empty for t in times):
            raise DataError(
                message(
                    "A datetime column has no dates in the training rows.",
                    state["columns"],
                    "dates in each column",
                    "Drop the column or fix its values.",
                )
            )
        state["fill"] = [t.median().isoformat() for t in times]

    def _transform(self, x: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas

        new = {}
        for column, fill in zip(state["columns"], state["fill"]):
            times = (
                pandas.to_datetime(x[column], errors="coerce", utc=True)
                .fillna(pandas.Timestamp(fill))
                .dt
            )
            for part in self._config["parts"]:
                value = getattr(times, "day_of_week" if part == "dayofweek" else part).to_numpy(
                    np.float64
                )
                if self._config["cyclical"] and part in CYCLES:
                    angle = (
                        2 * np.pi * (value - (part in ("month", "day"))) / CYCLES[part]
                    )  # months, days from 1
                    new[f"{column}_{part}_sin"], new[f"{column}_{part}_cos"] = (
                        np.sin(angle),
                        np.cos(angle),
                    )
                else:
                    new[f"{column}_{part}"] = value
        return pandas.concat(
            [x.drop(columns=state["columns"]), pandas.DataFrame(new, index=x.index)], axis=1
        )


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
        _count("vocabulary_size", vocabulary_size, 3)
        _count("max_length", 1 if max_length is None else max_length, 1)
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
        _count("shift", shift, 0)
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


STEPS: dict[str, type[Step]] = {
    cls.__name__: cls
    for cls in (
        Impute,
        Scale,
        OneHot,
        Ordinal,
        DateTimeFeatures,
        TextTokens,
        ImageNormalize,
        Augment,
    )
}  # the load allowlist


# ---------------------------------------------------------------- pipeline
class Pipeline:
    """Steps applied in order; ``transform`` returns a DataFrame for tables, else an array.

    Args:
        steps: :class:`Step` instances (``STEPS`` names the kinds).

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [20.0, None, 40.0], "city": ["Oslo", "Rome", None]})
    >>> steps = [Impute("median", add_indicator=True), Scale("standard"), OneHot()]
    >>> pipeline = Pipeline(steps).fit(frame)
    >>> pipeline.transform(frame).round(2).values.tolist()
    [[-1.22, -0.71, 1.0, 0.0], [0.0, 1.41, 0.0, 1.0], [1.22, -0.71, 0.0, 0.0]]
    """

    def __init__(self, steps: Sequence[Step]) -> None:
        if not all(isinstance(step, Step) for step in steps):
            raise ConfigError(
                message(
                    "Pipeline steps must be lamina.prepare steps.",
                    repr(steps)[:200],
                    f"instances of {sorted(STEPS)}",
                    "E.g. Pipeline([Impute(), Scale()]).",
                )
            )
        self.steps = list(steps)

    def __repr__(self) -> str:
        return f"lamina.prepare.Pipeline({self.steps!r})"

    def fit(self, x: Any, y: Any = None) -> Pipeline:
        """Fit each step, on training rows only, to the output of the one before. Returns self."""
        self.fit_transform(x)
        return self

    def fit_transform(self, x: Any, y: Any = None) -> Any:
        """``fit(x)``, returning ``transform(x)``."""
        for step in self.steps:
            x = step.fit(x).transform(x)
        return x

    def transform(self, x: Any, training: bool = False) -> Any:
        """Apply every step; ``training=True`` also applies the training-only changes
        (:class:`Augment`)."""
        for step in self.steps:
            x = step.transform(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        """The steps' names and arguments, JSON-able."""
        return {
            "format_version": FORMAT,
            "steps": [{"name": type(s).__name__, "config": s.get_config()} for s in self.steps],
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``pipeline.json`` and ``pipeline.safetensors`` (the state's arrays) into
        ``folder``."""
        from safetensors.numpy import save_file

        folder, config, arrays = Path(folder), self.get_config(), {}
        for index, (entry, step) in enumerate(zip(config["steps"], self.steps)):
            state = step.state_ or {}
            arrays.update(
                {
                    f"{index}.{k}": np.ascontiguousarray(v)
                    for k, v in state.items()
                    if isinstance(v, np.ndarray)
                }
            )
            entry["state"] = (
                None
                if step.state_ is None
                else {
                    k: {"__array__": f"{index}.{k}"} if isinstance(v, np.ndarray) else v
                    for k, v in state.items()
                }
            )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pipeline.json").write_text(json.dumps(config, indent=1, default=_plain))
        save_file(arrays, str(folder / STATE_FILE))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Pipeline:
        """Rebuild a saved pipeline; step names outside ``STEPS`` are refused, and nothing is
        imported."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder, steps = Path(folder), []
        try:
            data, arrays = (
                json.loads((folder / "pipeline.json").read_text()),
                load_file(folder / STATE_FILE),
            )
            if data["format_version"] != FORMAT:
                raise ValueError(f"format_version {data['format_version']}")
            for entry in data["steps"]:
                if entry["name"] not in STEPS:
                    raise UnsafeFileError(
                        message(
                            "pipeline.json names a step that is not on the allowlist; nothing "
                            "was imported.",
                            repr(entry["name"]),
                            f"one of {sorted(STEPS)}",
                            "Only load pipelines saved by lamina; save this one again.",
                        )
                    )
                steps.append(STEPS[entry["name"]](**entry["config"]))
                steps[-1].state_ = (
                    None
                    if entry["state"] is None
                    else {
                        k: arrays[v["__array__"]] if isinstance(v, dict) and "__array__" in v else v
                        for k, v in entry["state"].items()
                    }
                )
        except (OSError, ValueError, TypeError, KeyError, SafetensorError) as error:
            if isinstance(error, UnsafeFileError):
                raise
            raise ArtifactError(
                message(
                    "The saved pipeline is malformed or incomplete.",
                    f"{folder}: {error!r}"[:300],
                    f"pipeline.json (format_version {FORMAT}) and pipeline.safetensors from "
                    "Pipeline.save",
                    "Save the pipeline again.",
                )
            ) from None
        return cls(steps)


def auto_pipeline(dataset: Any) -> Pipeline:
    """A sensible unfitted default for a ``lamina.data.Dataset`` (anything with ``modality`` and
    ``x``).

    Tables: :class:`DateTimeFeatures`; numbers median-imputed with indicators and standardised;
    categories given the most frequent value, then one-hot encoded, or :class:`Ordinal` for columns
    with over ``HIGH_CARDINALITY`` values in ``dataset.x``. Images: :class:`ImageNormalize`; texts:
    word :class:`TextTokens`; arrays: :class:`Scale`.

    >>> auto_pipeline(lamina.data.load("digits"))
    lamina.prepare.Pipeline([lamina.prepare.ImageNormalize(mean=None, std=None)])
    """
    if getattr(dataset, "modality", None) not in ("table", "image", "text", "array"):
        raise ConfigError(
            message(
                "auto_pipeline takes a lamina.data.Dataset.",
                repr(dataset)[:100],
                "a table, image, text or array Dataset",
                "Pass lamina.data.load(...).",
            )
        )
    if dataset.modality != "table":
        return Pipeline(
            [{"image": ImageNormalize, "text": TextTokens, "array": Scale}[dataset.modality]()]
        )
    categorical = [c for c in dataset.x.columns if _kind(dataset.x[c].dtype) == "categorical"]
    many = [c for c in categorical if dataset.x[c].nunique() > HIGH_CARDINALITY]
    few = [c for c in categorical if c not in many]
    steps: list[Step] = [
        DateTimeFeatures(),
        Impute("median", add_indicator=True),
        Scale("standard"),
    ]
    if categorical:
        steps.append(Impute("most_frequent", columns=categorical))
    steps += [OneHot(columns=few)] if few else []
    steps += [Ordinal(columns=many)] if many else []
    return Pipeline(steps)
