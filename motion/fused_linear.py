"""The motion module's linear layers, with what follows each one fused into it on CPU.

A motion module's activations are ``(chunks*H*W, frames, C)`` rows, and its matrix products are
followed by elementwise tails: a bias, a residual sum, the GEGLU gate. Run apart, each tail is a
pass over the whole activation; at 256x256 the bias broadcasts and the strided GELU alone took
a fifth of the module's time. oneDNN's linear primitive applies those tails while the output is
still in cache, and its fp32 matrix product is also faster than the default one on CPUs where
MKL falls back to generic kernels (``benchmarks/motion.py``).

The fused path is taken only where it computes the same thing as the layer's own forward: a
float32 CPU tensor, no gradient recorded, and a layer whose weights ComfyUI is not casting or
patching on the fly (``comfy_cast_weights``, ``weight_function``, ``bias_function``). Everything
else -- CUDA, half precision, training -- runs ``layer(x)`` and the tail in plain torch.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def onednn_linear():
    """``torch.ops.mkldnn._linear_pointwise`` when this torch build has it and it runs on this CPU, else ``None``.

    Probed once on a tiny input: some builds (ARM ones among them) list the op but cannot create
    every primitive, and sampling must not be the first place that shows.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None:
        return None
    # Fixed values, not torch.randn: the probe must not move the global random state.
    x, weight = torch.linspace(-1, 1, 24).reshape(3, 8), torch.linspace(1, -2, 48).reshape(6, 8)
    bias, other = torch.linspace(-0.5, 0.5, 6), torch.linspace(2, -1, 18).reshape(3, 6)
    expected = F.linear(x, weight, bias)
    try:
        works = (torch.allclose(op(x, weight, bias, "gelu", [], "none"), F.gelu(expected), atol=1e-5)
                 and torch.allclose(op.binary(x, other, weight, bias, "mul"), expected * other, atol=1e-5)
                 and torch.allclose(op.binary(x, other, weight, None, "add"), F.linear(x, weight) + other, atol=1e-5))
    except RuntimeError:
        return None
    return op if works else None


def _plain_tensor(t) -> bool:
    # ComfyUI's quantized weights are tensor subclasses; only a plain tensor goes to oneDNN as is.
    return t is None or type(t) in (torch.Tensor, nn.Parameter)


def fusable(layer: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``layer(x)`` may run as a oneDNN primitive with a fused tail."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_grad_enabled():
        return False
    if getattr(layer, "comfy_cast_weights", False) or getattr(layer, "weight_function", None) \
            or getattr(layer, "bias_function", None):
        return False
    weight, bias = layer.weight, layer.bias
    return (_plain_tensor(weight) and _plain_tensor(bias) and weight.device.type == "cpu"
            and weight.dtype == torch.float32 and (bias is None or bias.dtype == torch.float32)
            and onednn_linear() is not None)


def add_residual(out: torch.Tensor, residual: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """``out + alpha * residual``, into ``out`` (a fresh activation) when no gradient is recorded."""
    return torch.add(out, residual, alpha=alpha) if torch.is_grad_enabled() else out.add_(residual, alpha=alpha)


def linear(layer: nn.Module, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``layer(x)``, plus ``residual`` when given, bias and sum fused: ``x: (..., C_in) -> (..., C_out)``.

    ``residual: (..., C_out)`` is never written to.
    """
    if fusable(layer, x):
        if residual is None:
            return onednn_linear()(x, layer.weight, layer.bias, "none", [], "")
        return onednn_linear().binary(x, residual, layer.weight, layer.bias, "add")
    out = layer(x)
    return out if residual is None else add_residual(out, residual)


def geglu(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """GEGLU: ``layer: Linear(C, 2N)`` whose first N outputs are values and last N the gate.

    ``x: (..., C) -> value * gelu(gate): (..., N)``.
    """
    if fusable(layer, x):
        # Row halves of a contiguous (2N, C) weight are contiguous views: nothing is copied.
        value_weight, gate_weight = layer.weight.chunk(2, dim=0)
        value_bias, gate_bias = layer.bias.chunk(2) if layer.bias is not None else (None, None)
        gate = onednn_linear()(x, gate_weight, gate_bias, "gelu", [], "none")
        return onednn_linear().binary(x, gate, value_weight, value_bias, "mul")
    value, gate = layer(x).chunk(2, dim=-1)
    if torch.is_grad_enabled():
        return value * F.gelu(gate)
    # Sampling: multiply into the GELU output instead of a third (rows, N) buffer, the
    # largest activation of the module (0.3 GB per SD1.5 320-channel module at 256x256).
    return F.gelu(gate).mul_(value)
