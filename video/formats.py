"""Video Combine's output formats: container, codec, pixel formats and quality range of each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import av


@dataclass(frozen=True)
class OutputFormat:
    """One choice of VideoCombine's ``format`` widget."""

    name: str
    extension: str
    kind: str  # "av" (PyAV container), "gif", "webp" or "png" (Pillow)
    codec: Optional[str] = None
    container: Optional[str] = None
    pix_fmts: tuple = ()
    audio_codec: Optional[str] = None
    crf_range: tuple = (0, 51)
    options: tuple = ()

    @property
    def animated_preview(self) -> bool:
        return self.kind in ("av", "webp")


FORMATS = (
    OutputFormat("h264-mp4", "mp4", "av", "libx264", "mp4", ("yuv420p", "yuv420p10le", "yuv444p"), "aac",
                 (0, 51), (("preset", "medium"),)),
    OutputFormat("h265-mp4", "mp4", "av", "libx265", "mp4", ("yuv420p", "yuv420p10le", "yuv444p"), "aac",
                 (0, 51), (("preset", "medium"), ("x265-params", "log-level=error"), ("tag", "hvc1"))),
    OutputFormat("vp9-webm", "webm", "av", "libvpx-vp9", "webm", ("yuv420p", "yuv420p10le", "yuv444p"), "libopus",
                 (0, 63), (("b", "0"), ("row-mt", "1"), ("deadline", "good"), ("cpu-used", "4"))),
    OutputFormat("av1-webm", "webm", "av", "libsvtav1", "webm", ("yuv420p10le", "yuv420p"), "libopus",
                 (0, 63), (("preset", "8"), ("svtav1-params", "lp=2"))),
    OutputFormat("gif", "gif", "gif"),
    OutputFormat("webp", "webp", "webp", crf_range=(0, 100)),
    OutputFormat("png-sequence", "png", "png"),
)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}
PIX_FMT_CHOICES = ("auto", "yuv420p", "yuv420p10le", "yuv444p")


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # PyAV raises different errors for unknown and missing codecs
        return False
    return True


def available_formats() -> list[str]:
    """Format names this PyAV build can write (AV1 only when it has an AV1 encoder)."""
    return [f.name for f in FORMATS if f.codec is None or _has_encoder(f.codec)]


def output_format(name: str) -> OutputFormat:
    """The format called ``name``; a ValueError when it is unknown or this PyAV build cannot write it."""
    fmt = FORMATS_BY_NAME.get(name)
    if fmt is None:
        raise ValueError(f"unknown video format {name!r}; choose one of {', '.join(available_formats())}")
    if name not in available_formats():
        raise ValueError(f"format {name!r} needs the {fmt.codec} encoder, which this PyAV build lacks")
    return fmt


def resolve_pix_fmt(fmt: OutputFormat, pix_fmt: str) -> str:
    """The pixel format to encode with: the format's first for ``auto``, else ``pix_fmt`` if it supports it."""
    if pix_fmt == "auto":
        return fmt.pix_fmts[0]
    if pix_fmt not in fmt.pix_fmts:
        raise ValueError(f"pix_fmt {pix_fmt!r} is not supported by {fmt.name}; use one of {', '.join(fmt.pix_fmts)}")
    return pix_fmt


def even_padding(width: int, height: int) -> tuple[int, int]:
    """Pixels added right and bottom so 4:2:0 codecs get even sizes."""
    return width % 2, height % 2
