"""Frames above 8 bits per channel to 16-bit RGB(A) without losing their precision.

swscale's YUV -> 16-bit RGB maps white to 65283, not 65535 (it works in 8.8 fixed point), so
deep YUV is handled in two steps: swscale only upsamples the chroma (and resizes) into
``yuv444p16le``, which for 9..16-bit input is an exact shift of the codes, and the matrix is
applied here in float. RGB sources (FFV1 gbrp10/16, 16-bit PNG) convert to packed 16-bit RGB
exactly with swscale (10/12-bit codes have their bits replicated: 1023 -> 65535).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

# Luma weights (Kr, Kb) by AVColorSpace: BT.709, FCC, BT.601 (470BG, 170M), SMPTE 240M, BT.2020.
_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114),
            7: (0.212, 0.087), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
_AVCOL_SPC_BT709, _AVCOL_SPC_BT470BG = 1, 5
_AVCOL_RANGE_JPEG = 2
_SCALING = Interpolation.LANCZOS | Interpolation.ACCURATE_RND
_CHROMA_ONLY = Interpolation.BICUBIC | Interpolation.ACCURATE_RND


def deep_frame_to_rgb(frame, size: tuple[int, int], alpha: bool,
                      reformatter: Optional[VideoReformatter] = None) -> np.ndarray:
    """(H, W, 3) uint16 RGB, or (H, W, 4) with ``alpha``, of a frame above 8 bits, scaled to ``size`` (w, h).

    ``reformatter``: kept from frame to frame (one per thread) so swscale is set up once; None = a new one.
    """
    if reformatter is None:
        reformatter = VideoReformatter()
    width, height = size
    interpolation = _SCALING if (width, height) != (frame.width, frame.height) else _CHROMA_ONLY
    fmt = frame.format
    if fmt.is_rgb or fmt.name.startswith(("gray", "ya")):
        packed = "rgba64le" if alpha else "rgb48le"
        return reformatter.reformat(frame, width=width, height=height, format=packed,
                                    interpolation=interpolation).to_ndarray()
    planar = "yuva444p16le" if alpha else "yuv444p16le"
    yuv = reformatter.reformat(frame, width=width, height=height, format=planar, interpolation=interpolation)
    planes = [_plane(p, height, width) for p in yuv.planes]
    rgb = _yuv_to_rgb(planes[0], planes[1], planes[2], frame, bits=fmt.components[0].bits)
    if alpha:
        rgb = np.concatenate([rgb, planes[3][..., None]], axis=-1)
    return rgb


def _plane(plane, height: int, width: int) -> np.ndarray:
    """(H, W) uint16 view of a 16-bit plane (its rows may be padded)."""
    rows = np.frombuffer(plane, np.uint16).reshape(height, plane.line_size // 2)
    return rows[:, :width]


def _yuv_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, frame, bits: int) -> np.ndarray:
    """(H, W, 3) uint16 RGB (full range) of 16-bit planes holding ``bits``-bit codes shifted up."""
    space = frame.colorspace
    if space not in _WEIGHTS:  # untagged: what players assume
        space = _AVCOL_SPC_BT709 if frame.height >= 720 else _AVCOL_SPC_BT470BG
    kr, kb = _WEIGHTS[space]
    kg = 1.0 - kr - kb
    shift = 16 - bits
    if frame.color_range == _AVCOL_RANGE_JPEG or frame.format.name.startswith("yuvj"):
        top = ((1 << bits) - 1) << shift
        y_black, y_span, c_span = 0.0, float(top), float(top)
    else:
        y_black, y_span, c_span = 16.0 * 256, 219.0 * 256, 224.0 * 256
    centre = float(1 << 15)
    luma = (y.astype(np.float32) - np.float32(y_black)) * np.float32(1 / y_span)
    u = (cb.astype(np.float32) - np.float32(centre)) * np.float32(1 / c_span)
    v = (cr.astype(np.float32) - np.float32(centre)) * np.float32(1 / c_span)
    rgb = np.empty(luma.shape + (3,), np.float32)
    rgb[..., 0] = luma + np.float32(2 * (1 - kr)) * v
    rgb[..., 1] = luma - np.float32(2 * kb * (1 - kb) / kg) * u - np.float32(2 * kr * (1 - kr) / kg) * v
    rgb[..., 2] = luma + np.float32(2 * (1 - kb)) * u
    rgb *= np.float32(65535)
    rgb += np.float32(0.5)
    np.clip(rgb, 0, 65535, out=rgb)
    return rgb.astype(np.uint16)
