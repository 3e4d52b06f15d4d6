"""Writing an IMAGE tensor to a video, animated image or PNG sequence, atomically, with the workflow embedded.

Every file is written under a hidden temporary name in its final folder and renamed when
complete, so a failed or interrupted write leaves nothing behind.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import av
import numpy as np
import torch

from .alpha import alpha_chunks, mask_to_alpha
from .audio import AudioMuxer
from .chunks import uint8_chunks
from .formats import OutputFormat, output_format, resolve_pix_fmt
from .pixel_frames import integer_chunks, swscale_frames
from .png16 import png16_bytes
from .rates import exact_rate
from .yuv import tag_bt709_limited, yuv_frames

log = logging.getLogger(__name__)

#: What yuv.YuvConverter writes itself; other pixel formats go through swscale (pixel_frames).
_CONVERTER_PIX = ("yuv420p", "yuv420p10le", "yuv444p")


@dataclass
class EncodeResult:
    path: str
    frame_count: int
    width: int
    height: int
    files: list = field(default_factory=list)  # the frame files of a PNG sequence


def frame_order(count: int, pingpong: bool = False, repeats: int = 1) -> list[int]:
    """Indices of the input frames in output order.

    ``pingpong`` appends the frames backwards without repeating either end, so a
    looping player never shows a frame twice in a row; ``repeats`` plays the
    whole sequence that many times.
    """
    order = list(range(count))
    if pingpong and count > 2:
        order += list(range(count - 2, 0, -1))
    return order * max(1, repeats)


def written_order(fmt: OutputFormat, count: int, pingpong: bool = False, loop_count: int = 0) -> list[int]:
    """Indices of the input frames in the order ``fmt`` writes them.

    Video formats and PNG sequences play the frames ``loop_count`` more times; GIF and
    WebP store the loop count in the file instead.
    """
    return frame_order(count, pingpong, loop_count + 1 if fmt.kind in ("av", "png") else 1)


def encode_video(images: torch.Tensor, path: str, format_name: str, frame_rate, crf: int = 19,
                 pix_fmt: str = "auto", loop_count: int = 0, pingpong: bool = False,
                 audio: Optional[dict] = None, metadata: Optional[dict] = None,
                 on_frame: Optional[Callable[[int], None]] = None, mask: Optional[torch.Tensor] = None) -> EncodeResult:
    """Write ``images`` (F, H, W, C float 0..1) to ``path`` atomically.

    ``loop_count``: extra plays for video codecs (the frames are repeated), the
    loop count stored in the file for GIF/WebP (0 = forever). ``metadata``: tag
    name to JSON-able value, written as JSON text. ``audio``: a core AUDIO dict,
    cut or padded with silence to the video length (video formats only).
    ``on_frame(n)`` runs after each frame is written and may raise to abort; the
    partial file is then removed. ``mask``: ComfyUI MASK (F, H, W) or one (H, W) for all
    frames, 1 = transparent; written as alpha = 1 - mask where the format stores alpha (see
    :func:`alpha_support`), ignored with a warning elsewhere.
    """
    fmt = output_format(format_name)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be (frames, height, width, 3) with at least one frame, got {tuple(images.shape)}")
    rate = exact_rate(frame_rate)
    lo, hi = fmt.crf_range
    if not lo <= crf <= hi:
        raise ValueError(f"crf {crf} is outside {lo}..{hi} for {format_name}")
    if loop_count < 0:
        raise ValueError(f"loop_count must be >= 0, got {loop_count}")
    order = written_order(fmt, images.shape[0], pingpong, loop_count)
    alpha = None
    if mask is not None:
        alpha = mask_to_alpha(mask, *images.shape[:3])
        refused = alpha_support(fmt, pix_fmt)
        if refused:
            log.warning("SteadyFrame Video Combine: %s; the mask is ignored", refused)
            alpha = None
    if fmt.kind == "png" and os.path.exists(path):
        raise ValueError(f"{path} already exists; a PNG sequence is written into a new folder")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.partial")
    writer = {"av": _write_av, "gif": _write_gif, "webp": _write_webp, "png": _write_png_sequence}[fmt.kind]
    if fmt.kind == "png" and fmt.bits > 8:
        writer = _write_png16_sequence
    try:
        result = writer(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata or {}, on_frame,
                        alpha)
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise
    result.path = path
    if result.files:
        result.files = [os.path.join(path, os.path.basename(f)) for f in result.files]
    return result


def alpha_support(fmt: OutputFormat, pix_fmt: str = "auto") -> str:
    """Empty when ``fmt`` with ``pix_fmt`` stores alpha, else why not (for the warning)."""
    if fmt.kind != "av":
        return ""  # gif (1-bit), webp and png always can
    if not fmt.alpha_pix:
        return f"{fmt.name} cannot store alpha (use vp9-webm, prores-4444-mov, ffv1-mkv, png, webp or gif)"
    pix = resolve_pix_fmt(fmt, pix_fmt)
    if fmt.alpha_pix_fmt(pix) is None:
        usable = ", ".join(p for p, _ in fmt.alpha_pix)
        return f"{fmt.name} stores alpha only with pix_fmt {usable} (or auto), not {pix}"
    return ""


def _padding(pix: str, width: int, height: int) -> tuple[int, int]:
    """Pixels added right and bottom so subsampled chroma gets even sizes (4:2:0 both, 4:2:2 width)."""
    if pix.startswith(("yuv420", "yuva420", "nv12", "p010")):
        return width % 2, height % 2
    if pix.startswith(("yuv422", "yuva422")):
        return width % 2, 0
    return 0, 0


def _remove(path: str) -> None:
    if os.path.isdir(path):
        for name in os.listdir(path):
            os.remove(os.path.join(path, name))
        os.rmdir(path)
    elif os.path.exists(path):
        os.remove(path)


# Every writer takes the same arguments (the ones a format does not use are ignored) and
# returns an EncodeResult for ``partial``.

def _write_av(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame, alpha):
    height, width = images.shape[1:3]
    pix = resolve_pix_fmt(fmt, pix_fmt)
    if alpha is not None:
        pix = fmt.alpha_pix_fmt(pix)
    pad = _padding(pix, width, height)
    out_w, out_h = width + pad[0], height + pad[1]
    options = {"movflags": "use_metadata_tags"} if fmt.container == "mp4" else {}
    with av.open(partial, mode="w", format=fmt.container, options=options) as container:
        for key, value in metadata.items():
            container.metadata[key] = value if isinstance(value, str) else json.dumps(value)
        stream = container.add_stream(fmt.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, pix
        opts = dict(fmt.options)
        if fmt.quality_option:
            opts[fmt.quality_option] = str(crf)
        tag = opts.pop("tag", None)
        if tag:
            stream.codec_tag = tag
        stream.options = opts
        ctx = stream.codec_context
        if not av.VideoFormat(pix).is_rgb:  # RGB (FFV1) stays untagged: no matrix to name
            tag_bt709_limited(ctx)
        # Frame and slice threads, as the ffmpeg command line asks for; PyAV's default (slice
        # threads only) makes libx264 use sliced threading, which is slower.
        ctx.thread_type = "AUTO"
        muxer = AudioMuxer(container, fmt.audio_codec, audio, Fraction(len(order)) / rate) if audio is not None else None
        try:
            if pix in _CONVERTER_PIX:
                frames = yuv_frames(images, order, pad, pix)
            else:
                frames = swscale_frames(images, alpha, order, pad, pix)
            for n, frame in enumerate(frames):
                frame.pts = n
                frame.time_base = 1 / rate
                for packet in stream.encode(frame):
                    container.mux(packet)
                if muxer is not None:
                    muxer.write_until(Fraction(n + 1) / rate)
                if on_frame is not None:
                    on_frame(n + 1)
            for packet in stream.encode(None):
                container.mux(packet)
            if muxer is not None:
                muxer.finish()
        except av.FFmpegError as exc:
            raise RuntimeError(f"{fmt.name}: the {fmt.codec} encoder failed at {out_w}x{out_h} {pix}: {exc}") from exc
    return EncodeResult(partial, len(order), out_w, out_h)


def _gif_durations_ms(count: int, rate: Fraction) -> list[int]:
    """Per-frame GIF delays (whole centiseconds, in ms) whose running sum tracks ``k / rate``."""
    ticks = [round(Fraction(100 * k) / rate) for k in range(count + 1)]
    return [max(1, ticks[k + 1] - ticks[k]) * 10 for k in range(count)]


def _uint8_frames(images, order, alpha):
    """(H, W, 3) uint8 frames, or (H, W, 4) RGBA with ``alpha``."""
    if alpha is None:
        return uint8_chunks(images, order)
    return (np.dstack([rgb, a]) for rgb, a in zip(uint8_chunks(images, order), alpha_chunks(alpha, order, 255)))


def _pil_frames(images, order, on_frame, convert, alpha=None):
    for n, array in enumerate(_uint8_frames(images, order, alpha)):
        yield convert(array)
        if on_frame is not None:
            on_frame(n + 1)


#: The palette index GIF frames with a mask use for transparent pixels (colours get the other 255).
_GIF_CLEAR = 255


def _write_gif(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame, alpha):
    from PIL import Image

    # An adaptive palette per frame (1 byte per pixel kept until the file is written).
    def to_palette(array):
        colours = 256 if array.shape[-1] == 3 else _GIF_CLEAR
        image = Image.fromarray(np.ascontiguousarray(array[..., :3])).quantize(
            colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        if array.shape[-1] == 4:
            # GIF alpha is 1 bit: pixels at least half transparent become the clear index.
            indices = np.array(image)
            indices[array[..., 3] < 128] = _GIF_CLEAR
            palette = image.getpalette()[:3 * _GIF_CLEAR]
            image = Image.fromarray(indices, mode="P")
            image.putpalette(palette + [0, 0, 0])
            image.info["transparency"] = _GIF_CLEAR
        return image

    frames = list(_pil_frames(images, order, on_frame, to_palette, alpha))
    extra = {"comment": json.dumps(metadata)} if metadata else {}
    if alpha is not None:
        # Each frame replaces the last (disposal 2, background = clear), so transparent pixels show
        # what is behind the GIF, not the previous frame.
        extra.update(transparency=_GIF_CLEAR, background=_GIF_CLEAR)
    frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:], loop=loop_count,
                   duration=_gif_durations_ms(len(frames), rate), disposal=1 if alpha is None else 2,
                   optimize=False, **extra)
    return EncodeResult(partial, len(frames), frames[0].width, frames[0].height)


def _write_webp(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame, alpha):
    from PIL import Image

    frames = list(_pil_frames(images, order, on_frame, Image.fromarray, alpha))
    exif = Image.Exif()
    # Core's SaveAnimatedWEBP layout: "prompt:<json>" in Model (0x0110), every other
    # key as "key:<json>" from Make (0x010F) downwards; the frontend reads it there.
    others = [(k, v) for k, v in metadata.items() if k != "prompt"]
    if "prompt" in metadata:
        exif[0x0110] = "prompt:" + _json_text(metadata["prompt"])
    for tag, (key, value) in zip(range(0x010F, 0x010F - len(others), -1), others):
        exif[tag] = f"{key}:{_json_text(value)}"
    ticks = [round(Fraction(1000 * k) / rate) for k in range(len(frames) + 1)]
    durations = [max(1, ticks[k + 1] - ticks[k]) for k in range(len(frames))]
    frames[0].save(partial, format="WEBP", save_all=True, append_images=frames[1:], loop=loop_count,
                   duration=durations, lossless=crf == 0, quality=100 - crf if crf else 100, method=4,
                   exif=exif)
    return EncodeResult(partial, len(frames), frames[0].width, frames[0].height)


def _json_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _write_png_sequence(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame,
                        alpha):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    os.makedirs(partial)
    files = []
    for n, array in enumerate(_uint8_frames(images, order, alpha)):
        info = None
        if n == 0 and metadata:  # the first frame carries the workflow, like a ComfyUI image
            info = PngInfo()
            for key, value in metadata.items():
                info.add_text(key, value if isinstance(value, str) else json.dumps(value))
        name = os.path.join(partial, f"frame_{n + 1:05}.png")
        Image.fromarray(array).save(name, format="PNG", pnginfo=info, compress_level=4)
        files.append(name)
        if on_frame is not None:
            on_frame(n + 1)
    return EncodeResult(partial, len(files), images.shape[2], images.shape[1], files)


def _write_png16_sequence(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame,
                          alpha):
    os.makedirs(partial)
    files = []
    for n, array in enumerate(integer_chunks(images, alpha, order, deep=True)):
        # the first frame carries the workflow, like a ComfyUI image
        text = {k: _json_text(v) for k, v in metadata.items()} if n == 0 else {}
        name = os.path.join(partial, f"frame_{n + 1:05}.png")
        with open(name, "wb") as file:
            file.write(png16_bytes(array, text))
        files.append(name)
        if on_frame is not None:
            on_frame(n + 1)
    return EncodeResult(partial, len(files), images.shape[2], images.shape[1], files)
