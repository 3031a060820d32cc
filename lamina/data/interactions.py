"""Implicit feedback from a transaction log, and time-ordered splits for recommenders.

``interactions`` cleans a purchase log (cancelled invoices, non-positive quantities and missing
customers dropped; by default only the first purchase of each (user, item) kept) into an
:class:`Interactions`: the table, the user and item ids (position = integer code), item features
(description, median price) and user features (country). ``leave_last_out`` holds out each user's
latest new item and ``time_cut`` splits at one date; ``check_time_leakage`` reports any test
interaction that precedes a training interaction of the same user.

>>> import pandas as pd
>>> log = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": ["a", "b", "c", "a", "c"],
...                     "time": pd.to_datetime([1, 2, 3, 1, 5], unit="D")})
>>> data = interactions(log, "user", "item", "time")
>>> train, test = leave_last_out(data)
>>> list(test.table["item"]), len(train.table), check_time_leakage(train, test)
(['c', 'c'], 3, [])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.errors import ConfigError, DataError, message

__all__ = ["Interactions", "check_time_leakage", "interactions", "leave_last_out", "time_cut"]

COLUMNS = ("user", "item", "time")


@dataclasses.dataclass
class Interactions:
    """Implicit feedback: who interacted with what, and when.

    Args:
        table: one row per interaction, columns ``user``, ``item``, ``time`` (pandas datetime),
            plus ``quantity``, ``price`` and ``purchases`` (cleaned rows behind a first purchase)
            when known; sorted by time, then user, then item.
        users: the sorted unique user ids; a user's position is its integer code.
        items: the sorted unique item ids; an item's position is its integer code.
        item_features: indexed by item: ``description`` and/or ``price`` (median), or None.
        user_features: indexed by user: ``country``, or None.
        dropped: how many rows the cleaning or the split left out, by reason.

    The two parts of a split share ``users``, ``items`` and the features of their source, so the
    codes of one part are valid in the other.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [2, 1, 2], "item": ["b", "a", "a"], "time": [1, 2, 3]})
    >>> data = interactions(log, "user", "item", "time")
    >>> list(data.users), list(data.items), data.matrix().toarray().tolist()
    ([1, 2], ['a', 'b'], [[1.0, 0.0], [1.0, 1.0]])
    """

    table: pd.DataFrame
    users: pd.Index
    items: pd.Index
    item_features: pd.DataFrame | None = None
    user_features: pd.DataFrame | None = None
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"lamina.data.Interactions({len(self.table)} interactions, {len(self.users)} users, "
            f"{len(self.items)} items)"
        )

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """The integer codes of the table's users and items.

        Returns:
            Two int64 arrays ``(N,)``: user codes into ``users``, item codes into ``items``.

        >>> import pandas as pd
        >>> log = pd.DataFrame({"u": [5, 3], "i": [1, 1], "t": [1, 2]})
        >>> data = interactions(log, "u", "i", "t")
        >>> [codes.tolist() for codes in data.codes()]
        [[1, 0], [0, 0]]
        """
        users = self.users.get_indexer(self.table["user"])
        items = self.items.get_indexer(self.table["item"])
        return users.astype(np.int64), items.astype(np.int64)

    def matrix(self) -> Any:
        """The user x item 0/1 matrix of the table's rows.

        Returns:
            A ``scipy.sparse.csr_matrix`` of shape ``(len(users), len(items))``, 1.0 where the user
            interacted with the item.

        >>> import pandas as pd
        >>> log = pd.DataFrame({"u": [1, 1], "i": [1, 2], "t": [1, 2]})
        >>> data = interactions(log, "u", "i", "t")
        >>> data.matrix().shape, data.matrix().nnz
        ((1, 2), 2)
        """
        from scipy import sparse

        users, items = self.codes()
        values = np.ones(len(users), dtype=np.float32)
        shape = (len(self.users), len(self.items))
        matrix = sparse.csr_matrix((values, (users, items)), shape=shape)
        matrix.data[:] = 1.0  # repeated (user, item) rows sum on construction; keep 0/1
        return matrix

    def summary(self) -> dict[str, Any]:
        """Counts, density, interactions per user and per item, and the repeat rate.

        Returns:
            A JSON-able dict: ``users``, ``items``, ``interactions``, ``density`` (distinct pairs
            over users x items), ``per_user`` and ``per_item`` (min, quartiles, 90%, max of the
            distinct items per user and users per item), ``repeat_rate`` (share of distinct
            (user, item) pairs bought more than once) and ``dropped``.

        >>> import pandas as pd
        >>> log = pd.DataFrame({"u": [1, 1, 2], "i": [1, 1, 2], "t": [1, 2, 3]})
        >>> summary = interactions(log, "u", "i", "t").summary()
        >>> summary["interactions"], summary["repeat_rate"], summary["dropped"]
        (2, 0.5, {'repeat_purchases': 1})
        """
        table = self.table
        pairs = table.groupby(["user", "item"], sort=False).size()
        if "purchases" in table:
            pairs = table.groupby(["user", "item"], sort=False)["purchases"].sum()
        distinct = len(pairs)
        cells = len(self.users) * len(self.items)

        def spread(counts: pd.Series) -> dict[str, float]:
            if counts.empty:
                return {}
            levels = {"min": 0.0, "q25": 0.25, "median": 0.5, "q75": 0.75, "q90": 0.9, "max": 1.0}
            return {name: float(counts.quantile(level)) for name, level in levels.items()}

        return {
            "users": len(self.users),
            "items": len(self.items),
            "interactions": len(table),
            "density": distinct / cells if cells else 0.0,
            "per_user": spread(pairs.groupby(level="user").size()),
            "per_item": spread(pairs.groupby(level="item").size()),
            "repeat_rate": float((pairs > 1).mean()) if distinct else 0.0,
            "dropped": {key: int(value) for key, value in self.dropped.items()},
        }


def _sorted_ids(values: pd.Series) -> pd.Index:
    unique = pd.Index(values.unique())
    try:
        return unique.sort_values()
    except TypeError:  # ids of mixed types: compare them as text
        return pd.Index(unique.astype(str)).sort_values()


def _frame(source: Any, options: dict[str, Any] | None = None) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    from lamina.data.sources import load

    data = load(source, **(options or {}))
    if not isinstance(data.x, pd.DataFrame):
        raise DataError(
            message(
                "interactions needs a table.",
                type(data.x).__name__,
                "a DataFrame, CSV, Parquet or SQL source with user, item and time columns",
                "Pass a table of the transaction log.",
            )
        )
    if isinstance(data.x_test, pd.DataFrame):  # a bundled log's given split: one log again
        return pd.concat([data.x, data.x_test], ignore_index=True)
    return data.x


def _most_common(frame: pd.DataFrame, key: str, column: str) -> pd.Series:
    """The most frequent value of ``column`` for each ``key`` (ties: the first in sort order)."""
    counts = frame.groupby([key, column], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values("n", ascending=False, kind="stable")
    return counts.drop_duplicates(key).set_index(key)[column].sort_index()


def interactions(
    source: Any,
    user: str,
    item: str,
    time: str,
    *,
    quantity: str | None = None,
    price: str | None = None,
    invoice: str | None = None,
    description: str | None = None,
    country: str | None = None,
    first_purchase: bool = True,
    options: dict[str, Any] | None = None,
) -> Interactions:
    """Turn a transaction log into implicit feedback.

    Cleaning: rows whose ``invoice`` starts with ``"C"`` (cancellations), rows with a quantity
    that is not positive and rows without a user, item or parseable time are dropped; with
    ``first_purchase`` only the earliest row of each (user, item) is kept (ties: the first in the
    log), with the number of cleaned rows behind it in ``purchases``. Whole-number float user ids
    (``17850.0``) become integers.

    Args:
        source: a pandas DataFrame or anything ``lamina.data.load`` reads (CSV, Parquet, SQL URL).
        user: the user (customer) column.
        item: the item (product) column.
        time: the time column; parsed with ``pandas.to_datetime``.
        quantity: the quantity column, if any (kept as ``quantity``).
        price: the unit price column, if any (kept as ``price``; median per item in the features).
        invoice: the invoice column, if any (used only to drop cancellations).
        description: the item description column, if any (item features).
        country: the user country column, if any (user features).
        first_purchase: keep only the first purchase of each (user, item).
        options: options of ``lamina.data.load`` for ``source``, e.g. ``{"table": "sales"}`` or
            ``{"query": "select ..."}`` for an SQL URL.

    Returns:
        An :class:`Interactions`; ``dropped`` counts the rows left out by reason.

    Raises:
        DataError: a missing column, or no interaction left after cleaning.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"InvoiceNo": ["1", "C2", "3", "4"], "CustomerID": [7.0, 7.0, None, 7.0],
    ...                     "StockCode": ["x", "y", "x", "z"], "Quantity": [2, -2, 1, 0],
    ...                     "InvoiceDate": ["2011-01-01"] * 4})
    >>> data = interactions(log, "CustomerID", "StockCode", "InvoiceDate", quantity="Quantity",
    ...                     invoice="InvoiceNo")
    >>> data.table[["user", "item", "quantity"]].values.tolist(), data.dropped
    ([[7, 'x', 2]], {'cancelled': 1, 'non_positive_quantity': 1, 'missing_user': 1})
    """
    frame = _frame(source, options)
    named = {"user": user, "item": item, "time": time, "quantity": quantity, "price": price}
    named.update({"invoice": invoice, "description": description, "country": country})
    named = {key: column for key, column in named.items() if column is not None}
    missing = [column for column in named.values() if column not in frame.columns]
    if missing:
        raise DataError(
            message(
                "Columns not found in the transaction log.",
                missing,
                f"columns of the table: {list(frame.columns)}",
                "Pass the names of the user, item and time columns as they are spelled there.",
            )
        )
    table = frame[list(named.values())].set_axis(list(named), axis=1).reset_index(drop=True)
    dropped: dict[str, int] = {}

    def drop(reason: str, rows: pd.Series) -> None:
        nonlocal table
        if rows.any():
            dropped[reason] = int(rows.sum())
            table = table[~rows.to_numpy()]

    if "invoice" in table:
        drop("cancelled", table["invoice"].astype(str).str.upper().str.startswith("C"))
    if "quantity" in table:
        drop("non_positive_quantity", ~(pd.to_numeric(table["quantity"], errors="coerce") > 0))
    drop("missing_user", table["user"].isna())
    drop("missing_item", table["item"].isna())
    table = table.assign(time=pd.to_datetime(table["time"], errors="coerce"))
    drop("missing_time", table["time"].isna())
    if table.empty:
        raise DataError(
            message(
                "No interaction is left after cleaning the transaction log.",
                f"{len(frame)} rows, dropped {dropped}",
                "rows with a user, an item, a time, a positive quantity and no cancellation",
                "Check the column names and the values of the log.",
            )
        )
    ids = table["user"]
    if ids.dtype.kind == "f" and bool((ids == ids.round()).all()):
        table = table.assign(user=ids.astype(np.int64))
    table = table.sort_values(["time", "user", "item"], kind="stable").reset_index(drop=True)
    cleaned = table
    if first_purchase:
        purchases = table.groupby(["user", "item"], sort=False)["time"].transform("size")
        table = table.assign(purchases=purchases.astype(np.int64))
        table = table.drop_duplicates(["user", "item"]).reset_index(drop=True)
        if len(table) < len(cleaned):
            dropped["repeat_purchases"] = len(cleaned) - len(table)
    keep = [column for column in (*COLUMNS, "quantity", "price", "purchases") if column in table]
    item_features, user_features = None, None
    features = [column for column in ("description", "price") if column in cleaned]
    if features:
        item_features = pd.DataFrame(index=_sorted_ids(table["item"]))
        if "description" in cleaned:
            item_features["description"] = _most_common(cleaned, "item", "description")
        if "price" in cleaned:
            prices = pd.to_numeric(cleaned["price"], errors="coerce")
            item_features["price"] = prices.groupby(cleaned["item"]).median()
        item_features.index.name = "item"
    if "country" in cleaned:
        user_features = _most_common(cleaned, "user", "country").to_frame()
        user_features.index.name = "user"
    return Interactions(
        table=table[keep],
        users=_sorted_ids(table["user"]),
        items=_sorted_ids(table["item"]),
        item_features=item_features,
        user_features=user_features,
        dropped=dropped,
    )


def _part(source: Interactions, table: pd.DataFrame, dropped: dict[str, int]) -> Interactions:
    return dataclasses.replace(source, table=table.reset_index(drop=True), dropped=dropped)


def leave_last_out(
    interactions: Interactions, min_items: int = 2, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Hold out each user's latest new item.

    For each user with at least ``min_items`` distinct items, the item whose first interaction is
    the latest becomes that user's one test interaction. Items first bought at the same latest
    time (one basket has no order inside it) are drawn from at random with ``seed``, so the
    held-out item is neither always the first nor always the last line of an invoice; later
    repeat rows of other items and the other rows of the held-out item are left out, so no test
    interaction precedes a training one. Users with fewer items stay in train only.

    Args:
        interactions: the source :class:`Interactions`.
        min_items: the fewest distinct items a user needs to get a held-out item (at least 2).
        seed: the seed of the draw among items first bought at the same latest time.

    Returns:
        ``(train, test)`` :class:`Interactions`; ``test`` has one row per test user, and
        ``dropped`` of ``train`` counts the rows left out (``after_test``).

    Raises:
        ConfigError: ``min_items`` below 2.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"u": [1, 1, 1, 2], "i": ["a", "c", "b", "a"], "t": [1, 3, 2, 1]})
    >>> train, test = leave_last_out(interactions(log, "u", "i", "t"))
    >>> test.table[["user", "item"]].values.tolist(), len(train.table)
    ([[1, 'c']], 3)
    """
    if not isinstance(min_items, int) or min_items < 2:
        raise ConfigError(
            message(
                "leave_last_out needs min_items of at least 2.",
                repr(min_items),
                "an integer >= 2 (a user with one item would have nothing left to learn from)",
                "Pass min_items=2 or more.",
            )
        )
    table = interactions.table.reset_index(drop=True)
    firsts = table.sort_values(["time", "item"], kind="stable").drop_duplicates(["user", "item"])
    counts = firsts.groupby("user")["item"].size()
    eligible = firsts[firsts["user"].isin(counts.index[counts >= min_items])]
    draw = np.random.default_rng(seed).random(len(eligible))
    held = (
        eligible.assign(_draw=draw)
        .sort_values(["user", "time", "_draw"], kind="stable")
        .drop_duplicates("user", keep="last")
        .drop(columns="_draw")
    )
    cut = table["user"].map(held.set_index("user")["time"])
    test_item = table["user"].map(held.set_index("user")["item"])
    leaves = cut.notna() & ((table["time"] > cut) | (table["item"] == test_item))
    train = table[~leaves.to_numpy()]
    dropped = {"after_test": int(leaves.sum()) - len(held)}
    test = table.loc[held.index].sort_values(["time", "user", "item"], kind="stable")
    return _part(interactions, train, dropped if dropped["after_test"] else {}), _part(
        interactions, test, {}
    )


def time_cut(interactions: Interactions, when: Any) -> tuple[Interactions, Interactions]:
    """Split at one point in time: rows before ``when`` train, rows on or after it test.

    The test rows are restricted to users and items seen in train; ``dropped`` of the test part
    counts the rows left out (``unknown_user``, ``unknown_item``).

    Args:
        interactions: the source :class:`Interactions`.
        when: the cut, anything ``pandas.Timestamp`` reads (``"2011-11-01"``, a datetime).

    Returns:
        ``(train, test)`` :class:`Interactions`.

    Raises:
        ConfigError: ``when`` is not a time. DataError: the cut leaves train or test empty.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"u": [1, 2, 1, 3], "i": ["a", "b", "b", "a"],
    ...                     "t": ["2024-01-01", "2024-01-02", "2024-02-01", "2024-02-02"]})
    >>> train, test = time_cut(interactions(log, "u", "i", "t"), "2024-02-01")
    >>> len(train.table), test.table[["user", "item"]].values.tolist(), test.dropped
    (2, [[1, 'b']], {'unknown_user': 1})
    """
    try:
        cut = pd.Timestamp(when)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            message(
                "time_cut needs a point in time.",
                repr(when),
                "a date or time such as '2011-11-01'",
                "Pass a date string, a datetime or a pandas Timestamp.",
            )
        ) from error
    table = interactions.table
    if table["time"].dt.tz is not None and cut.tzinfo is None:
        cut = cut.tz_localize(table["time"].dt.tz)
    before = (table["time"] < cut).to_numpy()
    train, test = table[before], table[~before]
    if train.empty or test.empty:
        raise DataError(
            message(
                f"The cut leaves the {'train' if train.empty else 'test'} part empty.",
                str(cut),
                f"a time after {table['time'].min()} and up to {table['time'].max()}",
                "Pick a cut inside the range of the log.",
            )
        )
    dropped = {}
    unknown_user = ~test["user"].isin(set(train["user"]))
    unknown_item = ~test["item"].isin(set(train["item"])) & ~unknown_user
    for reason, rows in (("unknown_user", unknown_user), ("unknown_item", unknown_item)):
        if rows.any():
            dropped[reason] = int(rows.sum())
    test = test[~(unknown_user | unknown_item).to_numpy()]
    return _part(interactions, train, {}), _part(interactions, test, dropped)


def check_time_leakage(train: Interactions, test: Interactions) -> list[dict[str, Any]]:
    """How a train/test split of interactions lets the future into training, as findings.

    Args:
        train: the training :class:`Interactions`.
        test: the test :class:`Interactions`.

    Returns:
        Dicts of ``check``, ``severity``, ``count`` and ``message`` (as
        ``lamina.prepare.check_leakage``): ``"time order"`` (fatal) counts the test interactions
        that precede a training interaction of the same user; ``"seen pair"`` (warning) counts
        test (user, item) pairs already in train. An empty list: no leakage found.

    >>> import pandas as pd
    >>> train = interactions(pd.DataFrame({"u": [1], "i": ["a"], "t": [5]}), "u", "i", "t")
    >>> test = interactions(pd.DataFrame({"u": [1], "i": ["b"], "t": [2]}), "u", "i", "t")
    >>> [(finding["check"], finding["count"]) for finding in check_time_leakage(train, test)]
    [('time order', 1)]
    """
    findings = []
    latest = train.table.groupby("user")["time"].max()
    cut = test.table["user"].map(latest)
    early = int((test.table["time"] < cut).sum())
    if early:
        users = test.table.loc[(test.table["time"] < cut).to_numpy(), "user"].nunique()
        findings.append(
            {
                "check": "time order",
                "severity": "fatal",
                "count": early,
                "message": f"{early} test interactions of {users} users precede a training "
                "interaction of the same user: the model would learn from the future. Split by "
                "time (leave_last_out or time_cut).",
            }
        )
    pairs = pd.MultiIndex.from_frame(test.table[["user", "item"]])
    seen = int(pairs.isin(pd.MultiIndex.from_frame(train.table[["user", "item"]])).sum())
    if seen:
        findings.append(
            {
                "check": "seen pair",
                "severity": "warning",
                "count": seen,
                "message": f"{seen} test (user, item) pairs are also in train; with seen items "
                "excluded from recommendations they can never be hit. Keep first purchases only.",
            }
        )
    return findings
