"""What a video file says about itself (size, rate, frame count, audio, tags); no frame is decoded."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av

from .containers import open_input, stream_rate, video_stream
from .metadata import read_metadata
from .rates import exact_rate
from .webp import is_animated_webp, webp_timing


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
    if is_animated_webp(path):
        return _probe_webp(path)
    with open_input(path) as container:
        return probe_container(path, container, video_stream(container, path))


def probe_container(path: str, container, stream) -> VideoInfo:
    """:func:`probe` on an open container."""
    rate = stream_rate(stream)
    duration = float(container.duration / av.time_base) if container.duration else 0.0
    frames = int(stream.frames) if stream.frames else int(round(duration * rate))
    return VideoInfo(stream.codec_context.width, stream.codec_context.height, rate, frames, duration,
                     bool(container.streams.audio), read_metadata(path, container))


def _probe_webp(path: str) -> VideoInfo:
    width, height, durations = webp_timing(path)
    rate = exact_rate(1000 * len(durations) / sum(durations))
    return VideoInfo(width, height, rate, len(durations), sum(durations) / 1000, False, read_metadata(path))
