"""The learning-rate finder (the LR range test): train briefly with a rising rate, suggest one.

``model.lr_find(x, y)`` runs it on a compiled model; weights, optimizer state and RNGs are restored.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from lamina.core.errors import ConfigError, message
from lamina.nn import tensors as data_lib
from lamina.train.engine import Engine

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lamina.models.base import Model

__all__ = ["LRFinderResult", "lr_find"]


@dataclass
class LRFinderResult:
    """What :func:`lr_find` measured.

    Attributes:
        lrs: the learning rate of each step taken.
        losses: the smoothed training loss after each step (bias-corrected moving average, 0.98).
        suggestion: the learning rate where the smoothed loss falls fastest (steepest negative
            slope against log lr), searched from a tenth of the way in up to the lowest loss;
            when that leaves fewer than 3 points, a tenth of the lr at the lowest loss; None
            when no step gave a finite loss.
    """

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    suggestion: float | None = None

    def plot(self, path: str | None = None) -> Figure:
        """Loss against learning rate (log axis), the suggestion marked; a PNG at ``path``."""
        from lamina.train.plot import plot_lr_find

        return plot_lr_find(self, path)


def lr_find(
    model: Model,
    x: Any,
    y: Any,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    batch_size: int = 32,
    stop_factor: float = 4.0,
) -> LRFinderResult:
    """Train briefly with an exponentially rising learning rate and record the loss (LR range test).

    Uses the model's compiled loss and optimizer through ``model.train_step``, on shuffled
    batches of ``(x, y)`` (cycled when ``steps`` exceeds one pass), setting every parameter
    group's lr. Stops early when the smoothed loss exceeds ``stop_factor`` times its best (for
    non-negative losses) or is not finite. Afterwards the weights, the optimizer state (moments
    and learning rates), the RNG state and the train/eval mode are restored exactly.

    Args:
        model: a compiled ``lamina.Model`` (built on ``x`` first when needed).
        x: inputs (array, tensor or DataFrame).
        y: targets.
        min_lr: the first learning rate.
        max_lr: the last learning rate.
        steps: training steps (the learning rates are ``geomspace(min_lr, max_lr, steps)``).
        batch_size: rows per step.
        stop_factor: stop once the smoothed loss exceeds this many times the best.

    Returns:
        An :class:`LRFinderResult`; ``result.plot("lr.png")`` draws it.

    >>> x, y = lamina.testing.tiny_classification()
    >>> model = lamina.Sequential([lamina.layers.Dense(3)])
    >>> model = model.compile(optimizer="sgd", loss="cross_entropy")
    >>> result = lamina.lr_find.lr_find(model, x, y, steps=30)
    >>> len(result.lrs) <= 30 and result.suggestion is not None
    True
    """
    if not (0 < min_lr < max_lr) or not isinstance(steps, int) or steps < 2 or stop_factor <= 1:
        raise ConfigError(
            message(
                "lr_find needs 0 < min_lr < max_lr, steps >= 2 and stop_factor > 1.",
                f"min_lr={min_lr}, max_lr={max_lr}, steps={steps!r}, stop_factor={stop_factor}",
                "a rising range of learning rates",
                "Pass e.g. min_lr=1e-7, max_lr=10, steps=100.",
            )
        )
    compiled = model._compiled_or_raise("lr_find")
    device = next(iter(model.parameters()), torch.empty(0)).device
    tx, ty = data_lib.to_tensor(x, name="x").to(device), data_lib.to_tensor(y, name="y").to(device)
    if not model.is_built():
        model.build(tx)
    if model.optimizer is None:
        model._make_optimizer()
    optimizer = cast(torch.optim.Optimizer, model.optimizer)
    saved = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    was_training, previous = model.training, model.__dict__.get("engine_")
    # A plain engine for the sweep: one optimizer step per batch even if the last fit accumulated.
    model.engine_ = Engine(
        device,
        precision=getattr(previous, "precision", "32"),
        clip_norm=compiled.get("clip_norm"),
        clip_value=compiled.get("clip_value"),
    )
    loader = data_lib.ArrayLoader(
        (tx, ty), batch_size, shuffle=True, generator=torch.Generator(device=device).manual_seed(0)
    )
    result = LRFinderResult()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            _sweep(
                model,
                optimizer,
                _cycle(loader),
                np.geomspace(min_lr, max_lr, steps),
                stop_factor,
                result,
            )
    finally:
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        model.__dict__.pop("engine_", None)
        if previous is not None:
            model.engine_ = previous
        model.train(was_training)
        model.reset_trackers()
    result.suggestion = _suggest(result.lrs, result.losses)
    return result


def _cycle(loader: data_lib.ArrayLoader) -> Iterator[Any]:
    while True:
        yield from loader  # a new shuffle each pass


def _sweep(
    model: Model,
    optimizer: torch.optim.Optimizer,
    batches: Iterator[Any],
    lrs: np.ndarray,
    stop_factor: float,
    result: LRFinderResult,
    beta: float = 0.98,
) -> None:
    model.train()
    average, best = 0.0, math.inf
    for step, lr in enumerate(lrs.tolist()):
        for group in optimizer.param_groups:
            group["lr"] = lr
        # one host sync per step: needed to stop
        loss = float(model.train_step(next(batches))["loss"])
        average = beta * average + (1 - beta) * loss
        smoothed = average / (1 - beta ** (step + 1))
        if not math.isfinite(smoothed):
            return
        result.lrs.append(lr)
        result.losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > stop_factor * best:
            return


def _suggest(lrs: list[float], losses: list[float]) -> float | None:
    if not losses:
        return None
    lowest = int(np.argmin(losses))
    start = len(losses) // 10  # the first points are single noisy batches, barely smoothed yet
    if lowest - start < 2:
        return lrs[lowest] / 10
    slopes = np.gradient(np.asarray(losses[start : lowest + 1]), np.log(lrs[start : lowest + 1]))
    return lrs[start + int(np.argmin(slopes))]
