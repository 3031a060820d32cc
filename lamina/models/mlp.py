"""``lamina.models.MLP``: a multilayer perceptron of any depth and width, for arrays or DataFrames.

Each hidden block is ``Dense -> [BatchNorm | LayerNorm] -> activation -> [Dropout]``; a final
``Dense(outputs)`` gives the logits (or regression values). Input of any shape is flattened.

Tabular mode: the first ``fit`` on a pandas DataFrame (of a model not yet built) adds a
:class:`TabularEncoder` as ``model.tabular``: it infers the column kinds, standardises numeric
columns (median imputation plus missing indicators) and feeds each categorical column through its
own entity embedding, concatenated in front of the hidden blocks. ``predict``/``evaluate`` then take
DataFrames with the same columns, and the learned column info travels with ``model.save``.

>>> import lamina
>>> x, y = lamina.testing.tiny_classification(rows=64, features=4, classes=3)
>>> model = lamina.models.MLP(units=(16,), outputs=3, dropout=0.1, norm="layer")
>>> model = model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
>>> history = model.fit(x, y, epochs=2, verbose=0, seed=0)
>>> model.predict(x).shape
(64, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from lamina.core.errors import ConfigError, message
from lamina.models._names import check_dropout, refuse_renamed
from lamina.models._tabular import TabularEncoder, embedding_size_rule, is_dataframe
from lamina.models.base import Model
from lamina.nn.layers import Activation, BatchNorm, Dense, Dropout, LayerNorm

__all__ = ["MLP", "TabularEncoder", "embedding_size_rule"]

NORMS = ("batch", "layer")
TABULAR_ARGUMENTS = ("categorical", "embedding_dim")  # keyword-only, used by DataFrame input only


def _check_units(units: Any) -> None:
    if isinstance(units, (str, bytes)) or not isinstance(units, Sequence):
        raise ConfigError(
            message(
                "MLP units must be a sequence of hidden layer sizes.",
                repr(units),
                "a tuple of positive ints such as (256, 128), or () for no hidden layer",
                f"Pass units=({units!r},) for a single hidden layer.",
            )
        )
    bad = [u for u in units if not isinstance(u, int) or isinstance(u, bool) or u < 1]
    if bad:
        raise ConfigError(
            message(
                "MLP units must be positive ints.",
                f"units={units!r}",
                "a tuple of positive ints such as (256, 128)",
                f"Remove or fix {bad!r}.",
            )
        )


def _check_tabular(categorical: Any, embedding_size: Any) -> None:
    if categorical is not None and (
        isinstance(categorical, (str, bytes))
        or not isinstance(categorical, Sequence)
        or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in categorical)
    ):
        raise ConfigError(
            message(
                "MLP categorical must be a sequence of column names.",
                repr(categorical),
                "None or names such as ('zip_code', 'store_id')",
                f"Pass categorical=({categorical!r},) for a single column.",
            )
        )
    widths = (
        list(embedding_size.values()) if isinstance(embedding_size, Mapping) else [embedding_size]
    )
    if embedding_size is not None and not all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
    ):
        raise ConfigError(
            message(
                "MLP embedding_dim must be a positive int or a dict of them.",
                f"embedding_dim={embedding_size!r}",
                "None (fastai's rule), an int >= 1 for every column, or {column: int}",
                "Pass e.g. embedding_dim={'city': 8}.",
            )
        )


class MLP(Model):
    """A stack of fully connected blocks and a linear output layer.

    Args:
        units: hidden layer sizes, first to last; ``()`` gives a plain linear model.
        outputs: size of the output layer: the number of classes for ``cross_entropy``, 1 for a
            binary logit or a single regression target.
        activation: the hidden activation, a name (``"relu"``, ``"gelu"``, ``"tanh"``, ...) or a
            callable.
        dropout: dropout rate after each hidden activation, in ``[0, 1)``; 0 adds no dropout layer.
        norm: ``None``, ``"batch"`` (BatchNorm) or ``"layer"`` (LayerNorm), between each hidden
            ``Dense`` and its activation.

        categorical: tabular mode only: column names to treat as categorical whatever their dtype
            (int codes such as zip codes); bool, object, string and category columns always are.
        embedding_dim: tabular mode only: the width of every entity embedding (an int), or
            ``{column: width}``; unnamed columns use fastai's rule
            ``min(600, round(1.6 * K ** 0.56))`` for ``K`` codes (the categories plus the
            unknown/missing index 0).

    Input ``(N, ...)`` is flattened to ``(N, features)``; output ``(N, outputs)``.

    >>> MLP(units=(8, 4), outputs=2)(torch.ones(5, 2, 3)).shape
    torch.Size([5, 2])

    Given a DataFrame, the first ``fit`` learns the columns (``model.tabular.columns_``, see
    :class:`TabularEncoder`); later calls take the same columns in any order, and unseen
    categories map to the unknown index:

    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"age": [25, 32, 47, 51, None, 38], "job": ["a", "b", "a", "c", "b", None]}
    ... )
    >>> model = MLP(units=(8,), outputs=2).compile(optimizer="adam", loss="cross_entropy")
    >>> history = model.fit(frame, [0, 1, 0, 1, 1, 0], epochs=2, verbose=0, seed=0)
    >>> [(column["name"], column["kind"]) for column in model.tabular.columns_]
    [('age', 'numeric'), ('job', 'categorical')]
    >>> model.predict(frame[["job", "age"]].assign(job="unseen")).shape
    (6, 2)
    """

    _lamina_name = "lamina.models.MLP"

    def __init__(
        self,
        units: Sequence[int] = (256, 128),
        outputs: int = 1,
        activation: str | Callable[..., Any] = "relu",
        dropout: float = 0.0,
        norm: str | None = None,
        *,
        categorical: Sequence[str] | None = None,
        embedding_dim: int | Mapping[str, int] | None = None,
        **renamed: Any,
    ) -> None:
        super().__init__()
        refuse_renamed("MLP", renamed)
        embedding_size = embedding_dim
        _check_units(units)
        _check_tabular(categorical, embedding_size)
        if not isinstance(outputs, int) or isinstance(outputs, bool) or outputs < 1:
            raise ConfigError(
                message(
                    "MLP outputs must be a positive int.",
                    f"outputs={outputs!r}",
                    "an int >= 1",
                    "Pass outputs=10 for ten classes.",
                )
            )
        if norm is not None and norm not in NORMS:
            raise ConfigError(
                message(
                    "Unknown MLP norm.",
                    repr(norm),
                    "None, 'batch' or 'layer'",
                    "Pass norm='batch' or norm='layer', or leave it None.",
                )
            )
        check_dropout("MLP", dropout)
        self.units, self.outputs, self.activation = units, outputs, activation
        self.dropout, self.norm = dropout, norm
        self.categorical, self.embedding_dim = categorical, embedding_size
        layers: list[nn.Module] = []
        for width in units:
            layers.append(Dense(width))
            if norm is not None:
                layers.append(BatchNorm() if norm == "batch" else LayerNorm())
            layers.append(Activation(activation))
            if dropout:
                layers.append(Dropout(dropout))
        self.hidden = nn.Sequential(*layers)
        self.head = Dense(outputs)

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as given; ``categorical``/``embedding_dim`` only when not None.

        Leaving the unset tabular arguments out keeps the params, saved specs and checkpoint
        fingerprints of array MLPs exactly as before the tabular mode existed.
        """
        params = super().get_params()
        return {k: v for k, v in params.items() if k not in TABULAR_ARGUMENTS or v is not None}

    def set_params(self, **params: Any) -> Model:
        """As ``Model.set_params``; ``categorical`` and ``embedding_dim`` are accepted even when
        unset."""
        given = {k: params.pop(k) for k in TABULAR_ARGUMENTS if k in params}
        if given and not set(params) - set(
            self.get_params()
        ):  # unknown names: the base call below raises
            _check_tabular(
                given.get("categorical", self.categorical),
                given.get("embedding_dim", self.embedding_dim),
            )
            self.__dict__["_lamina_config"].update(
                given
            )  # the rebuild below reads them back through get_params()
        return super().set_params(**params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "tabular" in self._modules:
            x = self.tabular(x)  # encoded rows (N, columns) -> (N, numbers + embeddings)
        return self.head(
            self.hidden(x.reshape(len(x), -1))
        )  # (N, ...) -> (N, features) -> (N, outputs)

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        """DataFrames go through the tabular encoder, learned at the first fit of an unbuilt
        model."""
        if is_dataframe(x):
            if "tabular" not in self._modules and name == "fit" and not self.is_built():
                device = next(self.parameters()).device
                self.tabular = (
                    TabularEncoder().adapt(x, self.categorical, self.embedding_dim).to(device)
                )
            if "tabular" in self._modules:
                x = cast(TabularEncoder, self._modules["tabular"]).transform(x)
        return super()._tensors(x, y, name)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Loading a tabular model into a fresh MLP: make the encoder, which then sizes itself from
        # its extra state.
        if prefix + "tabular._extra_state" in state_dict and "tabular" not in self._modules:
            self.tabular = TabularEncoder()
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
