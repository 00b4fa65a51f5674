"""LoRA linear layers computed as one autograd step each while training.

peft's LoRA layer runs the frozen base projection, casts the input to the adapter's fp32, runs A, B,
scales and adds, each a separate operation that autograd records and later walks back. SmolLM2 has 210
such layers and small rows, so that bookkeeping costs more than the adapter's arithmetic. Here the same
sums (base in its own dtype, adapter in fp32, added in fp32 and kept in the base's dtype) run in one
``autograd.Function`` with a hand-written backward; peft's modules, parameters and saved adapters are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from peft.tuners.lora.layer import Linear as LoraLinear


class _LoraProjection(torch.autograd.Function):
    """``x W^T (+ bias) + scaling * (x A^T) B^T``; W and bias frozen, A and B trained."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scaling: float,
    ) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        base = torch.nn.functional.linear(rows, weight, bias)
        rows32 = rows.to(lora_a.dtype)
        scaled = torch.mm(rows32, lora_a.t()).mul_(scaling)
        out = base.add_(torch.mm(scaled, lora_b.t()))  # summed in fp32, kept in the base's dtype: one kernel
        ctx.save_for_backward(rows32, scaled, weight, lora_a, lora_b)
        ctx.scaling, ctx.x_shape, ctx.x_dtype = scaling, x.shape, x.dtype
        return out.reshape(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        rows32, scaled, weight, lora_a, lora_b = ctx.saved_tensors
        grad_rows = grad.reshape(-1, grad.shape[-1])
        grad32 = grad_rows.to(lora_b.dtype)
        grad_b = torch.mm(grad32.t(), scaled) if ctx.needs_input_grad[4] else None
        grad_scaled = torch.mm(grad32, lora_b).mul_(ctx.scaling)  # d loss / d (x A^T)
        grad_a = torch.mm(grad_scaled.t(), rows32) if ctx.needs_input_grad[3] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.mm(grad_rows.to(weight.dtype), weight).add_(torch.mm(grad_scaled, lora_a))
            grad_x = grad_x.to(ctx.x_dtype).reshape(ctx.x_shape)
        return grad_x, None, None, grad_a, grad_b, None


def _fusable(module: LoraLinear) -> str | None:
    """The adapter name when ``module`` is plain LoRA this can compute (one adapter, no dropout, no
    variant such as DoRA, not merged, base weights frozen), else None."""
    adapters = [name for name in module.active_adapters if name in module.lora_A]
    if len(adapters) != 1 or module.merged or module.disable_adapters:
        return None
    name = adapters[0]
    base = module.get_base_layer()
    fusable = (
        name not in module.lora_variant
        and isinstance(module.lora_dropout[name], torch.nn.Identity)
        and isinstance(base, torch.nn.Linear)
        and not base.weight.requires_grad
        and (base.bias is None or not base.bias.requires_grad)
    )
    return name if fusable else None


def _fused_forward(module: LoraLinear, name: str) -> Any:
    base = module.get_base_layer()
    lora_a, lora_b = module.lora_A[name].weight, module.lora_B[name].weight

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if args or kwargs or module.disable_adapters or module.merged:  # peft's own path for these
            return LoraLinear.forward(module, x, *args, **kwargs)
        projected: torch.Tensor = _LoraProjection.apply(
            x, base.weight, base.bias, lora_a, lora_b, float(module.scaling[name])
        )
        return projected

    return forward


@contextmanager
def fused_lora(model: torch.nn.Module) -> Iterator[int]:
    """Within the block, every plain LoRA linear layer of ``model`` computes as one step; yields how many."""
    patched = []
    for module in model.modules():
        if isinstance(module, LoraLinear) and (name := _fusable(module)) is not None:
            module.forward = _fused_forward(module, name)  # type: ignore[method-assign]
            patched.append(module)
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward
