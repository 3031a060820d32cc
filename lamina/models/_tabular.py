"""Tabular input for ``lamina.models.MLP``: DataFrame columns -> standardised numbers + entity
embeddings.

:class:`TabularEncoder` learns from a pandas DataFrame how to turn each column into numbers
(:meth:`~TabularEncoder.adapt`), encodes frames into one float array
(:meth:`~TabularEncoder.transform`) and, in ``forward``, turns that array into features: the numeric
block as it is, and one ``nn.Embedding`` per categorical column. The learned column info is the
module's extra state (``get_extra_state``, a JSON-able dict), which ``model.save`` writes into the
manifest.

Column kinds come from the dtypes (or the ``categorical`` names given to ``adapt``):

* numbers (int, uint, float, nullable Int64/Float64) are **numeric**: a missing value becomes the
  training median, then ``(value - mean) / std`` with the training mean and standard deviation;
  each column that had a missing value in the training frame also gets a 0/1 missing-indicator
  column;
* bool, object, string and category dtypes are **categorical** (ints stay numeric unless named):
  values map to codes ``1..K`` (the training categories, sorted), missing and unseen values to 0,
  and each column has its own ``nn.Embedding(K + 1, size)`` with fastai's rule
  ``size = min(600, round(1.6 * (K + 1) ** 0.56))``.

>>> import pandas as pd
>>> frame = pd.DataFrame({"age": [30, 40, None], "city": ["Oslo", "Rome", "Oslo"]})
>>> encoder = TabularEncoder().adapt(frame)
>>> [(column["name"], column["kind"]) for column in encoder.columns_]
[('age', 'numeric'), ('city', 'categorical')]
>>> encoder.transform(frame).shape  # age, age-missing indicator, city code
(3, 3)
>>> encoder(torch.from_numpy(encoder.transform(frame))).shape  # 2 numbers + a 3-wide city embedding
torch.Size([3, 5])
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    NotBuiltError,
    ShapeError,
    message,
)

__all__ = ["TabularEncoder", "embedding_size_rule", "is_dataframe"]

FORMAT = 1  # version of the extra-state layout
_FAMILIES = "numbers, bool, strings (object or str) or category"


def embedding_size_rule(cardinality: int) -> int:
    """fastai's embedding width for a column with ``cardinality`` codes (unknown index included).

    >>> embedding_size_rule(10), embedding_size_rule(100_000)
    (6, 600)
    """
    return min(600, round(1.6 * cardinality**0.56))


def is_dataframe(data: Any) -> bool:
    """True for a pandas DataFrame (checked without importing pandas)."""
    return type(data).__module__.split(".")[0] == "pandas" and type(data).__name__ == "DataFrame"


def _family(dtype: Any) -> str:
    """``"number"``, ``"bool"``, ``"string"`` (object, str, category) or ``"other"`` for a pandas
    dtype."""
    import pandas
    from pandas.api import types

    if isinstance(dtype, pandas.CategoricalDtype):
        return "string"
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_complex_dtype(dtype):
        return "other"
    if types.is_numeric_dtype(dtype):
        return "number"
    return "string" if types.is_object_dtype(dtype) or types.is_string_dtype(dtype) else "other"


def _key(value: Any, column: Any) -> str:
    """The vocabulary key of one category: the string itself, ``"True"``, or a number written as
    ``"5"``/``"2.5"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return (
            str(int(number)) if number.is_integer() else repr(number)
        )  # 5 and 5.0 are one category
    raise DataError(
        message(
            f"Column {column!r} holds a value that is neither a string nor a number.",
            f"{value!r} ({type(value).__name__})",
            "strings, numbers or booleans (None/NaN if missing)",
            f"Convert the column first (e.g. frame[{column!r}].astype(str)) or drop it.",
        )
    )


def _categories(series: Any, column: Any) -> tuple[np.ndarray, list[str]]:
    """Per-row positions into the distinct keys (-1 where missing), and those keys."""
    import pandas

    try:
        codes, uniques = pandas.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values such as lists or dicts
        _key(next(v for v in series if not isinstance(v, Hashable)), column)
        raise
    return codes, [_key(value, column) for value in uniques]


def _numbers(series: Any) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)  # type: ignore[no-any-return]


def _check_frame(frame: Any) -> None:
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    bad = [c for c in frame.columns if not isinstance(c, (str, int)) or isinstance(c, bool)]
    if duplicated or bad:
        raise DataError(
            message(
                "A tabular DataFrame needs unique column names that are strings or ints.",
                f"duplicated {duplicated}, other names {bad[:5]}",
                "unique str or int names",
                "Rename the columns, e.g. frame.columns = [str(c) for c in frame.columns].",
            )
        )


def _embedding(cardinality: int, size: int) -> nn.Embedding:
    embedding = nn.Embedding(cardinality, size)
    with torch.no_grad():  # small weights as fastai; the unknown/missing row starts at zero
        nn.init.trunc_normal_(embedding.weight, std=0.01)
        embedding.weight[0] = 0.0
    return embedding


def _malformed(state: Any) -> ArtifactError:
    return ArtifactError(
        message(
            "The saved tabular column info is malformed.",
            repr(state)[:200],
            '{"format": 1, "columns": [{"name", "kind", "dtype", ...}, ...]}',
            "Re-save the model with model.save().",
        )
    )


def _check_state(state: Any) -> list[dict[str, Any]] | None:
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        raise _malformed(state)
    columns = state.get("columns")
    if columns is None:
        return None
    fields = {
        "numeric": ("name", "kind", "dtype", "mean", "std", "median", "indicator"),
        "categorical": ("name", "kind", "dtype", "vocabulary", "embedding_size"),
    }
    if not isinstance(columns, list) or not all(
        isinstance(c, Mapping)
        and c.get("kind") in fields
        and all(f in c for f in fields[c["kind"]])
        and (
            c["kind"] == "numeric"
            or (
                isinstance(c["vocabulary"], list)
                and isinstance(c["embedding_size"], int)
                and c["embedding_size"] > 0
            )
        )
        for c in columns
    ):
        raise _malformed(state)
    return copy.deepcopy([dict(c) for c in columns])


class TabularEncoder(nn.Module):
    """DataFrame columns to model features: standardised numbers, missing indicators, entity
    embeddings.

    ``adapt(frame)`` learns ``columns_`` (a list of dicts: ``name``, ``kind``, ``dtype`` and either
    ``mean``/``std``/``median``/``indicator`` or ``vocabulary``/``embedding_size``),
    ``transform(frame)`` encodes rows as a float array ``(N, numeric + indicators + categorical)``
    whose last columns hold the integer codes, and ``forward`` maps that ``(N, width)`` tensor to
    ``(N, numeric + indicators + sum of embedding sizes)``. ``columns_`` is the module's extra
    state, so it is saved and loaded with the weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.columns_: list[dict[str, Any]] | None = None
        self.embeddings = nn.ModuleList()
        self.dense_width = 0
        self._lookups: list[dict[str, int]] = []

    def _get_name(self) -> str:
        return "lamina.models.mlp.TabularEncoder"

    def extra_repr(self) -> str:
        if self.columns_ is None:
            return "not adapted"
        return f"dense_width={self.dense_width}, categorical={len(self.embeddings)}"

    # ------------------------------------------------------------------ learned state
    def get_extra_state(self) -> dict[str, Any]:
        """The learned column info as a JSON-able dict (what ``model.save`` and checkpoints
        store)."""
        return {"format": FORMAT, "columns": copy.deepcopy(self.columns_)}

    def set_extra_state(self, state: Any) -> None:
        """Restore :meth:`get_extra_state`; embeddings are (re)made only when their sizes change."""
        columns = _check_state(state)
        self.columns_ = columns
        categorical = [c for c in columns or [] if c["kind"] == "categorical"]
        numeric = [c for c in columns or [] if c["kind"] == "numeric"]
        self.dense_width = len(numeric) + sum(bool(c["indicator"]) for c in numeric)
        self._lookups = [
            {key: code for code, key in enumerate(c["vocabulary"], start=1)} for c in categorical
        ]
        sizes = [(len(c["vocabulary"]) + 1, int(c["embedding_size"])) for c in categorical]
        if sizes != [(e.num_embeddings, e.embedding_dim) for e in self.embeddings]:  # type: ignore[union-attr]
            self.embeddings = nn.ModuleList(_embedding(n, d) for n, d in sizes)

    def adapt(
        self,
        frame: Any,
        categorical: Sequence[Any] | None = None,
        embedding_size: int | Mapping[Any, int] | None = None,
    ) -> TabularEncoder:
        """Learn the column kinds, statistics and vocabularies from a training DataFrame. Returns
        self.

        Args:
            frame: a pandas DataFrame, one row per example.
            categorical: column names to treat as categorical whatever their dtype.
            embedding_size: width of every embedding (an int), or ``{column: width}`` for some
                columns; the others use :func:`embedding_size_rule`.
        """
        _check_frame(frame)
        names, named = list(frame.columns), list(categorical or [])
        sizes = embedding_size if isinstance(embedding_size, Mapping) else {}
        every = embedding_size if isinstance(embedding_size, int) else None
        unknown = [c for c in [*named, *sizes] if c not in names]
        if unknown:
            raise ConfigError(
                message(
                    "MLP names columns the training DataFrame does not have.",
                    unknown,
                    f"names among {names[:20]}",
                    "Fix the names in categorical/embedding_size.",
                )
            )
        other = [
            f"{name!r} ({frame[name].dtype})"
            for name in names
            if _family(frame[name].dtype) == "other"
        ]
        if other:
            raise DataError(
                message(
                    "Some DataFrame columns have a dtype the MLP cannot encode.",
                    ", ".join(other),
                    _FAMILIES,
                    "Convert them (e.g. dates to numbers) or drop them.",
                )
            )
        columns: list[dict[str, Any]] = []
        for name in names:
            series, family = frame[name], _family(frame[name].dtype)
            if name in named or family != "number":
                vocabulary = sorted(set(_categories(series, name)[1]))
                width = sizes.get(name, every)
                columns.append(
                    {
                        "name": name,
                        "kind": "categorical",
                        "dtype": family,
                        "vocabulary": vocabulary,
                        "embedding_size": int(width or embedding_size_rule(len(vocabulary) + 1)),
                    }
                )
                continue
            values = _numbers(series)
            missing = np.isnan(values)
            observed = values[~missing]
            if not np.isfinite(observed).all():
                infinite = int((~np.isfinite(observed)).sum())
                raise DataError(
                    message(
                        f"Column {name!r} has infinite values.",
                        f"{infinite} infinite values",
                        "finite numbers, or NaN where missing",
                        "Replace them, e.g. frame.replace([np.inf, -np.inf], np.nan).",
                    )
                )
            std = float(observed.std()) if observed.size else 1.0  # a constant column keeps std 1
            columns.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "dtype": family,
                    "mean": float(observed.mean()) if observed.size else 0.0,
                    "std": std if std > 1e-12 else 1.0,
                    "median": float(np.median(observed)) if observed.size else 0.0,
                    "indicator": bool(missing.any()),
                }
            )
        self.set_extra_state({"format": FORMAT, "columns": columns})
        return self

    # ------------------------------------------------------------------ encoding
    def transform(self, frame: Any) -> np.ndarray:
        """Encode a DataFrame with the learned columns (any order; extra columns are ignored).

        Returns:
            float32 array ``(N, numeric + indicators + categorical)``: standardised numbers, 0/1
            missing indicators, then one integer code per categorical column (0 for missing or
            unseen values).
        """
        if self.columns_ is None:
            raise NotBuiltError(
                message(
                    "The tabular encoder has not seen a training DataFrame.",
                    "an unadapted encoder",
                    "adapt(frame) or fit() first",
                    "Fit the model on a DataFrame.",
                )
            )
        _check_frame(frame)
        columns = self.columns_
        absent = [c["name"] for c in columns if c["name"] not in frame.columns]
        if absent:
            raise DataError(
                message(
                    "The DataFrame lacks columns the model was fitted on.",
                    f"missing {absent}",
                    f"all of {[c['name'] for c in columns]} (any order)",
                    "Add those columns.",
                )
            )
        changed = [
            f"{c['name']!r} ({frame[c['name']].dtype}, fitted on {c['dtype']})"
            for c in columns
            if _family(frame[c["name"]].dtype) != c["dtype"] and not frame[c["name"]].isna().all()
        ]
        if changed:
            raise DataError(
                message(
                    "Some columns have another type than in the training DataFrame.",
                    ", ".join(changed),
                    "the dtype family seen at fit: " + _FAMILIES,
                    "Convert those columns back to the training dtypes.",
                )
            )
        numeric = [c for c in columns if c["kind"] == "numeric"]
        categorical = [c for c in columns if c["kind"] == "categorical"]
        out = np.empty((len(frame), self.dense_width + len(categorical)), dtype=np.float32)
        indicator = len(numeric)
        for position, column in enumerate(numeric):
            values = _numbers(frame[column["name"]])
            missing = np.isnan(values)
            out[:, position] = (
                np.where(missing, column["median"], values) - column["mean"]
            ) / column["std"]
            if column["indicator"]:
                out[:, indicator] = missing
                indicator += 1
        for position, (column, lookup) in enumerate(
            zip(categorical, self._lookups), start=self.dense_width
        ):
            codes, keys = _categories(frame[column["name"]], column["name"])
            table = np.array(
                [lookup.get(key, 0) for key in keys] + [0], dtype=np.float32
            )  # index -1 -> 0
            out[:, position] = table[codes]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, dense_width + categorical)`` encoded rows ->
        ``(N, dense_width + sum of embedding sizes)``."""
        width = self.dense_width
        if x.dim() != 2 or x.shape[1] != width + len(self.embeddings):
            raise ShapeError(
                message(
                    "The tabular MLP got input that is not an encoded DataFrame.",
                    f"shape {tuple(x.shape)}",
                    f"(N, {width + len(self.embeddings)})",
                    "Pass a DataFrame with the training columns to fit/predict/evaluate.",
                )
            )
        codes = x[:, width:].long()  # (N, categorical) integer codes stored as floats
        parts = [x[:, :width]] + [
            embedding(codes[:, i]) for i, embedding in enumerate(self.embeddings)
        ]
        return torch.cat(parts, dim=1)  # (N, width + sum of embedding sizes)
