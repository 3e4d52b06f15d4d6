"""What a decoded stream's frames are read as: 8 or 16 bits per channel, with or without alpha.

Sources above 8 bits (10/12-bit ProRes and HEVC, 16-bit PNG and FFV1) are converted to 16-bit
RGB so the float result keeps their precision; sources with alpha (yuva*, rgba/bgra, GIF,
paletted PNG) keep a fourth channel. Everything else stays 8-bit RGB, the fast path.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch
from av.video.reformatter import VideoReformatter

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


def frame_to_array(frame, size: tuple[int, int], layout: ReadLayout,
                   reformatter: Optional[VideoReformatter] = None) -> np.ndarray:
    """(H, W, 3 or 4) uint8 (``layout.deep``: uint16) of a decoded frame, scaled to ``size`` (w, h).

    ``reformatter``: one kept across frames (one per thread); None = a new one.
    """
    if layout.deep:
        return deep_frame_to_rgb(frame, size, layout.alpha, reformatter)
    return frame_to_rgb(frame, size, layout.out_format, reformatter)


def stack_pixels(frames: list) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(images, alpha)``: (F, H, W, 3) and (F, H, W) float 0..1 (alpha None without a 4th channel).

    ``frames``: (H, W, C) uint8 or uint16 arrays, C = 3 or 4, all alike; each entry is set
    to None once converted, so the peak is one float copy.
    """
    first = frames[0]
    if first.dtype == np.uint8 and first.shape[-1] == 3:
        return stack_uint8(frames), None
    height, width, channels = first.shape
    images = torch.empty((len(frames), height, width, 3), dtype=torch.float32)
    alpha = torch.empty((len(frames), height, width), dtype=torch.float32) if channels == 4 else None
    for i in range(len(frames)):
        write_pixels(frames[i], i, images, alpha)
        frames[i] = None
    return images, alpha


def write_planes(planes: tuple[np.ndarray, ...], index: int, images: torch.Tensor) -> None:
    """Store one 8-bit frame given as (H, W) ``planes`` (R, G, B) as frame ``index`` of ``images``."""
    rgb_out = images[index].numpy()
    for channel, plane in enumerate(planes):
        if images.dtype == torch.float32:
            np.multiply(plane, np.float32(1 / 255), out=rgb_out[..., channel])
        else:
            rgb_out[..., channel] = plane


def write_pixels(pixels: np.ndarray, index: int, images: torch.Tensor, alpha: Optional[torch.Tensor]) -> None:
    """Store one frame's (H, W, C) uint8/uint16 ``pixels`` as frame ``index`` of ``images`` (and ``alpha``).

    Float targets get ``code * (1 / 255)`` (or ``1 / 65535``) in float32, the one rounding every
    loader path shares; integer targets of the same dtype get the codes as they are.
    """
    rgb_out = images[index].numpy()
    if images.dtype == torch.float32:
        scale = np.float32(1 / (255 if pixels.dtype == np.uint8 else 65535))
        # numpy: several times faster than torch's dtype-converting copy_ on CPU, and it releases the GIL
        np.multiply(pixels[..., :3], scale, out=rgb_out)
        if alpha is not None:
            np.multiply(pixels[..., 3], scale, out=alpha[index].numpy())
        return
    rgb_out[...] = pixels[..., :3]
    if alpha is not None:
        alpha[index].numpy()[...] = pixels[..., 3]
