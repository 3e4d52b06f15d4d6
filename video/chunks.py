"""An IMAGE tensor handed to the encoders a chunk of frames at a time, so memory stays bounded.

``images``: (F, H, W, C) float 0..1 torch tensors, C = 1 (grey), 3 or 4 (alpha is dropped).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np
import torch

#: Frames converted from float per chunk while encoding (bounds the extra memory).
ENCODE_CHUNK = 16


def cpu_frames(images: torch.Tensor) -> Optional[np.ndarray]:
    """``images`` as a numpy view when it is a CPU float32 tensor (no copy), else None."""
    if images.device.type == "cpu" and images.dtype == torch.float32:
        return images.detach().numpy()
    return None


def float_chunk(images: torch.Tensor, whole: Optional[np.ndarray], idx: list[int]) -> np.ndarray:
    """Frames ``idx`` as (F, H, W, 3) float32 numpy.

    A run of consecutive indices (forwards or backwards, as pingpong makes) of a
    CPU float32 tensor is a view; other orders, dtypes and devices copy this
    chunk only. A grey channel is repeated, alpha is dropped.
    """
    if whole is None:
        chunk = images[idx].detach().to("cpu", torch.float32).numpy()
    else:
        first, last = idx[0], idx[-1]
        if idx == list(range(first, last + 1)):
            chunk = whole[first:last + 1]
        elif idx == list(range(first, last - 1, -1)):
            chunk = whole[last:first + 1][::-1]
        else:
            chunk = whole[idx]
    if chunk.shape[-1] == 1:
        return np.repeat(chunk, 3, axis=-1)
    if chunk.shape[-1] == 4:
        return np.ascontiguousarray(chunk[..., :3])
    return chunk


def pad_edges(chunk: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """(F, H, W, C) frames with ``pad = (columns, rows)`` more, repeating the last column/row.

    For codecs that need even sizes; a copy of this chunk only, and none when ``pad`` is (0, 0).
    """
    if pad == (0, 0):
        return chunk
    return np.pad(chunk, ((0, 0), (0, pad[1]), (0, pad[0]), (0, 0)), mode="edge")


def uint8_chunks(images: torch.Tensor, order: list[int]) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames in ``order``, converted ENCODE_CHUNK frames at a time.

    Only one chunk exists as 8-bit (and as a CPU copy, for GPU tensors) at any moment.
    The arithmetic is numpy's: on CPU it is several times faster than torch's for this.
    """
    whole = cpu_frames(images)
    for start in range(0, len(order), ENCODE_CHUNK):
        chunk = float_chunk(images, whole, order[start:start + ENCODE_CHUNK]) * np.float32(255)
        chunk += np.float32(0.5)
        np.clip(chunk, 0, 255, out=chunk)
        yield from chunk.astype(np.uint8)
