"""Transfer learning for every ``lamina.Model``: ``freeze``, ``unfreeze``, ``replace_head`` and
``fine_tune``.

:class:`TransferMixin` is a base class of ``lamina.Model``, so every model (MLP, CNN, a wrapped
``torch.nn`` module, your subclass) has these methods. The *head* is the submodule named ``head``
(MLP and CNN have one); a model without one uses its last child module that has parameters, looking
inside a single wrapped module (``lamina.Model(nn.Sequential(...))`` -> ``"module.2"``).

``fine_tune`` follows the fastai recipe: train the new head with the body frozen, then unfreeze and
train everything with discriminative learning rates (smaller for layers nearer the input).

>>> import lamina
>>> x, y = lamina.testing.tiny_classification(rows=64, features=4, classes=3)
>>> model = lamina.models.MLP(units=(8,), outputs=3).compile(optimizer="adam", loss="cross_entropy")
>>> _ = model.fit(x, y, epochs=1, verbose=0, seed=0)
>>> model = model.replace_head(2).freeze()
>>> [name for name, p in model.named_parameters() if p.requires_grad]
['head.weight', 'head.bias']
>>> history = model.fine_tune(x, y % 2, epochs=1, freeze_epochs=1, verbose=0, seed=0)
>>> len(history.history["loss"]), model.get_params()["outputs"]
(2, 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self, cast

import torch
from torch import nn

from lamina.core.errors import ConfigError, message
from lamina.nn.layers import Dense
from lamina.train.callbacks import History

if TYPE_CHECKING:
    from lamina.models.base import Model

__all__ = ["TransferMixin"]

_NOT_FOR_FINE_TUNE = ("checkpoint_dir", "checkpoint_every", "resume")


def _under(name: str, prefix: str) -> bool:
    """True when ``name`` is ``prefix`` or inside it (``"features.0"`` is under ``"features"``)."""
    return name == prefix or name.startswith(prefix + ".")


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _has_running_stats(module: nn.Module) -> bool:
    """BatchNorm-like layers: training mode updates a ``running_mean`` buffer."""
    return isinstance(getattr(module, "running_mean", None), torch.Tensor)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class TransferMixin(nn.Module):
    """``freeze``/``unfreeze``/``replace_head``/``fine_tune``; a base class of ``lamina.Model``.

    Frozen parameters get ``requires_grad=False``; layers with running statistics (BatchNorm) inside
    frozen parts stay in eval mode while the model trains, because :meth:`train` puts them back
    after every ``model.train()`` (the engine calls it each epoch). The frozen set is not saved: a
    loaded or cloned model starts unfrozen.
    """

    # ------------------------------------------------------------------ which part is the head
    def head_name(self) -> str:
        """The qualified name of the head, e.g. ``"head"`` (MLP, CNN) or ``"module.2"``.

        The submodule named ``head`` wins; otherwise the last child module that has parameters.
        While the model has a single child with parameters (``lamina.Model(module)``,
        ``lamina.Sequential``), the search continues inside it; a lone leaf module is the head
        itself.

        >>> lamina.Model(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))).head_name()
        'module.2'
        """
        path: list[str] = []
        node: nn.Module = self
        while True:
            if isinstance(node._modules.get("head"), nn.Module):
                return ".".join([*path, "head"])
            children = [
                (name, child) for name, child in node.named_children() if _has_parameters(child)
            ]
            if len(children) != 1:
                break
            path.append(children[0][0])
            node = children[0][1]
        if children:
            return ".".join([*path, children[-1][0]])
        if path:
            return ".".join(path)
        raise ConfigError(
            message(
                "This model has no head: no child module has parameters.",
                type(self).__name__,
                "a submodule named `head`, or child modules with parameters",
                "Put the output layer in an attribute named `head` (self.head = Dense(10)).",
            )
        )

    # ------------------------------------------------------------------ freeze / unfreeze
    def _selected(self, names: tuple[str, ...], what: str) -> tuple[list[str], list[nn.Parameter]]:
        """(module names, parameters) under ``names``; every module but the head when none are
        given."""
        modules = [name for name, _ in self.named_modules() if name]
        parameters = dict(self.named_parameters())
        if not names:
            head = self.head_name()
            return (
                [m for m in modules if not _under(m, head)],
                [p for n, p in parameters.items() if not _under(n, head)],
            )
        valid = [*modules, *parameters]
        unknown = [n for n in names if not isinstance(n, str) or n not in valid]
        if unknown:
            shown = ", ".join(map(repr, modules[:40])) + (", ..." if len(modules) > 40 else "")
            raise ConfigError(
                message(
                    f"{what}() got names that are not submodules of this model.",
                    unknown,
                    f"submodule names or prefixes: {shown}",
                    f"Pass e.g. model.{what}({modules[0]!r}), or no names for the whole body."
                    if modules
                    else "This model has no submodules to name.",
                )
            )
        return (
            [m for m in modules if any(_under(m, n) for n in names)],
            [p for n, p in parameters.items() if any(_under(n, name) for name in names)],
        )

    def freeze(self, *names: str) -> Self:
        """Stop training parts of the model; with no names, everything except the head.

        Args:
            *names: submodule names or prefixes (``"features"``, ``"features.0"``) or parameter
                names.

        Returns:
            The model (chainable). Frozen parameters get ``requires_grad=False``; BatchNorm layers
            in frozen parts keep their running statistics (eval mode) during ``fit``.

        >>> model = lamina.models.CNN(filters=(4,), outputs=2).freeze("features")
        >>> model.features[0].weight.requires_grad, model.head[0].weight.requires_grad
        (False, True)
        """
        modules, parameters = self._selected(names, "freeze")
        for parameter in parameters:
            parameter.requires_grad = (
                False  # the attribute, not requires_grad_(): lazy parameters allow it
            )
        self.__dict__["_frozen_modules"] = self.__dict__.get("_frozen_modules", set()) | set(
            modules
        )
        return self.train(self.training)

    def unfreeze(self, *names: str) -> Self:
        """Train parts of the model again; with no names, everything.

        Args:
            *names: submodule names or prefixes, as for :meth:`freeze`.

        Returns:
            The model (chainable).
        """
        if names:
            modules, parameters = self._selected(names, "unfreeze")
        else:
            modules, parameters = (
                [name for name, _ in self.named_modules()],
                list(self.parameters()),
            )
        for parameter in parameters:
            parameter.requires_grad = True
        self.__dict__["_frozen_modules"] = self.__dict__.get("_frozen_modules", set()) - set(
            modules
        )
        return self.train(self.training)

    def train(self, mode: bool = True) -> Self:
        """``nn.Module.train``, except that BatchNorm layers in frozen parts stay in eval mode."""
        super().train(mode)
        frozen = self.__dict__.get("_frozen_modules")
        if mode and frozen:
            for name, module in self.named_modules():
                if name in frozen and _has_running_stats(module):
                    module.train(False)
        return self

    # ------------------------------------------------------------------ a new head
    def replace_head(self, outputs: int | nn.Module) -> Self:
        """Put a fresh head on the model, e.g. for a new set of classes.

        Args:
            outputs: the new output size, or a module to use as the head. With an int, a model whose
                constructor takes ``outputs`` (MLP, CNN, ...) gets the head its constructor builds
                for that size (so a CNN with dropout keeps ``Dropout -> Dense``); any other model
                gets a lazy ``lamina.layers.Dense(outputs)`` in place of the head (in an
                ``nn.Sequential`` head, in place of its last layer with parameters).

        Returns:
            The model (chainable), with output ``(N, outputs)``. The constructor argument
            ``outputs`` (``get_params``, and the ``outputs`` attribute) is updated, so
            ``save``/``load``/``clone`` rebuild this shape; a given module sets it only when its
            last layer has ``units`` or ``out_features``. With a known input shape the new head is
            built at once. The compiled optimizer is rebuilt over the new parameters.

        >>> model = lamina.models.CNN(filters=(4,), outputs=10, dropout=0.5).replace_head(3)
        >>> [type(layer).__name__ for layer in model.head], model.head[1].units
        (['Dropout', 'Dense'], 3)
        >>> model.get_params()["outputs"]
        3
        """
        if not (_positive_int(outputs) or isinstance(outputs, nn.Module)):
            raise ConfigError(
                message(
                    "replace_head() needs a positive number of outputs or a module.",
                    f"outputs={outputs!r}",
                    "an int >= 1 or an nn.Module",
                    "Pass e.g. replace_head(5) for five classes.",
                )
            )
        model = cast("Model", self)
        name = self.head_name()
        old, params = self.get_submodule(name), model.get_params()
        new: nn.Module
        if isinstance(outputs, nn.Module):
            new = outputs
        elif name == "head" and "outputs" in params:  # the constructor's own head for this size
            new = getattr(type(self)(**{**params, "outputs": outputs}), "head")  # noqa: B009
        elif isinstance(old, nn.Sequential) and len(old):
            layers = list(old)
            last = max(
                (i for i, layer in enumerate(layers) if _has_parameters(layer)),
                default=len(layers) - 1,
            )
            new = nn.Sequential(*layers[:last], Dense(outputs), *layers[last + 1 :])
        else:
            new = Dense(outputs)
        parent, _, attribute = name.rpartition(".")
        setattr(self.get_submodule(parent), attribute, new)
        self.__dict__["_frozen_modules"] = {
            m for m in self.__dict__.get("_frozen_modules", set()) if not _under(m, name)
        }
        units = outputs if isinstance(outputs, int) else _output_size(new)
        config = self.__dict__.get("_lamina_config")
        if (
            name == "head"
            and units is not None
            and isinstance(config, dict)
            and "outputs" in config
        ):
            config["outputs"] = units
            if hasattr(self, "outputs"):
                self.outputs = units
        spec = model.input_spec_
        if spec is not None:
            device = next(
                (p.device for p in self.parameters() if not nn.parameter.is_lazy(p)), None
            )
            example = torch.zeros(
                (1, *spec["shape"][1:]), dtype=getattr(torch, spec["dtype"]), device=device
            )
            if not any(nn.parameter.is_lazy(p) for p in new.parameters()):
                new.to(example.device)
            model.build(example)
        if model._compiled is not None:
            model._recompile(model._compiled)
        return self

    # ------------------------------------------------------------------ fine_tune
    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters grouped by layer, input side first and the head last (for discriminative
        rates).

        The groups are the children of the module holding the head (``Sequential``/``ModuleList``
        children are split into their own children), leaving out those without parameters.
        Parameters outside them join the first group.

        >>> [len(group) for group in lamina.models.CNN(filters=(4,), outputs=2).layer_groups()]
        [2, 2, 2]
        """
        name = self.head_name()
        head, parent = self.get_submodule(name), self.get_submodule(name.rpartition(".")[0])
        groups: list[list[nn.Parameter]] = []
        for child in parent.children():
            split = isinstance(child, (nn.Sequential, nn.ModuleList)) and child is not head
            for part in child.children() if split else [child]:
                groups.append(list(part.parameters()))
        groups = [group for group in groups if group]
        seen = {id(p) for group in groups for p in group}
        rest = [p for p in self.parameters() if id(p) not in seen]
        if rest:
            groups = [rest + groups[0], *groups[1:]] if groups else [rest]
        return groups

    def fine_tune(
        self,
        x: Any,
        y: Any = None,
        *,
        epochs: int = 1,
        freeze_epochs: int = 1,
        learning_rate: float | None = None,
        discriminative: float = 10.0,
        **fit_kwargs: Any,
    ) -> History:
        """Train the head with the body frozen, then everything with discriminative learning rates.

        Args:
            x: inputs, as for ``fit``.
            y: targets, as for ``fit``.
            epochs: epochs of the second phase (all layers trainable); the run has
                ``freeze_epochs + epochs`` epochs in all.
            freeze_epochs: epochs of the first phase (head only, body frozen); 0 skips it.
            learning_rate: the head's rate in both phases; default the compiled ``learning_rate``,
                else the optimizer's default.
            discriminative: the ratio of the head's rate to the first layer group's in phase two;
                the groups of :meth:`layer_groups` get rates spaced geometrically from
                ``learning_rate / discriminative`` to ``learning_rate`` (1.0: one rate for all).
            **fit_kwargs: passed to both ``fit`` calls (``batch_size``, ``callbacks``, ``seed``,
                ...).

        Returns:
            One ``History`` for both phases: the first ``freeze_epochs`` entries are the frozen
            phase. Each phase gets a fresh compiled optimizer with one parameter group per layer
            group (schedule callbacks build on it); afterwards the model is unfrozen and keeps the
            phase-two optimizer.
        """
        model = cast("Model", self)
        compiled = model._compiled_or_raise("fine_tune")
        if not _positive_int(epochs) or not (_positive_int(freeze_epochs) or freeze_epochs == 0):
            raise ConfigError(
                message(
                    "fine_tune() needs epochs >= 1 and freeze_epochs >= 0 (ints).",
                    f"epochs={epochs!r}, freeze_epochs={freeze_epochs!r}",
                    "ints",
                    "Pass e.g. epochs=5, freeze_epochs=1.",
                )
            )
        if learning_rate is not None and not (
            isinstance(learning_rate, (int, float)) and learning_rate > 0
        ):
            raise ConfigError(
                message(
                    "fine_tune() learning_rate must be positive.",
                    repr(learning_rate),
                    "a float > 0 or None",
                    "Pass e.g. learning_rate=1e-3.",
                )
            )
        if (
            isinstance(discriminative, bool)
            or not isinstance(discriminative, (int, float))
            or discriminative < 1
        ):
            raise ConfigError(
                message(
                    "fine_tune() discriminative must be a ratio >= 1.",
                    repr(discriminative),
                    "a float >= 1 (1.0: the same rate everywhere)",
                    "Pass discriminative=10.",
                )
            )
        bad = sorted(set(fit_kwargs) & set(_NOT_FOR_FINE_TUNE))
        if bad:
            raise ConfigError(
                message(
                    "fine_tune() runs two fits, which cannot share checkpoints.",
                    bad,
                    "fit options other than checkpoint_dir/checkpoint_every/resume",
                    "For resumable runs call freeze(), fit(), unfreeze(), fit() yourself.",
                )
            )
        if not model.is_built():
            first = next(iter(model._eval_loader(x, y, 2, model._engine())))
            model.build(first[0] if isinstance(first, (tuple, list)) else first)
        factory = compiled["factory"]
        if isinstance(
            factory, torch.optim.Optimizer
        ):  # bound to other parameters: same class and settings
            factory = functools.partial(type(factory), **factory.defaults)
        rate = float(
            learning_rate
            or compiled["learning_rate"]
            or factory([nn.Parameter(torch.zeros(1))]).defaults["lr"]
        )
        histories = []
        if freeze_epochs:
            self.freeze()
            model.optimizer = factory(
                [{"params": [p for p in self.parameters() if p.requires_grad], "lr": rate}]
            )
            histories.append(model.fit(x, y, epochs=freeze_epochs, **fit_kwargs))
        self.unfreeze()
        groups = self.layer_groups()
        last = max(len(groups) - 1, 1)
        model.optimizer = factory(
            [
                {"params": group, "lr": rate / discriminative ** ((len(groups) - 1 - k) / last)}
                for k, group in enumerate(groups)
            ]
        )
        histories.append(model.fit(x, y, epochs=epochs, **fit_kwargs))
        model.history_ = _concatenate(histories)
        return model.history_


def _output_size(module: nn.Module) -> int | None:
    """``units`` or ``out_features`` of the last layer that has one (None if none does)."""
    for layer in reversed(list(module.modules())):
        for attribute in ("units", "out_features"):
            value = getattr(layer, attribute, None)
            if _positive_int(value):
                return cast(int, value)
    return None


def _concatenate(histories: Iterable[History]) -> History:
    """One History with the epochs of each in turn (a key missing from a phase reads NaN there)."""
    histories = list(histories)
    combined = History()
    keys = dict.fromkeys(key for history in histories for key in history.history)
    for history in histories:
        for key in keys:
            combined.history.setdefault(key, []).extend(
                history.history.get(key, [math.nan] * len(history.epoch))
            )
    combined.epoch = list(range(sum(len(history.epoch) for history in histories)))
    return combined
