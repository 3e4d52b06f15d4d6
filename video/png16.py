"""16-bit PNG frames with FFmpeg's PNG encoder (Pillow writes 16-bit only for grey images).

The workflow goes in ``tEXt`` chunks right after the header, as in ComfyUI's own PNGs.
"""
from __future__ import annotations

import struct
import zlib
from fractions import Fraction

import av
import numpy as np


def png16_bytes(array: np.ndarray, text: dict[str, str]) -> bytes:
    """A PNG file of ``array`` ((H, W, 3) or (H, W, 4) uint16) with ``text`` as tEXt chunks."""
    height, width, channels = array.shape
    packed, stored = ("rgb48le", "rgb48be") if channels == 3 else ("rgba64le", "rgba64be")
    encoder = av.codec.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, stored
    encoder.time_base = Fraction(1, 1)
    encoder.options = {"pred": "paeth"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=packed).reformat(format=stored)
    frame.pts = 0
    data = b"".join(bytes(p) for p in encoder.encode(frame) + encoder.encode(None))
    return _with_text(data, text) if text else data


def _with_text(png: bytes, text: dict[str, str]) -> bytes:
    # Signature (8 bytes) and IHDR (4 length + 4 type + 13 data + 4 CRC) come first.
    head = 8 + 25
    if png[12:16] != b"IHDR":
        raise ValueError("the PNG encoder did not start with an IHDR chunk")
    return png[:head] + b"".join(_text_chunk(key, value) for key, value in text.items()) + png[head:]


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt when the value is Latin-1 (JSON is ASCII), else iTXt in UTF-8, as Pillow's add_text does."""
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
