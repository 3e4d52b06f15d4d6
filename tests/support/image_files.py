"""Image files for the Load Images tests: 16-bit PNG/TIFF through PyAV (Pillow writes only 8-bit colour),
and EXIF orientation added to a PNG."""
import struct
import zlib

import av
import numpy as np
from PIL import Image

# PyAV pixel formats by channel count, little-endian arrays in; the encoders store them big-endian.
_DEEP_FORMATS = {1: "gray16le", 3: "rgb48le", 4: "rgba64le"}


def write_16bit(path: str, pixels: np.ndarray, codec: str = "png") -> None:
    """Write ``pixels`` ((H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint16) as one 16-bit PNG or TIFF."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    fmt = _DEEP_FORMATS[channels]
    stored = fmt.replace("le", "be") if codec == "png" else fmt
    with av.open(path, "w", format="image2") as container:
        stream = container.add_stream(codec, rate=1)
        stream.height, stream.width = pixels.shape[:2]
        stream.pix_fmt = stored
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels.astype(np.uint16)), format=fmt)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def add_png_orientation(path: str, orientation: int) -> None:
    """Insert an eXIf chunk with EXIF ``orientation`` right after a PNG's IHDR."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()
    if data.startswith(b"Exif\x00\x00"):
        data = data[6:]
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    raw = open(path, "rb").read()
    ihdr_end = 8 + 4 + 4 + 13 + 4
    with open(path, "wb") as out:
        out.write(raw[:ihdr_end] + chunk + raw[ihdr_end:])


def level_image(level: int, size=(8, 6), mode: str = "RGB") -> Image.Image:
    """A flat 8-bit image whose value ``level`` identifies it (``size`` is width, height)."""
    return Image.new(mode, size, (level,) * len(mode))
