"""Preprocessing fitted on the training rows only, saved as data, and applied the same way at
prediction.

A :class:`Pipeline` saves as ``pipeline.json`` (step names, arguments, JSON state) and
``pipeline.safetensors`` (arrays); ``load`` resolves step names through the allowlist ``STEPS`` and
imports nothing named in the file. ``split`` gives train/validation/test rows with leakage checks
(:func:`check_leakage`); ``class_weights`` and ``resample`` treat imbalanced classes (all four from
``lamina.data.splits``). The steps live in ``lamina.data.table_steps`` and
``lamina.data.media_steps`` and are public here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import (
    ArtifactError,
    ConfigError,
    UnsafeFileError,
    message,
)
from lamina.data.media_steps import Augment, ImageNormalize, TextTokens
from lamina.data.splits import (
    Split,
    check_leakage,
    class_weights,
    resample,
    split,
)
from lamina.data.step import Step, column_kind, json_scalar
from lamina.data.table_steps import DateTimeFeatures, Impute, OneHot, Ordinal, Scale

__all__ = [
    "Augment",
    "DateTimeFeatures",
    "ImageNormalize",
    "Impute",
    "OneHot",
    "Ordinal",
    "Pipeline",
    "STEPS",
    "Scale",
    "Split",
    "Step",
    "TextTokens",
    "auto_pipeline",
    "check_leakage",
    "class_weights",
    "resample",
    "split",
]

FORMAT = 1  # version of the pipeline.json layout
STATE_FILE = "pipeline.safetensors"  # the arrays of the steps' state, beside pipeline.json
# auto_pipeline: categorical columns with more distinct values get Ordinal, not OneHot
HIGH_CARDINALITY = 50

STEPS: dict[str, type[Step]] = {
    cls.__name__: cls
    for cls in (
        Impute,
        Scale,
        OneHot,
        Ordinal,
        DateTimeFeatures,
        TextTokens,
        ImageNormalize,
        Augment,
    )
}  # the load allowlist


# ---------------------------------------------------------------- pipeline
class Pipeline:
    """Steps applied in order; ``transform`` returns a DataFrame for tables, else an array.

    Args:
        steps: :class:`Step` instances (``STEPS`` names the kinds).

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [20.0, None, 40.0], "city": ["Oslo", "Rome", None]})
    >>> steps = [Impute("median", add_indicator=True), Scale("standard"), OneHot()]
    >>> pipeline = Pipeline(steps).fit(frame)
    >>> pipeline.transform(frame).round(2).values.tolist()
    [[-1.22, -0.71, 1.0, 0.0], [0.0, 1.41, 0.0, 1.0], [1.22, -0.71, 0.0, 0.0]]
    """

    def __init__(self, steps: Sequence[Step]) -> None:
        if not all(isinstance(step, Step) for step in steps):
            raise ConfigError(
                message(
                    "Pipeline steps must be lamina.prepare steps.",
                    repr(steps)[:200],
                    f"instances of {sorted(STEPS)}",
                    "E.g. Pipeline([Impute(), Scale()]).",
                )
            )
        self.steps = list(steps)

    def __repr__(self) -> str:
        return f"lamina.prepare.Pipeline({self.steps!r})"

    def fit(self, x: Any, y: Any = None) -> Pipeline:
        """Fit each step, on training rows only, to the output of the one before. Returns self."""
        self.fit_transform(x)
        return self

    def fit_transform(self, x: Any, y: Any = None) -> Any:
        """``fit(x)``, returning ``transform(x)``."""
        for step in self.steps:
            x = step.fit(x).transform(x)
        return x

    def transform(self, x: Any, training: bool = False) -> Any:
        """Apply every step; ``training=True`` also applies the training-only changes
        (:class:`Augment`)."""
        for step in self.steps:
            x = step.transform(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        """The steps' names and arguments, JSON-able."""
        return {
            "format_version": FORMAT,
            "steps": [{"name": type(s).__name__, "config": s.get_config()} for s in self.steps],
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``pipeline.json`` and ``pipeline.safetensors`` (the state's arrays) into
        ``folder``."""
        from safetensors.numpy import save_file

        folder, config, arrays = Path(folder), self.get_config(), {}
        for index, (entry, step) in enumerate(zip(config["steps"], self.steps)):
            state = step.state_ or {}
            arrays.update(
                {
                    f"{index}.{k}": np.ascontiguousarray(v)
                    for k, v in state.items()
                    if isinstance(v, np.ndarray)
                }
            )
            entry["state"] = (
                None
                if step.state_ is None
                else {
                    k: {"__array__": f"{index}.{k}"} if isinstance(v, np.ndarray) else v
                    for k, v in state.items()
                }
            )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pipeline.json").write_text(json.dumps(config, indent=1, default=json_scalar))
        save_file(arrays, str(folder / STATE_FILE))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Pipeline:
        """Rebuild a saved pipeline; step names outside ``STEPS`` are refused, and nothing is
        imported."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder, steps = Path(folder), []
        try:
            data, arrays = (
                json.loads((folder / "pipeline.json").read_text()),
                load_file(folder / STATE_FILE),
            )
            if data["format_version"] != FORMAT:
                raise ValueError(f"format_version {data['format_version']}")
            for entry in data["steps"]:
                if entry["name"] not in STEPS:
                    raise UnsafeFileError(
                        message(
                            "pipeline.json names a step that is not on the allowlist; nothing "
                            "was imported.",
                            repr(entry["name"]),
                            f"one of {sorted(STEPS)}",
                            "Only load pipelines saved by lamina; save this one again.",
                        )
                    )
                steps.append(STEPS[entry["name"]](**entry["config"]))
                steps[-1].state_ = (
                    None
                    if entry["state"] is None
                    else {
                        k: arrays[v["__array__"]] if isinstance(v, dict) and "__array__" in v else v
                        for k, v in entry["state"].items()
                    }
                )
        except (OSError, ValueError, TypeError, KeyError, SafetensorError) as error:
            if isinstance(error, UnsafeFileError):
                raise
            raise ArtifactError(
                message(
                    "The saved pipeline is malformed or incomplete.",
                    f"{folder}: {error!r}"[:300],
                    f"pipeline.json (format_version {FORMAT}) and pipeline.safetensors from "
                    "Pipeline.save",
                    "Save the pipeline again.",
                )
            ) from None
        return cls(steps)


def auto_pipeline(dataset: Any) -> Pipeline:
    """A sensible unfitted default for a ``lamina.data.Dataset`` (anything with ``modality`` and
    ``x``).

    Tables: :class:`DateTimeFeatures`; numbers median-imputed with indicators and standardised;
    categories given the most frequent value, then one-hot encoded, or :class:`Ordinal` for columns
    with over ``HIGH_CARDINALITY`` values in ``dataset.x``. Images: :class:`ImageNormalize`; texts:
    word :class:`TextTokens`; arrays: :class:`Scale`.

    >>> auto_pipeline(lamina.data.load("digits"))
    lamina.prepare.Pipeline([lamina.prepare.ImageNormalize(mean=None, std=None)])
    """
    if getattr(dataset, "modality", None) not in ("table", "image", "text", "array"):
        raise ConfigError(
            message(
                "auto_pipeline takes a lamina.data.Dataset.",
                repr(dataset)[:100],
                "a table, image, text or array Dataset",
                "Pass lamina.data.load(...).",
            )
        )
    if dataset.modality != "table":
        return Pipeline(
            [{"image": ImageNormalize, "text": TextTokens, "array": Scale}[dataset.modality]()]
        )
    categorical = [c for c in dataset.x.columns if column_kind(dataset.x[c].dtype) == "categorical"]
    many = [c for c in categorical if dataset.x[c].nunique() > HIGH_CARDINALITY]
    few = [c for c in categorical if c not in many]
    steps: list[Step] = [
        DateTimeFeatures(),
        Impute("median", add_indicator=True),
        Scale("standard"),
    ]
    if categorical:
        steps.append(Impute("most_frequent", columns=categorical))
    steps += [OneHot(columns=few)] if few else []
    steps += [Ordinal(columns=many)] if many else []
    return Pipeline(steps)
