"""Video Combine's output formats: container, codec, pixel formats and quality range of each."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

import av


@dataclass(frozen=True)
class OutputFormat:
    """One choice of VideoCombine's ``format`` widget.

    ``alpha_pix``: ``(pix_fmt, pix_fmt with alpha)`` pairs; the pixel formats in which this format
    stores a mask as alpha (empty: no alpha). ``quality_option``: the encoder option that takes
    ``crf`` (None: the codec has no quality knob, crf is ignored). ``kind`` "av" writes with
    PyAV, "gif"/"webp"/"png" with Pillow (``bits`` 16: PNG with FFmpeg's encoder, which writes 16 bits).
    """

    name: str
    extension: str
    kind: str
    codec: Optional[str] = None
    container: Optional[str] = None
    pix_fmts: tuple = ()
    audio_codec: Optional[str] = None
    crf_range: tuple = (0, 51)
    options: tuple = ()
    alpha_pix: tuple = ()
    quality_option: Optional[str] = "crf"
    hardware: bool = False
    bits: int = 8

    @property
    def animated_preview(self) -> bool:
        return self.kind in ("av", "webp")

    @property
    def has_alpha(self) -> bool:
        return bool(self.alpha_pix) or self.kind in ("gif", "webp", "png")

    def alpha_pix_fmt(self, pix: str) -> Optional[str]:
        """The pixel format that stores ``pix`` plus alpha, or None when this format cannot with ``pix``."""
        return dict(self.alpha_pix).get(pix)


def _prores(name: str, profile: int, pix: str, alpha_pix: tuple = ()) -> OutputFormat:
    # prores_ks profiles: 0 proxy, 1 LT, 2 standard, 3 HQ, 4 4444 (the stream is tagged apco..ap4h).
    # ProRes has no crf: the profile sets the data rate. The mov muxer takes PCM audio.
    return OutputFormat(name, "mov", "av", "prores_ks", "mov", (pix,), "pcm_s16le", (0, 63),
                        (("profile", str(profile)), ("vendor", "apl0")), alpha_pix, quality_option=None)


def _nvenc(name: str, codec: str, pix_fmts: tuple) -> OutputFormat:
    # Constant quality (NVENC's crf): variable rate with a cq target and no bitrate cap.
    return OutputFormat(name, "mp4", "av", codec, "mp4", pix_fmts, "aac", (0, 51),
                        (("preset", "p5"), ("rc", "vbr"), ("b", "0")), quality_option="cq", hardware=True)


FORMATS = (
    OutputFormat("h264-mp4", "mp4", "av", "libx264", "mp4", ("yuv420p", "yuv420p10le", "yuv444p"), "aac",
                 (0, 51), (("preset", "medium"),)),
    OutputFormat("h265-mp4", "mp4", "av", "libx265", "mp4", ("yuv420p", "yuv420p10le", "yuv444p"), "aac",
                 (0, 51), (("preset", "medium"), ("x265-params", "log-level=error"), ("tag", "hvc1"))),
    # libvpx-vp9 codes alpha as a second stream that WebM keeps in BlockAdditional (alpha_mode=1).
    OutputFormat("vp9-webm", "webm", "av", "libvpx-vp9", "webm", ("yuv420p", "yuv420p10le", "yuv444p"), "libopus",
                 (0, 63), (("b", "0"), ("row-mt", "1"), ("deadline", "good"), ("cpu-used", "4")),
                 (("yuv420p", "yuva420p"),)),
    OutputFormat("av1-webm", "webm", "av", "libsvtav1", "webm", ("yuv420p10le", "yuv420p"), "libopus",
                 (0, 63), (("preset", "8"), ("svtav1-params", "lp=2"))),
    OutputFormat("gif", "gif", "gif"),
    OutputFormat("webp", "webp", "webp", crf_range=(0, 100)),
    OutputFormat("png-sequence", "png", "png"),
    # Appended after the formats saved workflows know; the combo only gains choices.
    _prores("prores-proxy-mov", 0, "yuv422p10le"),
    _prores("prores-lt-mov", 1, "yuv422p10le"),
    _prores("prores-mov", 2, "yuv422p10le"),
    _prores("prores-hq-mov", 3, "yuv422p10le"),
    _prores("prores-4444-mov", 4, "yuv444p10le", (("yuv444p10le", "yuva444p10le"),)),
    # Lossless RGB (bgr0: 8 bits, gbrp16le: 16 bits per channel), FFV1 version 3 with slice CRCs.
    OutputFormat("ffv1-mkv", "mkv", "av", "ffv1", "matroska", ("bgr0", "gbrp16le"), "flac", (0, 63),
                 (("level", "3"), ("slicecrc", "1"), ("g", "1")), (("bgr0", "bgra"), ("gbrp16le", "gbrap16le")),
                 quality_option=None),
    OutputFormat("png16-sequence", "png", "png", "png", bits=16),
    _nvenc("h264-nvenc-mp4", "h264_nvenc", ("yuv420p", "yuv444p")),
    _nvenc("hevc-nvenc-mp4", "hevc_nvenc", ("yuv420p", "yuv444p")),
    _nvenc("av1-nvenc-mp4", "av1_nvenc", ("yuv420p",)),
)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}
# Appended choices: the ProRes and FFV1 pixel formats (auto picks each format's first).
PIX_FMT_CHOICES = ("auto", "yuv420p", "yuv420p10le", "yuv444p", "yuv422p10le", "yuv444p10le", "bgr0", "gbrp16le")


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # PyAV raises different errors for unknown and missing codecs
        return False
    return True


@functools.cache
def encoder_opens(name: str, pix: str = "yuv420p") -> bool:
    """Whether the encoder ``name`` opens and codes a frame on this machine (checked once per process).

    Hardware encoders (NVENC) are in every PyAV wheel but need a GPU and its driver at run time:
    only trying them tells. 256x256: above NVENC's minimum frame size.
    """
    if not _has_encoder(name):
        return False
    try:
        ctx: Any = av.codec.CodecContext.create(name, "w")  # a VideoCodecContext
        ctx.width = ctx.height = 256
        ctx.pix_fmt = pix
        ctx.time_base = Fraction(1, 25)
        ctx.open()
        frame = av.VideoFrame(256, 256, pix)
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
    except Exception:  # no device, no driver, or a driver too old: FFmpeg says so in different ways
        return False
    return True


def _usable(fmt: OutputFormat) -> bool:
    if fmt.codec is None:
        return True
    if fmt.hardware:
        return encoder_opens(fmt.codec)
    return _has_encoder(fmt.codec)


def available_formats() -> list[str]:
    """Format names this PyAV build (and, for NVENC, this machine) can write."""
    return [f.name for f in FORMATS if _usable(f)]


def output_format(name: str) -> OutputFormat:
    """The format called ``name``; a ValueError when it is unknown or cannot be written here."""
    fmt = FORMATS_BY_NAME.get(name)
    if fmt is None:
        raise ValueError(f"unknown video format {name!r}; choose one of {', '.join(available_formats())}")
    if name not in available_formats():
        where = "this machine (no usable GPU or driver)" if fmt.hardware else "this PyAV build"
        raise ValueError(f"format {name!r} needs the {fmt.codec} encoder, which {where} lacks")
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
