"""Frame rates and frame selection: exact fractions, LoadVideo's skip/nth/cap, resampling to a fixed rate.

Rates are exact :class:`fractions.Fraction` values (29.97 is 30000/1001); times are seconds as
fractions, so resampling never drifts.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional


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

    def expected_count(self, frame_count: int, duration: float) -> int:
        """About how many frames a source of ``frame_count`` frames over ``duration`` seconds
        gives (at least 1); only a progress bar's length, the container's counts being estimates."""
        total = frame_count
        if self.force_rate and duration:
            total = int(duration * self.force_rate)
        total = max(0, total - self.skip_first_frames)
        total = -(-total // self.select_every_nth)
        if self.frame_load_cap:
            total = min(total, self.frame_load_cap)
        return max(1, total)


def resample_to_rate(times: Sequence[Fraction], end_time: Fraction, rate: Fraction,
                     tolerance: Fraction = Fraction(0)) -> list[int]:
    """Source frame shown at each tick of a constant ``rate`` clock.

    ``times``: presentation times of the source frames (seconds, ascending, the
    first is the origin). Output frame k shows the latest source frame whose time
    is at or before ``k / rate`` (within ``tolerance``, one container tick, which
    absorbs millisecond rounding of timestamps); ticks run while ``k / rate`` is
    before ``end_time`` (the end of the last frame).
    """
    picks: list[int] = []
    stepper = RateStepper(rate, tolerance)
    for source_index, t in enumerate(times):
        picks.extend(source_index - 1 for _ in stepper.ticks_before(t - times[0]))
    picks.extend(len(times) - 1 for _ in stepper.ticks_until_end(end_time - times[0]))
    return picks


class RateStepper:
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
