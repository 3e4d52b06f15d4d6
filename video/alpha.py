"""Alpha in and out: ComfyUI's MASK convention, masks for the encoders, and VP9 alpha in WebM.

ComfyUI's MASK convention (core LoadImage, JoinImageWithAlpha): ``mask = 1 - alpha``, so a
transparent pixel is 1 and an opaque one 0. Load Video Frames returns masks that way, and Video
Combine writes ``alpha = 1 - mask``; a mask loaded from a file and written back gives the same
alpha.

VP9 stores alpha as a second VP9 stream inside WebM's BlockAdditional (``alpha_mode=1`` on the
track). FFmpeg's own vp9 decoder ignores it; libvpx's decoder (``libvpx-vp9``) reads it from the
packets' side data and returns ``yuva420p`` frames, so such files are decoded with libvpx.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import av
import numpy as np
import torch

from .chunks import ENCODE_CHUNK


def alpha_to_mask(alpha: Optional[torch.Tensor], frames: int, height: int, width: int) -> torch.Tensor:
    """ComfyUI MASK (F, H, W) float 0..1 (1 = transparent) from ``alpha`` (F, H, W, 1 = opaque).

    ``alpha`` None (a file without alpha): zeros, everything opaque. ``torch.zeros`` takes
    zeroed pages from the OS, so an unused mask of a long clip costs no memory until read.
    ``alpha`` is turned into the mask in place.
    """
    if alpha is None:
        return torch.zeros((frames, height, width), dtype=torch.float32)
    return torch.sub(1.0, alpha, out=alpha)


def mask_to_alpha(mask: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """Alpha (F, H, W) float 0..1 (1 = opaque) for ``frames`` images of ``height`` x ``width``.

    ``mask``: ComfyUI MASK, (F, H, W), (H, W) or (1, H, W) for every frame; 1 = transparent.
    A ValueError names the shapes when they do not fit the images.
    """
    given = tuple(mask.shape)
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 3 or tuple(mask.shape[1:]) != (height, width) or mask.shape[0] not in (1, frames):
        raise ValueError(f"mask must be (frames, height, width) = ({frames}, {height}, {width}) or one "
                         f"({height}, {width}) mask for every frame, got {given}")
    alpha = 1.0 - mask.detach().to("cpu", torch.float32)
    return alpha.expand(frames, height, width) if alpha.shape[0] == 1 else alpha


def alpha_chunks(alpha: torch.Tensor, order: list[int], top: int) -> Iterator[np.ndarray]:
    """(H, W) integer alpha frames in ``order``, 0..``top`` (255: uint8, else uint16), ENCODE_CHUNK at a time."""
    dtype = np.uint8 if top <= 255 else np.uint16
    for start in range(0, len(order), ENCODE_CHUNK):
        chunk = alpha[order[start:start + ENCODE_CHUNK]].numpy() * np.float32(top)
        chunk += np.float32(0.5)
        np.clip(chunk, 0, top, out=chunk)
        yield from chunk.astype(dtype)


def has_vp9_alpha(stream) -> bool:
    """Whether ``stream`` is VP9 with an alpha channel in WebM's BlockAdditional."""
    return stream.codec_context.name == "vp9" and str(stream.metadata.get("alpha_mode", "")) == "1"


def libvpx_decoder_available() -> bool:
    try:
        av.codec.Codec("libvpx-vp9", "r")
    except Exception:  # PyAV raises different errors for unknown and missing codecs
        return False
    return True


class _LibvpxPacket:
    """A demuxed packet whose ``decode()`` goes to libvpx (the rest of the packet is PyAV's)."""

    __slots__ = ("_packet", "_decoder")

    def __init__(self, packet, decoder):
        self._packet = packet
        self._decoder = decoder

    def decode(self):
        return self._decoder.decode(self._packet)

    def __getattr__(self, name):
        return getattr(self._packet, name)


class LibvpxAlphaContainer:
    """An open WebM container whose VP9 packets are decoded by libvpx, keeping the alpha plane.

    It offers what the frame timeline reads of a container (``demux``, ``seek``, ``format``):
    packets keep their BlockAdditional side data, which libvpx decodes into the ``A`` plane of
    ``yuva420p`` frames. A seek also empties libvpx's buffers (PyAV only flushes its own).
    """

    def __init__(self, container, stream):
        self._container = container
        self.decoder = av.codec.CodecContext.create("libvpx-vp9", "r")
        self.decoder.thread_count = 0  # as many as the machine has, like the native decoder's AUTO

    @property
    def format(self):
        return self._container.format

    @property
    def streams(self):
        return self._container.streams

    def demux(self, *args, **kwargs):
        for packet in self._container.demux(*args, **kwargs):
            yield _LibvpxPacket(packet, self.decoder)

    def seek(self, *args, **kwargs):
        self._container.seek(*args, **kwargs)
        self.decoder.flush_buffers()
