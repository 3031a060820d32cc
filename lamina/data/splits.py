"""Train/validation/test splits with leakage checks, and class-imbalance helpers (public in
``lamina.prepare``).

``split`` draws the rows of each set (random, stratified, by group or by time) and runs
``check_leakage``: a group in two sets or times out of order are fatal (``DataError``); test rows
with an exact copy among the training rows are reported. ``class_weights`` and ``resample`` treat
imbalanced classes.

>>> import pandas as pd
>>> frame = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "y": [0, 1] * 5})
>>> data = lamina.data.load(frame, "y")
>>> parts = split(data, "group", test_fraction=0.2, validation_fraction=0.0, group_column="patient")
>>> sorted(set(data.x["patient"][parts.test])), len(parts.train), parts.findings
([3], 8, [])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, DataError, message

__all__ = [
    "Split",
    "check_choice",
    "check_leakage",
    "class_weights",
    "is_frame",
    "resample",
    "split",
    "take_rows",
]

SETS = ("train", "validation", "test")


def is_frame(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame, without importing pandas.

    Args:
        x: any value.

    Returns:
        True for a ``pandas.DataFrame``.
    """
    return type(x).__module__.split(".")[0] == "pandas" and type(x).__name__ == "DataFrame"


def check_choice(what: str, value: Any, options: Sequence[Any]) -> None:
    """Raise ``ConfigError`` naming ``value`` and the ``options`` when it is not one of them."""
    if value not in options:
        raise ConfigError(
            message(
                f"Unknown {what}.", repr(value), f"one of {list(options)}", "Pass one of those."
            )
        )


@dataclasses.dataclass(repr=False, eq=False)
class Split:
    """Sorted row indices (int64 arrays) of the training, validation and test sets, how they were
    drawn, and the leakage findings (dicts of ``check``, ``severity``, ``count``, ``message``).

    ``to_dict()`` is JSON-able, and ``Split(**split.to_dict())`` rebuilds the split.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    kind: str = "random"
    seed: int = 0
    findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.train, self.validation, self.test = (
            np.asarray(getattr(self, name), dtype=np.int64) for name in SETS
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(getattr(self, name))}" for name in SETS)
        return f"lamina.prepare.Split({self.kind!r}, {sizes}, findings={len(self.findings)})"

    def to_dict(self) -> dict[str, Any]:
        """The indices as lists, the kind, the seed and the findings."""
        return {
            **{name: getattr(self, name).tolist() for name in SETS},
            "kind": self.kind,
            "seed": self.seed,
            "findings": self.findings,
        }


def take_rows(values: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of a DataFrame, an array or a list of texts."""
    if hasattr(values, "iloc"):
        return values.iloc[index].reset_index(drop=True)
    if isinstance(values, list):
        return [values[i] for i in index]
    return values[index]


def _column(dataset: Any, column: Any, what: str) -> np.ndarray:
    """The table column named ``column``, or ``column`` itself given one value per row."""
    if is_frame(dataset.x) and isinstance(column, (str, int)):
        if column not in dataset.x.columns:
            raise DataError(
                message(
                    f"{what} is not a column of the table.",
                    repr(column),
                    f"one of {[str(c) for c in dataset.x.columns][:30]}",
                    f"Fix {what}.",
                )
            )
        return np.asarray(dataset.x[column].to_numpy())
    if isinstance(column, str) or not hasattr(column, "__len__") or len(column) != len(dataset.x):
        raise ConfigError(
            message(
                f"{what} must name a table column or give one value per row.",
                repr(column)[:100],
                f"a column name or {len(dataset.x)} values",
                f"Pass {what}=...",
            )
        )
    return np.asarray(column)


def check_leakage(
    dataset: Any, split: Split, *, group_column: Any = None, time_column: Any = None
) -> list[dict]:
    """How ``split`` may leak information between its sets, as a list of findings.

    Args:
        dataset: anything with ``x`` (a DataFrame, an array or a list of texts).
        split: the :class:`Split` to check.
        group_column: a table column or one group per row: ``"group_overlap"`` (fatal) when a group
            is in two sets.
        time_column: a table column or one time per row: ``"time_order"`` (fatal) when a time in an
            earlier set (train, then validation, then test) comes after one in a later set.

    Returns:
        Dicts of ``check``, ``severity`` (``"fatal"`` or ``"warning"``), ``count`` and ``message``;
        always checked: ``"duplicates"`` (warning), test rows with an exact copy among the training
        rows.
    """
    import pandas

    findings, parts = [], [split.train, split.validation, split.test]
    pairs = [(a, b) for a, b in ((0, 1), (0, 2), (1, 2)) if len(parts[a]) and len(parts[b])]
    if group_column is not None:
        groups = _column(dataset, group_column, "group_column").astype(str)
        shared = sorted(
            set().union(*(set(groups[parts[a]]) & set(groups[parts[b]]) for a, b in pairs))
        )
        if shared:
            findings.append(
                {
                    "check": "group_overlap",
                    "severity": "fatal",
                    "count": len(shared),
                    "message": (
                        f"{len(shared)} group(s) in more than one set, e.g. {shared[:5]}: "
                        "use kind='group'"
                    ),
                }
            )
    if time_column is not None:
        times = _column(dataset, time_column, "time_column")
        late = [
            f"{SETS[a]} ends at {times[parts[a]].max()} after {SETS[b]} starts at "
            f"{times[parts[b]].min()}"
            for a, b in pairs
            if times[parts[a]].max() > times[parts[b]].min()
        ]
        if late:
            findings.append(
                {
                    "check": "time_order",
                    "severity": "fatal",
                    "count": len(late),
                    "message": "; ".join(late) + ": use kind='time'",
                }
            )
    x = dataset.x
    rows = (
        x
        if is_frame(x)
        else pandas.DataFrame(
            np.asarray(x, dtype=object if isinstance(x, list) else None).reshape(len(x), -1)
        )
    )
    try:  # pandas' 64-bit hash of each row
        hashes = pandas.util.hash_pandas_object(rows, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists)
        hashes = pandas.util.hash_pandas_object(rows.astype(str), index=False).to_numpy()
    copies = int(np.isin(hashes[split.test], hashes[split.train]).sum())
    if copies:
        findings.append(
            {
                "check": "duplicates",
                "severity": "warning",
                "count": copies,
                "message": f"{copies} test "
                "row(s) have an exact copy among the training rows: the test score may flatter",
            }
        )
    return findings


def split(
    dataset: Any,
    kind: str = "random",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    *,
    group_column: Any = None,
    time_column: Any = None,
    seed: int = 0,
) -> Split:
    """Split the rows of ``dataset`` into training, validation and test rows.

    Args:
        dataset: anything with ``x`` and ``y`` (a ``lamina.data.Dataset``).
        kind: ``"random"``, ``"stratified"`` (each class in the same shares), ``"group"`` (each
            group of ``group_column`` in one set) or ``"time"`` (by ``time_column``: the earliest
            rows train, the latest test).
        test_fraction: the test share of the rows (for groups: about).
        validation_fraction: the validation share; 0 for none.
        group_column: a table column name or one group per row; checked for overlap whatever the
            kind.
        time_column: a table column name or one time per row; checked for order whatever the kind.
        seed: the shuffle's seed.

    Returns:
        A :class:`Split` with the findings of :func:`check_leakage`.

    Raises:
        DataError: a fatal finding (a group in two sets, times out of order), or too few rows or
            groups.

    >>> parts = split(lamina.data.load("digits"), "stratified", seed=0)
    >>> len(parts.train), len(parts.validation), len(parts.test), parts.findings
    (1008, 143, 287, [])
    """
    check_choice("split kind", kind, ("random", "stratified", "group", "time"))
    if not (
        isinstance(test_fraction, float)
        and isinstance(validation_fraction, (int, float))
        and test_fraction > 0
        and validation_fraction >= 0
        and test_fraction + validation_fraction < 1
    ):
        raise ConfigError(
            message(
                "Split fractions out of range.",
                f"test_fraction={test_fraction!r}, validation_fraction={validation_fraction!r}",
                "test > 0, validation >= 0, their sum < 1",
                "Pass e.g. test_fraction=0.2, validation_fraction=0.1.",
            )
        )
    rows, rng = len(dataset.x), np.random.default_rng(seed)

    def cut(
        order: np.ndarray,
    ) -> list[np.ndarray]:  # the first rows train, then validation, the last test
        rest = len(order) - round(len(order) * test_fraction)
        return np.split(order, [rest - round(len(order) * validation_fraction), rest])

    if kind in ("random", "time"):
        parts = cut(
            rng.permutation(rows)
            if kind == "random"
            else np.argsort(_column(dataset, time_column, "time_column"), kind="stable")
        )
    elif kind == "stratified":
        if dataset.y is None:
            raise DataError(
                message(
                    "A stratified split needs labels.",
                    "y=None",
                    "a label per row",
                    "Load the data with target=..., or use kind='random'.",
                )
            )
        labels = np.unique(np.asarray(dataset.y).astype(str), return_inverse=True)[1]
        pieces = [
            cut(rng.permutation(np.flatnonzero(labels == k))) for k in range(labels.max() + 1)
        ]
        parts = [np.concatenate(piece) for piece in zip(*pieces)]
    else:
        # the groups in a random order: to the test set until it is full, then to validation, the
        # rest to train
        names, groups = np.unique(
            _column(dataset, group_column, "group_column").astype(str), return_inverse=True
        )
        order, sizes, before = (
            rng.permutation(len(names)),
            np.bincount(groups),
            np.empty(len(names)),
        )
        before[order] = np.cumsum(sizes[order]) - sizes[order]  # rows of the groups drawn earlier
        wanted = round(rows * test_fraction), round(rows * (test_fraction + validation_fraction))
        role = np.where(before < wanted[0], 2, np.where(before < wanted[1], 1, 0))[
            groups
        ]  # 2: test
        parts = [np.flatnonzero(role == r) for r in range(3)]
    if not len(parts[0]) or not len(parts[2]):
        raise DataError(
            message(
                "Too few rows or groups for this split.",
                f"{rows} rows: {len(parts[0])} train, {len(parts[2])} test",
                "a training and a test row at least",
                "Pass more data.",
            )
        )
    train, validation, test = (np.sort(part) for part in parts)
    result = Split(train, validation, test, kind=kind, seed=seed)
    result.findings = check_leakage(
        dataset, result, group_column=group_column, time_column=time_column
    )
    fatal = [finding["message"] for finding in result.findings if finding["severity"] == "fatal"]
    if fatal:
        raise DataError(
            message(
                "The split leaks information between its sets.",
                "; ".join(fatal),
                "no group in two sets, earlier sets before later ones in time",
                "Use the kind the message names.",
            )
        )
    return result


def class_weights(y: Any, strategy: str = "balanced") -> dict[Any, float]:
    """Per-class weights ``rows / (classes x rows of the class)``: rare classes weigh more.

    Args:
        y: the labels ``(N,)``.
        strategy: ``"balanced"`` (scikit-learn's rule).

    Returns:
        ``{class: weight}``; with class ids ``0..K-1`` it suits ``fit(class_weight=...)``.

    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
    """
    check_choice("class_weights strategy", strategy, ("balanced",))
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    return {
        (label.item() if isinstance(label, np.generic) else label): int(counts.sum())
        / (len(labels) * int(count))
        for label, count in zip(labels, counts)
    }


def resample(x: Any, y: Any, method: str = "over", seed: int = 0) -> tuple[Any, np.ndarray]:
    """Balance the classes of training rows by repeating or dropping rows.

    Args:
        x: the rows: a DataFrame, an array or a list.
        y: their labels ``(N,)``.
        method: ``"over"`` adds rows of each smaller class, drawn with replacement, up to the
            largest class; ``"under"`` keeps a random subset of each class as large as the smallest.
        seed: the draws' seed.

    Returns:
        ``(x, y)`` resampled; rows keep their order (repeats next to each other). Use on training
        rows only.

    >>> resample(np.arange(4), np.array([0, 0, 0, 1]), "over")[1].tolist()
    [0, 0, 0, 1, 1, 1]
    """
    check_choice("resample method", method, ("over", "under"))
    y = np.asarray(y)
    if len(y) != len(x):
        raise DataError(
            message(
                "x and y differ in length.",
                f"{len(x)} rows, {len(y)} labels",
                "a label per row",
                "Pass matching x and y.",
            )
        )
    rng, (_, inverse, counts) = (
        np.random.default_rng(seed),
        np.unique(y, return_inverse=True, return_counts=True),
    )
    keep = []
    for rows in (np.flatnonzero(inverse == k) for k in range(len(counts))):
        keep.append(
            np.concatenate([rows, rng.choice(rows, counts.max() - len(rows))])
            if method == "over"
            else rng.choice(rows, counts.min(), replace=False)
        )
    index = np.sort(np.concatenate(keep))
    if is_frame(x):
        return x.iloc[index].reset_index(drop=True), y[index]
    return [x[i] for i in index] if isinstance(x, list) else np.asarray(x)[index], y[index]
