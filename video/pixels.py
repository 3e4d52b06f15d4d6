"""What a decoded stream's frames are read as: 8 or 16 bits per channel, with or without alpha.

Sources above 8 bits (10/12-bit ProRes and HEVC, 16-bit PNG and FFV1) are converted to 16-bit
RGB so the float result keeps their precision; sources with alpha (yuva*, rgba/bgra, GIF,
paletted PNG) keep a fourth channel. Everything else stays 8-bit RGB, the fast path.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch

from .deep import deep_frame_to_rgb
from .rgb import frame_to_rgb, stack_uint8


class ReadLayout(NamedTuple):
    """``out_format``: what frames are converted to (rgb24, rgba, rgb48le or rgba64le: uint8/uint16 arrays)."""

    out_format: str
    alpha: bool
    deep: bool


def read_layout(frame) -> ReadLayout:
    """The layout for a stream whose first decoded frame is ``frame``."""
    components = frame.format.components
    alpha = frame.format.has_palette or any(c.is_alpha for c in components)
    deep = max(c.bits for c in components) > 8
    out_format = {(False, False): "rgb24", (True, False): "rgba",
                  (False, True): "rgb48le", (True, True): "rgba64le"}[(alpha, deep)]
    return ReadLayout(out_format, alpha, deep)


def frame_to_array(frame, size: tuple[int, int], layout: ReadLayout) -> np.ndarray:
    """(H, W, 3 or 4) uint8 (``layout.deep``: uint16) of a decoded frame, scaled to ``size`` (w, h)."""
    if layout.deep:
        return deep_frame_to_rgb(frame, size, layout.alpha)
    return frame_to_rgb(frame, size, layout.out_format)


def stack_pixels(frames: list) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(images, alpha)``: (F, H, W, 3) and (F, H, W) float 0..1 (alpha None without a 4th channel).

    ``frames``: (H, W, C) uint8 or uint16 arrays, C = 3 or 4, all alike; each entry is set
    to None once converted, so the peak is one float copy.
    """
    first = frames[0]
    if first.dtype == np.uint8 and first.shape[-1] == 3:
        return stack_uint8(frames), None
    scale = np.float32(1 / (255 if first.dtype == np.uint8 else 65535))
    height, width, channels = first.shape
    images = torch.empty((len(frames), height, width, 3), dtype=torch.float32)
    alpha = torch.empty((len(frames), height, width), dtype=torch.float32) if channels == 4 else None
    rgb_out = images.numpy()
    alpha_out = alpha.numpy() if alpha is not None else None
    for i in range(len(frames)):
        np.multiply(frames[i][..., :3], scale, out=rgb_out[i])
        if alpha_out is not None:
            np.multiply(frames[i][..., 3], scale, out=alpha_out[i])
        frames[i] = None
    return images, alpha
