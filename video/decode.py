"""Loading a video as an IMAGE tensor: the selected frames only, streamed, converted while decoding."""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Optional

import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from .alpha import LibvpxAlphaContainer, has_vp9_alpha, libvpx_decoder_available
from .containers import open_input, video_stream
from .frame_store import FrameStore
from .orientation import DisplayTransform, frame_transform
from .pixels import ReadLayout, frame_to_array, read_layout
from .probe import VideoInfo, probe, probe_container
from .rates import FrameSelection, exact_rate
from .rgb import frame_to_rgb_planes, has_yuv_planes
from .timeline import DecodeCounter, selected_frames
from .webp import is_animated_webp, read_webp_frames

#: Decoded frames that may wait for RGB conversion while loading.
_CONVERT_AHEAD = 8
#: Result slots allocated beyond the container's frame count.
_SPARE_SLOTS = 2
#: Threads converting decoded frames to RGB (each with its own swscale context): two keep up with
#: the decoder on 2 cores (one left the float load at half the speed; benchmarks/video_decode.py).
_CONVERT_WORKERS = 2
#: Every frame at the source timing (frozen, so one instance serves as the default).
_EVERY_FRAME = FrameSelection()


@dataclass
class LoadedVideo:
    """Frames returned by :func:`load_video`.

    ``images``: (F, H, W, 3) float 0..1 (with ``load_video(integer=True)``: the uint8 codes, or
    uint16 for sources above 8 bits). ``start_time``/``end_time``: seconds from the
    first source frame covered by the returned frames (for cutting the audio).
    ``decoded_frames``: how many source frames were decoded to produce them.
    ``alpha``: (F, H, W) float 0..1 (or codes, as ``images``), 1 = opaque, or None when the source has no alpha.
    Sources above 8 bits per channel are read at 16 bits, so ``images`` keeps their precision.
    """

    images: torch.Tensor
    frame_rate: Fraction
    source: VideoInfo
    start_time: Fraction
    end_time: Fraction
    decoded_frames: int
    alpha: Optional[torch.Tensor] = None


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


def load_video(path: str, selection: FrameSelection = _EVERY_FRAME, custom_width: int = 0,
               custom_height: int = 0, on_frame: Optional[Callable[[int], None]] = None,
               on_decode: Optional[Callable[[], None]] = None, *, threads: int = 0,
               integer: bool = False) -> LoadedVideo:
    """Decode the selected frames of ``path`` as a float tensor.

    Streams: only kept frames are converted to RGB, each straight into its slot of the
    result (see :class:`~.frame_store.FrameStore`), and decoding stops after the last frame
    that ``frame_load_cap`` allows. ``on_frame(n)`` is called after each returned frame
    (progress), ``on_decode()`` after every decoded source frame, skipped ones included
    (interruption checks during long skips). ``threads``: decoder threads (0 = FFmpeg's
    choice, one per core). ``integer``: ``images``/``alpha`` hold the codes (uint8, or uint16
    for sources above 8 bits) instead of float 0..1.
    """
    if is_animated_webp(path):
        return _load_webp(path, selection, custom_width, custom_height, on_frame, integer)
    with open_input(path) as container:
        stream = video_stream(container, path)
        # Frame threads (several frames in flight, as the ffmpeg command line decodes) where the
        # codec has them, slice threads otherwise.
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = max(0, threads)
        source = probe_container(path, container, stream)
        expected = 0  # unknown: frames wait as codes until the end
        if source.frame_count:
            # Two spare slots: counts from a duration round down, and untouched slots cost no memory.
            expected = selection.expected_count(source.frame_count, source.duration) + _SPARE_SLOTS
            if selection.frame_load_cap:
                expected = min(expected, selection.frame_load_cap)
        if has_vp9_alpha(stream) and libvpx_decoder_available():
            container = LibvpxAlphaContainer(container, stream)  # FFmpeg's vp9 decoder drops the alpha
        is_gif = container.format.name == "gif"
        # From the first kept frame's display matrix.
        transform: Optional[DisplayTransform] = None
        layout = ReadLayout("rgb24", False, False)  # replaced by the first frame's
        stored_size = (0, 0)
        store: Optional[FrameStore] = None
        kept_times: list[Fraction] = []
        decoded = DecodeCounter(on_decode)
        end_time = Fraction(0)
        # swscale contexts, one per worker thread: set up once, not once per frame.
        per_thread = threading.local()

        def convert(index: int, frame, store: FrameStore, transform: DisplayTransform) -> None:
            reformatter = getattr(per_thread, "reformatter", None)
            if reformatter is None:
                reformatter = per_thread.reformatter = VideoReformatter()
            if layout.out_format == "rgb24" and transform.identity and has_yuv_planes(frame):
                store.put_planes(index, frame_to_rgb_planes(frame, stored_size, reformatter))
            else:
                store.put(index, transform.apply(frame_to_array(frame, stored_size, layout, reformatter)))

        # Decoding (this thread) and colour conversion (workers; swscale and numpy release the
        # GIL) overlap. At most _CONVERT_AHEAD decoded frames wait for conversion.
        with ThreadPoolExecutor(max_workers=_CONVERT_WORKERS, thread_name_prefix="steadyframe-video") as executor:
            pending: deque = deque()
            for _index, t, frame, frame_end in selected_frames(container, stream, selection, path, decoded):
                if transform is None:
                    # Turned upright as ffmpeg does by default; custom sizes are of the upright frame.
                    transform = frame_transform(frame)
                    width, height = transform.displayed_size(stream.codec_context.width, stream.codec_context.height)
                    source = replace(source, width=width, height=height, transform=transform)
                    out_w, out_h = output_size(width, height, custom_width, custom_height)
                    stored_size = transform.stored_size(out_w, out_h)
                    layout = read_layout(frame)
                    store = FrameStore((out_h, out_w), layout, expected, integer)
                assert store is not None
                pending.append(executor.submit(convert, len(kept_times), frame, store, transform))
                while len(pending) > _CONVERT_AHEAD:
                    pending.popleft().result()
                kept_times.append(t)
                end_time = frame_end
                if on_frame is not None:
                    on_frame(len(kept_times))
            while pending:
                pending.popleft().result()
    if store is None:
        raise ValueError(
            f"{path}: no frame selected (source has about {source.frame_count} frames; "
            f"skip_first_frames={selection.skip_first_frames}, select_every_nth={selection.select_every_nth}, "
            f"force_rate={float(selection.force_rate or 0)})")
    rate = selection.output_rate(source.frame_rate)
    if is_gif and not selection.force_rate and end_time > kept_times[0]:
        # GIF delays are whole 1/100 s, so FFmpeg's rate guess is often off (8 fps reads as
        # 8.33); the frames actually cover this span.
        rate = exact_rate(float(len(kept_times) / (end_time - kept_times[0])))
    images, alpha = store.result(len(kept_times))
    return LoadedVideo(images, rate, source, kept_times[0], end_time, decoded.count, alpha)


def _load_webp(path, selection, custom_width, custom_height, on_frame, integer) -> LoadedVideo:
    source = probe(path)
    size = output_size(source.width, source.height, custom_width, custom_height)
    frames = read_webp_frames(path, selection, size, on_frame)
    if not frames.rgb:
        raise ValueError(f"{path}: no frame selected (the file has {frames.source_frames} frames)")
    first = frames.rgb[0]
    store = FrameStore(first.shape[:2], ReadLayout("rgba" if first.shape[-1] == 4 else "rgb24", first.shape[-1] == 4,
                                                   first.dtype == np.uint16), len(frames.rgb), integer)
    for i in range(len(frames.rgb)):
        store.put(i, frames.rgb[i])
        frames.rgb[i] = None
    images, alpha = store.result(len(frames.times))
    return LoadedVideo(images, selection.output_rate(source.frame_rate), source, frames.times[0],
                       frames.end_time, frames.source_frames, alpha)
