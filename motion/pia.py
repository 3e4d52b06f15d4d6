"""PIA (Personalized Image Animator): per-frame affinity to the start image, and the wider conv_in.

A PIA file holds, beside its motion modules, a ``conv_in`` of the UNet with 9 input channels:
4 for the noisy latent, 1 for the per-frame *affinity* (how closely a frame should follow the
start image, 1 = closely, lower = more motion) and 4 for the start image's latent. The UNet
keeps its own 4-channel kernel; the file's kernel for channels 4..8 is added as a second,
small convolution (:func:`extra_conv_in`), so no copy of the UNet's weights is made.

Affinity presets are the PIA paper's motion ranges (as AnimateDiff-Evolved names them): a list
of values that starts at the start-image frame and moves outward from it. ``Loop`` presets run
to the middle of the clip and back; the last value repeats where a list is shorter than the clip.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
import torch.nn.functional as F

from .choices import Choice

LATENT_CHANNELS = 4
PIA_IN_CHANNELS = 9  # latent + affinity + start-image latent


class AffinityPreset(Choice):
    CONSTANT = "constant (affinity value for every frame)"
    ANIMATION_SMALL = "Animation (Small Motion)"
    ANIMATION_MEDIUM = "Animation (Medium Motion)"
    ANIMATION_LARGE = "Animation (Large Motion)"
    LOOP_SMALL = "Loop (Small Motion)"
    LOOP_MEDIUM = "Loop (Medium Motion)"
    LOOP_LARGE = "Loop (Large Motion)"
    STYLE_TRANSFER_SMALL = "Style Transfer (Small Motion)"
    STYLE_TRANSFER_MEDIUM = "Style Transfer (Medium Motion)"
    STYLE_TRANSFER_LARGE = "Style Transfer (Large Motion)"


# The motion ranges published with PIA (open-mmlab/PIA, animatediff/utils/util.py).
PRESET_VALUES = {
    AffinityPreset.ANIMATION_SMALL: (1.0, 0.9, 0.85, 0.85, 0.85, 0.8),
    AffinityPreset.ANIMATION_MEDIUM: (1.0, 0.8, 0.8, 0.8, 0.79, 0.78, 0.75),
    AffinityPreset.ANIMATION_LARGE: (1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6, 0.5, 0.5),
    AffinityPreset.LOOP_SMALL: (1.0, 0.9, 0.85, 0.85, 0.85, 0.8),
    AffinityPreset.LOOP_MEDIUM: (1.0, 0.8, 0.8, 0.8, 0.79, 0.78, 0.75),
    AffinityPreset.LOOP_LARGE: (1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.5),
    AffinityPreset.STYLE_TRANSFER_SMALL: (0.5, 0.4, 0.4, 0.4, 0.35, 0.3),
    AffinityPreset.STYLE_TRANSFER_MEDIUM: (0.5, 0.4, 0.4, 0.4, 0.35, 0.35, 0.3, 0.25, 0.2),
    AffinityPreset.STYLE_TRANSFER_LARGE: (0.5, 0.2),
}
LOOPED = {AffinityPreset.LOOP_SMALL, AffinityPreset.LOOP_MEDIUM, AffinityPreset.LOOP_LARGE}


def _fit(values: Sequence[float], length: int) -> list:
    """``values`` cut to ``length``, or padded by repeating its last entry."""
    values = list(values)
    return values[:length] + values[-1:] * max(0, length - len(values))


def affinity_schedule(frames: int, preset: str = AffinityPreset.CONSTANT, start_frame: int = 0,
                      value: Union[float, Sequence[float]] = 1.0) -> list:
    """One affinity per frame of a ``frames``-long clip.

    ``preset``: a :class:`AffinityPreset`. Its list is laid out by distance from ``start_frame``
    (negative counts from the end; clamped into the clip). ``value`` multiplies the preset (for
    ``constant`` it is the affinity itself); a list gives one multiplier per frame (last repeats).
    """
    if frames < 1:
        raise ValueError(f"PIA affinity: the clip needs at least 1 frame, got {frames}")
    preset = str(preset)
    if preset == AffinityPreset.CONSTANT:
        base = [1.0] * frames
    elif preset in PRESET_VALUES:
        preset_values = PRESET_VALUES[AffinityPreset(preset)]
        if preset in LOOPED:
            half = _fit(preset_values, frames // 2)
            # odd clips: the frame(s) between the two halves take the value after the half
            middle = [preset_values[min(len(half), len(preset_values) - 1)]] * (frames - 2 * len(half))
            values = half + middle + half[::-1]
        else:
            values = _fit(preset_values, frames)
        index = start_frame + frames if start_frame < 0 else start_frame
        index = max(0, min(frames - 1, index))
        base = [values[abs(i - index)] for i in range(frames)]
    else:
        raise ValueError(f"PIA affinity preset {preset!r} is not one of: {AffinityPreset.listing()}")
    if isinstance(value, (int, float)):
        return [b * float(value) for b in base]
    multipliers = [float(v) for v in value]
    if not multipliers:
        raise ValueError("PIA affinity: an empty per-frame list; give one value or one per frame")
    return [b * m for b, m in zip(base, _fit(multipliers, frames))]


def affinity_channel(values: Sequence[float], index_list: Optional[Sequence[int]], height: int, width: int,
                     device=None, dtype=torch.float32) -> torch.Tensor:
    """The affinity input channel of one call: ``(frames, 1, height, width)``.

    ``values``: one per frame of the whole clip; ``index_list`` picks a context window's frames.
    """
    table = torch.as_tensor(list(values), dtype=torch.float32)
    if index_list is not None:
        table = table[torch.as_tensor(list(index_list)).clamp(max=len(values) - 1)]
    return table.to(device=device, dtype=dtype)[:, None, None, None].expand(-1, 1, height, width)


def split_conv_in(weight: torch.Tensor, source: str = "PIA file") -> torch.Tensor:
    """The kernel of the extra channels, ``(C, 5, 3, 3)``, from the file's ``conv_in.weight (C, 9, 3, 3)``.

    The first 4 input channels (the latent) and the bias stay the UNet's own.
    """
    if weight.ndim != 4 or weight.shape[1] != PIA_IN_CHANNELS or weight.shape[2:] != (3, 3):
        raise ValueError(f"{source}: conv_in.weight has shape {tuple(weight.shape)}, expected "
                         f"(320, {PIA_IN_CHANNELS}, 3, 3): 4 latent + 1 affinity + 4 start-image channels")
    return weight[:, LATENT_CHANNELS:].clone()


def extra_conv_in(extra_input: torch.Tensor, extra_weight: torch.Tensor) -> torch.Tensor:
    """The contribution of the extra channels: ``conv(extra_input, extra_weight)``, no bias,
    stride 1, padding 1 (as the UNet's conv_in). ``extra_input: (B, 5, h, w)``."""
    return F.conv2d(extra_input, extra_weight.to(device=extra_input.device, dtype=extra_input.dtype), None, 1, 1)
