"""Opening files with PyAV: a clear error for what is not a video, the video stream and its rate."""
from __future__ import annotations

from fractions import Fraction

import av


def open_input(path: str):
    """``av.open(path)`` for reading; a ValueError naming the file when FFmpeg cannot read it."""
    try:
        return av.open(path, mode="r")
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: not a readable video file ({exc})") from exc


def video_stream(container, path: str):
    """The first video stream, or a ValueError naming the file when it has none."""
    if not container.streams.video:
        raise ValueError(f"{path}: the file has no video stream")
    return container.streams.video[0]


def stream_rate(stream) -> Fraction:
    """The stream's average frame rate (else FFmpeg's guess, else its base rate, else 1)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(1)
