"""What the network recommenders share: a ``lamina.Model`` on the recommender API.

:class:`NetworkRecommender` joins :class:`~lamina.models.recommend.base.RecommenderMixin` (ids,
histories, ``recommend``, ``evaluate_ranking``) and ``lamina.Model`` (``compile``, ``fit``,
callbacks, ``save``). A family (``MatrixFactorization``, ``TwoTower``, ``SASRec``, ``GRU4Rec``)
implements four methods:

* ``build_network()``: make (or keep) its layers for the catalogue in ``users_`` and ``items_``;
* ``training_rows(interactions)``: the (rows, ...) int64 array that ``fit`` batches;
* ``query_vectors(users, histories)``: (n, d) query vectors of user codes or item-code histories;
* ``item_vectors()``: (items, d) item vectors, so that ``score = query @ items.T``.

Every family is thus a dot-product model: ``embed(users=..., histories=...)`` and
``item_embeddings()`` give the vectors as NumPy arrays for an inner-product index (FAISS), with
``score == embed @ item_embeddings().T`` (an item bias is folded in as one more dimension: the
query gets a 1, the item its bias).

Saving goes through the safetensors artifact: the catalogue (user and item ids, item names) is the
model's JSON extra state, and the training histories are the persistent buffers
``history_indptr`` and ``history_items``, so a loaded model excludes the same items and
recommends the same lists. ``fit(train, validation_data=test)`` reports ranking metrics over the
full catalogue after each epoch (``val_hr@10``, ``val_ndcg@10``, ``val_mrr``, ...), so
``EarlyStopping(monitor="val_ndcg@10", patience=...)`` works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lamina.core.errors import ConfigError, DataError, message
from lamina.models.base import Model
from lamina.models.recommend.base import RecommenderMixin
from lamina.train.callback_base import Callback, History

__all__ = [
    "NetworkRecommender",
    "RankingValidation",
    "basket_numbers",
    "check_count",
    "check_positive",
    "left_padded",
    "training_windows",
]


def check_count(owner: str, name: str, value: Any, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or a ConfigError naming the argument and the value.

    >>> check_count("SASRec", "max_length", 50)
    50
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(
            message(
                f"{owner} needs {name} to be an int >= {low}.",
                f"{name}={value!r}",
                f"an int >= {low}",
                f"Pass e.g. {name}={max(low, 64) if 'dim' in name else max(low, 2)}.",
            )
        )
    return int(value)


def check_positive(owner: str, name: str, value: Any, zero: bool = False) -> float:
    """``value`` as a float > 0 (>= 0 with ``zero``), or a ConfigError naming it.

    >>> check_positive("MatrixFactorization", "l2", 0.0, zero=True)
    0.0
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not np.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        raise ConfigError(
            message(
                f"{owner} needs {name} to be a number {'>=' if zero else '>'} 0.",
                f"{name}={value!r}",
                f"a finite number {'>=' if zero else '>'} 0",
                f"Pass e.g. {name}=1e-4.",
            )
        )
    return float(value)


def left_padded(histories: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """The last ``length`` items of each history as a (n, length) tensor of codes + 1, 0 before.

    >>> left_padded([np.array([4, 5, 6]), np.array([], dtype=np.int64)], 2).tolist()
    [[6, 7], [0, 0]]
    """
    out = np.zeros((len(histories), length), dtype=np.int64)
    for row, history in enumerate(histories):
        tail = np.asarray(history, dtype=np.int64)[-length:]
        if len(tail):
            out[row, length - len(tail) :] = tail + 1
    return torch.from_numpy(out)


def training_windows(indptr: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """Next-item training windows of every user's history: (windows, length + 1) of values + 1.

    A user's history (``values[indptr[u]:indptr[u + 1]]``, e.g. item codes) is cut from its end
    into windows of ``length`` targets (each with the item before it as first input), so every
    item after a user's first is a target exactly once. Windows are left-padded with 0; users
    with one item give none.

    >>> training_windows(np.array([0, 5]), np.arange(5), 2).tolist()
    [[3, 4, 5], [1, 2, 3]]
    """
    rows = []
    for user in range(len(indptr) - 1):
        history = values[indptr[user] : indptr[user + 1]] + 1
        for end in range(len(history), 1, -length):
            window = history[max(0, end - length - 1) : end]
            rows.append(np.pad(window, (length + 1 - len(window), 0)))
    if not rows:
        return np.zeros((0, length + 1), dtype=np.int64)
    return np.stack(rows).astype(np.int64)


def basket_numbers(interactions: Any, users: pd.Index) -> np.ndarray:
    """For each place of the training histories (by user, then time), the number of its basket.

    A basket is one user's items with the same time; numbers increase along every history.
    The places follow ``RecommenderMixin``'s history order (a stable sort by time, then by user).

    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> table = pd.DataFrame({"user": [1, 2, 1, 1], "time": [5, 5, 5, 6]})
    >>> basket_numbers(SimpleNamespace(table=table), pd.Index([1, 2])).tolist()
    [0, 0, 1, 2]
    """
    table = interactions.table.sort_values("time", kind="stable")
    codes = users.get_indexer(table["user"])
    order = np.argsort(codes, kind="stable")
    codes, times = codes[order], table["time"].to_numpy()[order]
    new = np.ones(len(codes), dtype=np.int64)
    new[1:] = (codes[1:] != codes[:-1]) | (times[1:] != times[:-1])
    return np.cumsum(new) - 1


class RankingValidation(Callback):
    """After each epoch, ranking metrics of the model on held-out interactions, as ``val_*`` logs.

    ``NetworkRecommender.fit(validation_data=...)`` puts it first among the callbacks, so that
    ``EarlyStopping``, the progress bar and the ``History`` see ``val_hr@10``, ``val_ndcg@10``,
    ``val_mrr``, ``val_recall@10`` and ``val_coverage``.

    Args:
        data: ``lamina.data.Interactions`` to evaluate on (e.g. ``leave_last_out(train)[1]``).
        k: the cut-off of the metrics.
    """

    def __init__(self, data: Any, k: int = 10) -> None:
        self.data, self.k = data, k

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        if not isinstance(logs, dict):
            return
        model: Any = self.model
        scores = model.evaluate_ranking(self.data, k=self.k)
        for name in (f"hr@{self.k}", f"ndcg@{self.k}", "mrr", f"recall@{self.k}", "coverage"):
            logs[f"val_{name}"] = scores[name]


class NetworkRecommender(RecommenderMixin, Model):
    """Base of the network recommenders (see the module doc); not used on its own."""

    _lamina_name = "lamina.models.recommend.NetworkRecommender"
    default_loss = "cross_entropy"
    batch_size = 256  # fit's default rows per step
    learning_rate = 1e-3  # compile's default for a named optimizer
    history_indptr: torch.Tensor
    history_items: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("history_indptr", torch.zeros(1, dtype=torch.long))
        self.register_buffer("history_items", torch.zeros(0, dtype=torch.long))

    # The mixin's history arrays live in the buffers, so they are saved with the weights.
    @property  # type: ignore[override]
    def _history_indptr(self) -> np.ndarray:
        return self.history_indptr.cpu().numpy()  # type: ignore[no-any-return]

    @_history_indptr.setter
    def _history_indptr(self, value: np.ndarray) -> None:
        self.history_indptr = torch.as_tensor(np.asarray(value), dtype=torch.long)

    @property  # type: ignore[override]
    def _history_items(self) -> np.ndarray:
        return self.history_items.cpu().numpy()  # type: ignore[no-any-return]

    @_history_items.setter
    def _history_items(self, value: np.ndarray) -> None:
        self.history_items = torch.as_tensor(np.asarray(value), dtype=torch.long)

    # ------------------------------------------------------------------ family hooks
    def build_network(self) -> bool:
        """Make the layers for the catalogue; returns True when they were (re)made."""
        raise NotImplementedError

    def training_rows(self, interactions: Any) -> np.ndarray:
        """The int64 rows that ``fit`` batches (after the catalogue and network exist)."""
        raise NotImplementedError

    def query_vectors(
        self, users: torch.Tensor | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        """(n, d) query vectors for user codes, or for item-code histories."""
        raise NotImplementedError

    def item_vectors(self) -> torch.Tensor:
        """(items, d) item vectors."""
        raise NotImplementedError

    def learn_features(self, interactions: Any) -> None:
        """Learn side features of the interactions (before ``build_network``); none by default."""

    def network_state(self) -> dict[str, Any]:
        """Extra JSON a family saves besides the catalogue (e.g. its side-feature vocabulary)."""
        return {}

    def set_network_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`network_state` returned (before ``build_network``)."""

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict[str, Any] | None:
        """The catalogue (ids, item names) and the family's JSON state, for the manifest."""
        if self.users_ is None:
            return None
        catalogue, _ = self.catalogue_state()
        return {
            "catalogue": catalogue,
            "interactions": int(self.history_items.numel()),
            **self.network_state(),
        }

    def set_extra_state(self, state: Any) -> None:
        """Restore the catalogue and size the buffers and layers; weights already there are kept."""
        if not state:
            return
        catalogue = state["catalogue"]
        self.users_, self.items_ = pd.Index(catalogue["users"]), pd.Index(catalogue["items"])
        names = catalogue.get("item_names")
        self.item_names_ = None
        if names:
            pairs = zip(catalogue["items"], names)
            self.item_names_ = {item: name for item, name in pairs if name is not None}
        device = self.history_items.device
        if self.history_indptr.numel() != len(self.users_) + 1:
            self.history_indptr = torch.zeros(len(self.users_) + 1, dtype=torch.long, device=device)
        if self.history_items.numel() != state["interactions"]:
            self.history_items = torch.zeros(state["interactions"], dtype=torch.long, device=device)
        self.set_network_state(state)
        self.build_network()

    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        *,
        learning_rate: float | None = None,
        **options: Any,
    ) -> Any:
        """``Model.compile`` with the family's default loss and, for a named optimizer, its
        default ``learning_rate``. Returns the model."""
        if learning_rate is None and isinstance(optimizer, str):
            learning_rate = self.learning_rate
        loss = self.default_loss if loss is None else loss
        return super().compile(optimizer, loss, metrics, learning_rate=learning_rate, **options)

    def is_built(self) -> bool:
        """True once the network has been made for a catalogue (by ``fit`` or a load)."""
        return (
            self.users_ is not None and any(True for _ in self.parameters()) and super().is_built()
        )

    # ------------------------------------------------------------------ training
    def fit(  # type: ignore[override]
        self,
        x: Any,
        y: Any = None,
        *,
        epochs: int = 1,
        batch_size: int | None = None,
        validation_data: Any = None,
        callbacks: Sequence[Callback] | None = None,
        **options: Any,
    ) -> History:
        """Learn the catalogue and the network from implicit feedback. Returns a ``History``.

        Args:
            x: ``lamina.data.Interactions`` (e.g. the train part of ``leave_last_out``).
            y: must be None: the interactions are their own targets.
            epochs: passes over the training rows.
            batch_size: rows per optimisation step (default: the family's ``batch_size``).
            validation_data: held-out ``Interactions``; after each epoch the ranking metrics on
                them are logged as ``val_hr@10``, ``val_ndcg@10``, ``val_mrr``, ...
            callbacks: ``lamina.callbacks`` (e.g. ``EarlyStopping(monitor="val_ndcg@10")``).
            **options: other ``Model.fit`` options (``seed``, ``verbose``, ``device``, ...).
        """
        self._compiled_or_raise("fit")
        name = type(self).__name__
        if y is not None or options.get("validation_split"):
            raise ConfigError(
                message(
                    f"{name}.fit() takes interactions alone.",
                    f"y of type {type(y).__name__}, "
                    f"validation_split={options.get('validation_split')!r}",
                    "y=None and validation_data=held-out Interactions",
                    "Hold out with lamina.data.leave_last_out(train) and pass "
                    "validation_data=that test part.",
                )
            )
        if validation_data is not None and not hasattr(validation_data, "table"):
            raise DataError(
                message(
                    f"{name}.fit() validates on held-out interactions.",
                    f"validation_data of type {type(validation_data).__name__}",
                    "a lamina.data.Interactions",
                    "Pass the test part of lamina.data.leave_last_out(train).",
                )
            )
        self._set_catalogue(x)
        if not self.history_items.numel():
            raise DataError(
                message(
                    f"{name}.fit() got no interactions.",
                    repr(x)[:120],
                    "at least one (user, item, time) row",
                    "Check the cleaning and the split that produced the interactions.",
                )
            )
        if options.get("seed") is not None:
            torch.manual_seed(options["seed"])  # the initial weights, as Model.fit seeds the rest
        self.learn_features(x)
        if self.build_network():
            self.optimizer = None  # made again for the new parameters
        rows = self.training_rows(x)
        every = list(callbacks or [])
        if validation_data is not None:
            every.insert(0, RankingValidation(validation_data))
        size = self.batch_size if batch_size is None else batch_size
        return super().fit(rows, epochs=epochs, batch_size=size, callbacks=every, **options)

    def evaluate(  # type: ignore[override]
        self, x: Any, y: Any = None, *, batch_size: int = 512, k: int = 10
    ) -> dict[str, float]:
        """Ranking metrics on held-out interactions (:meth:`evaluate_ranking`)."""
        return self.evaluate_ranking(x, k=k, batch_size=batch_size)

    # ------------------------------------------------------------------ vectors and scores
    def _device(self) -> torch.device:
        return self.history_items.device

    def _evaluated(self, compute: Any) -> torch.Tensor:
        """``compute()`` in eval mode, without gradients, as float32."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = compute()
        self.train(was_training)
        return out.float()  # type: ignore[no-any-return]

    def _queries_of(
        self, users: np.ndarray | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        codes = None if users is None else torch.as_tensor(users, device=self._device())
        return self._evaluated(lambda: self.query_vectors(codes, histories))

    def _score_codes(
        self, users: np.ndarray | None, histories: list[np.ndarray] | None
    ) -> torch.Tensor:
        self._require_catalogue("score")
        queries = self._queries_of(users, histories)
        return (queries @ self._evaluated(self.item_vectors).T).cpu()

    def embed(self, users: Any = None, histories: Any = None) -> np.ndarray:
        """Query vectors of known users (ids) or of histories (lists of item ids).

        Returns:
            (n, d) float32, with ``score(...) == embed(...) @ item_embeddings().T``.
        """
        user_codes, history_codes, _ = self._queries(users, histories)
        return self._queries_of(user_codes, history_codes).cpu().numpy()  # type: ignore[no-any-return]

    def item_embeddings(self) -> np.ndarray:
        """The (items, d) float32 item vectors, rows in the order of ``items_``."""
        self._require_catalogue("item_embeddings")
        return self._evaluated(self.item_vectors).cpu().numpy()  # type: ignore[no-any-return]
