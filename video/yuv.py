"""Float RGB straight to BT.709 limited-range YUV frames for the video encoders (one rounding, not two)."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import torch

from .chunks import ENCODE_CHUNK, cpu_frames, float_chunk, pad_edges

# BT.709 luma weights.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB

# AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic all number BT.709 as 1.
_AVCOL_BT709 = 1
_AVCOL_RANGE_MPEG = 1  # limited ("tv") range


def tag_bt709_limited(codec_context) -> None:
    """Tag a video encoder's stream with what :class:`YuvConverter` writes: BT.709, limited range."""
    codec_context.colorspace = codec_context.color_primaries = codec_context.color_trc = _AVCOL_BT709
    codec_context.color_range = _AVCOL_RANGE_MPEG


class YuvConverter:
    """Float RGB straight to BT.709 limited-range YUV frames.

    ``chunk``: (F, H, W, 3) float32 numpy, H and W even. RGB is clipped to 0..1 (as
    ComfyUI's image savers do), then the matrix, the range scaling and the rounding
    are applied to the float values (no 8-bit RGB in between: one rounding, not two).
    4:2:0 chroma is the mean of each 2x2 block (centre-sited, as swscale reads it back).
    Work goes one frame at a time so the clipped copy (3 MB at 512x512) is still in
    the CPU cache when the matrix products read it: about a third of the CPU time of
    quantising to rgb24 and converting with swscale's accurate mode.

    Scratch buffers are reused from frame to frame; one converter serves one thread.
    The frames it returns own copies of the data.
    """

    def __init__(self, pix: str):
        self.pix = pix
        self.bits = 10 if pix.endswith("10le") else 8
        self.subsampled = pix.startswith("yuv420")
        scale = 1 << (self.bits - 8)
        k = np.array([_KR, _KG, _KB])
        cb = (np.array([0.0, 0.0, 1.0]) - k) / (2 * (1 - _KB))
        cr = (np.array([1.0, 0.0, 0.0]) - k) / (2 * (1 - _KR))
        chroma = np.stack([cb, cr], axis=1) * (224 * scale)  # (3, 2): RGB -> Cb, Cr
        self.luma = (k * 219 * scale).astype(np.float32)
        # A horizontal pair of pixels (6 values) -> its share of the 2x2 block's mean Cb, Cr
        # (the block's two rows are added after, hence / 4).
        self.pair_chroma = (np.concatenate([chroma, chroma]) / 4).astype(np.float32)
        self.full = np.concatenate([self.luma[:, None], chroma], axis=1).astype(np.float32)  # (3, 3) for 4:4:4
        # +0.5: the cast to integers truncates, so this rounds to nearest.
        self.luma_offset = np.float32(16 * scale + 0.5)
        self.chroma_offset = np.float32(128 * scale + 0.5)
        self.top = np.float32(255 * scale)
        self.dtype = np.uint16 if self.bits > 8 else np.uint8
        self._scratch: dict = {}

    def _buffer(self, name: str, shape: tuple, dtype=np.float32) -> np.ndarray:
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape:
            buf = self._scratch[name] = np.empty(shape, dtype)
        return buf

    def __call__(self, chunk: np.ndarray) -> list:
        convert = self._convert_420 if self.subsampled else self._convert_444
        return [convert(np.clip(frame, 0, 1, out=self._buffer("rgb", frame.shape))) for frame in chunk]

    def _convert_444(self, rgb: np.ndarray):
        h, w, _ = rgb.shape
        yuv = np.matmul(rgb, self.full, out=self._buffer("yuv", (h, w, 3)))
        yuv[..., 0] += self.luma_offset - self.chroma_offset
        yuv += self.chroma_offset
        np.clip(yuv, 0, self.top, out=yuv)
        return av.VideoFrame.from_ndarray(yuv.astype(self.dtype), format=self.pix, channel_last=True)

    def _convert_420(self, rgb: np.ndarray):
        h, w, _ = rgb.shape
        plane, quarter = h * w, (h // 2) * (w // 2)
        out = self._buffer("out", (plane + 2 * quarter,), self.dtype)
        luma = np.matmul(rgb, self.luma, out=self._buffer("luma", (h, w)))
        luma += self.luma_offset
        np.clip(luma, 0, self.top, out=luma)
        out[:plane].reshape(h, w)[...] = luma
        # Rows in pairs, pixels in pairs (a view): one product gives each row's share of its
        # 2x2 blocks' Cb, Cr, and the two rows are added after (a quarter of the data).
        blocks = rgb.reshape(h // 2, 2, w // 2, 6)
        shares = np.matmul(blocks, self.pair_chroma, out=self._buffer("shares", (h // 2, 2, w // 2, 2)))
        chroma = np.add(shares[:, 0], shares[:, 1], out=self._buffer("chroma", (h // 2, w // 2, 2)))
        chroma += self.chroma_offset
        np.clip(chroma, 0, self.top, out=chroma)
        out[plane:plane + quarter].reshape(h // 2, w // 2)[...] = chroma[..., 0]
        out[plane + quarter:].reshape(h // 2, w // 2)[...] = chroma[..., 1]
        return av.VideoFrame.from_ndarray(out.reshape(h * 3 // 2, w), format=self.pix)


def yuv_frames(images: torch.Tensor, order: list[int], pad: tuple[int, int], pix: str) -> Iterator:
    """BT.709 limited-range frames in ``pix``, in ``order``.

    One worker thread converts the next chunk while the encoder works on this
    one (numpy's matrix products and ufuncs release the GIL, as does libx264), so
    the conversion overlaps encoding; at most two chunks of frames exist at once.
    """
    whole = cpu_frames(images)
    converter = YuvConverter(pix)

    def convert(chunk_order):
        return converter(pad_edges(float_chunk(images, whole, chunk_order), pad))

    chunks = [order[i:i + ENCODE_CHUNK] for i in range(0, len(order), ENCODE_CHUNK)]
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="steadyframe-video")
    try:
        pending = executor.submit(convert, chunks[0])
        for k in range(len(chunks)):
            ready = pending.result()
            if k + 1 < len(chunks):
                pending = executor.submit(convert, chunks[k + 1])
            yield from ready
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
