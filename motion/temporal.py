"""The AnimateDiff temporal transformer, in pure torch.

One motion module sits at one place in the UNet. It sees the UNet features of every
frame, ``x: (chunks * frames, C, H, W)``, lets each pixel attend over the frames, and
returns ``x + effect * delta``.

Layout (key names are those of the original AnimateDiff files, so a state dict loads
as is and a MotionLoRA can target a projection by key)::

    temporal_transformer.norm                 GroupNorm(32, C, eps=1e-6), per frame
    temporal_transformer.proj_in              Linear(C, C)
    temporal_transformer.transformer_blocks.0
        attention_blocks.{0,1}                self-attention over frames, 8 heads
            pos_encoder.pe                    (1, L, C) sinusoidal table, added before q/k/v
            to_q, to_k, to_v                  Linear(C, C, bias=False)
            to_out.0                          Linear(C, C)
        norms.{0,1}                           LayerNorm(C), pre-norm of each attention
        ff.net.0.proj                         GEGLU: Linear(C, 8C)
        ff.net.2                              Linear(4C, C)
        ff_norm                               LayerNorm(C)
    temporal_transformer.proj_out             Linear(C, C)

Attention is injectable: ``attention(q, k, v, heads) -> out`` with ``q, k, v: (B, F, C)``
(ComfyUI's ``optimized_attention`` has that signature). The (B = chunks*H*W) batch is cut
into slices of at most ``max_attention_batch`` rows, because some kernels fail above a
batch limit (xformers near 65535 / heads).

MotionLoRA hook: every attention block knows its key prefix (``key``). When the forward
pass gets ``lora={prefix + ".to_q": [(down, up, scale), ...], ...}`` it adds
``scale * (x @ down.T) @ up.T`` to that projection, so a LoRA applies factorized, per
call, without merging a dense copy into the weights.

Every linear layer runs through :mod:`.fused_linear`, which on CPU folds the bias, the
residual sum and the GEGLU gate into the matrix product (the same math, fewer passes).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional, Union, cast

import torch
import torch.nn.functional as F
from torch import nn

from . import fused_linear as fused

HEADS = 8
# Rows of the (chunks*H*W, frames, C) attention batch handed to the kernel at once.
DEFAULT_MAX_ATTENTION_BATCH = 65535 // HEADS

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]
# A per-frame value: one float for all frames, or one per frame (the last one repeats).
FrameValue = Union[float, Sequence[float], torch.Tensor]
LowRank = tuple  # (down: (r, C_in), up: (C_out, r), scale: float)


def sinusoidal_pe(length: int, channels: int) -> torch.Tensor:
    """The AnimateDiff positional table: ``(1, length, channels)``, sin on even channels, cos on odd."""
    if channels % 2:
        raise ValueError(f"positional encoding needs an even channel count, got {channels}")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    frequency = torch.exp(torch.arange(0, channels, 2, dtype=torch.float64) * (-math.log(10000.0) / channels))
    table = torch.zeros(1, length, channels, dtype=torch.float64)
    table[0, :, 0::2] = torch.sin(position * frequency)
    table[0, :, 1::2] = torch.cos(position * frequency)
    return table.float()


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Reference attention: ``(B, F, C)`` in and out, softmax(q k^T / sqrt(C/heads)) v per head."""
    b, f, c = q.shape
    q, k, v = (t.reshape(b, -1, heads, c // heads).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(b, f, c)


def frame_values(value: FrameValue, frames: int, index_list: Optional[Sequence[int]] = None,
                 name: str = "value") -> Optional[torch.Tensor]:
    """A per-frame value as a ``(frames,)`` float tensor, or ``None`` when it is one float.

    ``value`` lists hold one entry per video frame; the last entry repeats past its end.
    ``index_list`` picks the frames of the current context window.
    """
    if isinstance(value, (int, float)):
        return None
    values = torch.as_tensor(value, dtype=torch.float32).flatten()
    if values.numel() == 0:
        raise ValueError(f"{name}: an empty list; give one float or one per frame")
    indices = torch.as_tensor(list(index_list) if index_list is not None else range(frames))
    indices = indices.clamp(max=values.numel() - 1)
    return values[indices]


class PositionalEncoding(nn.Module):
    pe: torch.Tensor  # buffer (1, length, channels)

    def __init__(self, channels: int, length: int):
        super().__init__()
        self.register_buffer("pe", sinusoidal_pe(length, channels))

    @property
    def length(self) -> int:
        return self.pe.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[1]
        if frames > self.length:
            raise ValueError(f"{frames} frames in one motion-module call, but its positional encoding has "
                             f"{self.length} positions; use context windows of at most {self.length} frames")
        return x + self.pe[:, :frames].to(device=x.device, dtype=x.dtype)


class TemporalAttention(nn.Module):
    """Self-attention over frames for each pixel: ``(B, F, C) -> (B, F, C)``."""

    def __init__(self, channels: int, pe_length: int, key: str = "", linear=nn.Linear):
        super().__init__()
        self.key = key
        self.heads = HEADS
        self.pos_encoder = PositionalEncoding(channels, pe_length)
        self.to_q = linear(channels, channels, bias=False)
        self.to_k = linear(channels, channels, bias=False)
        self.to_v = linear(channels, channels, bias=False)
        self.to_out = nn.ModuleList([linear(channels, channels)])

    def _project(self, name: str, layer: nn.Module, x: torch.Tensor, lora: Optional[Mapping],
                 residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``layer(x)`` plus its MotionLoRA terms, plus ``residual`` when given."""
        low_rank = lora.get(f"{self.key}.{name}", ()) if lora else ()
        out = fused.linear(layer, x, residual)
        for down, up, scale in low_rank:
            down = down.to(device=x.device, dtype=x.dtype)
            up = up.to(device=x.device, dtype=x.dtype)
            out = fused.add_residual(out, F.linear(F.linear(x, down), up), alpha=scale)
        return out

    def forward(self, x: torch.Tensor, *, scale: Optional[torch.Tensor] = None, scale_value: float = 1.0,
                attention: AttentionFn = sdpa_attention, max_attention_batch: int = DEFAULT_MAX_ATTENTION_BATCH,
                lora: Optional[Mapping] = None, residual: Optional[torch.Tensor] = None,
                camera: Optional[Mapping] = None) -> torch.Tensor:
        """``x: (B, F, C)`` -> attention output ``(B, F, C)``, plus ``residual`` when given.

        ``camera``: ``{attention key: fn}``; this attention's ``fn(x) -> x`` conditions its
        positionally encoded input (CameraCtrl, see motion/camera_encoder.py).
        """
        x = self.pos_encoder(x)
        condition = camera.get(self.key) if camera else None
        if condition is not None:
            x = condition(x)
        q = self._project("to_q", self.to_q, x, lora)
        k = self._project("to_k", self.to_k, x, lora)
        v = self._project("to_v", self.to_v, x, lora)
        # Motion scale multiplies the keys: a sharper (>1) or flatter (<1) softmax over frames.
        if scale is not None:
            k = k * scale.to(device=k.device, dtype=k.dtype)[None, :, None]
        elif scale_value != 1.0:
            k = k * scale_value
        batch = q.shape[0]
        if batch <= max_attention_batch:
            out = attention(q, k, v, self.heads)
        else:
            out = torch.cat([attention(q[i:i + max_attention_batch], k[i:i + max_attention_batch],
                                       v[i:i + max_attention_batch], self.heads)
                             for i in range(0, batch, max_attention_batch)])
        return self._project("to_out.0", self.to_out[0], out, lora, residual)


class GEGLU(nn.Module):
    def __init__(self, channels: int, inner: int, linear=nn.Linear):
        super().__init__()
        self.proj = linear(channels, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused.geglu(self.proj, x)


class FeedForward(nn.Module):
    def __init__(self, channels: int, linear=nn.Linear):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(channels, channels * 4, linear), nn.Dropout(0.0), linear(channels * 4, channels)])

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x: (..., C) -> (..., C)``, plus ``residual`` when given. (``net.1`` is a no-op dropout.)"""
        hidden = self.net[0](x)
        return fused.linear(self.net[2], hidden, residual)


class TemporalTransformerBlock(nn.Module):
    def __init__(self, channels: int, pe_length: int, key: str = "", ops=None):
        super().__init__()
        ops = ops or nn
        self.attention_blocks = nn.ModuleList(
            [TemporalAttention(channels, pe_length, f"{key}.attention_blocks.{i}", ops.Linear) for i in range(2)])
        self.norms = nn.ModuleList([ops.LayerNorm(channels) for _ in range(2)])
        self.ff = FeedForward(channels, ops.Linear)
        self.ff_norm = ops.LayerNorm(channels)

    def forward(self, x: torch.Tensor, **attention_kwargs) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x), residual=x, **attention_kwargs)
        return self.ff(self.ff_norm(x), residual=x)


class TemporalTransformer3D(nn.Module):
    def __init__(self, channels: int, pe_length: int, key: str = "", ops=None):
        super().__init__()
        ops = ops or nn
        self.norm = ops.GroupNorm(32, channels, eps=1e-6, affine=True)
        self.proj_in = ops.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, pe_length, f"{key}.transformer_blocks.0", ops)])
        self.proj_out = ops.Linear(channels, channels)

    def forward(self, x: torch.Tensor, frames: int, **attention_kwargs) -> torch.Tensor:
        """``x: (chunks*frames, C, H, W)`` -> the residual ``delta`` of the same shape."""
        bf, c, h, w = x.shape
        chunks = bf // frames
        hidden = self.norm(x)
        # (chunks*frames, C, H, W) -> (chunks*H*W, frames, C): every pixel attends over its frames.
        hidden = hidden.reshape(chunks, frames, c, h * w).permute(0, 3, 1, 2).reshape(chunks * h * w, frames, c)
        hidden = fused.linear(self.proj_in, hidden)
        for block in self.transformer_blocks:
            hidden = block(hidden, **attention_kwargs)
        hidden = fused.linear(self.proj_out, hidden)
        return hidden.reshape(chunks, h * w, frames, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)


class MotionModule(nn.Module):
    """One injectable motion module (``<block>.motion_modules.M`` in the files)."""

    def __init__(self, channels: int, pe_length: int, key: str = "", ops=None):
        super().__init__()
        self.key = key
        self.channels = channels
        self.temporal_transformer = TemporalTransformer3D(channels, pe_length, f"{key}.temporal_transformer", ops)

    @property
    def pe_length(self) -> int:
        # ModuleList indexing is typed as a plain Module; these are the blocks __init__ put there.
        block = cast(TemporalTransformerBlock, self.temporal_transformer.transformer_blocks[0])
        return cast(TemporalAttention, block.attention_blocks[0]).pos_encoder.length

    def forward(self, x: torch.Tensor, frames: int, *, scale: FrameValue = 1.0, effect: FrameValue = 1.0,
                index_list: Optional[Sequence[int]] = None, attention: AttentionFn = sdpa_attention,
                max_attention_batch: int = DEFAULT_MAX_ATTENTION_BATCH, lora: Optional[Mapping] = None,
                camera: Optional[Mapping] = None) -> torch.Tensor:
        """``x: (chunks*frames, C, H, W)`` -> ``x + effect * delta``.

        ``scale``/``effect``: a float, or per-frame values of the whole video (``index_list``
        selects the frames of this call's context window).
        """
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"motion module {self.key}: expected (batch, {self.channels}, H, W) features, got {tuple(x.shape)}")
        if frames < 1 or x.shape[0] % frames:
            raise ValueError(f"motion module {self.key}: batch of {x.shape[0]} is not a whole number of {frames}-frame chunks")
        effect_per_frame = frame_values(effect, frames, index_list, "effect")
        # The one-float values (frame_values returns None exactly for these); 1.0 when per frame.
        effect_value = float(effect) if isinstance(effect, (int, float)) else 1.0
        if effect_per_frame is None and effect_value == 0.0:
            return x
        scale_per_frame = frame_values(scale, frames, index_list, "scale")
        scale_value = float(scale) if isinstance(scale, (int, float)) else 1.0
        weight = self.temporal_transformer.proj_in.weight
        dtype = weight.dtype if weight.dtype.is_floating_point and weight.dtype.itemsize >= 2 else x.dtype
        delta = self.temporal_transformer(
            x.to(dtype), frames, scale=scale_per_frame, scale_value=scale_value,
            attention=attention, max_attention_batch=max_attention_batch, lora=lora,
            camera=camera).to(x.dtype)
        if effect_per_frame is None:
            if effect_value != 1.0:
                delta = delta * effect_value if torch.is_grad_enabled() else delta.mul_(effect_value)
            return fused.add_residual(delta, x)
        chunks = x.shape[0] // frames
        blend = effect_per_frame.to(device=x.device, dtype=x.dtype).repeat(chunks)[:, None, None, None]
        return x + blend * delta


BLOCK_NAMES = ("down_blocks", "mid_block", "up_blocks")


class MotionBlock(nn.Module):
    def __init__(self, channels: Sequence[int], pe_length: int, key: str, ops=None):
        super().__init__()
        self.motion_modules = nn.ModuleList(
            [MotionModule(c, pe_length, f"{key}.motion_modules.{i}", ops) for i, c in enumerate(channels)])


@dataclass(frozen=True)
class MotionLayout:
    """Channels of every motion module, in file order. ``mid`` is ``None`` when there is no mid module."""
    down: tuple  # tuple of tuples: channels per module per down block
    up: tuple
    mid: Optional[int]
    pe_length: int

    def injection_order(self) -> list:
        """Module keys in the order the UNet meets them: down blocks, mid, up blocks."""
        keys = [f"down_blocks.{b}.motion_modules.{m}" for b, block in enumerate(self.down) for m in range(len(block))]
        if self.mid is not None:
            keys.append("mid_block.motion_modules.0")
        keys += [f"up_blocks.{b}.motion_modules.{m}" for b, block in enumerate(self.up) for m in range(len(block))]
        return keys


class MotionModel(nn.Module):
    """All motion modules of one file; ``state_dict()`` keys equal the normalised file keys."""

    def __init__(self, layout: MotionLayout, ops=None):
        super().__init__()
        self.layout = layout
        self.down_blocks = nn.ModuleList([MotionBlock(c, layout.pe_length, f"down_blocks.{i}", ops) for i, c in enumerate(layout.down)])
        self.mid_block = MotionBlock([layout.mid], layout.pe_length, "mid_block", ops) if layout.mid is not None else None
        self.up_blocks = nn.ModuleList([MotionBlock(c, layout.pe_length, f"up_blocks.{i}", ops) for i, c in enumerate(layout.up)])

    def modules_in_order(self) -> list:
        """The :class:`MotionModule` s in UNet order (down, mid, up)."""
        return [self.get_submodule(key) for key in self.layout.injection_order()]

    @property
    def pe_length(self) -> int:
        return self.layout.pe_length
