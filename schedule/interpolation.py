"""Blend weights between keyframes and blending of conditioning tensors.

Weights: ``ease(w, method)`` maps the linear position ``w`` in 0..1 between two keys to the
blend weight. Tensors: ``blend(a, b, w, method)`` lerps or slerps token embeddings
``(1, T, D)`` or pooled outputs ``(1, D)``; ``fit_tokens`` brings token sequences of different
lengths (77 vs 154 tokens) to one length.
"""
from __future__ import annotations

from enum import Enum

import torch


class PromptInterpolation(str, Enum):
    """How prompt travel blends the frames between two keys (the values saved workflows hold)."""

    LINEAR = "linear"
    SLERP = "slerp"
    EASE_IN = "ease_in"
    EASE_OUT = "ease_out"
    EASE_IN_OUT = "ease_in_out"
    NONE = "none"


class ValueInterpolation(str, Enum):
    """How a value schedule fills the frames between two numeric keys (no slerp for numbers)."""

    LINEAR = "linear"
    EASE_IN = "ease_in"
    EASE_OUT = "ease_out"
    EASE_IN_OUT = "ease_in_out"
    NONE = "none"


PROMPT_INTERPOLATIONS = tuple(method.value for method in PromptInterpolation)
VALUE_INTERPOLATIONS = tuple(method.value for method in ValueInterpolation)


def check_method(method: str, allowed: tuple[str, ...]) -> str:
    if method not in allowed:
        raise ValueError(f"interpolation {method!r} is not one of {', '.join(allowed)}")
    return method


def ease(weight: float, method: str) -> float:
    """Blend weight for the linear position ``weight`` (0 at the earlier key, 1 at the later).

    ``linear``/``slerp``: unchanged; ``ease_in``: starts slowly (w²); ``ease_out``: ends slowly;
    ``ease_in_out``: smoothstep (slow at both keys); ``none``: 0 (hold until the next key).
    """
    w = min(max(float(weight), 0.0), 1.0)
    if method in ("linear", "slerp"):
        return w
    if method == "ease_in":
        return w * w
    if method == "ease_out":
        return 1.0 - (1.0 - w) * (1.0 - w)
    if method == "ease_in_out":
        return w * w * (3.0 - 2.0 * w)
    if method == "none":
        return 0.0
    raise ValueError(f"interpolation {method!r} is not one of {', '.join(PROMPT_INTERPOLATIONS)}")


def lerp(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """``a + (b - a) * weight``."""
    return torch.lerp(a, b, weight)


def slerp(a: torch.Tensor, b: torch.Tensor, weight: float, parallel_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation of every vector along the last dimension.

    a, b: (..., D). The direction travels along the great circle between ``a`` and ``b``; the
    raw (unnormalised) vectors are combined with the slerp coefficients, so the length moves
    smoothly between the two lengths. Nearly parallel or opposite vectors, and zero vectors,
    fall back to lerp, where the arc is undefined or numerically unstable.
    """
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    a_norm = a64.norm(dim=-1, keepdim=True)
    b_norm = b64.norm(dim=-1, keepdim=True)
    degenerate = (a_norm == 0) | (b_norm == 0)
    cosine = (a64 * b64).sum(dim=-1, keepdim=True) / (a_norm * b_norm).clamp_min(1e-30)
    cosine = cosine.clamp(-1.0, 1.0)
    theta = torch.arccos(cosine)
    sin_theta = torch.sin(theta)
    use_lerp = degenerate | (cosine.abs() > parallel_threshold)
    safe_sin = torch.where(use_lerp, torch.ones_like(sin_theta), sin_theta)
    coeff_a = torch.sin((1.0 - weight) * theta) / safe_sin
    coeff_b = torch.sin(weight * theta) / safe_sin
    coeff_a = torch.where(use_lerp, torch.full_like(coeff_a, 1.0 - weight), coeff_a)
    coeff_b = torch.where(use_lerp, torch.full_like(coeff_b, weight), coeff_b)
    return (coeff_a * a64 + coeff_b * b64).to(a.dtype)


def blend(a: torch.Tensor, b: torch.Tensor | None, weight: float, method: str) -> torch.Tensor:
    """``a`` blended towards ``b`` by ``weight`` (an eased weight, see :func:`ease`).

    At ``weight == 0`` (or without ``b``) this returns ``a`` itself, so keyframes are exact.
    """
    if b is None or weight == 0.0:
        return a
    if weight == 1.0:
        return b
    if a.shape != b.shape:
        raise ValueError(f"cannot blend tensors of shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if method == "slerp":
        return slerp(a, b, weight)
    return lerp(a, b, weight)


def fit_tokens(cond: torch.Tensor, length: int) -> torch.Tensor:
    """Extend token embeddings ``(B, T, D)`` on the right to ``(B, length, D)``.

    When ``length`` is a whole multiple of ``T`` (CLIP prompts are 77 tokens per chunk) the
    sequence is repeated: cross-attention over a repeated key/value sequence gives exactly the
    same result as over the sequence itself, which is also how ComfyUI batches conditionings
    of different lengths. Other lengths are padded with zeros.
    """
    tokens = cond.shape[1]
    if tokens == length:
        return cond
    if tokens > length:
        raise ValueError(f"cannot shorten {tokens} tokens to {length}")
    if tokens > 0 and length % tokens == 0:
        return cond.repeat(1, length // tokens, 1)
    padding = cond.new_zeros((cond.shape[0], length - tokens, cond.shape[2]))
    return torch.cat([cond, padding], dim=1)
