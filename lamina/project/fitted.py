"""A trained candidate with the preprocessing it needs: predicts raw inputs, saves without pickle.

The advisor (``lamina.advise(..., keep=True)``) returns one :class:`FittedModel` per candidate; a
project's train stage saves the chosen one and its evaluate stage loads it back. A lamina network is
saved as a lamina artifact (safetensors + JSON); a scikit-learn model with skops, and loaded only
when every type, function and node kind the file names is on an exact allowlist of what lamina
itself writes (``TRUSTED_TYPES``), checked before skops builds anything. The preprocessing is JSON.

>>> import numpy as np, lamina
>>> x = np.random.default_rng(0).normal(size=(80, 3)).astype("float32")
>>> advice = lamina.advise((x, np.where(x[:, 0] > 0, "up", "down")), time_budget=1, keep=True)
>>> sorted(set(advice.fitted["HistGradientBoosting"].predict(x[:5])) - {"up", "down"})
[]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import UnsafeFileError, message

__all__ = ["TRUSTED_TYPES", "FittedModel"]

# The exact types (and functions) a model.skops written by lamina may name: those of the advisor's
# classical candidates (logistic/ridge regression, histogram gradient boosting, k-NN, TF-IDF, and
# the column encoders of tables). Any other name in a file is refused before skops builds anything.
TRUSTED_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.int",
        "builtins.list",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "functools.partial",
        "lamina.project.advisor._as_floats",
        "lamina.project.advisor._as_strings",
        "lamina.advisor._as_floats",
        "lamina.advisor._as_strings",  # as written by lamina 0.1 (the flat layout)
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.ndarray",
        "numpy.uint64",
        "numpy.random._generator.Generator",
        "numpy.random.PCG64",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.impute._base.MissingIndicator",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.utils.validation.check_array",
    }
)
# The skops node kinds those files use (a MethodNode or OperatorFuncNode, say, is refused).
TRUSTED_LOADERS = frozenset(
    {
        "DTypeNode",
        "DictNode",
        "FunctionNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "PartialNode",
        "RandomGeneratorNode",
        "SliceNode",
        "TupleNode",
        "TypeNode",
    }
)
MAX_SCHEMA_BYTES = 64 * 2**20


class FittedModel:
    """A trained classical or deep candidate plus its preprocessing.

    Args:
        name: the candidate's name in the advisor's table.
        family: ``"classical"`` (scikit-learn) or ``"deep"`` (a lamina model).
        model: the fitted estimator or lamina model.
        prep: JSON-able preprocessing: ``modality``, ``task``, ``scale`` (image pixels are divided
            by it), ``classes`` (class labels, or None for regression) and, for networks,
            ``vocabulary`` and ``maxlen`` (texts), ``center``/``spread`` (arrays), ``mean``/``std``
            (regression targets).
    """

    def __init__(
        self, name: str, family: str, model: Any, prep: dict[str, Any], pipeline: Any = None
    ) -> None:
        self.name, self.family, self.model, self.prep = name, family, model, prep
        self.pipeline = pipeline  # a fitted lamina.prepare.Pipeline applied first, or None
        self.reference: dict[str, Any] | None = (
            None  # the training data's reference profile (monitoring)
        )
        self._vocabulary: Any = None

    def __repr__(self) -> str:
        return f"lamina.fitted.FittedModel(name={self.name!r}, family={self.family!r})"

    def transform(self, x: Any) -> Any:
        """Raw inputs (the data set's ``x`` format) -> what the model takes."""
        modality, prep = self.prep["modality"], self.prep
        if self.pipeline is not None:
            x = self.pipeline.transform(x)
        if modality == "text":
            if self.family == "classical":
                return list(x)
            from lamina.nn.sequences import pad_sequences
            from lamina.nn.tensors import WordVocabulary, tokenize

            if self._vocabulary is None:
                self._vocabulary = WordVocabulary.from_config(prep["vocabulary"])
            return pad_sequences(
                [list(self._vocabulary.encode(tokenize(text))) or [1] for text in x],
                maxlen=prep["maxlen"],
            )
        if modality == "table":
            return x
        x = np.asarray(x, dtype=np.float32) / np.float32(prep.get("scale", 1.0))
        if modality == "array" or (modality == "image" and self.family == "classical"):
            x = x.reshape(len(x), -1)  # (N, ...) -> (N, features)
        if "center" in prep:
            spread = np.asarray(prep["spread"], dtype=np.float32)
            x = (x - np.asarray(prep["center"], dtype=np.float32)) / np.where(
                spread > 0, spread, 1.0
            )
        return x

    def predict(self, x: Any) -> np.ndarray:
        """Class labels (as in the training data) or regression values, ``(N,)``."""
        out = np.asarray(self.model.predict(self.transform(x)))
        classes = self.prep.get("classes")
        if self.family == "deep":
            out = (
                out.argmax(1)
                if classes is not None
                else out[:, 0] * self.prep["std"] + self.prep["mean"]
            )
        return (
            np.asarray(classes, dtype=object)[out.astype(int)]
            if classes is not None
            else out.astype(float)
        )

    def predict_proba(self, x: Any) -> np.ndarray | None:
        """Class probabilities ``(N, classes)`` in the order of ``prep["classes"]``.

        None for regression or a classical model without ``predict_proba``.
        """
        if self.prep.get("classes") is None:
            return None
        if self.family == "deep":
            import torch

            logits = torch.as_tensor(
                np.asarray(self.model.predict(self.transform(x)), dtype=np.float32)
            )
            return logits.softmax(1).numpy()  # type: ignore[no-any-return]
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self.model.predict_proba(self.transform(x)))

    def save(self, folder: str | Path) -> Path:
        """Write ``prep.json`` and ``model/`` (lamina) or ``model.skops`` (scikit-learn)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        card = {"name": self.name, "family": self.family, "prep": self.prep}
        (folder / "prep.json").write_text(json.dumps(card, default=_plain))
        if self.pipeline is not None:
            self.pipeline.save(folder / "preprocessing")
        if self.reference is not None:
            (folder / "reference_profile.json").write_text(
                json.dumps(self.reference, default=_plain)
            )
        if self.family == "deep":
            self.model.slots_ = {
                "preprocessing": None if self.pipeline is None else self.pipeline.get_config(),
                "reference_profile": self.reference,
            }
            self.model.save(folder / "model")
        else:
            import skops.io

            skops.io.dump(self.model, folder / "model.skops")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FittedModel:
        """Read a folder written by :meth:`save`; refuses skops files naming unlisted types."""
        folder = Path(folder)
        card = json.loads((folder / "prep.json").read_text())
        pipeline = None
        if (folder / "preprocessing").is_dir():
            from lamina.data.prepare import Pipeline

            pipeline = Pipeline.load(folder / "preprocessing")
        if card["family"] == "deep":
            from lamina.io.artifact import load

            fitted = cls(card["name"], "deep", load(folder / "model"), card["prep"], pipeline)
        else:
            fitted = cls(
                card["name"],
                "classical",
                _load_skops(folder / "model.skops"),
                card["prep"],
                pipeline,
            )
        if (folder / "reference_profile.json").is_file():
            fitted.reference = json.loads((folder / "reference_profile.json").read_text())
        return fitted


def _load_skops(path: Path) -> Any:
    """A scikit-learn model from skops, refused before anything is built when the file names a type,
    function or node kind off lamina's exact allowlist (``TRUSTED_TYPES``, ``TRUSTED_LOADERS``)."""
    import skops.io

    found = _skops_names(path)
    refused = sorted(found - TRUSTED_TYPES - TRUSTED_LOADERS)
    if refused:
        raise UnsafeFileError(
            message(
                f"The saved model {path} names types lamina does not write; nothing was loaded.",
                refused[:8],
                "only the types of lamina's own classical candidates (lamina.fitted.TRUSTED_TYPES)",
                "Only load models saved by lamina; retrain and save the model again otherwise.",
            )
        )
    # Every name in the file is on the list, so trusting exactly those names adds nothing skops
    # would not build.
    return skops.io.load(path, trusted=sorted(found & TRUSTED_TYPES))


def _skops_names(path: str | Path) -> set[str]:
    """Every ``module.name`` and node kind a skops file names, read from its schema, importing none.

    Args:
        path: a ``.skops`` file.

    Returns:
        The set of dotted type and function names plus the ``__loader__`` node kinds; a file in
        another skops protocol than the installed one yields ``"protocol <n>"``, which is never
        trusted.
    """
    import zipfile

    from skops.io._protocol import PROTOCOL

    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("schema.json").file_size > MAX_SCHEMA_BYTES:
                raise ValueError("schema.json is larger than 64 MiB")
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise UnsafeFileError(
            message(
                f"The saved model {path} is not a readable skops file ({error}).",
                str(path),
                "a zip archive holding schema.json, written by lamina",
                "Retrain and save the model again.",
            )
        ) from error
    names: set[str] = set()
    if not isinstance(schema, dict) or schema.get("protocol") != PROTOCOL:
        names.add(f"protocol {schema.get('protocol') if isinstance(schema, dict) else None}")
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                names.add(f"{node.get('__module__')}.{node.get('__class__')}")
            if "__loader__" in node:
                names.add(str(node["__loader__"]))
            if (
                node.get("__loader__") == "RandomGeneratorNode"
            ):  # numpy names its bit generator by a string
                try:
                    bits = node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
                    names.add(f"numpy.random.{json.loads(bits)}")
                except (KeyError, TypeError, ValueError):
                    names.add("numpy.random.<unreadable bit generator>")
            stack.extend(node.values())
    return names


def _plain(value: Any) -> Any:
    """NumPy scalars -> Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else str(value)
