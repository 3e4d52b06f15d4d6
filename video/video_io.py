"""Video decoding and encoding with PyAV, shared by the video nodes.

Nothing here imports ComfyUI, so it runs (and is tested) without it. The node
classes in ``video_nodes.py`` add folders, progress bars and interruption by
passing callbacks.

Conventions:
- ``images``: (F, H, W, C) float 0..1 torch tensors, C = 3 (or 4: alpha is dropped).
- Frame rates are exact :class:`fractions.Fraction` values (29.97 is 30000/1001).
- Colour: YUV is BT.709 limited range on write; on read the file's own tags are
  honoured (untagged files: BT.709 from 720 lines up, BT.601 below, as players do).
- Every file is written under a hidden temporary name in its final folder and
  renamed when complete, so a failed or interrupted write leaves nothing behind.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# Reading (and resizing): full-resolution chroma plus accurate rounding; swscale's
# defaults shift the mean colour by about 1/255 and cost several dB of PSNR.
# (Writing converts float RGB to YUV itself: see _YuvConverter.)
_COLOUR_FLAGS = Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP

# AVColorSpace values (libavutil/pixfmt.h) that swscale can convert from.
_AVCOL_SPC_BT709 = 1
_AVCOL_SPC_BT470BG = 5  # BT.601
_YUV_FORMAT_PREFIXES = ("yuv", "nv1", "nv2", "p01", "p21")  # yuv*/yuvj*, nv12/nv21, p010/p016/p210...
_AVCOL_RANGE_JPEG = 2
_KNOWN_COLORSPACES = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.SMPTE170M,
                      7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}

#: Extensions the loader lists from the input folder.
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi", ".gif", ".webp")

#: Frames converted from float per chunk while encoding (bounds the extra memory).
ENCODE_CHUNK = 16
#: Decoded frames that may wait for RGB conversion while loading.
_CONVERT_AHEAD = 8

ProgressCallback = Optional[Callable[[int], None]]


# --------------------------------------------------------------------------- rates

def exact_rate(value) -> Fraction:
    """The exact frame rate a user means by ``value``.

    29.97, 59.94 and 23.976 (and every other ``n * 1000/1001`` rate) snap to the
    NTSC fraction; other values are exact to 1/1000 (the precision core uses).
    """
    if isinstance(value, Fraction):
        rate = value
    else:
        x = float(value)
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"frame rate must be a positive number, got {value!r}")
        ntsc = round(x * 1.001)
        if abs(x - round(x)) > 0.005 and abs(x - ntsc * Fraction(1000, 1001)) < 0.0051:
            rate = Fraction(ntsc * 1000, 1001)
        else:
            rate = Fraction(round(x * 1000), 1000)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {value!r}")
    return rate


# --------------------------------------------------------------------------- frame selection

@dataclass(frozen=True)
class FrameSelection:
    """Which frames LoadVideo returns, in VideoHelperSuite's order of operations.

    ``force_rate`` (None = keep the source timing) resamples first; then
    ``skip_first_frames`` drops from the start of the resampled sequence, then
    every ``select_every_nth`` frame is kept, up to ``frame_load_cap`` (0 = all).
    """

    force_rate: Optional[Fraction] = None
    skip_first_frames: int = 0
    select_every_nth: int = 1
    frame_load_cap: int = 0

    def __post_init__(self):
        if self.skip_first_frames < 0:
            raise ValueError(f"skip_first_frames must be >= 0, got {self.skip_first_frames}")
        if self.select_every_nth < 1:
            raise ValueError(f"select_every_nth must be >= 1, got {self.select_every_nth}")
        if self.frame_load_cap < 0:
            raise ValueError(f"frame_load_cap must be >= 0 (0 = all), got {self.frame_load_cap}")

    def keeps(self, index: int) -> bool:
        """Whether frame ``index`` of the (resampled) sequence is returned."""
        offset = index - self.skip_first_frames
        if offset < 0 or offset % self.select_every_nth:
            return False
        return self.frame_load_cap == 0 or offset // self.select_every_nth < self.frame_load_cap

    def last_index(self) -> Optional[int]:
        """Index of the last frame that can be returned (None when uncapped)."""
        if self.frame_load_cap == 0:
            return None
        return self.skip_first_frames + (self.frame_load_cap - 1) * self.select_every_nth

    def output_rate(self, source_rate: Fraction) -> Fraction:
        """Frame rate of the returned frames."""
        return (self.force_rate or source_rate) / self.select_every_nth


def resample_to_rate(times: Sequence[Fraction], end_time: Fraction, rate: Fraction,
                     tolerance: Fraction = Fraction(0)) -> list[int]:
    """Source frame shown at each tick of a constant ``rate`` clock.

    ``times``: presentation times of the source frames (seconds, ascending, the
    first is the origin). Output frame k shows the latest source frame whose time
    is at or before ``k / rate`` (within ``tolerance``, one container tick, which
    absorbs millisecond rounding of timestamps); ticks run while ``k / rate`` is
    before ``end_time`` (the end of the last frame).
    """
    picks = []
    stepper = _RateStepper(rate, tolerance)
    for source_index, t in enumerate(times):
        picks.extend(source_index - 1 for _ in stepper.ticks_before(t - times[0]))
    picks.extend(len(times) - 1 for _ in stepper.ticks_until_end(end_time - times[0]))
    return picks


class _RateStepper:
    """Walks the ticks ``k / rate`` of an output clock (exact fractions)."""

    def __init__(self, rate: Fraction, tolerance: Fraction):
        self.rate = rate
        self.tolerance = tolerance
        self.next_tick = 0

    def ticks_before(self, t: Fraction) -> Iterator[int]:
        """Ticks that the frame starting at ``t`` does not cover (shown by the previous frame)."""
        while self.next_tick / self.rate + self.tolerance < t:
            yield self.next_tick
            self.next_tick += 1

    def ticks_until_end(self, end: Fraction) -> Iterator[int]:
        while self.next_tick / self.rate < end - self.tolerance:
            yield self.next_tick
            self.next_tick += 1


# --------------------------------------------------------------------------- paths

def resolve_inside(name: str, base_dir: str) -> str:
    """Absolute path of ``name`` under ``base_dir``; refuses anything that escapes it.

    Absolute paths, ``..`` segments and symlinks that lead out of ``base_dir`` are
    refused with a ValueError, as is a missing file.
    """
    if not name or "\x00" in name:
        raise ValueError(f"video file name {name!r} is empty or invalid")
    if os.path.isabs(name):
        raise ValueError(f"video file {name!r}: absolute paths are refused; put the file in {base_dir}")
    base = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(base, name))
    if os.path.commonpath((base, path)) != base:
        raise ValueError(f"video file {name!r} resolves to {path}, outside the folder {base}; refused")
    if not os.path.isfile(path):
        raise ValueError(f"video file {name!r} not found in {base}")
    return path


# --------------------------------------------------------------------------- probing

@dataclass
class VideoInfo:
    """What a file says about itself (cheap: no frame is decoded)."""

    width: int
    height: int
    frame_rate: Fraction
    frame_count: int
    duration: float
    has_audio: bool
    metadata: dict = field(default_factory=dict)


def probe(path: str) -> VideoInfo:
    """Size, rate, frame count (as the container declares it) and metadata of a video file."""
    if _is_animated_webp(path):
        return _probe_webp(path)
    with _open_input(path) as container:
        return probe_container(path, container, _video_stream(container, path))


def read_metadata(path: str, container=None) -> dict:
    """Embedded ``prompt``/``workflow`` (JSON decoded) and other tags, keys lower-cased.

    Reads container tags (mp4/mov/webm/mkv), the GIF comment, WebP EXIF in core's
    ``workflow:...`` form, and PNG text chunks.
    """
    lower = path.lower()
    if lower.endswith(".png"):
        return _decode_tags(_png_text(path))
    if lower.endswith(".webp"):
        return _decode_tags(_webp_exif_tags(path))
    if container is None:
        with _open_input(path) as opened:
            return read_metadata(path, opened)
    tags = {k.lower(): v for k, v in container.metadata.items()}
    if lower.endswith(".gif") and "comment" in tags:
        try:
            bundle = json.loads(tags["comment"])
        except ValueError:
            bundle = None
        if isinstance(bundle, dict):
            tags.pop("comment")
            tags.update({k: json.dumps(v) for k, v in bundle.items()})
    return _decode_tags(tags)


def _decode_tags(tags: dict) -> dict:
    out = {}
    for key, value in tags.items():
        if isinstance(value, str) and value.startswith(("{", "[")):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key.lower()] = value
    return out


# --------------------------------------------------------------------------- decoding

@dataclass
class LoadedVideo:
    """Frames returned by :func:`load_video`.

    ``images``: (F, H, W, 3) float 0..1. ``start_time``/``end_time``: seconds from the
    first source frame covered by the returned frames (for cutting the audio).
    ``decoded_frames``: how many source frames were decoded to produce them.
    """

    images: torch.Tensor
    frame_rate: Fraction
    source: VideoInfo
    start_time: Fraction
    end_time: Fraction
    decoded_frames: int


def output_size(width: int, height: int, custom_width: int, custom_height: int) -> tuple[int, int]:
    """Size after LoadVideo's custom_width/custom_height (0 = keep).

    With both set the size is exact; with one set the other keeps the aspect ratio
    and is rounded to a multiple of 8 (what SD latents need), at least 8.
    """
    if custom_width < 0 or custom_height < 0:
        raise ValueError(f"custom_width/custom_height must be >= 0, got {custom_width}x{custom_height}")
    def to_multiple_of_8(value: Fraction) -> int:
        return max(8, math.floor(value / 8 + Fraction(1, 2)) * 8)  # halves round up, not to even

    if custom_width and custom_height:
        return custom_width, custom_height
    if custom_width:
        return custom_width, to_multiple_of_8(Fraction(height * custom_width, width))
    if custom_height:
        return to_multiple_of_8(Fraction(width * custom_height, height)), custom_height
    return width, height


def load_video(path: str, selection: FrameSelection = FrameSelection(), custom_width: int = 0,
               custom_height: int = 0, on_frame: ProgressCallback = None,
               on_decode: Optional[Callable[[], None]] = None) -> LoadedVideo:
    """Decode the selected frames of ``path`` as a float tensor.

    Streams: only kept frames are converted to RGB and stored (as 8-bit until
    the end), and decoding stops after the last frame that ``frame_load_cap``
    allows. ``on_frame(n)`` is called after each returned frame (progress),
    ``on_decode()`` after every decoded source frame, skipped ones included
    (interruption checks during long skips).
    """
    if _is_animated_webp(path):
        return _load_webp(path, selection, custom_width, custom_height, on_frame)
    with _open_input(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        source = probe_container(path, container, stream)
        is_gif = container.format.name == "gif"
        size = output_size(source.width, source.height, custom_width, custom_height)
        kept: list = []  # 8-bit RGB arrays, or futures of them while a worker converts
        kept_times: list[Fraction] = []
        decoded = _DecodeCounter(on_decode)
        end_time = Fraction(0)
        # Decoding (this thread) and colour conversion (one worker; swscale releases the
        # GIL) overlap. At most _CONVERT_AHEAD decoded frames wait for conversion.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="steadyframe-video") as executor:
            oldest = 0
            for _index, t, frame, frame_end in _selected_frames(container, stream, selection, path, decoded):
                kept.append(executor.submit(_frame_to_rgb, frame, size))
                while len(kept) - oldest > _CONVERT_AHEAD:
                    kept[oldest] = kept[oldest].result()
                    oldest += 1
                kept_times.append(t)
                end_time = frame_end
                if on_frame is not None:
                    on_frame(len(kept))
            for i in range(oldest, len(kept)):
                kept[i] = kept[i].result()
    if not kept:
        raise ValueError(
            f"{path}: no frame selected (source has about {source.frame_count} frames; "
            f"skip_first_frames={selection.skip_first_frames}, select_every_nth={selection.select_every_nth}, "
            f"force_rate={float(selection.force_rate or 0)})")
    rate = selection.output_rate(source.frame_rate)
    if is_gif and not selection.force_rate and end_time > kept_times[0]:
        # GIF delays are whole 1/100 s, so FFmpeg's rate guess is often off (8 fps reads as
        # 8.33); the frames actually cover this span.
        rate = exact_rate(float(len(kept) / (end_time - kept_times[0])))
    return LoadedVideo(_stack_uint8(kept), rate, source, kept_times[0], end_time, decoded.count)


def probe_container(path: str, container, stream) -> VideoInfo:
    """:func:`probe` on an open container."""
    rate = _stream_rate(stream)
    duration = float(container.duration / av.time_base) if container.duration else 0.0
    frames = int(stream.frames) if stream.frames else int(round(duration * rate))
    return VideoInfo(stream.codec_context.width, stream.codec_context.height, rate, frames, duration,
                     bool(container.streams.audio), read_metadata(path, container))


#: With force_rate, skips shorter than this many seconds decode through instead of seeking.
SEEK_MIN_SECONDS = 1


class _DecodeCounter:
    """Counts decoded source frames and runs a callback for each."""

    def __init__(self, callback: Optional[Callable[[], None]] = None):
        self.count = 0
        self.callback = callback

    def bump(self) -> None:
        self.count += 1
        if self.callback is not None:
            self.callback()


def _selected_frames(container, stream, selection: FrameSelection, path: str, decoded: _DecodeCounter):
    """Yield ``(source_index, time, frame, end_time)`` for each kept frame, in order.

    Times are seconds from the first frame; with ``force_rate`` a source frame is
    yielded once per output tick it covers (so it may repeat or be skipped).
    ``decoded`` counts the source frames decoded. With ``force_rate`` a long
    ``skip_first_frames`` seeks to the keyframe before the first wanted time, so the
    skipped part is not decoded (source_index is then -1).
    """
    rate = _stream_rate(stream)
    time_base = Fraction(stream.time_base or Fraction(1, 1000))
    last = selection.last_index()
    nth = selection.select_every_nth
    out_index = 0
    previous = None  # (source index, time, frame)
    seek_to = None
    if selection.force_rate and selection.skip_first_frames and container.format.name != "gif":
        seek_to = selection.skip_first_frames / selection.force_rate
    stepper = _RateStepper(selection.force_rate, time_base) if selection.force_rate else None
    for source_index, t, frame in _timed_frames(container, stream, path, decoded, rate, time_base, seek_to):
        if stepper is None:
            if selection.keeps(out_index):
                # A kept frame stands for select_every_nth source frames (audio follows that span).
                yield source_index, t, frame, t + nth * _frame_duration(frame, rate, time_base)
            out_index += 1
        else:
            if source_index < 0:  # first frame after a seek: the ticks before the skip are gone
                stepper.next_tick = max(stepper.next_tick, selection.skip_first_frames)
            if previous is not None:
                for tick in stepper.ticks_before(t):
                    if selection.keeps(tick):
                        yield previous[0], tick / selection.force_rate, previous[2], (tick + nth) / selection.force_rate
                    out_index = tick + 1
                    if last is not None and out_index > last:
                        return
            previous = (source_index, t, frame)
        if last is not None and out_index > last:
            return
    if stepper is not None and previous is not None:
        end = previous[1] + _frame_duration(previous[2], rate, time_base)
        for tick in stepper.ticks_until_end(end):
            if selection.keeps(tick):
                yield previous[0], tick / selection.force_rate, previous[2], (tick + nth) / selection.force_rate
            if last is not None and tick >= last:
                return


def _timed_frames(container, stream, path, decoded, rate, time_base, seek_to=None):
    """``(source_index, seconds from the first frame, frame)`` in presentation order.

    With ``seek_to`` (seconds), after the first frame (which fixes the origin) the
    demuxer jumps to the keyframe at or before that time; frames decoded after the
    jump get source_index -1 (their index is unknown for variable-rate files). If
    the jump lands after the target or the frames lack timestamps, decoding goes
    back to the start instead, so the result never depends on the seek.
    """
    origin = None
    index = 0
    for frame in _decode(container, stream, path):
        decoded.bump()
        raw = _frame_time(frame, index, rate, time_base)
        if origin is None:
            origin = raw
        t = _snap_time(raw - origin, rate, time_base)
        yield index, t, frame
        index += 1
        if seek_to is not None and index == 1 and seek_to - t >= SEEK_MIN_SECONDS and frame.pts is not None:
            break
    else:
        return
    container.seek(int((origin + seek_to) / time_base), stream=stream, backward=True, any_frame=False)
    last_t = Fraction(0)
    for frame in _decode(container, stream, path):
        decoded.bump()
        if frame.pts is None or (last_t == 0 and frame.pts * time_base - origin > seek_to + time_base):
            break  # cannot place this frame: decode from the start instead
        t = _snap_time(frame.pts * time_base - origin, rate, time_base)
        if t <= last_t:
            continue
        last_t = t
        yield -1, t, frame
    else:
        return
    container.seek(0, stream=stream, backward=True, any_frame=False)
    for i, t, frame in _timed_frames(container, stream, path, decoded, rate, time_base):
        if t > last_t:
            yield i, t, frame


def _snap_time(t: Fraction, rate: Fraction, time_base: Fraction) -> Fraction:
    """``t`` on the nominal frame grid when the container only rounded it (Matroska keeps 1 ms)."""
    nominal = round(t * rate) / rate
    return nominal if abs(t - nominal) <= time_base else t


def _decode(container, stream, path):
    frame_index = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                yield frame
                frame_index += 1
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode video frame {frame_index}: {exc}") from exc


def _frame_time(frame, index: int, rate: Fraction, time_base: Fraction) -> Fraction:
    if frame.pts is None:
        return index / rate
    return frame.pts * Fraction(time_base)


def _frame_duration(frame, rate: Fraction, time_base: Fraction) -> Fraction:
    """How long a frame is shown; the nominal 1/rate when the container's value only rounds it."""
    duration = getattr(frame, "duration", None)
    if duration:
        seconds = duration * Fraction(time_base)
        if abs(seconds - 1 / rate) > Fraction(time_base):
            return seconds
    return 1 / rate


def _frame_to_rgb(frame, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded frame, scaled to ``size`` (w, h)."""
    width, height = size
    scaling = (width, height) != (frame.width, frame.height)
    # Without scaling, bilinear chroma with full-resolution interpolation and accurate
    # rounding matches the bicubic result within 4/255 (no mean shift) at twice the speed.
    interpolation = Interpolation.LANCZOS | _COLOUR_FLAGS if scaling else (
        Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.ACCURATE_RND)
    kwargs = {}
    if frame.format.name.startswith(_YUV_FORMAT_PREFIXES):
        space = frame.colorspace
        if space not in _KNOWN_COLORSPACES:  # untagged: what players assume
            space = _AVCOL_SPC_BT709 if frame.height >= 720 else _AVCOL_SPC_BT470BG
        full_range = frame.color_range == _AVCOL_RANGE_JPEG or frame.format.name.startswith("yuvj")
        kwargs = dict(src_colorspace=_KNOWN_COLORSPACES[space],
                      src_color_range=ColorRange.JPEG if full_range else ColorRange.MPEG,
                      dst_color_range=ColorRange.JPEG)
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation=interpolation, **kwargs)
    return rgb.to_ndarray()


def _stack_uint8(frames: list[np.ndarray]) -> torch.Tensor:
    """(F, H, W, 3) float 0..1, filled in place so the peak is one float copy."""
    out = torch.empty((len(frames),) + frames[0].shape, dtype=torch.float32)
    target = out.numpy()
    for i in range(len(frames)):
        # numpy: several times faster than torch's dtype-converting copy_ on CPU
        np.multiply(frames[i], np.float32(1 / 255), out=target[i])
        frames[i] = None  # release the 8-bit copy as soon as it is converted
    return out


def load_audio(path: str, start_time: Fraction, end_time: Fraction) -> Optional[dict]:
    """The first audio stream between two video times, as a core AUDIO dict.

    Times are seconds from the first video frame. Returns ``{"waveform": (1, C, S)
    float32, "sample_rate": int}``, or None when the file has no audio. Samples
    before the audio starts are zeros, so the audio stays aligned with the frames.
    """
    if _is_animated_webp(path):
        return None
    with _open_input(path) as container:
        if not container.streams.audio:
            return None
        video = _video_stream(container, path)
        origin = _first_video_time(container, video)
        audio = container.streams.audio[0]
        sample_rate = audio.codec_context.sample_rate or audio.rate
        first = int(round((origin + start_time) * sample_rate))
        wanted = int(round((end_time - start_time) * sample_rate))
        container.seek(0)
        chunks, audio_start = _decode_audio(container, audio, sample_rate, path)
    if audio_start is None:
        return None
    waveform = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    offset = first - audio_start
    if offset >= 0:
        waveform = waveform[:, offset:offset + wanted]
    else:
        waveform = np.concatenate([np.zeros((waveform.shape[0], -offset), np.float32), waveform], axis=1)[:, :wanted]
    if waveform.shape[1] < wanted:
        waveform = np.pad(waveform, ((0, 0), (0, wanted - waveform.shape[1])))
    return {"waveform": torch.from_numpy(np.ascontiguousarray(waveform)).unsqueeze(0), "sample_rate": int(sample_rate)}


def _first_video_time(container, stream) -> Fraction:
    for packet in container.demux(stream):
        for frame in packet.decode():
            if frame.pts is not None:
                return frame.pts * Fraction(stream.time_base)
            return Fraction(0)
    return Fraction(0)


def _decode_audio(container, stream, sample_rate: int, path: str):
    resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=sample_rate)
    chunks = []
    audio_start = None
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if audio_start is None:
                    audio_start = int(round(frame.pts * Fraction(stream.time_base) * sample_rate)) if frame.pts is not None else 0
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray().astype(np.float32, copy=False))
        for converted in resampler.resample(None):
            chunks.append(converted.to_ndarray().astype(np.float32, copy=False))
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode the audio stream: {exc}") from exc
    return chunks, audio_start


def _open_input(path: str):
    try:
        return av.open(path, mode="r")
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: not a readable video file ({exc})") from exc


def _video_stream(container, path: str):
    if not container.streams.video:
        raise ValueError(f"{path}: the file has no video stream")
    return container.streams.video[0]


def _stream_rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(1)


# --------------------------------------------------------------------------- animated WebP (Pillow)
# FFmpeg cannot decode animated WebP, so WebP goes through Pillow both ways.

def _is_animated_webp(path: str) -> bool:
    return path.lower().endswith(".webp")


def _webp_durations(image) -> list[int]:
    durations = []
    for i in range(getattr(image, "n_frames", 1)):
        image.seek(i)
        image.load()  # Pillow fills in the frame's duration when it decodes it
        durations.append(int(image.info.get("duration", 0)) or 100)
    return durations


def _probe_webp(path: str) -> VideoInfo:
    from PIL import Image

    with Image.open(path) as image:
        durations = _webp_durations(image)
        rate = exact_rate(1000 * len(durations) / sum(durations))
        return VideoInfo(image.width, image.height, rate, len(durations), sum(durations) / 1000, False,
                         read_metadata(path))


def _load_webp(path, selection, custom_width, custom_height, on_frame) -> LoadedVideo:
    from PIL import Image

    source = _probe_webp(path)
    size = output_size(source.width, source.height, custom_width, custom_height)
    with Image.open(path) as image:
        durations = _webp_durations(image)
        times, t = [], Fraction(0)
        for d in durations:
            times.append(t)
            t += Fraction(d, 1000)
        picks = resample_to_rate(times, t, selection.force_rate) if selection.force_rate else list(range(len(times)))
        kept, kept_times, end = [], [], Fraction(0)
        for out_index, source_index in enumerate(picks):
            if not selection.keeps(out_index):
                continue
            image.seek(source_index)
            frame = image.convert("RGB")
            if frame.size != size:
                frame = frame.resize(size, Image.Resampling.LANCZOS)
            kept.append(np.array(frame))
            if selection.force_rate:
                kept_times.append(out_index / selection.force_rate)
                end = (out_index + selection.select_every_nth) / selection.force_rate
            else:
                kept_times.append(times[source_index])
                end = times[source_index] + selection.select_every_nth * Fraction(durations[source_index], 1000)
            if on_frame is not None:
                on_frame(len(kept))
    if not kept:
        raise ValueError(f"{path}: no frame selected (the file has {len(durations)} frames)")
    return LoadedVideo(_stack_uint8(kept), selection.output_rate(source.frame_rate), source, kept_times[0], end,
                       len(durations))


def _webp_exif_tags(path: str) -> dict:
    from PIL import Image

    tags = {}
    with Image.open(path) as image:
        for value in image.getexif().values():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and ":" in value:
                key, text = value.split(":", 1)
                if key.isidentifier():
                    tags[key] = text
    return tags


def _png_text(path: str) -> dict:
    from PIL import Image

    with Image.open(path) as image:
        return {k: v for k, v in image.info.items() if isinstance(v, str)}


# --------------------------------------------------------------------------- encoding formats

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
    def needs_even_size(self) -> bool:
        return self.kind == "av"

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


def even_padding(width: int, height: int) -> tuple[int, int]:
    """Pixels added right and bottom so 4:2:0 codecs get even sizes."""
    return width % 2, height % 2


@dataclass
class EncodeResult:
    path: str
    frame_count: int
    width: int
    height: int
    files: list = field(default_factory=list)  # the frame files of a PNG sequence


def encode_video(images: torch.Tensor, path: str, format_name: str, frame_rate, crf: int = 19,
                 pix_fmt: str = "auto", loop_count: int = 0, pingpong: bool = False,
                 audio: Optional[dict] = None, metadata: Optional[dict] = None,
                 on_frame: ProgressCallback = None) -> EncodeResult:
    """Write ``images`` (F, H, W, C float 0..1) to ``path`` atomically.

    ``loop_count``: extra plays for video codecs (the frames are repeated), the
    loop count stored in the file for GIF/WebP (0 = forever). ``metadata``: tag
    name to JSON-able value, written as JSON text. ``audio``: a core AUDIO dict,
    cut or padded with silence to the video length (video formats only).
    ``on_frame(n)`` runs after each frame is written and may raise to abort; the
    partial file is then removed.
    """
    fmt = FORMATS_BY_NAME.get(format_name)
    if fmt is None:
        raise ValueError(f"unknown video format {format_name!r}; choose one of {', '.join(available_formats())}")
    if format_name not in available_formats():
        raise ValueError(f"format {format_name!r} needs the {fmt.codec} encoder, which this PyAV build lacks")
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be (frames, height, width, 3) with at least one frame, got {tuple(images.shape)}")
    rate = exact_rate(frame_rate)
    lo, hi = fmt.crf_range
    if not lo <= crf <= hi:
        raise ValueError(f"crf {crf} is outside {lo}..{hi} for {format_name}")
    if loop_count < 0:
        raise ValueError(f"loop_count must be >= 0, got {loop_count}")
    repeats = loop_count + 1 if fmt.kind in ("av", "png") else 1
    order = frame_order(images.shape[0], pingpong, repeats)
    if fmt.kind == "png" and os.path.exists(path):
        raise ValueError(f"{path} already exists; a PNG sequence is written into a new folder")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.partial")
    writer = {"av": _write_av, "gif": _write_gif, "webp": _write_webp, "png": _write_png_sequence}[fmt.kind]
    try:
        result = writer(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata or {}, on_frame)
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise
    result.path = path
    if result.files:
        result.files = [os.path.join(path, os.path.basename(f)) for f in result.files]
    return result


def _remove(path: str) -> None:
    if os.path.isdir(path):
        for name in os.listdir(path):
            os.remove(os.path.join(path, name))
        os.rmdir(path)
    elif os.path.exists(path):
        os.remove(path)


def _cpu_frames(images: torch.Tensor) -> Optional[np.ndarray]:
    """``images`` as a numpy view when it is a CPU float32 tensor (no copy), else None."""
    if images.device.type == "cpu" and images.dtype == torch.float32:
        return images.detach().numpy()
    return None


def _float_chunk(images: torch.Tensor, whole: Optional[np.ndarray], idx: list[int]) -> np.ndarray:
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


def _pad_edges(chunk: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """(F, H, W, C) frames with ``pad = (columns, rows)`` more, repeating the last column/row.

    For codecs that need even sizes; a copy of this chunk only, and none when ``pad`` is (0, 0).
    """
    if pad == (0, 0):
        return chunk
    return np.pad(chunk, ((0, 0), (0, pad[1]), (0, pad[0]), (0, 0)), mode="edge")


def _uint8_chunks(images: torch.Tensor, order: list[int], pad: tuple[int, int] = (0, 0)) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames in ``order``, converted ENCODE_CHUNK frames at a time.

    Only one chunk exists as 8-bit (and as a CPU copy, for GPU tensors) at any moment.
    The arithmetic is numpy's: on CPU it is several times faster than torch's for this.
    """
    whole = _cpu_frames(images)
    for start in range(0, len(order), ENCODE_CHUNK):
        chunk = _float_chunk(images, whole, order[start:start + ENCODE_CHUNK]) * np.float32(255)
        chunk += np.float32(0.5)
        np.clip(chunk, 0, 255, out=chunk)
        array = chunk.astype(np.uint8)
        yield from _pad_edges(array, pad)


# --------------------------------------------------------------------------- float RGB -> YUV

# BT.709 luma weights.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


class _YuvConverter:
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


def _yuv_frames(images: torch.Tensor, order: list[int], pad: tuple[int, int], pix: str) -> Iterator:
    """BT.709 limited-range frames in ``pix``, in ``order``.

    One worker thread converts the next chunk while the encoder works on this
    one (numpy's matrix products and ufuncs release the GIL, as does libx264), so
    the conversion overlaps encoding; at most two chunks of frames exist at once.
    """
    whole = _cpu_frames(images)
    converter = _YuvConverter(pix)

    def convert(chunk_order):
        return converter(_pad_edges(_float_chunk(images, whole, chunk_order), pad))

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


def _resolve_pix_fmt(fmt: OutputFormat, pix_fmt: str) -> str:
    if pix_fmt == "auto":
        return fmt.pix_fmts[0]
    if pix_fmt not in fmt.pix_fmts:
        raise ValueError(f"pix_fmt {pix_fmt!r} is not supported by {fmt.name}; use one of {', '.join(fmt.pix_fmts)}")
    return pix_fmt


def _write_av(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame):
    height, width = images.shape[1:3]
    pad = even_padding(width, height)
    out_w, out_h = width + pad[0], height + pad[1]
    pix = _resolve_pix_fmt(fmt, pix_fmt)
    options = {"movflags": "use_metadata_tags"} if fmt.container == "mp4" else {}
    with av.open(partial, mode="w", format=fmt.container, options=options) as container:
        for key, value in metadata.items():
            container.metadata[key] = value if isinstance(value, str) else json.dumps(value)
        stream = container.add_stream(fmt.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, pix
        opts = dict(fmt.options)
        opts["crf"] = str(crf)
        tag = opts.pop("tag", None)
        if tag:
            stream.codec_tag = tag
        stream.options = opts
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = _AVCOL_SPC_BT709
        ctx.color_range = 1  # limited ("tv") range
        # Frame and slice threads, as the ffmpeg command line asks for; PyAV's default (slice
        # threads only) makes libx264 use sliced threading, which is slower.
        ctx.thread_type = "AUTO"
        muxer = _AudioMuxer(container, fmt, audio, Fraction(len(order)) / rate) if audio is not None else None
        try:
            for n, frame in enumerate(_yuv_frames(images, order, pad, pix)):
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


class _AudioMuxer:
    """Encodes a core AUDIO dict alongside the video, cut or padded to ``duration``.

    Audio is written in step with the frames so the muxer interleaves the streams
    without buffering the whole video.
    """

    def __init__(self, container, fmt: OutputFormat, audio: dict, duration: Fraction):
        waveform = audio["waveform"]
        if waveform.ndim == 3:
            waveform = waveform[0]
        if waveform.ndim != 2 or waveform.shape[0] == 0:
            raise ValueError(f"audio waveform must be (1, channels, samples), got {tuple(audio['waveform'].shape)}")
        self.sample_rate = int(audio["sample_rate"])
        channels = min(int(waveform.shape[0]), 2)
        self.waveform = waveform[:channels].detach().to("cpu", torch.float32).contiguous().numpy()
        self.layout = "mono" if channels == 1 else "stereo"
        self.total = int(round(duration * self.sample_rate))  # video length in samples: pad or cut to it
        codec = av.codec.Codec(fmt.audio_codec, "w")
        rates = codec.audio_rates
        out_rate = self.sample_rate if not rates or self.sample_rate in rates else max(rates)
        self.stream = container.add_stream(fmt.audio_codec, rate=out_rate)
        self.stream.layout = self.layout
        self.container = container
        self.resampler = av.AudioResampler(format=codec.audio_formats[0].name, layout=self.layout, rate=out_rate)
        self.written = 0

    def write_until(self, t: Fraction) -> None:
        end = min(self.total, int(round(t * self.sample_rate)))
        while self.written < end:
            n = min(4096, end - self.written)
            block = self.waveform[:, self.written:self.written + n]
            if block.shape[1] < n:  # past the end of the given audio: silence
                block = np.pad(block, ((0, 0), (0, n - block.shape[1])))
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=self.layout)
            frame.sample_rate = self.sample_rate
            frame.pts = self.written
            frame.time_base = Fraction(1, self.sample_rate)
            self.written += n
            for converted in self.resampler.resample(frame):
                for packet in self.stream.encode(converted):
                    self.container.mux(packet)

    def finish(self) -> None:
        self.write_until(Fraction(self.total, self.sample_rate))
        for converted in self.resampler.resample(None):
            for packet in self.stream.encode(converted):
                self.container.mux(packet)
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def _gif_durations_ms(count: int, rate: Fraction) -> list[int]:
    """Per-frame GIF delays (whole centiseconds, in ms) whose running sum tracks ``k / rate``."""
    ticks = [round(Fraction(100 * k) / rate) for k in range(count + 1)]
    return [max(1, ticks[k + 1] - ticks[k]) * 10 for k in range(count)]


def _pil_frames(images, order, on_frame, convert):
    for n, array in enumerate(_uint8_chunks(images, order)):
        yield convert(array)
        if on_frame is not None:
            on_frame(n + 1)


def _write_gif(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame):
    from PIL import Image

    # An adaptive palette per frame (1 byte per pixel kept until the file is written).
    def to_palette(array):
        return Image.fromarray(array).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)

    frames = list(_pil_frames(images, order, on_frame, to_palette))
    extra = {"comment": json.dumps(metadata)} if metadata else {}
    frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:], loop=loop_count,
                   duration=_gif_durations_ms(len(frames), rate), disposal=1, optimize=False, **extra)
    return EncodeResult(partial, len(frames), frames[0].width, frames[0].height)


def _write_webp(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame):
    from PIL import Image

    frames = list(_pil_frames(images, order, on_frame, Image.fromarray))
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


def _write_png_sequence(images, order, partial, fmt, rate, crf, pix_fmt, loop_count, audio, metadata, on_frame):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    os.makedirs(partial)
    files = []
    for n, array in enumerate(_uint8_chunks(images, order)):
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
