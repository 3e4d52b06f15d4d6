"""How many frames Load Video's selection gives, counted by demuxing packets (no decoding).

A chunked run must know the length of the video before its first chunk; decoding a long file
just to count it would cost as much as the run itself. Reading the packets' timestamps costs a
fraction of a second per minute of video.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional

from .containers import open_input, stream_rate, video_stream
from .rates import FrameSelection, RateStepper
from .webp import is_animated_webp, webp_timing


def _kept(available: int, selection: FrameSelection) -> int:
    """Frames kept from ``available`` (resampled) frames by skip / every-nth / cap."""
    count = max(0, -(-(available - selection.skip_first_frames) // selection.select_every_nth))
    return min(count, selection.frame_load_cap) if selection.frame_load_cap else count


def packet_times(path: str) -> tuple[list[Fraction], Fraction, Fraction]:
    """``(times, end, time_base)`` of the video stream's frames, by their packets.

    ``times``: presentation times in seconds from the first frame, ascending (one per packet
    that holds a frame); ``end``: when the last frame stops showing.
    """
    with open_input(path) as container:
        stream = video_stream(container, path)
        time_base = Fraction(stream.time_base or Fraction(1, 1000))
        rate = stream_rate(stream)
        stamps: list[int] = []
        latest, last_duration = None, 0
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue  # the demuxer's flush packet, or one that cannot be placed
            stamps.append(packet.pts)
            if latest is None or packet.pts > latest:
                latest, last_duration = packet.pts, packet.duration or 0
    if not stamps:
        raise ValueError(f"{path}: the video stream has no frames")
    stamps.sort()
    origin = stamps[0]
    times = [(s - origin) * time_base for s in stamps]
    duration = last_duration * time_base if last_duration else 1 / rate
    return times, times[-1] + duration, time_base


def count_selected(path: str, selection: Optional[FrameSelection] = None) -> int:
    """Frames :func:`video.load_video` returns for ``selection``, without decoding any.

    Without ``force_rate`` every frame counts once; with it, the ticks of the output clock
    that the frames cover (as the loader resamples). ``selection``: None = every frame.
    """
    selection = selection or FrameSelection()
    if is_animated_webp(path):
        _, _, durations = webp_timing(path)
        times = [Fraction(sum(durations[:i]), 1000) for i in range(len(durations))]
        end, time_base = Fraction(sum(durations), 1000), Fraction(1, 1000)
    else:
        times, end, time_base = packet_times(path)
    if not selection.force_rate:
        return _kept(len(times), selection)
    stepper = RateStepper(selection.force_rate, time_base)
    ticks = 0
    for t in times[1:]:
        ticks += sum(1 for _ in stepper.ticks_before(t))
    ticks += sum(1 for _ in stepper.ticks_until_end(end))
    return _kept(ticks, selection)


def chunk_selection(selection: FrameSelection, first: int, end: int) -> FrameSelection:
    """The selection that returns frames ``[first, end)`` of what ``selection`` returns.

    Frame i of the selected sequence is frame ``skip + i * nth`` of the (resampled) source, so a
    range of it is the same selection skipped further and capped.
    """
    if not 0 <= first < end:
        raise ValueError(f"a chunk covers frames first..end-1 with 0 <= first < end, got {first}..{end - 1}")
    if selection.frame_load_cap and end > selection.frame_load_cap:
        raise ValueError(f"chunk frames {first}..{end - 1} lie past frame_load_cap={selection.frame_load_cap}")
    return FrameSelection(force_rate=selection.force_rate,
                          skip_first_frames=selection.skip_first_frames + first * selection.select_every_nth,
                          select_every_nth=selection.select_every_nth, frame_load_cap=end - first)


def seekable_selection(path: str, selection: FrameSelection) -> FrameSelection:
    """``selection`` in a form the loader can seek for, returning the very same frames.

    Without ``force_rate`` the loader decodes from the start to count frames (a variable-rate
    file's frame numbers are only known by counting), so chunk k of a long video would decode
    every frame before it. When the packets show a constant rate (frame i at i / rate, within
    one timestamp tick), resampling to that rate picks exactly frame i at tick i, and the
    resampling path seeks to the keyframe before a long skip. Other files, GIF and animated
    WebP are returned unchanged.
    """
    if selection.force_rate or not selection.skip_first_frames or is_animated_webp(path):
        return selection
    with open_input(path) as container:
        if container.format.name == "gif":
            return selection
        rate = stream_rate(video_stream(container, path))
    times, end, time_base = packet_times(path)
    if any(abs(t - i / rate) > time_base for i, t in enumerate(times)) or abs(end - len(times) / rate) > time_base:
        return selection
    return FrameSelection(force_rate=rate, skip_first_frames=selection.skip_first_frames,
                          select_every_nth=selection.select_every_nth, frame_load_cap=selection.frame_load_cap)
