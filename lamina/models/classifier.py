"""What a classifier adds to ``lamina.Model``: class labels, probabilities and losses on
probabilities.

* **Probabilities or logits.** lamina's cross-entropy losses take logits. A model whose last layer
  is a sigmoid or softmax (``Dense(1, activation="sigmoid")``, ``Activation("softmax")``,
  ``torch.nn.Sigmoid()``) outputs probabilities instead; with a loss given by name this is detected
  at ``compile`` and the loss is computed on the pre-activation logits that the last layer saw (the
  same numbers as a model without the activation). When the last layer cannot give them back (a
  convolution with a softmax activation, a custom ``forward``), the probabilities are clamped to
  ``[1e-7, 1 - 1e-7]`` before the log, as Keras does. ``compile(from_logits=...)`` overrides the
  detection. Metrics always receive logits, so ``binary_accuracy`` thresholds at probability 0.5.
* **Labels.** Float labels holding whole numbers, ``(N, 1)`` label arrays and labels that are not
  integers (``["cat", "dog"]``) work with the cross-entropy losses; the last are encoded to class
  ids and kept in ``classes_`` (scikit-learn's name, a plain list), which ``save``/``load`` keep.
* **Predictions.** ``predict`` returns raw outputs; ``predict_proba`` probabilities (N, C);
  ``predict_classes`` labels from ``classes_`` (class ids when there is none).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core import catalog as registry
from lamina.core.errors import ConfigError, DataError, message
from lamina.nn.layers import Activation, Dense

__all__ = ["ClassifierMixin", "final_activation", "loss_kind"]

_BINARY_LOSSES = ("binary_cross_entropy",)
_CATEGORICAL_LOSSES = ("cross_entropy",)


def loss_kind(loss: Any) -> str | None:
    """``"binary"``, ``"categorical"`` or None: which cross-entropy a loss (name or callable) is."""
    losses = registry.registries["loss"]
    if isinstance(loss, str):
        loss = losses.lookup(loss)
    for kind, names in (("binary", _BINARY_LOSSES), ("categorical", _CATEGORICAL_LOSSES)):
        if any(loss is losses.lookup(name) for name in names):
            return kind
    return None


def final_activation(model: nn.Module) -> tuple[str, nn.Module] | None:
    """``("sigmoid" | "softmax", last layer)`` when ``model`` visibly ends in that activation, else
    None.

    Looks at the last layer of a ``Sequential`` (or of a wrapped ``torch.nn.Sequential``).
    """
    # Only a stack whose forward runs its layers in order (``Sequential.stacks_layers``) ends where
    # its last layer ends: a DBN's ``layers`` (sigmoid units) feed a head, so its outputs are
    # logits.
    layers: Any = model.layers if getattr(type(model), "stacks_layers", False) else None
    if not isinstance(layers, (nn.ModuleList, nn.Sequential)):
        layers = model._modules.get("module")
    if not isinstance(layers, (nn.ModuleList, nn.Sequential)) or not len(layers):
        return None
    last = layers[-1]
    while isinstance(last, nn.Sequential) and len(last):
        last = last[-1]
    if isinstance(last, nn.Sigmoid):
        return "sigmoid", last
    if isinstance(last, nn.Softmax) and last.dim in (-1, 1):
        return "softmax", last
    activation = getattr(last, "activation", None)
    for name in ("sigmoid", "softmax"):
        if activation is not None and activation is registry.registries["activation"].lookup(name):
            return name, last
    return None


class ClassifierMixin:
    """Class labels, probabilities and the logits of sigmoid/softmax outputs for
    ``lamina.Model``."""

    _compiled: dict[str, Any] | None
    classes_: list[Any] | None

    # ------------------------------------------------------------------ logits behind probabilities
    def _output_probabilities(self, loss: Any, from_logits: bool | None) -> str | None:
        """At compile: None when outputs are logits, else the loss kind
        (``"binary"``/``"categorical"``)."""
        model: Any = self
        kind = loss_kind(loss) if isinstance(loss, str) else None
        if from_logits is not None and not isinstance(from_logits, bool):
            raise ConfigError(
                message(
                    "from_logits must be True, False or None.",
                    repr(from_logits),
                    "a bool, or None to detect a final sigmoid/softmax",
                    "Pass from_logits=False when the model outputs probabilities.",
                )
            )
        if from_logits is False and isinstance(loss, str) and kind is None:
            raise ConfigError(
                message(
                    "from_logits applies to the cross-entropy losses.",
                    f"loss={loss!r}",
                    "'binary_cross_entropy' or 'cross_entropy' (and their Keras names)",
                    "Drop from_logits, or use a cross-entropy loss.",
                )
            )
        found = final_activation(model)
        if from_logits is True or (from_logits is None and (kind is None or found is None)):
            return None
        if found is not None and isinstance(found[1], (Dense, Activation, nn.Sigmoid, nn.Softmax)):
            if isinstance(found[1], Dense):
                found[1].keeps_logits = True
            hooks = found[1]._forward_hooks.values()
            if not any(hook == self._keep_logits for hook in hooks):
                found[1].register_forward_hook(self._keep_logits)
        return kind or "probabilities"

    def _keep_logits(
        self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor
    ) -> None:
        """Forward hook on the last layer: remember its pre-activation logits next to its output."""
        # a Dense layer kept its pre-activation output; any other last layer got the logits as input
        logits = module.__dict__.pop("logits_") if isinstance(module, Dense) else inputs[0]
        self.__dict__["_kept_logits"] = (output, logits)

    def _logits(self, y_pred: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``(tensor, True)`` with the logits behind ``y_pred`` when known, else
        ``(y_pred, is_logits)``."""
        kind = self._compiled.get("probabilities") if self._compiled else None
        if kind is None:
            return y_pred, True
        kept = self.__dict__.get("_kept_logits")
        if kept is not None and kept[0] is y_pred:
            return kept[1], True
        return y_pred, False

    def metric_scores(self, y_pred: torch.Tensor) -> torch.Tensor:
        """What the metrics see: ``y_pred`` as logits (probability outputs are turned back into
        logits)."""
        scores, is_logits = self._logits(y_pred)
        if not is_logits:
            kind = self._compiled.get("probabilities") if self._compiled else None
            binary = kind == "binary" or (kind != "categorical" and scores.shape[-1:] in ((1,), ()))
            scores = registry.probabilities_to_logits(scores, binary=binary)
        return scores.detach()

    # ------------------------------------------------------------------ labels
    def _encode_labels(self, y: Any, fitting: bool) -> Any:
        """Labels ready for ``to_tensor``: (N, 1) ids -> (N,), whole floats -> ints, other labels ->
        ids."""
        kind = loss_kind(self._compiled["loss_fn"]) if self._compiled else None
        if kind is None or y is None:
            return y
        array = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if kind == "categorical" and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.dtype.kind == "b":
            return array.astype(np.int64 if kind == "categorical" else np.float32)
        if array.dtype.kind in "OUS":
            return self._to_class_ids(array, kind, fitting)
        if kind == "categorical" and array.ndim == 1 and array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                bad = array[~np.isfinite(array) | (array != np.round(array))][:3].tolist()
                raise DataError(
                    message(
                        "cross_entropy needs class ids, and y holds numbers that are not whole.",
                        f"y values such as {bad}",
                        "whole numbers 0..C-1 (ints or floats like 2.0)",
                        "Pass integer class ids, or one-hot/probability targets of shape (N, C).",
                    )
                )
            return array.astype(np.int64)
        return y

    def _to_class_ids(self, array: np.ndarray, kind: str, fitting: bool) -> np.ndarray:
        try:
            found = [_plain(v) for v in np.unique(array)]
        except TypeError:
            raise DataError(
                message(
                    "y mixes label types that cannot be sorted.",
                    repr(array[:5].tolist()),
                    "labels of one type (all str or all int)",
                    "Convert y with y.astype(str).",
                )
            ) from None
        classes = getattr(self, "classes_", None)
        if fitting and (classes is None or not set(found) <= set(classes)):
            classes = self.classes_ = found
        if classes is None or not set(found) <= set(classes):
            unknown = sorted(set(found) - set(classes or []), key=str)[:5]
            raise DataError(
                message(
                    "y holds labels the model was not trained on.",
                    f"labels {unknown}",
                    f"labels in classes_ = {classes}",
                    "Fit on data that has every class.",
                )
            )
        if kind == "binary" and len(classes) > 2:
            raise DataError(
                message(
                    "binary_cross_entropy takes two classes.",
                    f"{len(classes)} classes: {classes[:5]}",
                    "two classes",
                    "Use loss='cross_entropy' with one output unit per class.",
                )
            )
        index = {label: i for i, label in enumerate(classes)}
        ids = np.array([index[_plain(v)] for v in array.reshape(-1)]).reshape(array.shape)
        return ids.astype(np.int64 if kind == "categorical" else np.float32)

    def _check_targets(self, out: Any, y: torch.Tensor) -> None:
        if not (self._compiled and self._compiled["class_ids"]) or y.is_floating_point():
            return
        classes = out.shape[-1] if isinstance(out, torch.Tensor) and out.dim() >= 2 else None
        low, high = int(y.min()), int(y.max())
        if classes is not None and (low < 0 or high >= classes):
            raise DataError(
                message(
                    "y has class ids outside the model's output size.",
                    f"class ids from {low} to {high}",
                    f"ids in 0..{classes - 1} for a model with {classes} outputs",
                    f"Make the last layer output {high + 1} units, or re-encode the labels to "
                    f"0..{classes - 1}.",
                )
            )

    # ------------------------------------------------------------------ predictions
    def predict_proba(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """Class probabilities for ``x``.

        Args:
            x: inputs, as for ``predict``.
            batch_size: rows per forward pass.

        Returns:
            (N, C) probabilities: softmax over the outputs, or, for one sigmoid/logit output, (N, 2)
            with the columns ``[1 - p, p]`` as in scikit-learn (multi-label sigmoid outputs: (N,
            K)).

        >>> model = lamina.Sequential([lamina.layers.Dense(1, activation="sigmoid")])
        >>> model = model.compile(loss="binary_crossentropy")
        >>> _ = model.fit(np.array([[0.0], [1.0]]), np.array(["no", "yes"]), verbose=0)
        >>> model.predict_proba(np.array([[0.5]])).shape, model.classes_
        ((1, 2), ['no', 'yes'])
        """
        out = torch.from_numpy(np.asarray(self.predict(x, batch_size=batch_size))).float()  # type: ignore[attr-defined]
        kind = loss_kind(self._compiled["loss_fn"]) if self._compiled else None
        if (
            self._compiled is not None
            and kind is None
            and self._compiled.get("probabilities") is None
        ):
            raise ConfigError(
                message(
                    "predict_proba() needs a classifier.",
                    f"loss {self._compiled['loss']!r}",
                    "a model compiled with a cross-entropy loss",
                    "Use predict() for the raw outputs of other models.",
                )
            )
        model: Any = self
        probabilities = (
            self._compiled.get("probabilities") if self._compiled else final_activation(model)
        ) is not None
        if out.dim() == 1 or out.shape[-1] == 1 or kind == "binary":
            p = out if probabilities else torch.sigmoid(out)
            if out.dim() == 1 or out.shape[-1] == 1:
                p = p.reshape(len(p), 1)
                p = torch.cat([1 - p, p], dim=-1)
            return p.numpy()
        return (out if probabilities else torch.softmax(out, dim=-1)).numpy()

    def predict_classes(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """Predicted labels for ``x``: from ``classes_`` when the model has them, else class ids.

        Args:
            x: inputs, as for ``predict``.
            batch_size: rows per forward pass.

        Returns:
            (N,) labels (the most probable class; probability 0.5 splits a single sigmoid output).

        >>> model = lamina.Sequential([lamina.layers.Dense(2)]).compile(loss="cross_entropy")
        >>> _ = model.fit(np.array([[0.0], [1.0]]), np.array(["cat", "dog"]), verbose=0)
        >>> model.predict_classes(np.array([[0.0]])).tolist()[0] in ("cat", "dog")
        True
        """
        ids = self.predict_proba(x, batch_size=batch_size).argmax(-1)
        classes = getattr(self, "classes_", None)
        return np.asarray(classes)[ids] if classes else ids


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (labels are kept as plain str/int)."""
    return value.item() if isinstance(value, np.generic) else value
