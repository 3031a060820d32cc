"""Learning-rate schedules on top of ``torch.optim.lr_scheduler`` (the finder: ``lamina.lr_find``).

A schedule holds hyperparameters only; ``build(optimizer, total)`` returns the torch scheduler
for a run of ``total`` periods (epochs or steps). The callback
``lamina.callbacks.LearningRateScheduler`` builds it when training begins and steps it. Names:
``"step"`` (:class:`StepDecay`), ``"cosine"`` (:class:`CosineDecay`), ``"one_cycle"``
(:class:`OneCycle`) and ``"warmup"`` (:class:`Warmup`).

>>> import lamina
>>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> scheduler = lamina.schedules.get("step", step_size=2, gamma=0.5).build(optimizer, total=10)
>>> for _ in range(4):
...     optimizer.step(); scheduler.step()
>>> optimizer.param_groups[0]["lr"]
0.025
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import lr_scheduler

from lamina.core.catalog import Registry
from lamina.core.errors import ConfigError, message

__all__ = ["CosineDecay", "OneCycle", "Schedule", "StepDecay", "Warmup", "get"]

Scheduler = lr_scheduler.LRScheduler


class Schedule:
    """Base class: constructor arguments are hyperparameters; :meth:`build` makes the scheduler."""

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        """The torch scheduler for a run of ``total`` periods (``scheduler.step()`` once each)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"lamina.schedules.{type(self).__name__}({args})"


class StepDecay(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` periods (``torch`` ``StepLR``).

    Args:
        step_size: periods (epochs or steps, as the callback's ``per``) between decays.
        gamma: the multiplicative factor.
    """

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        self.step_size, self.gamma = step_size, gamma

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        return lr_scheduler.StepLR(optimizer, self.step_size, self.gamma)


class CosineDecay(Schedule):
    """Cosine annealing from the optimizer's learning rate down to ``min_lr`` at the end of the run.

    ``torch`` ``CosineAnnealingLR`` with ``T_max`` = the run's periods.

    Args:
        min_lr: the learning rate reached after the last period.
    """

    def __init__(self, min_lr: float = 0.0) -> None:
        self.min_lr = min_lr

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total), eta_min=self.min_lr)


class OneCycle(Schedule):
    """The one-cycle policy (torch's ``OneCycleLR``): warm up to ``max_lr``, then anneal far below.

    Args:
        max_lr: the peak; default the peak of an earlier one-cycle run or else the optimizer's lr.
        pct_start: the fraction of the run spent rising.
        div_factor: the run starts at ``max_lr / div_factor``.
        final_div_factor: and ends at ``max_lr / (div_factor * final_div_factor)``.
        anneal: ``"cos"`` or ``"linear"``.

    Momentum (or Adam's beta1) cycles inversely only when the optimizer uses momentum, so plain
    SGD stays plain SGD.

    >>> optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    >>> _ = lamina.schedules.OneCycle(max_lr=0.1).build(optimizer, total=100)
    >>> round(optimizer.param_groups[0]["lr"], 6)  # max_lr / div_factor
    0.004
    """

    def __init__(
        self,
        max_lr: float | None = None,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
    ) -> None:
        if anneal not in ("cos", "linear"):
            raise ConfigError(
                message(
                    "Unknown anneal for OneCycle.",
                    repr(anneal),
                    "'cos' or 'linear'",
                    "Pass anneal='cos'.",
                )
            )
        self.max_lr, self.pct_start, self.anneal = max_lr, pct_start, anneal
        self.div_factor, self.final_div_factor = div_factor, final_div_factor

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        peak = self.max_lr or [group.get("max_lr", group["lr"]) for group in optimizer.param_groups]
        momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
        return lr_scheduler.OneCycleLR(
            optimizer,
            peak,
            total_steps=max(2, total),
            pct_start=self.pct_start,
            anneal_strategy=self.anneal,  # type: ignore[arg-type]
            cycle_momentum=momentum,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
        )


class Warmup(Schedule):
    """Linear warmup over ``steps`` periods (torch's ``LinearLR``), then constant or a schedule.

    Args:
        steps: warmup periods; the learning rate rises from ``start_factor * lr`` to ``lr``.
        then: the schedule for the rest of the run (a name or a :class:`Schedule`), joined with
            ``SequentialLR``; None keeps the learning rate constant.
        start_factor: the fraction of the learning rate used in the first period (> 0).

    >>> lamina.schedules.Warmup(steps=100, then="cosine")
    lamina.schedules.Warmup(steps=100, then='cosine', start_factor=0.01)
    """

    def __init__(
        self, steps: int = 100, then: str | Schedule | None = None, start_factor: float = 0.01
    ) -> None:
        self.steps, self.then, self.start_factor = steps, then, start_factor
        if not isinstance(steps, int) or steps < 1 or not 0 < start_factor <= 1:
            raise ConfigError(
                message(
                    "Warmup needs steps >= 1 and 0 < start_factor <= 1.",
                    f"steps={steps!r}, start_factor={start_factor!r}",
                    "a positive int and a fraction",
                    "Pass e.g. Warmup(steps=100, start_factor=0.01).",
                )
            )
        if isinstance(get(then) if then is not None else None, OneCycle):
            raise ConfigError(
                message(
                    "Warmup cannot precede OneCycle.",
                    f"then={then!r}",
                    "'step', 'cosine' or None",
                    "OneCycle warms up itself: tune its pct_start.",
                )
            )

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        warmup = lr_scheduler.LinearLR(optimizer, self.start_factor, total_iters=self.steps)
        if self.then is None:
            return warmup
        rest = get(self.then).build(optimizer, max(1, total - self.steps))
        return lr_scheduler.SequentialLR(optimizer, [warmup, rest], milestones=[self.steps])


class _FunctionLR(lr_scheduler.LRScheduler):
    """Keras-style ``fn(period, lr) -> lr``: the new lr from the period index and the current lr."""

    def __init__(self, optimizer: torch.optim.Optimizer, fn: Callable[[int, float], float]) -> None:
        self.fn = fn
        super().__init__(optimizer)

    def get_lr(self) -> list[float | torch.Tensor]:
        return [
            float(self.fn(self.last_epoch, group["lr"])) for group in self.optimizer.param_groups
        ]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().state_dict().items() if k != "fn"}


class _Function(Schedule):
    def __init__(self, fn: Callable[..., Any], keras: bool) -> None:
        self.fn, self.keras = fn, keras

    def build(self, optimizer: torch.optim.Optimizer, total: int) -> Scheduler:
        if self.keras:
            return _FunctionLR(optimizer, self.fn)
        return self.fn(optimizer)  # type: ignore[no-any-return]


_SCHEDULES = Registry("schedule")
_SCHEDULES.add("step", StepDecay, aliases=("step_decay",))
_SCHEDULES.add("cosine", CosineDecay, aliases=("cosine_decay",))
_SCHEDULES.add("one_cycle", OneCycle, aliases=("onecycle",))
_SCHEDULES.add("warmup", Warmup)


def get(schedule: Any, **options: Any) -> Schedule:
    """Resolve a schedule: a name (with ``options`` for its constructor), a :class:`Schedule`, a
    Keras-style ``fn(period, lr) -> lr``, a factory ``optimizer -> torch scheduler``, or a torch
    scheduler class with ``options``, e.g. ``get(torch.optim.lr_scheduler.ExponentialLR,
    gamma=0.9)``.

    >>> lamina.schedules.get("cosine", min_lr=1e-5)
    lamina.schedules.CosineDecay(min_lr=1e-05)
    """
    if isinstance(schedule, str):
        cls = _SCHEDULES.lookup(schedule)
        try:
            return cls(**options)  # type: ignore[no-any-return]
        except TypeError:
            valid = list(inspect.signature(cls).parameters)
            raise ConfigError(
                message(
                    f"Unknown option for the {schedule!r} schedule.",
                    sorted(options),
                    f"options among {valid}",
                    "Check the spelling of the keyword.",
                )
            ) from None
    if isinstance(schedule, Schedule) and not options:
        return schedule
    if isinstance(schedule, type) and issubclass(schedule, lr_scheduler.LRScheduler):
        return _Function(functools.partial(schedule, **options), keras=False)
    if callable(schedule) and not isinstance(schedule, Schedule):
        keras = _required_positional(schedule) == 2
        if not (keras and options):
            return _Function(functools.partial(schedule, **options) if options else schedule, keras)
    raise ConfigError(
        message(
            "Cannot use this value as a learning-rate schedule.",
            f"{schedule!r} with options {sorted(options)}",
            f"one of {_SCHEDULES.names()}, a Schedule, fn(period, lr) -> lr or "
            "fn(optimizer) -> torch scheduler (options only with a name or a torch class)",
            "Pass e.g. 'cosine', or put the options in the function.",
        )
    )


def _required_positional(fn: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in parameters
    )
