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
    """The first video stream that is not an attached picture (cover art).

    A ValueError naming the file when it has none: an mp3 or m4a with cover art shows its
    picture as a video stream with the ``attached_pic`` disposition (one frame, a nominal
    90000 fps), which is not a video.
    """
    streams = list(container.streams.video)
    moving = [s for s in streams if not _is_attached_picture(s)]
    if moving:
        return moving[0]
    if streams:
        held = "audio with cover art" if container.streams.audio else "only an attached picture"
        raise ValueError(f"{path}: the file holds {held}, not video (its only video stream is an "
                         f"attached picture); expected a file with a video stream")
    raise ValueError(f"{path}: the file has no video stream")


def _is_attached_picture(stream) -> bool:
    attached = getattr(getattr(av.stream, "Disposition", None), "attached_pic", None)
    return attached is not None and bool(stream.disposition & attached)


def stream_rate(stream) -> Fraction:
    """The stream's average frame rate (else FFmpeg's guess, else its base rate, else 1)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(1)
