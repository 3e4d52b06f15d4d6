"""Where a loader's kept frames go: straight into the result tensor while decoding.

The number of frames a selection returns is known ahead for most files (the container's frame
count), so the result is allocated once and each frame is converted into its slot by the worker
that converted its colours: no 8-bit copy of the whole clip, and the float conversion overlaps
decoding. Frames past the expected count (the container's count was short) wait as 8/16-bit
arrays and are added at the end (one more copy, only then). Slots never written cost no memory:
the allocator hands out untouched pages, so a count that was too high costs address space only.

On Linux the result's memory is marked for transparent huge pages (``madvise(MADV_HUGEPAGE)``,
which only advises): touching a fresh 4 KB page for each 4 KB of output (768 per 512x512 float
frame) was the largest single cost of loading, about 2 ms a frame on a 2-core VM; 2 MB pages
cut that about fivefold. Each slot is also faulted in whole, in one call, just before its frame is
written (``MADV_POPULATE_WRITE``, Linux 5.14+): a page fault per page during the strided channel
writes cost more than the writes themselves (benchmarks/video_decode.py: float loads 1.3-2.8x
faster with it and two conversion workers). Where the kernel says no (THP off, an older kernel,
another OS) nothing changes.
"""
from __future__ import annotations

import ctypes
import functools
import mmap
import sys
import threading
from typing import Optional

import numpy as np
import torch

from .pixels import ReadLayout, write_pixels, write_planes

#: A result this much smaller than its allocation is copied into a tensor of its own size.
_SHRINK_BELOW = 0.875
_HUGE_PAGE = 2 << 20
_PAGE = mmap.PAGESIZE
#: <linux/mman.h>; Python's mmap module does not name it.
_MADV_POPULATE_WRITE = 23


@functools.lru_cache(maxsize=1)
def _madvise():
    """libc's madvise, or None where there is none to call (not Linux, no MADV_HUGEPAGE)."""
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    return madvise


def advise_huge_pages(tensor: torch.Tensor) -> None:
    """Ask the kernel to back ``tensor``'s (untouched) memory with 2 MB pages; a hint, failures ignored."""
    madvise = _madvise()
    if madvise is None or tensor.nbytes < 2 * _HUGE_PAGE:
        return
    start = -(-tensor.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE  # whole huge pages inside the buffer only
    end = (tensor.data_ptr() + tensor.nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if end > start:
        madvise(start, end - start, mmap.MADV_HUGEPAGE)


def populate(tensor: torch.Tensor) -> None:
    """Fault in ``tensor``'s (contiguous) memory for writing in one call; a hint, failures ignored."""
    madvise = _madvise()
    if madvise is None or tensor.nbytes < _PAGE:
        return
    start = tensor.data_ptr() // _PAGE * _PAGE
    madvise(start, tensor.data_ptr() + tensor.nbytes - start, _MADV_POPULATE_WRITE)


class FrameStore:
    """Kept frames, in order, as ``(images, alpha)``.

    ``frame_shape``: (H, W) of the stored (upright) frames; ``expected``: frames expected (0 =
    unknown); ``integer``: keep the codes (uint8, or uint16 for deep layouts) instead of float 0..1.
    :meth:`put` may be called from several threads for different indices.
    """

    def __init__(self, frame_shape: tuple[int, int], layout: ReadLayout, expected: int, integer: bool = False):
        self.height, self.width = frame_shape
        self.layout = layout
        self.dtype = (torch.uint16 if layout.deep else torch.uint8) if integer else torch.float32
        self.capacity = max(0, expected)
        try:
            self.images, self.alpha = self._allocate(self.capacity)
        except (RuntimeError, MemoryError):  # a container count far beyond what could ever be held
            self.capacity = 0
            self.images, self.alpha = self._allocate(0)
        self._overflow: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def _allocate(self, count: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        images = torch.empty((count, self.height, self.width, 3), dtype=self.dtype)
        alpha = torch.empty((count, self.height, self.width), dtype=self.dtype) if self.layout.alpha else None
        for tensor in (images, alpha):
            if tensor is not None:
                advise_huge_pages(tensor)
        return images, alpha

    def put(self, index: int, pixels: np.ndarray) -> None:
        """Frame ``index``: (H, W, 3 or 4) uint8/uint16 codes, as the layout reads them."""
        if index < self.capacity:
            self._populate(index)
            write_pixels(pixels, index, self.images, self.alpha)
            return
        with self._lock:
            # kept as it is: a view holds its own reference to a frame buffer that nothing reuses
            self._overflow[index] = pixels

    def put_planes(self, index: int, planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Frame ``index`` of an 8-bit RGB layout as (H, W) uint8 R, G, B planes."""
        if index < self.capacity:
            self._populate(index)
            write_planes(planes, index, self.images)
            return
        pixels = np.stack(planes, axis=-1)
        with self._lock:
            self._overflow[index] = pixels

    def _populate(self, index: int) -> None:
        populate(self.images[index])
        if self.alpha is not None:
            populate(self.alpha[index])

    def result(self, count: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(images, alpha)`` of the first ``count`` frames (all put by now); call once."""
        if count > self.capacity:
            images, alpha = self._allocate(count)
            images[:self.capacity] = self.images
            if alpha is not None and self.alpha is not None:
                alpha[:self.capacity] = self.alpha
            self.images, self.alpha = images, alpha  # the first allocation is released here
            for index in range(self.capacity, count):
                write_pixels(self._overflow.pop(index), index, images, alpha)
            return images, alpha
        images, alpha = self.images[:count], None if self.alpha is None else self.alpha[:count]
        if count < self.capacity * _SHRINK_BELOW:
            images = images.clone()
            alpha = None if alpha is None else alpha.clone()
        return images, alpha
