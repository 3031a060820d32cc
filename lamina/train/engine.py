"""The engine: owns the loops, device placement, precision, clipping, accumulation,
checkpoints and callbacks; the model owns the steps.

``Model.fit`` prepares data and calls :meth:`Engine.fit`. Everything a loop needs to know
about where tensors live goes through the engine (``device``, ``to_device``), which is the
seam for data-parallel training later: a distributed engine wraps the model and shards the
loader without any change to user code.

>>> import lamina
>>> lamina.train.Engine("cpu").device
device(type='cpu')
"""

from __future__ import annotations

import contextlib
import itertools
import random
import signal
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.core.config import select_device
from lamina.core.errors import ArtifactError, ConfigError, message
from lamina.train.callback_base import Callback, History, overrides
from lamina.train.callbacks import EpochLogger, LazyLogs, ProgressBar
from lamina.train.checkpoint import Checkpointer, check_compatible, rng_state, set_rng_state

if TYPE_CHECKING:
    from lamina.models.base import Model

__all__ = [
    "Engine",
    "PRECISIONS",
    "RunningMean",
    "batch_rows",
    "progress_callbacks",
    "seed_everything",
]

PRECISIONS = ("32", "bf16", "16-mixed")


class Engine:
    """Runs ``fit``, ``evaluate`` and ``predict`` loops on one device.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... (see ``lamina.config.select_device``).
        precision: ``"32"``; ``"bf16"`` (autocast to bfloat16); ``"16-mixed"`` (float16 autocast
            with loss scaling, CUDA only).
        accumulate: optimizer step every this many batches (gradient accumulation).
        clip_norm: clip the global gradient norm to this value before each step.
        clip_value: clip each gradient element to ``[-clip_value, clip_value]``.
        checkpointer: where to write resumable checkpoints (``lamina.checkpoint.Checkpointer``).
    """

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        *,
        precision: str = "32",
        accumulate: int = 1,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else select_device(device)
        if str(precision) not in PRECISIONS:
            raise ConfigError(
                message(
                    "Unknown precision.",
                    repr(precision),
                    f"one of {PRECISIONS}",
                    "Pass precision='bf16' for mixed precision on CPU or recent GPUs.",
                )
            )
        if precision == "16-mixed" and self.device.type != "cuda":
            raise ConfigError(
                message(
                    "precision='16-mixed' needs a CUDA device.",
                    f"device {self.device}",
                    "a CUDA device",
                    "Use precision='bf16' on this device, or '32'.",
                )
            )
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ConfigError(
                message(
                    "accumulate must be a positive int.",
                    repr(accumulate),
                    "an int >= 1",
                    "Pass accumulate=4 to step every 4 batches.",
                )
            )
        self.precision, self.accumulate = str(precision), accumulate
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.checkpointer = checkpointer
        self.scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
        self._no_autocast = contextlib.nullcontext()
        self._micro = 0
        self._signal: int | None = None

    def __repr__(self) -> str:
        return f"lamina.train.Engine(device={str(self.device)!r}, precision={self.precision!r})"

    def to_device(self, batch: Any) -> Any:
        """Move a batch (tensor, tuple, list or dict of tensors) to the engine's device."""
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.to_device(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        return batch

    def _batches(
        self, loader: Iterable[Any], batches: Iterable[Any] | None = None
    ) -> Iterable[Any]:
        """``batches`` (default: a pass over ``loader``) on the device."""
        batches = loader if batches is None else batches
        on_device = getattr(loader, "tensors", None) is not None  # ArrayLoader: already placed
        return batches if on_device else map(self.to_device, batches)

    # ---------------------------------------------------------- the step helpers models call
    def autocast(self) -> Any:
        """The autocast context for forward passes (a shared no-op at full precision)."""
        if self.precision == "32":
            return self._no_autocast
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def optimize(self, model: Model, loss: torch.Tensor) -> None:
        """Zero the grads (at the start of each accumulation window), backward, then clip and step.

        Clipping and the step come every ``accumulate`` calls. Zeroing right before backward, as a
        hand-written loop does, lets backward reuse the memory the old gradients just freed.
        """
        if self._micro % self.accumulate == 0:
            model.optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
        if self.accumulate > 1:
            loss = loss / self.accumulate
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        self._micro += 1
        if self._micro % self.accumulate == 0:
            self.step(model)

    def step(self, model: Model) -> None:
        """Clip and apply the accumulated gradients."""
        optimizer = model.optimizer
        if self.scaler is not None and (self.clip_norm or self.clip_value):
            self.scaler.unscale_(optimizer)  # type: ignore[arg-type]
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip_norm)
        if self.clip_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), self.clip_value)
        if self.scaler is not None:
            self.scaler.step(optimizer)  # type: ignore[arg-type]
            self.scaler.update()
        else:
            optimizer.step()  # type: ignore[union-attr]

    # ------------------------------------------------------------------ loops
    def fit(
        self,
        model: Model,
        train: Iterable[Any],
        validation: Iterable[Any] | None,
        epochs: int,
        callbacks: Sequence[Callback] = (),
        resume: bool = False,
    ) -> History:
        """The training loop. Returns the ``History``."""
        history = History()
        every = [*callbacks, history]
        for callback in every:
            callback.set_model(model)
        batch_end = [c for c in every if overrides(c, "on_train_batch_end")]
        batch_begin = [c for c in every if overrides(c, "on_train_batch_begin")]
        model.stop_training = False
        model.fit_state_ = {"epochs": epochs, "steps": len(train)}  # type: ignore[arg-type]
        _call(every, "on_train_begin")
        saved = self._resume(model, every) if resume else None
        start_epoch, start_step = (saved["epoch"], saved["step"]) if saved else (0, 0)
        self._micro = saved["micro"] if saved else 0
        logs: dict[str, float] = {}
        with self._catch_sigterm():
            for epoch in range(start_epoch, epochs):
                model.train()
                trackers = model.reset_trackers()
                running = LazyLogs(trackers)
                _call(every, "on_epoch_begin", epoch)
                epoch_rng = self._epoch_rng(train, saved if epoch == start_epoch else None)
                pending = iter(train)
                if saved and epoch == start_epoch and start_step:
                    # before any transfer: skipped batches stay where they are
                    self._skip(pending, model, saved)
                batches = self._batches(train, pending)
                for step, batch in enumerate(batches, start_step if epoch == start_epoch else 0):
                    for c in batch_begin:
                        c.on_train_batch_begin(step, running)
                    model.track(model.train_step(batch), batch)
                    for c in batch_end:
                        c.on_train_batch_end(step, running)
                    if self.checkpointer is not None:
                        self._maybe_checkpoint(model, every, epoch, step + 1, epoch_rng)
                    if model.stop_training:
                        break
                if self._micro % self.accumulate:  # flush a partial accumulation at the epoch end
                    self.step(model)
                    self._micro = 0
                logs = model.epoch_logs()
                if validation is not None:
                    logs.update(
                        {f"val_{k}": v for k, v in self.evaluate(model, validation).items()}
                    )
                _call(every, "on_epoch_end", epoch, logs)
                # the next epoch's order comes from the RNGs as they are now
                if self.checkpointer is not None:
                    self._save(model, every, epoch + 1, 0, self._epoch_rng(train, None))
                if model.stop_training:
                    break
        _call(every, "on_train_end", logs)
        return history

    def evaluate(self, model: Model, loader: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``loader``."""
        was_training = model.training
        model.eval()
        model.reset_trackers()
        with torch.inference_mode(), self.autocast():
            for batch in self._batches(loader):
                model.track(model.test_step(batch), batch)
        model.train(was_training)
        return model.epoch_logs()

    def predict(self, model: Model, loader: Iterable[Any]) -> torch.Tensor:
        """Concatenated outputs of ``predict_step`` over ``loader`` (on the engine's device)."""
        was_training = model.training
        model.eval()
        outputs = []
        with torch.inference_mode(), self.autocast():
            for batch in self._batches(loader):
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                out = model.predict_step(x)
                outputs.append(out.float() if out.dtype in (torch.bfloat16, torch.float16) else out)
        model.train(was_training)
        return torch.cat(outputs) if outputs else torch.empty(0)

    # ------------------------------------------------------------------ checkpoints
    def _epoch_rng(self, loader: Any, saved: dict[str, Any] | None) -> dict[str, Any] | None:
        """RNG state at the epoch start (it decides the batch order); on resume, ``saved``'s."""
        if self.checkpointer is None:
            return None
        generator = getattr(loader, "generator", None)
        if saved is not None and saved.get("epoch_rng"):
            torch.set_rng_state(saved["epoch_rng"]["torch"])
            if generator is not None and saved["epoch_rng"].get("loader") is not None:
                generator.set_state(saved["epoch_rng"]["loader"])
        return {
            "torch": torch.get_rng_state(),
            "loader": generator.get_state() if generator is not None else None,
        }

    def _skip(self, batches: Any, model: Model, saved: dict[str, Any]) -> None:
        """Consume the batches done before the checkpoint, then restore the step-boundary state."""
        for _ in itertools.islice(batches, saved["step"]):
            pass  # creating the iterator and fetching batches may draw from the RNGs...
        set_rng_state(saved["rng"])  # ...so the step-boundary state is restored only afterwards
        model.restore_trackers(saved)

    def _fingerprint(self, model: Model) -> dict[str, Any]:
        try:  # a lamina model describes itself; any other module is known by its class name
            architecture: Any = (
                model.spec() if callable(getattr(model, "spec", None)) else type(model).__qualname__
            )
        except ArtifactError:
            architecture = type(model).__qualname__
        return {
            "architecture": architecture,
            "optimizer_class": type(model.optimizer).__name__,
            "shapes": {
                k: list(v.shape)
                for k, v in model.state_dict().items()
                if isinstance(v, torch.Tensor)
            },
        }

    def _save(
        self,
        model: Model,
        callbacks: Sequence[Callback],
        epoch: int,
        step: int,
        epoch_rng: dict[str, Any] | None,
    ) -> None:
        checkpointer = self.checkpointer
        if checkpointer is None:
            return
        state = {
            **self._fingerprint(model),
            "epoch": epoch,
            "step": step,
            "micro": self._micro,
            "model": model.state_dict(),
            "optimizer": model.optimizer.state_dict(),  # type: ignore[union-attr]
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng_state(),
            "epoch_rng": epoch_rng,
            "callbacks": {
                key: c.state_dict()
                for key, c in _keyed(callbacks).items()
                if hasattr(c, "state_dict")
            },
            **model.tracker_state(),
        }
        checkpointer.save(state, epoch * model.fit_state_["steps"] + step)

    def _maybe_checkpoint(
        self,
        model: Model,
        callbacks: Sequence[Callback],
        epoch: int,
        step: int,
        epoch_rng: dict[str, Any] | None,
    ) -> None:
        every = self.checkpointer.every if self.checkpointer else None
        if (every and step % every == 0) or self._signal is not None:
            self._save(model, callbacks, epoch, step, epoch_rng)
        if self._signal is not None:
            raise SystemExit(128 + self._signal)

    def _resume(self, model: Model, callbacks: Sequence[Callback]) -> dict[str, Any] | None:
        checkpointer = self.checkpointer
        saved = checkpointer.load() if checkpointer is not None else None
        if saved is None:
            return None
        check_compatible(
            saved, self._fingerprint(model), checkpointer.latest() if checkpointer else None
        )
        model.load_state_dict(saved["model"])
        model.optimizer.load_state_dict(saved["optimizer"])  # type: ignore[union-attr]
        if self.scaler is not None and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        # matched by class, so added/removed callbacks are fine
        for key, callback in _keyed(callbacks).items():
            state = saved["callbacks"].get(key)
            if state and hasattr(callback, "load_state_dict"):
                callback.load_state_dict(state)
        if saved["step"] == 0:  # an epoch boundary: nothing to skip, restore RNGs now
            set_rng_state(saved["rng"])
        return saved

    @contextlib.contextmanager
    def _catch_sigterm(self) -> Any:
        """With checkpoints on, SIGTERM saves at the next step boundary and exits with code 143."""
        if self.checkpointer is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        self._signal = None

        def handler(signum: int, frame: Any) -> None:
            self._signal = signum

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


class RunningMean:
    """A batch-size-weighted mean of 0-d tensors: one in-place add per step, read once per epoch."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def update(self, value: torch.Tensor, size: int) -> None:
        value = value.detach()
        if self.total is None:
            self.total = value.to(torch.float64) * size
        else:
            self.total.add_(value, alpha=size)
        self.count += size

    def compute(self) -> float:
        return (
            float(self.total) / self.count
            if self.total is not None and self.count
            else float("nan")
        )


def batch_rows(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(first, dict):
        first = next(iter(first.values()))
    return len(first) if hasattr(first, "__len__") else 1


def seed_everything(seed: int | None, device: torch.device) -> torch.Generator:
    """Seed the global RNGs when asked; return a generator for the batch order on ``device``."""
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()) if seed is None else seed)
    return generator


def progress_callbacks(verbose: int | str) -> list[Callback]:
    import sys

    if verbose == "auto":
        verbose = 1 if sys.stderr.isatty() else 0
    if verbose in (1, "1"):
        return [ProgressBar()]
    if verbose in (2, "2"):
        return [EpochLogger()]
    return []


def _keyed(callbacks: Sequence[Callback]) -> dict[str, Callback]:
    """Callbacks by ``ClassName#n`` (n counts callbacks of the same class), for checkpoint state."""
    keyed: dict[str, Callback] = {}
    for callback in callbacks:
        name = type(callback).__name__
        keyed[f"{name}#{sum(k.startswith(name + '#') for k in keyed)}"] = callback
    return keyed


def _call(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)
