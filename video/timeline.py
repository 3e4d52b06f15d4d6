"""Decoded frames on the timeline: presentation times, LoadVideo's selection, force_rate ticks, seeking.

Times are exact fractions of a second from the first frame.
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Optional

import av

from .containers import stream_rate
from .rates import FrameSelection, RateStepper

#: With force_rate, skips shorter than this many seconds decode through instead of seeking.
SEEK_MIN_SECONDS = 1


class DecodeCounter:
    """Counts decoded source frames and runs a callback for each."""

    def __init__(self, callback: Optional[Callable[[], None]] = None):
        self.count = 0
        self.callback = callback

    def bump(self) -> None:
        self.count += 1
        if self.callback is not None:
            self.callback()


def selected_frames(container, stream, selection: FrameSelection, path: str, decoded: DecodeCounter):
    """Yield ``(source_index, time, frame, end_time)`` for each kept frame, in order.

    Times are seconds from the first frame; with ``force_rate`` a source frame is
    yielded once per output tick it covers (so it may repeat or be skipped).
    ``decoded`` counts the source frames decoded. With ``force_rate`` a long
    ``skip_first_frames`` seeks to the keyframe before the first wanted time, so the
    skipped part is not decoded (source_index is then -1).
    """
    rate = stream_rate(stream)
    time_base = Fraction(stream.time_base or Fraction(1, 1000))
    last = selection.last_index()
    nth = selection.select_every_nth
    out_index = 0
    previous = None  # (source index, time, frame)
    seek_to = None
    if selection.force_rate and selection.skip_first_frames and container.format.name != "gif":
        seek_to = selection.skip_first_frames / selection.force_rate
    stepper = RateStepper(selection.force_rate, time_base) if selection.force_rate else None
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
                        yield previous[0], tick / stepper.rate, previous[2], (tick + nth) / stepper.rate
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
                yield previous[0], tick / stepper.rate, previous[2], (tick + nth) / stepper.rate
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
