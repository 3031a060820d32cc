"""Cora from the Planetoid files, read through an unpickler that only rebuilds six known globals.

The Planetoid files are Python-2 pickles, and a pickle can run any code while loading. The
``RestrictedUnpickler`` here resolves only the globals the published files use (checked with
``pickletools``) and refuses every other one with ``UnsafeFileError`` before anything runs.
``scipy.sparse.csr_matrix`` is rebuilt as a plain record (no scipy needed) and made dense.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import DataError, UnsafeFileError, message
from lamina.data.datasets._base import DatasetSplits


class _CSRRecord:
    """What a pickled ``scipy.sparse.csr_matrix`` unpickles to here: a bag of its fields, no
    methods."""


def _dense(record: _CSRRecord, path: Path) -> np.ndarray:
    """The CSR matrix as a float32 array of its stored shape."""
    state = vars(record)
    try:
        rows, columns = state.get("_shape") or state["shape"]
        indptr, indices, data = (np.asarray(state[key]) for key in ("indptr", "indices", "data"))
        dense = np.zeros((rows, columns), np.float32)
        dense[np.repeat(np.arange(rows), np.diff(indptr)), indices] = (
            data  # CSR rows -> (row, column) pairs
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise DataError(
            message(
                "Unreadable sparse matrix in a Planetoid file.",
                f"{path}: {error!r}",
                "a csr_matrix with shape, indptr, indices and data",
                "Replace the file with the published one.",
            )
        ) from None
    return dense


def _allowed() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("scipy.sparse.csr", "csr_matrix"): _CSRRecord,
        ("collections", "defaultdict"): collections.defaultdict,
        ("__builtin__", "list"): list,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for Planetoid files: any global outside the published six raises
    ``UnsafeFileError``.

    Allowed (as the pickles name them): ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
    ``numpy.dtype``, ``scipy.sparse.csr.csr_matrix`` (rebuilt as a plain record),
    ``collections.defaultdict`` and ``__builtin__.list``. Use with ``encoding="latin1"``.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed()
        if (module, name) not in allowed:
            raise UnsafeFileError(
                message(
                    "Refused to unpickle a global that Planetoid files do not use.",
                    f"{module}.{name}",
                    f"one of {sorted('.'.join(pair) for pair in allowed)}",
                    "Do not load this file; replace it with the published Planetoid file.",
                )
            )
        return allowed[(module, name)]


def _unpickle(path: Path) -> Any:
    with path.open("rb") as handle:
        try:
            return RestrictedUnpickler(handle, encoding="latin1").load()
        except UnsafeFileError as error:
            raise UnsafeFileError(f"{path}: {error}") from None
        except (
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            TypeError,
            ValueError,
            IndexError,
        ) as error:
            raise DataError(
                message(
                    "Unreadable Planetoid pickle.",
                    f"{path}: {error!r}",
                    "a Planetoid file from kimiyoung/planetoid",
                    "Replace the file with the published one.",
                )
            ) from None


def _array(value: Any, path: Path, ndim: int) -> np.ndarray:
    if isinstance(value, _CSRRecord):
        value = _dense(value, path)
    if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype == object:
        raise DataError(
            message(
                "Unexpected content in a Planetoid file.",
                f"{path}: {type(value).__name__}",
                f"a {ndim}-d numeric array",
                "Replace the file with the published one.",
            )
        )
    return value


def _edge_index(graph: Any, path: Path, num_nodes: int) -> np.ndarray:
    """Both directions of every undirected edge, self-loops and repeats dropped, as (2, E) int64."""
    if not isinstance(graph, dict):
        raise DataError(
            message(
                "Unexpected Planetoid graph.",
                f"{path}: {type(graph).__name__}",
                "a dict of node -> neighbour list",
                "Replace the file with the published one.",
            )
        )
    source = np.array(
        [node for node, neighbours in graph.items() for _ in neighbours], dtype=np.int64
    )
    target = np.array(
        [other for neighbours in graph.values() for other in neighbours], dtype=np.int64
    )
    pairs = np.concatenate(
        [np.stack([source, target]), np.stack([target, source])], axis=1
    )  # (2, 2E')
    pairs = pairs[:, pairs[0] != pairs[1]]
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise DataError(
            message(
                "Planetoid graph names nodes that do not exist.",
                f"{path}",
                f"node ids in [0, {num_nodes})",
                "Replace the file with the published one.",
            )
        )
    return np.unique(pairs, axis=1)


def cora(folder: Path) -> DatasetSplits:
    """Cora with the Planetoid split; the graph and masks are in ``extra`` (see the description)."""
    paths = {
        part: folder / f"ind.cora.{part}"
        for part in ("x", "y", "tx", "ty", "allx", "ally", "graph")
    }
    values = {part: _unpickle(path) for part, path in paths.items()}
    x, y, tx, ty, allx, ally = (
        _array(values[part], paths[part], 2) for part in ("x", "y", "tx", "ty", "allx", "ally")
    )
    test_index = np.array((folder / "ind.cora.test.index").read_text().split(), dtype=np.int64)
    num_nodes = len(allx) + len(tx)
    if not (
        np.array_equal(np.sort(test_index), np.arange(len(allx), num_nodes))
        and len(ty) == len(tx)
        and len(ally) == len(allx)
        and np.array_equal(x, allx[: len(x)])
        and np.array_equal(y, ally[: len(y)])
    ):
        raise DataError(
            message(
                "The Cora files do not fit together.",
                f"files in {folder}",
                "test.index = one id per tx row, after the allx rows; x, y = first rows of allx, "
                "ally",
                "Replace the files with the published ones.",
            )
        )
    # tx/ty row i belongs to node test_index[i] (GCN's load_data reorders them the same way).
    features = np.concatenate([allx, np.zeros_like(tx)])
    one_hot = np.concatenate([ally, np.zeros_like(ty)])
    features[test_index], one_hot[test_index] = tx, ty
    if not np.all(one_hot.sum(axis=1) == 1):
        raise DataError(
            message(
                "Cora labels are not one-hot.",
                f"{int(np.sum(one_hot.sum(axis=1) != 1))} rows",
                "one label per node",
                "Replace ind.cora.ally / ind.cora.ty.",
            )
        )
    labels = one_hot.argmax(axis=1).astype(np.int64)
    masks = {
        key: np.zeros(num_nodes, dtype=bool) for key in ("train_mask", "val_mask", "test_mask")
    }
    masks["train_mask"][: len(x)] = True
    masks["val_mask"][len(x) : len(x) + 500] = True
    masks["test_mask"][test_index] = True
    edge_index = _edge_index(values["graph"], paths["graph"], num_nodes)
    return DatasetSplits(
        "cora",
        features[masks["train_mask"]],
        labels[masks["train_mask"]],
        features[masks["test_mask"]],
        labels[masks["test_mask"]],
        "Cora citation graph with the Planetoid split (Yang et al. 2016, used by GCN and GAT; "
        "files from kimiyoung/planetoid, MIT; data by McCallum et al. via LINQS): 2,708 papers, "
        "1,433 binary bag-of-words features, 7 classes (names not published with these files), "
        "5,278 undirected citation edges. Split: 140 train nodes (20 per class), 500 validation, "
        "1,000 test. x_*/y_* hold the train and test nodes' rows (for baselines without the "
        "graph); extra holds x (2708, 1433) float32, y (2708,) int64, edge_index (2, 10556) int64 "
        "with both directions of every edge, and boolean train_mask, val_mask, test_mask.",
        extra={"x": features, "y": labels, "edge_index": edge_index, **masks},
    )
