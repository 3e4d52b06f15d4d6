"""Animated WebP read with Pillow (FFmpeg cannot decode it): timing, selected frames, EXIF tags.

Pillow is imported inside the functions, so the video package imports without it.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from fractions import Fraction
from typing import NamedTuple, Optional

import numpy as np

from .rates import FrameSelection, resample_to_rate


def is_animated_webp(path: str) -> bool:
    return path.lower().endswith(".webp")


@contextmanager
def _open_webp(path: str):
    """The file opened with Pillow; a ValueError naming it when Pillow cannot (truncated, damaged)."""
    from PIL import Image

    try:
        image = Image.open(path)
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise ValueError(f"{path}: cannot read the WebP file ({exc}); expected a complete "
                         f"(animated) WebP image, is it truncated or damaged?") from exc
    with image:
        yield image


def _go_to_frame(image, path: str, index: int) -> None:
    """Seek to and decode frame ``index``; a ValueError naming the file and frame when it fails."""
    try:
        image.seek(index)
        image.load()  # Pillow fills in the frame's duration when it decodes it
    except (OSError, EOFError, SyntaxError, ValueError) as exc:
        total = getattr(image, "n_frames", 1)
        raise ValueError(f"{path}: cannot decode WebP frame {index} of {total} ({exc or type(exc).__name__}); "
                         f"expected a complete WebP image, is it truncated or damaged?") from exc


def _durations(image, path: str) -> list[int]:
    durations = []
    for i in range(getattr(image, "n_frames", 1)):
        _go_to_frame(image, path, i)
        durations.append(int(image.info.get("duration", 0)) or 100)
    return durations


def webp_timing(path: str) -> tuple[int, int, list[int]]:
    """``(width, height, durations)`` of a WebP file, one duration in ms per frame (100 when unset)."""
    with _open_webp(path) as image:
        return image.width, image.height, _durations(image, path)


class WebpFrames(NamedTuple):
    """The frames :func:`read_webp_frames` kept.

    ``rgb``: (H, W, 3) uint8 arrays, (H, W, 4) RGBA when the file has alpha. ``times``/``end_time``: seconds from the first frame,
    as :class:`~video.decode.LoadedVideo` reports them. ``source_frames``: frames in the file.
    """

    rgb: list
    times: list
    end_time: Fraction
    source_frames: int


def read_webp_frames(path: str, selection: FrameSelection, size: tuple[int, int],
                     on_frame: Optional[Callable[[int], None]] = None) -> WebpFrames:
    """The frames of ``path`` that ``selection`` keeps, scaled to ``size`` (w, h) with Lanczos.

    Files with alpha (Pillow opens them as RGBA) keep it as a fourth channel; Pillow scales
    RGBA premultiplied, so transparent pixels do not bleed their colour into the edges.

    ``on_frame(n)`` runs after each kept frame.
    """
    from PIL import Image

    with _open_webp(path) as image:
        durations = _durations(image, path)
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
        times, t = [], Fraction(0)
        for d in durations:
            times.append(t)
            t += Fraction(d, 1000)
        picks = resample_to_rate(times, t, selection.force_rate) if selection.force_rate else list(range(len(times)))
        kept, kept_times, end = [], [], Fraction(0)
        for out_index, source_index in enumerate(picks):
            if not selection.keeps(out_index):
                continue
            _go_to_frame(image, path, source_index)
            frame = image.convert(mode)
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
    return WebpFrames(kept, kept_times, end, len(durations))


def webp_exif_tags(path: str) -> dict:
    """``key:text`` EXIF strings (core's SaveAnimatedWEBP layout) as ``{key: text}``."""
    tags = {}
    with _open_webp(path) as image:
        for value in image.getexif().values():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and ":" in value:
                key, text = value.split(":", 1)
                if key.isidentifier():
                    tags[key] = text
    return tags
