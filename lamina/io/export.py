"""Export a lamina network to ONNX, and check it against onnxruntime.

A model, a lamina model directory (``model.save``) or a project's model folder (``prep.json`` +
``model/``) becomes one ``.onnx`` file with a dynamic batch axis. The exporter is torch's: the
``dynamo=True`` path first, then the TorchScript exporter when that fails. Needs the ``export``
extra (onnx, onnxscript, onnxruntime). Scikit-learn models are not networks: use skl2onnx for them.

>>> import tempfile, torch, lamina
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> path = to_onnx(model, tempfile.mkdtemp() + "/m.onnx", example=torch.ones(2, 3))
>>> check_parity(model, path, torch.ones(4, 3)) <= 1e-4
True
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core.errors import ArtifactError, ConfigError, message

__all__ = ["check_parity", "to_onnx"]

FORMATS = ("onnx",)


def _resolve(model_or_dir: Any) -> nn.Module:
    """An ``nn.Module`` from a module, a lamina model directory or a project model folder."""
    if isinstance(model_or_dir, nn.Module):
        return model_or_dir
    if not isinstance(model_or_dir, (str, os.PathLike)):
        raise ConfigError(
            message(
                "to_onnx takes a model or a folder.",
                repr(model_or_dir)[:200],
                "a torch.nn.Module, a lamina model directory or a project model folder",
                "Pass the model itself or the folder model.save() wrote.",
            )
        )
    from lamina.io.artifact import MANIFEST, load

    folder = Path(model_or_dir)
    if (
        (folder / "model.skops").is_file()
        or (folder / "prep.json").is_file()
        and not (folder / "model").is_dir()
    ):
        raise ArtifactError(
            message(
                "ONNX export covers lamina networks; this folder holds a classical scikit-learn "
                "model.",
                str(folder),
                "a lamina model directory, or a project folder whose model/ is a lamina network",
                "Export scikit-learn models with skl2onnx (to_onnx from the skl2onnx package).",
            )
        )
    if (folder / "prep.json").is_file() and (folder / "model" / MANIFEST).is_file():
        folder = folder / "model"
    return load(folder, compile=False)


def _example(model: nn.Module, example: Any) -> torch.Tensor:
    """The example input: ``example`` as a tensor, else two zero rows shaped as the saved input."""
    if example is not None:
        return torch.as_tensor(
            np.asarray(example) if not isinstance(example, torch.Tensor) else example
        )
    from lamina.io.artifact import example_input

    spec = getattr(model, "input_spec_", None)
    manifest = getattr(model, "manifest_", None) or {}
    found = example_input(manifest.get("signature") or {"inputs": [spec or {}]})
    if found is None:
        raise ConfigError(
            message(
                "No example input to export with.",
                "example=None and no saved input signature",
                "an example batch, or a built lamina model",
                "Pass example=x[:2] (a batch of real inputs).",
            )
        )
    return found.repeat(2, *([1] * (found.dim() - 1)))


def to_onnx(
    model_or_dir: Any,
    path: str | os.PathLike[str],
    *,
    example: Any = None,
    opset: int | None = None,
) -> Path:
    """Write ``model_or_dir`` to the ONNX file ``path`` (dynamic batch axis) and check the file.

    Args:
        model_or_dir: an ``nn.Module``, a lamina model directory or a project model folder.
        path: the ``.onnx`` file to write.
        example: an input batch ``(N, ...)``; default: two zero rows shaped as the saved signature.
        opset: the ONNX opset version (default: the exporter's).

    Returns:
        The path written. Its graph takes ``input`` ``(batch, ...)`` and gives ``output``.
    """
    import onnx

    model = _resolve(model_or_dir)
    x = _example(model, example)
    if x.shape[0] < 2:  # a batch of one lets the exporter specialise the batch axis to 1
        x = x.repeat(2, *([1] * (x.dim() - 1)))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        try:
            shapes = ({0: torch.export.Dim("batch", min=1)},)
            try:
                program = torch.export.export(model, (x,), dynamic_shapes=shapes, strict=False)
            except Exception:
                # strict tracing keeps len(x) symbolic where non-strict specialises it
                program = torch.export.export(model, (x,), dynamic_shapes=shapes, strict=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                onnx_program = torch.onnx.export(
                    program,
                    (x,),
                    dynamo=True,
                    opset_version=opset,
                    verbose=False,
                    input_names=["input"],
                    output_names=["output"],
                    external_data=False,
                )
            if onnx_program is None:
                raise RuntimeError("the dynamo exporter returned no program")
            onnx_program.save(str(target))
        except Exception:  # the dynamo exporter cannot trace every module: fall back to TorchScript
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (x,),
                    str(target),
                    dynamo=False,
                    opset_version=opset or 17,
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )
    finally:
        model.train(was_training)
    onnx.checker.check_model(str(target), full_check=True)
    return target


def check_parity(model: Any, path: str | os.PathLike[str], x: Any, atol: float = 1e-4) -> float:
    """The largest absolute difference between onnxruntime's and torch's outputs on ``x``.

    Args:
        model: the ``nn.Module`` (or folder, as for :func:`to_onnx`) that was exported.
        path: the ONNX file.
        x: an input batch ``(N, ...)``.
        atol: the largest difference accepted.

    Returns:
        The max abs difference (a float). Raises ArtifactError when it is above ``atol``.
    """
    import onnxruntime as ort

    module = _resolve(model)
    inputs = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module(torch.as_tensor(inputs)).detach().cpu().numpy()
    module.train(was_training)
    if got.shape != expected.shape:
        raise ArtifactError(
            message(
                "The ONNX model's output shape differs from the torch model's.",
                str(got.shape),
                str(expected.shape),
                "Re-export with a matching example.",
            )
        )
    diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
    if not diff <= atol:
        raise ArtifactError(
            message(
                "The ONNX model's outputs differ from the torch model's.",
                f"max abs difference {diff:.3g}",
                f"at most atol={atol:g}",
                "Re-export (try another opset), or check for train-only layers.",
            )
        )
    return diff
