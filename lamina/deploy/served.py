"""What serving needs from a saved model: loading, input checks, the v2 metadata and the folder's
version."""

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.errors import ArtifactError, message

MISSING_HINT = (
    "Send a value, or allow missing values in lamina.yaml: serving: {allow_missing: [%s]}."
)
V2_TYPES = {
    "FP32": np.float32,
    "FP64": np.float64,
    "INT64": np.int64,
    "INT32": np.int32,
    "BOOL": np.bool_,
}
NUMPY_V2 = {
    "float32": "FP32",
    "float64": "FP64",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
}


class InputError(ValueError):
    """Input the model cannot take; answered 422 with ``loc`` as the field path."""

    def __init__(self, msg: str, loc: tuple[Any, ...] = ("body",)) -> None:
        super().__init__(msg)
        self.loc = loc


def folder_version(folder: str | Path) -> str:
    """A short content hash of a folder: the first 12 hex digits of
    ``lamina.model_registry.content_hash``."""
    from lamina.deploy.store import content_hash

    return content_hash(folder)[:12]


class Served:
    """A loaded model from ``folder`` named ``name`` (default: the folder's name) with what serving
    needs."""

    def __init__(self, folder: str | Path, name: str | None = None) -> None:
        self.folder, self.name = Path(folder), name or Path(folder).resolve().name
        self.fitted: Any = None
        if (self.folder / "prep.json").is_file():
            from lamina.project.fitted import FittedModel

            self.fitted = FittedModel.load(self.folder)
            self.model, self.modality = self.fitted.model, self.fitted.prep["modality"]
            # name -> kind
            self.columns: dict[str, str] = self._table_columns() if self.modality == "table" else {}
            self.flat = self.modality == "array" or (
                self.modality == "image" and self.fitted.family == "classical"
            )
        elif (self.folder / "lamina.json").is_file():
            from lamina.io.artifact import load

            self.model, self.modality, self.flat, self.columns = (
                load(self.folder),
                "tensor",
                False,
                {},
            )
        else:
            raise ArtifactError(
                message(
                    "Not a model folder.",
                    str(self.folder),
                    "prep.json or lamina.json inside",
                    "Pass the folder written by FittedModel.save or model.save.",
                )
            )
        # the saved input signature of a lamina model
        spec = getattr(self.model, "input_spec_", None) or {}
        features = spec.get("shape") or [None, getattr(self.model, "n_features_in_", None)]
        self.shape = [-1, *features[1:]]  # raw inputs of a project model are numbers: float32
        self.dtype = spec.get("dtype", "float32") if self.fitted is None else "float32"
        if hasattr(self.model, "eval"):
            self.model.eval()
        self.version = folder_version(self.folder)
        classes = (
            self.fitted.prep.get("classes")
            if self.fitted is not None
            else getattr(self.model, "classes_", None)
        )
        self.classes: list[Any] | None = None if classes is None else np.asarray(classes).tolist()
        self._probe: dict[str, np.ndarray] | None = None

    def _table_columns(self) -> dict[str, str]:
        """Column name -> kind, from the reference, a tabular network or sklearn's feature names."""
        reference = (self.fitted.reference or {}).get("columns") or {}
        tabular = getattr(getattr(self.model, "tabular", None), "columns_", None) or []
        return (
            {str(k): str(v.get("kind", "")) for k, v in reference.items()}
            or {str(c["name"]): str(c.get("kind", "")) for c in tabular}
            or {str(c): "" for c in getattr(self.model, "feature_names_in_", [])}
        )

    # ------------------------------------------------------------ inputs
    def example(self) -> Any:  # one input row for the canary prediction
        if self.modality == "table":
            reference = (self.fitted.reference or {}).get("columns", {})
            return pd.DataFrame(
                [
                    {
                        c: (reference.get(c, {}).get("quantiles") or {}).get("p50", 0.0)
                        if k in ("numeric", "")
                        else next(iter(reference.get(c, {}).get("frequencies") or {"": 1}))
                        for c, k in self.columns.items()
                    }
                ]
            )
        if self.modality == "text":
            return ["example"]
        dims = [n if isinstance(n, int) and n > 0 else 1 for n in self.shape[1:]]
        return np.zeros((1, *dims), dtype=self.dtype)

    def check_array(self, data: Any, loc: tuple[Any, ...], one: bool = False) -> np.ndarray:
        """Nested lists or an array (``one``: a single item) -> a finite array of the model's item
        shape."""
        try:
            array = np.asarray(data, dtype=self.dtype)
        except (ValueError, TypeError) as exc:
            raise InputError(f"Not a rectangular array of {self.dtype}: {exc}", loc) from None
        expected = self.shape[1:]
        if one or (array.ndim == len(expected) and array.ndim > 0 and len(self.shape) > 1):
            array = array[None]  # one item without the batch axis
        if array.ndim < 1 or len(array) == 0:
            raise InputError("Expected at least one item.", loc)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError("Values must be finite (no NaN or Infinity).", loc)
        size = (
            int(np.prod(expected)) if all(isinstance(n, int) and n > 0 for n in expected) else None
        )
        if (
            (size is not None and int(np.prod(array.shape[1:])) != size)
            if self.flat
            else (
                array.ndim != len(self.shape)
                or any(
                    isinstance(n, int) and n > 0 and n != m
                    for n, m in zip(expected, array.shape[1:])
                )
            )
        ):
            raise InputError(
                f"Expected shape {self.shape} (-1: any); received {list(array.shape)}.", loc
            )
        return array

    def table(self, rows: list[dict[str, Any]]) -> Any:
        """Checked rows -> a DataFrame in training column order; categories stay objects even when
        all null."""
        frame = pd.DataFrame(rows, columns=list(self.columns) or None)
        return frame.astype(
            {c: object for c, kind in self.columns.items() if kind not in ("numeric", "boolean")}
        )

    # ------------------------------------------------------------ prediction
    def predict(self, x: Any) -> dict[str, np.ndarray]:
        """Outputs by name: ``predictions`` (class labels of a classifier, else the model's outputs)
        and, for a classifier, ``probabilities`` ``(N, classes)`` in the order of
        ``self.classes``."""
        if self.fitted is None and (
            self.classes is None or not hasattr(self.model, "predict_proba")
        ):
            return {"predictions": np.asarray(self.model.predict(x))}
        probabilities = (self.fitted or self.model).predict_proba(x)
        if probabilities is None:
            return {"predictions": np.asarray(self.fitted.predict(x))}
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if self.fitted is None and probabilities.shape[1:] != (len(self.classes or []),):
            # e.g. one sigmoid output
            labels = np.asarray(self.model.predict_classes(x), dtype=object)
            return {"predictions": labels, "probabilities": probabilities}
        labels = (
            np.asarray(self.classes, dtype=object)[probabilities.argmax(1)]
            if self.fitted is None
            else np.asarray(self.fitted.predict(x))
        )
        return {"predictions": labels, "probabilities": probabilities}

    def probe(self) -> dict[str, np.ndarray]:
        """The outputs for :meth:`example` (computed once; empty when the model cannot predict)."""
        if self._probe is None:
            try:
                self._probe = self.predict(self.example())
            except Exception:  # the canary reports it; metadata then gives unknown output shapes
                return {}
        return self._probe

    def concat(self, parts: list[Any]) -> Any:
        """The inputs of several requests as one batch."""
        if self.modality == "table":
            return pd.concat(parts, ignore_index=True)
        return (
            [t for part in parts for t in part]
            if self.modality == "text"
            else np.concatenate(parts)
        )

    def metadata(self) -> dict[str, Any]:
        """The v2 model metadata: name, versions, platform, inputs and outputs with datatype and
        shape."""

        def tensor(name: str, datatype: str, shape: list[Any]) -> dict[str, Any]:
            return {
                "name": name,
                "datatype": datatype,
                "shape": [n if isinstance(n, int) else -1 for n in shape],
            }

        inputs = (
            [
                tensor(c, "FP64" if k == "numeric" else "BYTES", [-1])
                for c, k in self.columns.items()
            ]
            if self.modality == "table"
            else [
                tensor(
                    "input",
                    "BYTES" if self.modality == "text" else NUMPY_V2.get(self.dtype, "FP32"),
                    self.shape,
                )
            ]
        )
        outputs = [
            tensor(k, NUMPY_V2.get(str(v.dtype), "BYTES"), [-1, *v.shape[1:]])
            for k, v in self.probe().items()
        ]
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": "lamina",
            "inputs": inputs,
            "outputs": outputs,
        }


def decode_image(item: Any, loc: tuple[Any, ...]) -> Any:
    """A base64 PNG or NPY string -> an array; nested lists pass through."""
    if not isinstance(item, str):
        return item
    try:
        raw = base64.b64decode(item, validate=True)
        if raw.startswith(b"\x93NUMPY"):
            return np.load(io.BytesIO(raw), allow_pickle=False)
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(raw)))
    except Exception as exc:  # any decoder failure is the input's fault
        raise InputError(f"Not a base64 PNG or NPY image: {exc}", loc) from None


def v2_inputs(served: Served, inputs: list[Any], allowed: Any = ()) -> tuple[Any, int, bool]:
    """v2 ``inputs`` -> (the model's input, its rows, whether the one item came without its batch
    axis): one input per column for tables (missing columns and nulls refused unless ``allowed``),
    else one tensor (or texts)."""
    if served.modality == "table":
        rows: dict[str, Any] = {}
        for i, spec in enumerate(inputs):
            if served.columns and spec.name not in served.columns:
                raise InputError(
                    f"Unknown input {spec.name!r}; expected {sorted(served.columns)[:50]}.",
                    ("body", "inputs", i, "name"),
                )
            rows[spec.name] = _flat(
                spec, i, np.float64 if served.columns.get(spec.name) == "numeric" else None
            )
        lengths = {len(v) for v in rows.values()}
        if len(lengths) != 1:
            raise InputError(
                f"Every column needs the same number of rows; received {sorted(lengths)}.",
                ("body", "inputs"),
            )
        missing = [c for c in served.columns if c not in rows and c not in allowed]
        if missing:
            raise InputError(
                f"Missing inputs {missing[:20]}; every column needs a value. "
                f"{MISSING_HINT % missing[0]}",
                ("body", "inputs"),
            )
        for i, (column, values) in enumerate(rows.items()):
            if column not in allowed and pd.isna(values).any():
                raise InputError(
                    f"Input {column!r} holds null. {MISSING_HINT % column}",
                    ("body", "inputs", i, "data"),
                )
        frame = served.table([dict(zip(rows, values)) for values in zip(*rows.values())])
        return frame, len(frame), False
    if len(inputs) != 1 or inputs[0].name != "input":
        raise InputError(
            f"Expected one input named 'input'; received {[spec.name for spec in inputs]}.",
            ("body", "inputs"),
        )
    spec = inputs[0]
    if served.modality == "text":
        texts = [str(t) for t in _flat(spec, 0, None)]
        return texts, len(texts), len(spec.shape) == 0
    array = _flat(spec, 0, V2_TYPES.get(spec.datatype, served.dtype)).reshape(spec.shape)
    array = served.check_array(array.astype(served.dtype), ("body", "inputs", 0, "data"))
    return array, len(array), len(spec.shape) == len(served.shape) - 1 and len(served.shape) > 1


def _flat(spec: Any, i: int, dtype: Any) -> np.ndarray:
    """The flattened ``data`` of one v2 input, checked against its ``shape``."""
    loc = ("body", "inputs", i, "data")
    try:
        data = np.asarray(spec.data, dtype=dtype if dtype is not None else object).reshape(-1)
    except (ValueError, TypeError) as exc:
        raise InputError(f"Data do not fit datatype {spec.datatype}: {exc}", loc) from None
    if any(n < 0 for n in spec.shape) or int(np.prod(spec.shape)) != data.size:
        raise InputError(
            f"shape {spec.shape} needs {int(np.prod(spec.shape))} values; received {data.size}.",
            ("body", "inputs", i, "shape"),
        )
    return data  # finite: the JSON parser refuses NaN, Infinity and 1e309


def predict_schema(served: Served, allowed: Any = ()) -> tuple[Any, Any]:
    """The pydantic models of a ``/predict`` body and answer, with examples from ``served`` (for
    OpenAPI).

    Args:
        served: the model; its columns (tables) or item shape give the request's items.
        allowed: table columns that may be absent or null (others are required and never null).

    Returns:
        ``(PredictRequest, PredictResponse)``: ``{"inputs": [...]}`` (the old keys ``rows``,
        ``texts`` and ``images`` are read too) and ``{"model", "version", "predictions"[,
        "probabilities", "classes"]}``.
    """
    from pydantic import (
        AliasChoices,
        BaseModel,
        ConfigDict,
        Field,
        StrictFloat,
        StrictInt,
        create_model,
    )

    def column(name: str, kind: str) -> tuple[Any, Any]:
        value = StrictFloat | StrictInt if kind == "numeric" else str | float | bool
        return (
            (value | None, Field(None, alias=name))
            if name in allowed
            else (value, Field(alias=name))
        )

    columns: dict[str, Any] = {
        f"column_{i}": column(c, k) for i, (c, k) in enumerate(served.columns.items())
    }
    row = create_model(
        "Row", __config__=ConfigDict(extra="forbid" if served.columns else "allow"), **columns
    )
    item = {"table": row, "text": str}.get(served.modality, str | list[Any] | float)
    example = served.example()
    example = (
        example.to_dict("records")
        if served.modality == "table"
        else example
        if served.modality == "text"
        else example.tolist()
    )
    request = create_model(
        "PredictRequest",
        __config__=ConfigDict(
            extra="forbid", json_schema_extra={"examples": [{"inputs": example}]}
        ),
        inputs=(
            list[item],  # type: ignore[valid-type]
            Field(
                min_length=1,
                validation_alias=AliasChoices("inputs", "rows", "texts", "images"),
                description="one item per prediction: a row object (tables), a string (texts), "
                "nested lists or a base64 PNG/NPY string (images and tensors)",
            ),
        ),
    )
    answer = {
        "model": served.name,
        "version": served.version,
        **{k: v.tolist() for k, v in served.probe().items()},
        **({} if served.classes is None else {"classes": served.classes}),
    }

    class PredictResponse(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [answer]})
        model: str = Field(description="the model's name, as in /v2/models/{name}")
        version: str = Field(
            description="the version that answered (a content hash; also X-Model-Version)"
        )
        predictions: list[Any] = Field(
            description="one per input: a class label (classifiers) or the outputs"
        )
        probabilities: list[list[float]] | None = Field(
            None, description="classifiers: one row per input, in the order of classes"
        )
        classes: list[Any] | None = Field(None, description="classifiers: the class labels")

    return request, PredictResponse
