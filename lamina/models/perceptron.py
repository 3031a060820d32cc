"""``lamina.models.Perceptron``: one linear layer, trained by Rosenblatt's rule or by gradients.

Three rules share the same linear map ``x @ W.T + b`` over the flattened input:

* ``"softmax"``: ``outputs`` logits trained with ``cross_entropy`` (multinomial logistic
  regression);
* ``"logistic"``: one logit trained with ``binary_cross_entropy`` (binary logistic regression);
* ``"perceptron"``: ``outputs`` scores trained by the classic mistake-driven rule, with no gradient.

A single layer only separates classes with a hyperplane: on XOR no rule gets past 3 of 4 points.

>>> import lamina
>>> x, y = lamina.testing.tiny_classification(rows=64, features=4, classes=3)
>>> model = lamina.models.Perceptron(outputs=3, rule="perceptron")
>>> model = model.compile(optimizer="sgd", loss="cross_entropy", learning_rate=1.0)
>>> history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=0)
>>> sorted(history.history)
['loss', 'mistake_rate']
>>> model.predict(x).shape
(64, 3)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.errors import ConfigError, message
from lamina.models._names import refuse_renamed
from lamina.models.base import Model
from lamina.nn.layers import Dense

__all__ = ["Perceptron"]

RULES = ("logistic", "perceptron", "softmax")


class Perceptron(Model):
    """A single linear layer over the flattened input, trained by one of three rules.

    Args:
        outputs: number of classes (>= 2). ``rule="logistic"`` needs 2 and outputs one logit.
        rule: ``"softmax"`` (gradient, cross-entropy over ``outputs`` logits), ``"logistic"``
            (gradient, one logit, binary cross-entropy) or ``"perceptron"`` (Rosenblatt's rule).
        use_bias: learn the bias (the threshold) as well as the weights.

    Input ``(N, ...)`` is flattened to ``(N, features)``. Output: logits ``(N, num_classes)``, or
    ``(N, 1)`` for ``"logistic"``.

    With ``rule="perceptron"`` the compiled optimizer never steps: its learning rate is the rule's
    step size (compile with ``optimizer="sgd", learning_rate=1.0`` for the textbook rule). Each
    batch gets the multi-class perceptron update, summed over the batch's mistakes, with the
    predictions all taken from the weights at the start of the batch::

        W += lr * (Y_true - Y_pred).T @ X        b += lr * (Y_true - Y_pred).sum(0)

    where ``Y_true`` and ``Y_pred`` are one-hot ``(N, num_classes)`` and ``Y_pred`` is the argmax of
    the scores (ties go to the lowest class); correct rows add nothing. ``batch_size=1`` is the
    classic online rule. The weights start at zero. The logs hold the compiled loss of the batch
    before the update and ``mistake_rate``, the fraction of rows the rule corrected.

    >>> model = Perceptron(outputs=2, rule="logistic")
    >>> model(torch.ones(5, 2, 3)).shape
    torch.Size([5, 1])
    """

    _lamina_name = "lamina.models.Perceptron"

    def __init__(
        self, outputs: int = 2, rule: str = "softmax", *, use_bias: bool = True, **renamed: Any
    ) -> None:
        super().__init__()
        refuse_renamed("Perceptron", renamed)
        num_classes = outputs
        if rule not in RULES:
            raise ConfigError(
                message(
                    "Unknown Perceptron rule.",
                    repr(rule),
                    f"one of {', '.join(map(repr, RULES))}",
                    "Pass rule='perceptron' for Rosenblatt's rule or rule='softmax' for the "
                    "gradient version.",
                )
            )
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ConfigError(
                message(
                    "Perceptron needs at least two classes.",
                    f"outputs={num_classes!r}",
                    "an int >= 2",
                    "Pass outputs=2 for a binary problem (one logit: rule='logistic').",
                )
            )
        if rule == "logistic" and num_classes != 2:
            raise ConfigError(
                message(
                    "rule='logistic' is binary (one output logit).",
                    f"outputs={num_classes}",
                    "outputs=2",
                    f"Use rule='softmax' for {num_classes} classes.",
                )
            )
        self.outputs, self.rule, self.use_bias = num_classes, rule, use_bias
        self.dense = Dense(
            1 if rule == "logistic" else num_classes,
            use_bias=use_bias,
            kernel_initializer="zeros" if rule == "perceptron" else "glorot_uniform",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x.reshape(len(x), -1))  # (N, ...) -> (N, features) -> (N, outputs)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """The gradient step for ``"softmax"``/``"logistic"``; Rosenblatt's rule for
        ``"perceptron"``."""
        if self.rule != "perceptron":
            return super().train_step(batch)
        x, y = batch[0], batch[1]
        with torch.no_grad():
            scores = self(x)
            loss = self.compute_loss(scores, y)
            labels = y.argmax(-1) if y.is_floating_point() and y.dim() > 1 else y.reshape(-1).long()
            predicted = scores.argmax(-1)
            delta = F.one_hot(labels, self.outputs) - F.one_hot(predicted, self.outputs)  # (N, C)
            delta = delta.to(scores.dtype)
            step = self.learning_rate()
            self.dense.weight.add_(
                step * delta.T @ x.reshape(len(x), -1).to(scores.dtype)
            )  # (C, features)
            if self.dense.bias is not None:
                self.dense.bias.add_(step * delta.sum(0))
        self.update_metrics(scores, y)
        return {"loss": loss, "mistake_rate": (predicted != labels).to(scores.dtype).mean()}

    def learning_rate(self) -> float:
        """The rule's step size: the compiled optimizer's learning rate (1.0 before any fit)."""
        optimizer = self.__dict__.get("optimizer")
        return float(optimizer.param_groups[0]["lr"]) if optimizer is not None else 1.0
