"""A trained candidate with the preprocessing it needs: predicts from raw inputs, saves without pickle.

The advisor (``lamina.advise(..., keep=True)``) returns one :class:`FittedModel` per candidate; a
project's train stage saves the chosen one and its evaluate stage loads it back. A lamina network is
saved as a lamina artifact (safetensors + JSON); a scikit-learn model with skops, and loaded only
when every type in the file is on an allowlist (scikit-learn, NumPy, SciPy and lamina's own
column converters). The preprocessing is JSON.

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

from lamina.errors import DataError, message

__all__ = ["TRUSTED_PREFIXES", "FittedModel"]

# Module prefixes of the types a saved scikit-learn model may contain.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "functools.partial", "lamina.advisor._as_")


class FittedModel:
    """A trained classical or deep candidate plus its preprocessing.

    Args:
        name: the candidate's name in the advisor's table.
        family: ``"classical"`` (scikit-learn) or ``"deep"`` (a lamina model).
        model: the fitted estimator or lamina model.
        prep: JSON-able preprocessing: ``modality``, ``task``, ``scale`` (image pixels are divided by
            it), ``classes`` (class labels, or None for regression) and, for networks, ``vocabulary``
            and ``maxlen`` (texts), ``center``/``spread`` (arrays), ``mean``/``std`` (regression targets).
    """

    def __init__(self, name: str, family: str, model: Any, prep: dict[str, Any], pipeline: Any = None) -> None:
        self.name, self.family, self.model, self.prep = name, family, model, prep
        self.pipeline = pipeline  # a fitted lamina.prepare.Pipeline applied first, or None
        self.reference: dict[str, Any] | None = None  # the training data's reference profile (monitoring)
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
            from lamina.data import WordVocabulary, tokenize
            from lamina.sequences import pad_sequences

            if self._vocabulary is None:
                self._vocabulary = WordVocabulary.from_config(prep["vocabulary"])
            return pad_sequences([list(self._vocabulary.encode(tokenize(text))) or [1] for text in x],
                                 maxlen=prep["maxlen"])
        if modality == "table":
            return x
        x = np.asarray(x, dtype=np.float32) / np.float32(prep.get("scale", 1.0))
        if modality == "array" or (modality == "image" and self.family == "classical"):
            x = x.reshape(len(x), -1)  # (N, ...) -> (N, features)
        if "center" in prep:
            spread = np.asarray(prep["spread"], dtype=np.float32)
            x = (x - np.asarray(prep["center"], dtype=np.float32)) / np.where(spread > 0, spread, 1.0)
        return x

    def predict(self, x: Any) -> np.ndarray:
        """Class labels (as in the training data) or regression values, ``(N,)``."""
        out = np.asarray(self.model.predict(self.transform(x)))
        classes = self.prep.get("classes")
        if self.family == "deep":
            out = out.argmax(1) if classes is not None else out[:, 0] * self.prep["std"] + self.prep["mean"]
        return np.asarray(classes, dtype=object)[out.astype(int)] if classes is not None else out.astype(float)

    def predict_proba(self, x: Any) -> np.ndarray | None:
        """Class probabilities ``(N, classes)`` in the order of ``prep["classes"]``; None for regression or
        a classical model without ``predict_proba``."""
        if self.prep.get("classes") is None:
            return None
        if self.family == "deep":
            import torch

            logits = torch.as_tensor(np.asarray(self.model.predict(self.transform(x)), dtype=np.float32))
            return logits.softmax(1).numpy()  # type: ignore[no-any-return]
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self.model.predict_proba(self.transform(x)))

    def save(self, folder: str | Path) -> Path:
        """Write ``prep.json`` and ``model/`` (lamina) or ``model.skops`` (scikit-learn) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        card = {"name": self.name, "family": self.family, "prep": self.prep}
        (folder / "prep.json").write_text(json.dumps(card, default=_plain))
        if self.pipeline is not None:
            self.pipeline.save(folder / "preprocessing")
        if self.reference is not None:
            (folder / "reference_profile.json").write_text(json.dumps(self.reference, default=_plain))
        if self.family == "deep":
            self.model.slots_ = {"preprocessing": None if self.pipeline is None else self.pipeline.get_config(),
                                 "reference_profile": self.reference}
            self.model.save(folder / "model")
        else:
            import skops.io

            skops.io.dump(self.model, folder / "model.skops")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FittedModel:
        """Read a folder written by :meth:`save`; refuses skops files holding types off the allowlist."""
        folder = Path(folder)
        card = json.loads((folder / "prep.json").read_text())
        pipeline = None
        if (folder / "preprocessing").is_dir():
            from lamina.prepare import Pipeline

            pipeline = Pipeline.load(folder / "preprocessing")
        if card["family"] == "deep":
            from lamina.artifact import load

            fitted = cls(card["name"], "deep", load(folder / "model"), card["prep"], pipeline)
        else:
            fitted = cls(card["name"], "classical", _load_skops(folder / "model.skops"), card["prep"], pipeline)
        if (folder / "reference_profile.json").is_file():
            fitted.reference = json.loads((folder / "reference_profile.json").read_text())
        return fitted


def _load_skops(path: Path) -> Any:
    """A scikit-learn model from skops, refused when it holds a type off the allowlist."""
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    refused = [name for name in found if not name.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise DataError(message("The saved model holds types lamina does not trust.", refused[:5],
                                f"types from {', '.join(TRUSTED_PREFIXES)}",
                                "Only load models you saved with lamina; retrain the model otherwise."))
    return skops.io.load(path, trusted=found)


def _plain(value: Any) -> Any:
    """NumPy scalars -> Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else str(value)
