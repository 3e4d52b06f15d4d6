"""Value schedules: Deforum/FizzNodes keyframe strings to one float per frame.

``0:(1.0), 10:(0.5), 30:(0.5+0.25*sin(2*pi*t/24))``: a number at a key is interpolated towards
the next key; an expression that reads ``t`` is evaluated on every frame from its key up to the
next key (Deforum's rule). Values may also be written without parentheses (``0: 1.0``), in
quotes (``"0": "1.0"``), or as a single expression for every frame (``0.5+0.5*sin(t/4)``).
Frames before the first key take its value, frames after the last key the last value. A key
outside the frames is ignored with a warning, as Deforum's ``get_inbetweens`` ignores it (a range
is cut to the frames it covers).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .errors import ScheduleError, SourceText
from .expressions import Expression, compile_expression
from .frames import FrameKey, key_points, parse_frame_key, resolve_keys
from .interpolation import VALUE_INTERPOLATIONS, check_method, ease
from .keyframe_text import read_keyframe_pairs
from .scanner import QUOTES, skip_blanks

VALUE_VARIABLES = ("t", "max_f")
EXPECTED = 'expected "frame: (value)"'


@dataclass(frozen=True)
class ValueKey:
    key: FrameKey
    value: Expression


@dataclass
class ValueResult:
    values: list[float]
    keyframes: list[int]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ValueSchedule:
    keys: tuple[ValueKey, ...]
    source: SourceText

    def evaluate(self, frame_count: int, interpolation: str = "linear", first: int = 0,
                 end: int | None = None) -> ValueResult:
        """One float per frame ``first..end-1`` (default: ``0..frame_count-1``).

        A chunk of a long video asks for its own frames: keys, ``t`` and ``max_f`` still refer
        to the whole ``frame_count`` frames, so its values are those of the unchunked schedule.
        """
        end = frame_count if end is None else int(end)
        if not 0 <= first < end <= frame_count:
            raise ScheduleError(f"the frames {first}..{end - 1} must lie within 0..{frame_count - 1}",
                                source=self.source.name)
        check_method(interpolation, VALUE_INTERPOLATIONS)
        keys = [k.key for k in self.keys]
        resolved, warnings = resolve_keys(keys, frame_count, self.source, outside="ignore", tool="Deforum")
        last_frame = frame_count - 1
        ordered = key_points(keys, resolved, self.source)
        if not ordered:
            raise ScheduleError(
                f"every keyframe lies outside the frames 0..{last_frame}, so no frame has a value; "
                "use keys inside the frames or raise the frame count", source=self.source.name)
        known: dict[int, float] = {}
        for i, (frame, number, hold) in enumerate(ordered):
            value = self.keys[number].value
            until = ordered[i + 1][0] if i + 1 < len(ordered) else frame_count
            if "t" in value.names:
                # Deforum: an expression in t holds the frames up to the next key. Outside the
                # asked frames only the ends and the neighbours of the asked frames matter (the
                # frames _fill interpolates from), so a chunk evaluates its own frames only.
                wanted = range(frame, until) if (first, end) == (0, frame_count) else sorted(
                    {f for f in (frame, until - 1, first - 1, end) if frame <= f < until}
                    | set(range(max(frame, first), min(until, end))))
                for f in wanted:
                    known[f] = value.evaluate({"t": float(f), "max_f": float(last_frame)}, frame=f)
                continue
            number_value = value.evaluate({"t": float(frame), "max_f": float(last_frame)}, frame=frame)
            known[frame] = number_value
            if hold:
                for f in range(frame + 1, until):
                    known[f] = number_value
        values = _fill(known, frame_count, interpolation, first, end)
        return ValueResult(values, [frame for frame, _, _ in ordered if first <= frame < end], warnings)


def _fill(known: dict[int, float], frame_count: int, interpolation: str, first: int = 0,
          end: int | None = None) -> list[float]:
    frames = sorted(known)
    values: list[float] = []
    k = 0
    for frame in range(first, frame_count if end is None else end):
        if frame in known:
            values.append(known[frame])
            continue
        while k + 1 < len(frames) and frames[k + 1] < frame:
            k += 1
        before = frames[k] if frames[k] < frame else None
        after = next((f for f in frames[k:] if f > frame), None)
        if before is None:
            assert after is not None  # a frame before every key: the first key comes after it
            values.append(known[after])
        elif after is None:
            values.append(known[before])
        else:
            weight = ease((frame - before) / (after - before), interpolation)
            values.append(known[before] + (known[after] - known[before]) * weight)
    return values


def parse_value_schedule(text: str, name: str = "text") -> ValueSchedule:
    """Parse a value schedule; raises :class:`ScheduleError` with line and column."""
    source = SourceText(text if text is not None else "", name)
    body = source.text
    start = skip_blanks(body, 0)
    if start >= len(body):
        raise source.error(0, f'{EXPECTED}: the schedule is empty (write for example "0:(1.0)")')
    if not _has_top_level_colon(body):
        equals = _assignment_sign(body)
        if equals is not None:
            raise source.error(equals, f'{EXPECTED}: found "=" (write for example "0: (1.0), 16: (1.3)", '
                                       'a colon between frame and value)')
        expression = compile_expression(body, VALUE_VARIABLES, source=source, index_map=list(range(len(body))))
        key = parse_frame_key("0", source, [start], allow_expressions=False)
        return ValueSchedule((ValueKey(key, expression),), source)

    def read_key(key_text: str, index_map) -> FrameKey:
        return parse_frame_key(key_text, source, index_map, allow_expressions=True)

    def read_value(value_text: str, index_map) -> Expression:
        return compile_expression(value_text, VALUE_VARIABLES, source=source, index_map=index_map)

    pairs = read_keyframe_pairs(source, read_key, read_value)
    return ValueSchedule(tuple(ValueKey(key, value) for key, value in pairs), source)


def _top_level_characters(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of every character outside quotes and parentheses."""
    depth = 0
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in QUOTES:
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield i, ch


def _has_top_level_colon(text: str) -> bool:
    return any(ch == ":" for _, ch in _top_level_characters(text))


def _assignment_sign(text: str) -> int | None:
    """Index of the first ``=`` outside quotes and parentheses that is not part of ``==``, ``<=``,
    ``>=`` or ``!=`` (AnimateDiff-Evolved's ``frame = value`` form), else None."""
    for i, ch in _top_level_characters(text):
        if ch == "=":
            before = text[i - 1] if i else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            if before not in "=<>!" and after != "=":
                return i
    return None


def values_at(values: Sequence[float], frame: int) -> float:
    """The value of ``frame``, wrapping around the schedule like FizzNodes' current_frame."""
    if not values:
        raise ScheduleError("the schedule has no frames")
    return float(values[frame % len(values)])
