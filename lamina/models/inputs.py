"""How ``fit``, ``evaluate`` and ``predict`` of a ``lamina.Model`` take their data.

In-memory data (arrays, tensors, DataFrames, lists) becomes checked tensors: at least one row,
finite values, the input shape the model was built with, and one label row per input row (labels
go through the classifier's encoding). Those tensors are batched on the engine's device. A
``Dataset`` or ``DataLoader`` is used as given. Families with other inputs (sequences, graphs,
trees, tables) override ``_tensors``, ``_check_input`` or ``_fit_data``.

>>> import lamina
>>> model = lamina.Model(torch.nn.Linear(3, 1)).compile(optimizer="sgd", loss="mse")
>>> model.evaluate(np.ones((4, 3)), np.zeros((4, 1)))  # doctest: +ELLIPSIS
{'loss': ...}
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.nn import tensors as data_lib
from lamina.train.engine import Engine

__all__ = ["InputsMixin"]


class InputsMixin:
    """Checked tensors and data loaders from the data given to ``fit``, ``evaluate`` and
    ``predict``."""

    input_spec_: dict[str, Any] | None
    _encode_labels: Any

    def _check_input(self, x: torch.Tensor) -> None:
        spec = self.input_spec_
        if spec is not None and list(x.shape[1:]) != spec["shape"][1:]:
            raise ShapeError(
                message(
                    "The input shape differs from the one the model was built with.",
                    f"shape {(None, *x.shape[1:])}",
                    f"shape {tuple(spec['shape'])}",
                    "Pass data with the same features, in the same order, as during fit.",
                )
            )

    def _tensors(self, x: Any, y: Any, name: str) -> tuple[torch.Tensor, ...]:
        tx = data_lib.to_tensor(x, name="x")
        if tx.dim() == 0 or len(tx) == 0:
            raise DataError(
                message(
                    f"{name}() got no data.",
                    f"x with shape {tuple(tx.shape)}",
                    "at least one row",
                    "Check the filtering that produced x.",
                )
            )
        data_lib.check_finite(tx, "x")
        self._check_input(tx)
        if y is None:
            return (tx,)
        ty = data_lib.to_tensor(self._encode_labels(y, fitting=name == "fit"), name="y")
        if ty.dim() == 0 or len(ty) != len(tx):
            raise DataError(
                message(
                    "x and y have different numbers of rows.",
                    f"len(x)={len(tx)}, len(y)={len(ty) if ty.dim() else 'scalar'}",
                    "one label row per input row",
                    "Align x and y before calling.",
                )
            )
        data_lib.check_finite(ty, "y")
        return tx, ty

    def _fit_data(
        self,
        x: Any,
        y: Any,
        validation_split: float,
        validation_data: Any,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator,
        engine: Engine,
        sample_weight: Any = None,
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        if data_lib.is_in_memory(x):
            tensors = self._tensors(x, y, "fit")
            if sample_weight is not None:
                tensors = (*tensors, data_lib.sample_weights(sample_weight, len(tensors[0])))
            val_tensors = None
            if validation_split:
                tensors, val_tensors = data_lib.train_validation_split(tensors, validation_split)
            train: Any = data_lib.ArrayLoader(
                tensors, batch_size, shuffle=shuffle, generator=generator
            ).to(engine.device)
            first = train.tensors
        else:
            if y is not None or validation_split or sample_weight is not None:
                raise ConfigError(
                    message(
                        "With a Dataset or DataLoader, y, sample_weight and validation_split "
                        "are not used.",
                        f"y={type(y).__name__}, sample_weight={type(sample_weight).__name__}, "
                        f"validation_split={validation_split}",
                        "batches of (x, y) or (x, y, weight) from the dataset",
                        "Drop y; yield weights from the dataset; pass "
                        "validation_data=(x_val, y_val) or a DataLoader.",
                    )
                )
            cpu_generator = torch.Generator().manual_seed(
                int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            )
            train = data_lib.as_loader(x, batch_size, shuffle=shuffle, generator=cpu_generator)
            first = engine.to_device(
                tuple(next(iter(torch.utils.data.DataLoader(train.dataset, batch_size=2))))
            )
            val_tensors = None
        validation = None
        if val_tensors is not None:
            validation = data_lib.ArrayLoader(val_tensors, 256).to(engine.device)
        elif validation_data is not None:
            validation = self._eval_loader(validation_data, None, 256, engine)
        return train, validation, first

    def _eval_loader(self, x: Any, y: Any, batch_size: int, engine: Engine) -> Any:
        if data_lib.is_in_memory(x) and not (isinstance(x, tuple) and y is None):
            return data_lib.ArrayLoader(self._tensors(x, y, "evaluate"), batch_size).to(
                engine.device
            )
        if isinstance(x, tuple) and y is None and len(x) == 2:
            return data_lib.ArrayLoader(self._tensors(x[0], x[1], "evaluate"), batch_size).to(
                engine.device
            )
        return data_lib.as_loader(x, batch_size, shuffle=False)
