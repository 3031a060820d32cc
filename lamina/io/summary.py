"""``model.summary()``: a layer table with output shapes and parameter counts."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["summarize"]


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str((None, *value.shape[1:]))
    if isinstance(value, (tuple, list)) and value:
        return _shape(value[0])
    return "?"


def _body(model: nn.Module) -> nn.Module:
    """The module whose children are the layers a person thinks of."""
    for name in ("layers", "module"):
        if name in model._modules and len(model._modules) == 1:
            inner = model._modules[name]
            return inner if inner is not None and list(inner.children()) else model
    return model


def summarize(model: Any) -> str:
    """Run one forward pass on zeros shaped like ``model.input_spec_`` and tabulate each layer."""
    spec = model.input_spec_
    body = _body(model)
    rows: list[tuple[str, str, int]] = []
    hooks = []
    for name, child in body.named_children():

        def hook(module: nn.Module, args: Any, output: Any, name: str = name) -> None:
            params = sum(p.numel() for p in module.parameters())
            rows.append((f"{name} ({module._get_name()})", _shape(output), params))

        hooks.append(child.register_forward_hook(hook))
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros((1, *spec["shape"][1:]), dtype=getattr(torch, spec["dtype"]), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    if not rows:
        rows.append((model._get_name(), _shape(out), sum(p.numel() for p in model.parameters())))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    width = max(30, *(len(r[0]) + 2 for r in rows))
    line = "-" * (width + 38)
    out_lines = [
        f'Model: "{model._get_name()}"  input: {tuple(spec["shape"])} {spec["dtype"]}',
        line,
        f"{'Layer (type)':<{width}}{'Output shape':<26}{'Param #':>12}",
        line,
    ]
    out_lines += [f"{n:<{width}}{s:<26}{p:>12,}" for n, s, p in rows]
    out_lines += [
        line,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        line,
    ]
    return "\n".join(out_lines)
