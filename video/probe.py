"""What a video file says about itself (size as displayed, rate, frame count, audio, tags).

Only the first frame is decoded, for its display matrix (rotation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av

from .containers import open_input, stream_rate, video_stream
from .metadata import read_metadata
from .orientation import NO_TRANSFORM, DisplayTransform, frame_transform
from .rates import exact_rate
from .webp import is_animated_webp, webp_timing


@dataclass
class VideoInfo:
    """What a file says about itself (cheap: at most the first frame is decoded).

    ``width``/``height``: the size as displayed, after the display matrix's rotation
    (a portrait phone clip stored as 1920×1080 with a 90° matrix is 1080×1920).
    ``transform``: the rotation/flip that turns stored frames upright.
    """

    width: int
    height: int
    frame_rate: Fraction
    frame_count: int
    duration: float
    has_audio: bool
    metadata: dict = field(default_factory=dict)
    transform: DisplayTransform = NO_TRANSFORM


def probe(path: str) -> VideoInfo:
    """Size, rate, frame count (as the container declares it) and metadata of a video file."""
    if is_animated_webp(path):
        return _probe_webp(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        return probe_container(path, container, stream, _first_frame_transform(container, stream))


def probe_container(path: str, container, stream, transform: DisplayTransform = NO_TRANSFORM) -> VideoInfo:
    """:func:`probe` on an open container, reading no frame: ``transform`` is the display matrix's."""
    rate = stream_rate(stream)
    duration = float(container.duration / av.time_base) if container.duration else 0.0
    frames = int(stream.frames) if stream.frames else int(round(duration * rate))
    width, height = transform.displayed_size(stream.codec_context.width, stream.codec_context.height)
    return VideoInfo(width, height, rate, frames, duration, bool(container.streams.audio),
                     read_metadata(path, container), transform)


def _first_frame_transform(container, stream) -> DisplayTransform:
    """The display matrix of the first frame (decoders attach the stream's matrix to every frame)."""
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return frame_transform(frame)
    except av.FFmpegError:
        pass  # an undecodable file: loading it reports the frame that fails
    return NO_TRANSFORM


def _probe_webp(path: str) -> VideoInfo:
    width, height, durations = webp_timing(path)
    rate = exact_rate(1000 * len(durations) / sum(durations))
    return VideoInfo(width, height, rate, len(durations), sum(durations) / 1000, False, read_metadata(path))
