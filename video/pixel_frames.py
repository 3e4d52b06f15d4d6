"""Float RGB (and alpha) to the encoders' other pixel formats.

:mod:`.yuv` converts float RGB to yuv420p/yuv444p (8 and 10 bits) itself. The formats it does
not cover go through this module:

- planar YUV with any subsampling, depth and an optional alpha plane (ProRes 4:2:2 and 4:4:4:4,
  VP9 ``yuva420p``): BT.709 limited range computed here from the float values (one rounding).
  swscale is not used for these: it reads 16-bit RGB with white at 65283, not 65535, which
  brightens everything by half an 8-bit code.
- RGB targets (FFV1's bgr0/bgra/gbrp16le/gbrap16le): float -> integer RGB(A) at 8 or 16 bits
  (one rounding), then swscale only reorders the channels, so integer values pass exactly.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import av
import numpy as np
import torch

from .chunks import ENCODE_CHUNK, cpu_frames, float_chunk, pad_edges

# BT.709 luma weights.
_KR, _KB = 0.2126, 0.0722
# AVColorSpace/Primaries/Transfer number BT.709 as 1, and AVColorRange limited ("tv") is 1 too.
_AVCOL_BT709_AND_MPEG_RANGE = 1


def is_deep(pix: str) -> bool:
    """Whether ``pix`` has more than 8 bits per channel."""
    return max(c.bits for c in av.VideoFormat(pix).components) > 8


def _float_chunks(images: torch.Tensor, alpha: Optional[torch.Tensor], order: list[int],
                  pad: tuple[int, int]) -> Iterator[np.ndarray]:
    """(H, W, 3 or 4) float32 frames in ``order``, clipped to 0..1, alpha as the 4th channel."""
    whole = cpu_frames(images)
    for start in range(0, len(order), ENCODE_CHUNK):
        idx = order[start:start + ENCODE_CHUNK]
        chunk = float_chunk(images, whole, idx)
        if alpha is not None:
            chunk = np.concatenate([chunk, alpha[idx].numpy()[..., None]], axis=-1)
        else:
            chunk = chunk.copy()
        np.clip(chunk, 0, 1, out=chunk)
        yield from pad_edges(chunk, pad)


def integer_chunks(images: torch.Tensor, alpha: Optional[torch.Tensor], order: list[int], deep: bool,
                   pad: tuple[int, int] = (0, 0)) -> Iterator[np.ndarray]:
    """(H, W, 3 or 4) uint8 (``deep``: uint16) frames in ``order``, alpha as the 4th channel.

    ``images``: (F, H, W, C) float 0..1; ``alpha``: (F, H, W) float 0..1 or None. Values are
    clipped to 0..1 and rounded once; ``pad`` adds (columns, rows) repeating the edge.
    """
    top = np.float32(65535 if deep else 255)
    dtype = np.uint16 if deep else np.uint8
    for frame in _float_chunks(images, alpha, order, pad):
        frame *= top
        frame += np.float32(0.5)
        yield frame.astype(dtype)


def source_format(channels: int, deep: bool) -> str:
    """The packed RGB(A) format of :func:`integer_chunks` output."""
    return {(3, False): "rgb24", (4, False): "rgba", (3, True): "rgb48le", (4, True): "rgba64le"}[(channels, deep)]


def yuv_frame(rgba: np.ndarray, pix: str):
    """A ``pix`` frame (planar YUV, optional alpha plane) of (H, W, 3 or 4) float 0..1 ``rgba``.

    BT.709 limited range; subsampled chroma is the mean of each 2x1 (4:2:2) or 2x2 (4:2:0)
    block, centre-sited as swscale reads it back. Sizes must suit the subsampling.
    """
    fmt = av.VideoFormat(pix)
    height, width = rgba.shape[:2]
    bits = fmt.components[0].bits
    scale = float(1 << (bits - 8))
    top = float((1 << bits) - 1)
    r, g, b = rgba[..., 0], rgba[..., 1], rgba[..., 2]
    luma = _KR * r + (1 - _KR - _KB) * g + _KB * b
    cb = (b - luma) * np.float32(1 / (2 * (1 - _KB)))
    cr = (r - luma) * np.float32(1 / (2 * (1 - _KR)))
    cw, ch = fmt.chroma_width(width), fmt.chroma_height(height)
    fx, fy = width // cw, height // ch
    if (fx, fy) != (1, 1):
        cb = cb.reshape(ch, fy, cw, fx).mean(axis=(1, 3))
        cr = cr.reshape(ch, fy, cw, fx).mean(axis=(1, 3))
    planes = [luma * np.float32(219 * scale) + np.float32(16 * scale),
              cb * np.float32(224 * scale) + np.float32(128 * scale),
              cr * np.float32(224 * scale) + np.float32(128 * scale)]
    if rgba.shape[-1] == 4 and len(fmt.components) == 4:
        planes.append(rgba[..., 3] * np.float32(top))
    frame = av.VideoFrame(width, height, pix)
    # Tagged on the frame too: ProRes writes the frame's tags into each picture, not the stream's.
    frame.colorspace = frame.color_range = _AVCOL_BT709_AND_MPEG_RANGE
    for name in ("color_primaries", "color_trc"):
        if hasattr(frame, name):
            setattr(frame, name, _AVCOL_BT709_AND_MPEG_RANGE)
    dtype = np.uint16 if bits > 8 else np.uint8
    for plane, values in zip(frame.planes, planes):
        target = np.frombuffer(memoryview(plane), dtype).reshape(plane.height, -1)[:, :plane.width]
        np.clip(values + np.float32(0.5), 0, top, out=values)
        target[...] = values
    return frame


def swscale_frames(images: torch.Tensor, alpha: Optional[torch.Tensor], order: list[int], pad: tuple[int, int],
                   pix: str) -> Iterator:
    """``av.VideoFrame`` in ``pix`` for each index of ``order`` (alpha kept when ``pix`` has it)."""
    target = av.VideoFormat(pix)
    if not target.is_rgb:
        for rgba in _float_chunks(images, alpha, order, pad):
            yield yuv_frame(rgba, pix)
        return
    deep = is_deep(pix)
    for array in integer_chunks(images, alpha, order, deep, pad):
        yield av.VideoFrame.from_ndarray(array, format=source_format(array.shape[-1], deep)).reformat(format=pix)
