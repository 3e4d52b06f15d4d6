"""Float RGB (and alpha) to the encoders' other pixel formats through swscale.

:mod:`.yuv` converts float RGB to yuv420p/yuv444p (8 and 10 bits) itself. The formats it does
not cover (ProRes 4:2:2 and 4:4:4:4, VP9 with alpha, FFV1's RGB, 16-bit PNG) go through this
module: float -> integer RGB(A) at the target's depth (8 bits, or 16 for deeper targets, one
rounding), then swscale with accurate rounding into the target, BT.709 limited range for YUV.
8-bit RGB targets (bgr0, bgra) only reorder channels, so 8-bit values pass through exactly.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from .chunks import ENCODE_CHUNK, cpu_frames, float_chunk, pad_edges

_TO_YUV = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP


def is_deep(pix: str) -> bool:
    """Whether ``pix`` has more than 8 bits per channel."""
    return max(c.bits for c in av.VideoFormat(pix).components) > 8


def integer_chunks(images: torch.Tensor, alpha: Optional[torch.Tensor], order: list[int], deep: bool,
                   pad: tuple[int, int] = (0, 0)) -> Iterator[np.ndarray]:
    """(H, W, 3 or 4) uint8 (``deep``: uint16) frames in ``order``, alpha as the 4th channel.

    ``images``: (F, H, W, C) float 0..1; ``alpha``: (F, H, W) float 0..1 or None. Values are
    clipped to 0..1 and rounded once; ``pad`` adds (columns, rows) repeating the edge.
    Only ENCODE_CHUNK frames exist as integers at a time.
    """
    top = np.float32(65535 if deep else 255)
    dtype = np.uint16 if deep else np.uint8
    whole = cpu_frames(images)
    for start in range(0, len(order), ENCODE_CHUNK):
        idx = order[start:start + ENCODE_CHUNK]
        chunk = float_chunk(images, whole, idx)
        if alpha is not None:
            chunk = np.concatenate([chunk, alpha[idx].numpy()[..., None]], axis=-1)
        chunk = pad_edges(chunk * top, pad)
        chunk += np.float32(0.5)
        np.clip(chunk, 0, top, out=chunk)
        yield from chunk.astype(dtype)


def source_format(channels: int, deep: bool) -> str:
    """The packed RGB(A) format of :func:`integer_chunks` output."""
    return {(3, False): "rgb24", (4, False): "rgba", (3, True): "rgb48le", (4, True): "rgba64le"}[(channels, deep)]


def swscale_frames(images: torch.Tensor, alpha: Optional[torch.Tensor], order: list[int], pad: tuple[int, int],
                   pix: str) -> Iterator:
    """``av.VideoFrame`` in ``pix`` for each index of ``order`` (alpha kept when ``pix`` has it)."""
    target = av.VideoFormat(pix)
    to_yuv = not target.is_rgb and not pix.startswith(("gray", "ya"))
    deep = is_deep(pix)
    for array in integer_chunks(images, alpha, order, deep, pad):
        frame = av.VideoFrame.from_ndarray(array, format=source_format(array.shape[-1], deep))
        if to_yuv:
            yield frame.reformat(format=pix, interpolation=_TO_YUV, src_colorspace=Colorspace.ITU709,
                                 dst_colorspace=Colorspace.ITU709, src_color_range=ColorRange.JPEG,
                                 dst_color_range=ColorRange.MPEG)
        else:
            yield frame.reformat(format=pix)
