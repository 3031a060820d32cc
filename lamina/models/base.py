"""``lamina.Model``: an ``nn.Module`` with ``compile``/``fit``/``evaluate``/``predict``/``save``.

Three levels, no cliff: wrap or subclass and call ``fit``; override ``train_step`` for
custom training logic; or write your own torch loop with the model as a plain module.

>>> import lamina
>>> model = lamina.Model(torch.nn.Linear(3, 2)).compile(optimizer="sgd", loss="mse")
>>> history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, verbose=0)
>>> len(history.history["loss"])
2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core import catalog as registry
from lamina.core.config import resolve
from lamina.core.errors import (
    ConfigError,
    NotBuiltError,
    NotCompiledError,
    message,
)
from lamina.models.classifier import ClassifierMixin
from lamina.models.contract import ContractMixin
from lamina.models.inputs import InputsMixin
from lamina.models.steps import StepsMixin
from lamina.models.transfer import TransferMixin
from lamina.nn import tensors as data_lib
from lamina.train.callbacks import Callback, History
from lamina.train.engine import Engine, progress_callbacks, seed_everything

__all__ = ["Model"]

_CLASS_LOSSES = ("cross_entropy", "nll")


class Model(StepsMixin, InputsMixin, ClassifierMixin, ContractMixin, TransferMixin, nn.Module):
    """A trainable ``nn.Module``. Wrap any module, or subclass and define ``forward``.

    Args:
        module: the network to wrap (optional when subclassing).

    Learned state ends in ``_``: ``input_spec_`` (shape and dtype seen at build),
    ``history_`` (the last ``History``), ``classes_`` (the labels behind the class ids when ``fit``
    encoded labels such as strings, else None; see ``lamina.models.classifier``).
    """

    _lamina_name = "lamina.Model"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.capture_init(cls)
        name = cls.__dict__.get("_lamina_name") or registry.qualified_name(cls)
        cls._lamina_name = name
        if not cls.__name__.startswith("_"):
            registry.registries["object"].add(name, cls, overwrite=True)

    def __init__(self, module: nn.Module | None = None) -> None:
        super().__init__()
        if module is not None:
            if not isinstance(module, nn.Module):
                raise ConfigError(
                    message(
                        "lamina.Model wraps a torch module.",
                        type(module).__name__,
                        "an instance of torch.nn.Module",
                        "Pass e.g. torch.nn.Linear(4, 2).",
                    )
                )
            self.module = module
        self.stop_training = False
        self._compiled: dict[str, Any] | None = None
        self._trackers: dict[str, Any] = {}
        self.input_spec_: dict[str, Any] | None = None
        self.history_: History | None = None
        self.classes_: list[Any] | None = None
        self.fit_state_: dict[str, Any] = {}

    def _get_name(self) -> str:
        return self._lamina_name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped module; subclasses override this."""
        if "module" not in self._modules:
            raise NotImplementedError(
                f"{self._lamina_name} has no forward(): define forward() in your "
                "subclass or wrap a module with lamina.Model(module)."
            )
        return self.module(*args, **kwargs)

    # ------------------------------------------------------------------ compile
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "adam",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        *,
        learning_rate: float | None = None,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        from_logits: bool | None = None,
    ) -> Model:
        """Choose the optimizer, loss and metrics. Returns the model (chainable).

        Args:
            optimizer: a name (``"sgd"``, ``"momentum"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
                ``"adagrad"``), a ``torch.optim.Optimizer`` class, a callable
                ``params -> optimizer``, or an optimizer instance.
            loss: a name (``"cross_entropy"``, ``"binary_cross_entropy"``, ``"mse"``, ...) or a
                callable ``(y_pred, y_true) -> scalar tensor``.
            metrics: names (``"accuracy"``, ``"f1"``, ``"auc"``, ...) or ``lamina.metrics.Metric``s.
            learning_rate: overrides the optimizer's default learning rate (names only).
            clip_norm: clip the global gradient norm to this value before each optimizer step.
            clip_value: clip every gradient element to ``[-clip_value, clip_value]``.
            from_logits: whether the model outputs logits (True) or probabilities (False) for a
                cross-entropy loss; None detects a last sigmoid/softmax layer for a loss given by
                name and then computes the loss on that layer's logits (see
                ``lamina.models.classifier``).

        The name follows Keras; for ``torch.compile`` use ``fit(..., compile=True)``.
        """
        if loss is None:
            raise ConfigError(
                message(
                    "compile() needs a loss.",
                    "loss=None",
                    "a loss name or callable",
                    "Pass e.g. loss='cross_entropy'.",
                )
            )
        options = {} if learning_rate is None else {"lr": learning_rate}
        if isinstance(optimizer, str):
            factory = registry.get("optimizer", optimizer, **options)
        elif isinstance(optimizer, torch.optim.Optimizer) or callable(optimizer):
            factory = optimizer
        else:
            raise ConfigError(
                message(
                    "Cannot use this optimizer.",
                    repr(optimizer),
                    "a name, an optimizer class/callable or instance",
                    "Pass 'adam'.",
                )
            )
        metric_objs = [registry.get("metric", m) for m in (metrics or [])]
        self._compiled = {
            "optimizer": optimizer if isinstance(optimizer, str) else None,
            "loss": loss if isinstance(loss, str) else None,
            "metrics": [m if isinstance(m, str) else None for m in (metrics or [])],
            "learning_rate": learning_rate,
            "clip_norm": clip_norm,
            "clip_value": clip_value,
            "from_logits": from_logits,
            "probabilities": self._output_probabilities(loss, from_logits),
            "factory": factory,
            "loss_fn": registry.get("loss", loss),
            "metric_objs": metric_objs,
            "class_ids": isinstance(loss, str)
            and registry.registries["loss"].lookup(loss)
            in [registry.registries["loss"].lookup(n) for n in _CLASS_LOSSES],
        }
        self.optimizer: torch.optim.Optimizer | None = None
        if self.is_built():
            self._make_optimizer()
        return self

    def _make_optimizer(self) -> None:
        factory = self._compiled_or_raise("fit")["factory"]
        if isinstance(factory, torch.optim.Optimizer):
            self.optimizer = factory
        else:
            self.optimizer = factory(self.parameters())

    def _compiled_or_raise(self, what: str) -> dict[str, Any]:
        if self._compiled is None:
            raise NotCompiledError(
                message(
                    f"{what}() was called before compile().",
                    "an uncompiled model",
                    "a compiled model",
                    "Call model.compile(optimizer='adam', loss='cross_entropy') first.",
                )
            )
        return self._compiled

    # ------------------------------------------------------------------ building
    def is_built(self) -> bool:
        """True once every parameter has a shape (after the first batch or a load)."""
        return not any(
            isinstance(p, nn.parameter.UninitializedParameter) for p in self.parameters()
        )

    def build(self, x: torch.Tensor) -> torch.Tensor:
        """Run one forward pass on (a few rows of) ``x`` to size lazy layers; records
        ``input_spec_``."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = self(x[:2])
        self.train(was_training)
        self.input_spec_ = {
            "shape": [None, *x.shape[1:]],
            "dtype": str(x.dtype).replace("torch.", ""),
        }
        return out  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ fit / evaluate / predict
    def fit(
        self,
        x: Any,
        y: Any = None,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        callbacks: Sequence[Callback] | None = None,
        verbose: int | str | None = None,
        device: str | None = None,
        seed: int | None = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        precision: str = "32",
        accumulate: int = 1,
        compile: bool | str = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
    ) -> History:
        """Train for ``epochs`` passes over the data. Returns a ``History``.

        Args:
            x: inputs (array, tensor, DataFrame), or a ``Dataset``/``DataLoader`` yielding
                ``(x, y)``.
            y: targets for in-memory ``x``; None when ``x`` yields them.
            epochs: passes over the training data.
            batch_size: rows per optimisation step.
            validation_split: hold out the last fraction of in-memory rows for validation.
            validation_data: ``(x_val, y_val)``, or a ``Dataset``/``DataLoader``.
            shuffle: reshuffle every epoch.
            callbacks: ``lamina.callbacks.Callback`` instances.
            verbose: ``"auto"`` (bar on a terminal), 0 quiet, 1 bar, 2 one line per epoch.
            device: ``"auto"``, ``"cpu"``, ``"cuda"``; default from the config.
            seed: seeds python, numpy, torch and the batch order for a reproducible run.
            sample_weight: one weight per row of in-memory ``x``; the loss is ``sum(w * loss) / N``.
            class_weight: a weight per class id (dict or sequence), multiplied into the row weights.
            precision: ``"32"``, ``"bf16"`` or ``"16-mixed"`` (CUDA) mixed precision.
            accumulate: take an optimizer step every this many batches (gradient accumulation).
            compile: ``True`` (or a backend name) runs the model through ``torch.compile``.
            checkpoint_dir: write resumable checkpoints here (each epoch, and every
                ``checkpoint_every`` steps); SIGTERM then saves at the next step boundary and exits
                with code 143.
            checkpoint_every: steps between checkpoints inside an epoch.
            resume: continue from the latest checkpoint in ``checkpoint_dir`` (if there is one),
                giving weights bit-identical to an uninterrupted run with the same seed.
        """
        compiled = self._compiled_or_raise("fit")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ConfigError(
                message(
                    "epochs must be a positive int.", repr(epochs), "an int >= 1", "Pass epochs=5."
                )
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(
                message(
                    "batch_size must be a positive int.",
                    repr(batch_size),
                    "an int >= 1",
                    "Pass batch_size=32.",
                )
            )
        if resume and checkpoint_dir is None:
            raise ConfigError(
                message(
                    "resume=True needs checkpoint_dir.",
                    "checkpoint_dir=None",
                    "the directory a previous fit wrote checkpoints to",
                    "Pass checkpoint_dir='runs/ckpt' to both runs.",
                )
            )
        config = resolve(device=device, seed=seed, verbose=verbose)
        if config.num_threads and config.num_threads != torch.get_num_threads():
            torch.set_num_threads(
                config.num_threads
            )  # LAMINA_NUM_THREADS: the CPU threads of this process
        checkpointer = None
        if checkpoint_dir is not None:
            from lamina.train.checkpoint import Checkpointer

            checkpointer = Checkpointer(checkpoint_dir, every=checkpoint_every)
        engine = Engine(
            config.device,
            precision=precision,
            accumulate=accumulate,
            clip_norm=compiled["clip_norm"],
            clip_value=compiled["clip_value"],
            checkpointer=checkpointer,
        )
        generator = seed_everything(config.seed, engine.device)
        self.to(engine.device)
        train, validation, first = self._fit_data(
            x,
            y,
            validation_split,
            validation_data,
            batch_size,
            shuffle,
            generator,
            engine,
            sample_weight,
        )
        self._class_weight = (
            None if class_weight is None else data_lib.class_weights(class_weight, engine.device)
        )
        if not self.is_built() or self.input_spec_ is None:
            out = self.build(first[0])
        else:
            with torch.no_grad():
                out = self.eval()(first[0][:2])
        if len(first) > 1:
            self._check_targets(out, first[1])
        if not any(p.requires_grad for p in self.parameters()):
            raise ConfigError(
                message(
                    "The model has no trainable parameters.",
                    "every parameter frozen (requires_grad=False)",
                    "at least one trainable parameter",
                    "Unfreeze some layers (layer.requires_grad_(True)) before fit().",
                )
            )
        if self.optimizer is None:
            self._make_optimizer()
        self.config_ = config.to_dict()
        if compile:
            nn.Module.compile(self, **({} if compile is True else {"backend": compile}))
        self.engine_ = engine
        history = engine.fit(
            self,
            train,
            validation,
            epochs,
            [*(callbacks or []), *progress_callbacks(config.verbose)],
            resume=resume,
        )
        self.history_ = history
        return history

    def evaluate(self, x: Any, y: Any = None, *, batch_size: int = 256) -> dict[str, float]:
        """Loss and compiled metrics on ``(x, y)``: a dict of metric name -> float."""
        self._compiled_or_raise("evaluate")
        self._require_built("evaluate")
        engine = self._engine()
        return engine.evaluate(self, self._eval_loader(x, y, batch_size, engine))

    def predict(self, x: Any, *, batch_size: int = 256) -> np.ndarray:
        """Model outputs for ``x`` as a NumPy array (logits for classifiers)."""
        self._require_built("predict")
        engine = self._engine()
        if data_lib.is_in_memory(x):
            loader: Any = data_lib.ArrayLoader(self._tensors(x, None, "predict"), batch_size).to(
                engine.device
            )
        else:
            loader = data_lib.as_loader(x, batch_size, shuffle=False)
        return engine.predict(self, loader).cpu().numpy()  # type: ignore[no-any-return]

    def _require_built(self, what: str) -> None:
        if not self.is_built():
            raise NotBuiltError(
                message(
                    f"{what}() needs a built model.",
                    "a model whose layers have no input size yet",
                    "a model that has seen data",
                    "Call fit() first, or model.build(x) with a few example rows.",
                )
            )

    # ------------------------------------------------------------------ inspection
    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """A table of layers with output shapes and parameter counts; printed and returned."""
        from lamina.io.summary import summarize

        self._require_built("summary")
        text = summarize(self)
        if print_fn is not None:
            print_fn(text)
        return text


registry.capture_init(Model)
registry.registries["object"].add(Model._lamina_name, Model)
