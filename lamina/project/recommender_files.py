"""Saving and loading recommenders: classical ones as JSON + safetensors, networks as lamina models.

A classical recommender (:class:`~lamina.project.recommenders.Popularity`, ``ItemKNN``, ``EASE``)
fitted on interactions is saved as a folder::

    model_dir/
      recommender.json       format, the class name (one of three, looked up by exact name),
                             its parameters, the user and item ids and item names
      weights.safetensors    the learned arrays and the training histories

Nothing named in a file is imported and nothing is unpickled: the class name must be one of
:data:`CLASSES`, the parameters go through the class's own checks, and every array is checked
for shape. A network recommender (``lamina.models.SASRec`` and the others) is a lamina model and
is saved with ``model.save(path)``; :func:`load_recommender` loads either kind.

>>> import pandas as pd, tempfile
>>> from lamina.data.interactions import interactions
>>> from lamina.project.recommenders import EASE
>>> log = pd.DataFrame({"u": [1, 1, 2, 2], "i": ["a", "b", "a", "c"], "t": [1, 2, 1, 2]})
>>> model = EASE(l2=1.0).fit(interactions(log, "u", "i", "t"))
>>> path = save_recommender(model, tempfile.mkdtemp() + "/shop")
>>> is_recommender(path), load_recommender(path).recommend(users=[1], k=1)[0].tolist()
(True, [['c']])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from lamina.core.errors import ArtifactError, UnsafeFileError, message
from lamina.models.recommend.base import RecommenderMixin
from lamina.project.recommenders import EASE, ItemKNN, Popularity

__all__ = ["CLASSES", "is_recommender", "load_recommender", "save_recommender"]

FORMAT = "lamina.recommender"
MANIFEST = "recommender.json"
WEIGHTS = "weights.safetensors"
# The exact classes a recommender.json may name, and the learned array each one saves.
CLASSES: dict[str, tuple[type, str]] = {
    "Popularity": (Popularity, "popularity_"),
    "ItemKNN": (ItemKNN, "similarity_"),
    "EASE": (EASE, "weights_"),
}
PARAMS = {"Popularity": (), "ItemKNN": ("neighbours",), "EASE": ("l2",)}


def save_recommender(model: Any, path: str | os.PathLike[str]) -> str:
    """Save a fitted recommender to the folder ``path`` (created); returns the path.

    Networks are saved with their own ``save``; classical ones as described in the module doc.

    Raises:
        ArtifactError: the model is not a recommender fitted on interactions.
    """
    if not isinstance(model, RecommenderMixin) or model.users_ is None:
        raise ArtifactError(
            message(
                "save_recommender takes a recommender fitted on interactions.",
                type(model).__name__,
                f"one of {sorted(CLASSES)} or a lamina.models recommender, after "
                "fit(lamina.data.Interactions)",
                "Fit it on lamina.data.interactions(...) (not on a bare matrix), then save.",
            )
        )
    name = type(model).__name__
    if name not in CLASSES:  # a network: a lamina model with its own artifact
        return str(model.save(str(path)))  # type: ignore[attr-defined]
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    meta, arrays = model.catalogue_state()
    attribute = CLASSES[name][1]
    arrays["learned"] = np.ascontiguousarray(getattr(model, attribute), dtype=np.float32)
    params = {key: getattr(model, key) for key in PARAMS[name]}
    manifest = {"format": FORMAT, "format_version": 1, "class": name, "params": params, **meta}
    save_file(arrays, str(folder / WEIGHTS))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return str(folder)


def is_recommender(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a saved recommender (classical or network)."""
    folder = Path(path)
    if (folder / MANIFEST).is_file():
        return True
    if not (folder / "lamina.json").is_file():
        return False
    try:
        name = json.loads((folder / "lamina.json").read_text())["architecture"]["class"]
        from lamina.core.catalog import registries

        cls = registries["object"].lookup(name) if name in registries["object"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(cls, type) and issubclass(cls, RecommenderMixin)


def _refuse(problem: str, received: Any, expected: str) -> UnsafeFileError:
    return UnsafeFileError(
        message(problem, received, expected, "Save the recommender again with lamina.")
    )


def load_recommender(path: str | os.PathLike[str]) -> Any:
    """Load what :func:`save_recommender` wrote (or a network saved with ``model.save``).

    Raises:
        ArtifactError: not a recommender folder. UnsafeFileError: the file names a class that is
        not one of :data:`CLASSES`, unexpected parameters, or arrays of the wrong shape.
    """
    folder = Path(path)
    if not (folder / MANIFEST).is_file():
        if is_recommender(folder):
            import lamina

            return lamina.load(str(folder))
        raise ArtifactError(
            message(
                "No saved recommender in this folder.",
                str(folder),
                f"a folder with {MANIFEST} (classical) or a lamina model that recommends",
                "Pass the folder save_recommender or model.save wrote.",
            )
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{folder / MANIFEST} is not readable JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse("Not a lamina recommender file.", str(folder / MANIFEST), f"format {FORMAT}")
    name = manifest.get("class")
    if not isinstance(name, str) or name not in CLASSES:
        raise _refuse("The file names a class lamina does not load.", name, f"one of {CLASSES}")
    cls, attribute = CLASSES[name]
    params = manifest.get("params")
    if not isinstance(params, dict) or set(params) != set(PARAMS[name]):
        raise _refuse(f"Unexpected parameters for {name}.", params, f"keys {PARAMS[name]}")
    model = cls(**params)  # the constructor checks every value
    try:
        arrays = load_file(str(folder / WEIGHTS))  # safetensors: plain arrays, nothing executed
    except Exception as error:  # a pickle or any other file posing as safetensors
        raise _refuse(
            "The weights are not a safetensors file.", str(error)[:200], "safetensors"
        ) from error
    keys = {"history_indptr", "history_items", "learned"}
    if not keys <= set(arrays) or not all(
        isinstance(manifest.get(key), list) for key in ("users", "items")
    ):
        raise _refuse("The saved recommender is incomplete.", sorted(arrays), f"arrays {keys}")
    model.set_catalogue_state(manifest, arrays)
    users, items = len(model.users_), len(model.items_)
    learned, offsets = arrays["learned"], arrays["history_indptr"]
    shape = (items,) if name == "Popularity" else (items, items)
    history = arrays["history_items"]
    if (
        learned.shape != shape
        or (history.size and (history.min() < 0 or history.max() >= items))
        or offsets[-1] != history.size
        or (np.diff(offsets) < 0).any()
    ):
        raise _refuse(
            "The saved arrays do not fit the catalogue.",
            f"learned {learned.shape}, {users} users, {items} items",
            f"learned of shape {shape} and histories inside the catalogue",
        )
    setattr(model, attribute, learned)
    model.X_ = model.history_matrix()
    return model
