"""The data stage: load any source, built-in data sets, profile (EDA), prepare and split.

``lamina.data.load(source)`` reads a bundled set, a CSV/Parquet/JSON file, a NumPy or IDX file,
an image or text folder, a DataFrame or an SQL query into a :class:`Dataset`;
``lamina.data.interactions.interactions(log, user, item, time)`` turns a purchase log into
implicit feedback for recommenders, split by time with ``leave_last_out`` or ``time_cut``.
The tensor and batch helpers that ``fit`` uses (``to_tensor``, ``ArrayLoader``, ``tokenize``,
...) live in ``lamina.nn.tensors`` and are re-exported here, where users of lamina 0.1 found them.
"""

from typing import Any

from lamina.data.sources import Dataset, iter_chunks, load
from lamina.nn.tensors import (
    ArrayLoader,
    WordVocabulary,
    as_loader,
    check_finite,
    class_weights,
    is_in_memory,
    sample_weights,
    to_tensor,
    tokenize,
    train_validation_split,
)

__all__ = [
    "ArrayLoader",
    "Dataset",
    "Interactions",
    "WordVocabulary",
    "as_loader",
    "check_finite",
    "check_time_leakage",
    "class_weights",
    "is_in_memory",
    "iter_chunks",
    "leave_last_out",
    "load",
    "sample_weights",
    "time_cut",
    "to_tensor",
    "tokenize",
    "train_validation_split",
]

# Imported on first use: the interactions module needs pandas, and `import lamina` must not.
_INTERACTIONS = ("Interactions", "check_time_leakage", "leave_last_out", "time_cut")


def __getattr__(name: str) -> Any:
    if name in _INTERACTIONS:
        from lamina.data.interactions import (
            Interactions,
            check_time_leakage,
            leave_last_out,
            time_cut,
        )

        found = {"Interactions": Interactions, "check_time_leakage": check_time_leakage}
        value = {**found, "leave_last_out": leave_last_out, "time_cut": time_cut}[name]
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lamina.data' has no attribute {name!r}")
