"""Keyframe positions: absolute, from the end, relative, percent, expressions, ranges and holds.

A key is written as one of

- ``12``: frame 12 (frames count from 0);
- ``-1``: counted from the end (``-1`` is the last frame, ``-8`` the eighth from the end);
- ``+8``: eight frames after the previous key (in the order the keys are written);
- ``50%``: that fraction of the way to the last frame;
- ``max_f/2``: an expression in ``max_f`` (last frame index) and ``max_frames`` (quoted keys only);
- ``0..11``: a range; the value is held from the first to the last frame of the range;
- any of these followed by ``!``: hold the value until the next key, then cut (no blending).

Keys are resolved against a frame count by :func:`resolve_keys`; keys outside the frames are
clamped to the first or last frame with a warning.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ScheduleError, SourceText
from .expressions import Expression, compile_expression

log = logging.getLogger(__name__)

KEY_VARIABLES = ("max_f", "max_frames")

_NUMBER = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(%?)\Z")


@dataclass(frozen=True)
class FramePosition:
    """One end of a key before it is resolved.

    kind: ``absolute``, ``from_end``, ``relative``, ``percent`` or ``expression``.
    """

    kind: str
    number: float = 0.0
    expression: Expression | None = None
    index: int = 0  # source index, for messages
    text: str = ""


@dataclass(frozen=True)
class FrameKey:
    """A parsed key: a position, or a range ``start..end``, optionally a hold (``!``)."""

    start: FramePosition
    end: FramePosition | None
    hold: bool
    index: int
    text: str


@dataclass(frozen=True)
class ResolvedKey:
    """A key resolved to frames ``first``..``last`` (equal unless it is a range)."""

    first: int
    last: int
    hold: bool
    clamped: bool


def parse_frame_key(text: str, source: SourceText, index_map: Sequence[int], *,
                    allow_expressions: bool) -> FrameKey:
    """Parse the key ``text`` whose characters sit at ``index_map`` in ``source``."""
    start_index = index_map[0] if index_map else 0
    body = text.strip()
    lead = len(text) - len(text.lstrip())
    if not body:
        raise source.error(start_index, 'expected a frame number before ":" (for example "12")')
    hold = body.endswith("!")
    if hold:
        body = body[:-1].rstrip()
        if not body:
            raise source.error(start_index, 'expected a frame number before "!" (for example "12!")')
    if ".." in body:
        cut = body.index("..")
        first_text, last_text = body[:cut], body[cut + 2:]
        first = _parse_position(first_text, source, index_map[lead:], allow_expressions)
        last_offset = lead + cut + 2
        last = _parse_position(last_text, source, index_map[last_offset:], allow_expressions)
        return FrameKey(first, last, hold, start_index, text.strip())
    position = _parse_position(body, source, index_map[lead:], allow_expressions)
    return FrameKey(position, None, hold, start_index, text.strip())


def _parse_position(text: str, source: SourceText, index_map: Sequence[int],
                    allow_expressions: bool) -> FramePosition:
    lead = len(text) - len(text.lstrip())
    body = text.strip()
    index = index_map[min(lead, len(index_map) - 1)] if index_map else 0
    if not body:
        raise source.error(index, 'expected a frame number on both sides of ".." (for example "0..11")')
    match = _NUMBER.match(body)
    if match:
        sign, digits, percent = match.groups()
        number = float(digits)
        if percent:
            if sign:
                raise source.error(index, f'expected a percentage without a sign, found "{body}"')
            return FramePosition("percent", number, None, index, body)
        if not number.is_integer():
            raise source.error(
                index, f'expected a whole frame number, found "{body}" (write "50%" for half-way)')
        kind = {"": "absolute", "+": "relative", "-": "from_end"}[sign]
        if kind == "from_end" and number == 0:
            kind = "absolute"  # "-0" is frame 0
        return FramePosition(kind, number, None, index, body)
    if not allow_expressions:
        raise source.error(
            index, f'expected a frame number (12, -1, +8, 50% or 0..11), found "{_short(body)}"')
    try:
        expression = compile_expression(text[lead:lead + len(body)], KEY_VARIABLES, source=source,
                                        index_map=index_map[lead:lead + len(body)])
    except ScheduleError as exc:
        raise ScheduleError(f"expected a frame number (12, -1, +8, 50%, 0..11) or an expression in max_f; "
                            f"{exc.reason}", source=exc.source, line=exc.line, column=exc.column) from None
    return FramePosition("expression", 0.0, expression, index, body)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve_position(position: FramePosition, frame_count: int, previous: int) -> int:
    last = frame_count - 1
    if position.kind == "absolute":
        return int(position.number)
    if position.kind == "from_end":
        return frame_count - int(position.number)
    if position.kind == "relative":
        return previous + int(position.number)
    if position.kind == "percent":
        return math.floor(position.number / 100.0 * last + 0.5)
    value = position.expression.evaluate({"max_f": float(last), "max_frames": float(frame_count)})
    frame = math.floor(value + 0.5)
    return frame if frame >= 0 else frame_count + frame


def resolve_keys(keys: Sequence[FrameKey], frame_count: int, source: SourceText) -> tuple[list[ResolvedKey], list[str]]:
    """Resolve keys (in written order) to frames in ``0..frame_count-1``; returns keys and warnings.

    Relative keys count from the previous key (the end of a range), or from 0 for the first key.
    """
    if frame_count < 1:
        raise ScheduleError(f"expected at least 1 frame, got {frame_count}", source=source.name)
    warnings: list[str] = []
    resolved: list[ResolvedKey] = []
    previous = 0
    for key in keys:
        first, first_clamped = _clamp(_resolve_position(key.start, frame_count, previous), key.start,
                                      frame_count, source, warnings)
        last, last_clamped = first, first_clamped
        if key.end is not None:
            raw_last = _resolve_position(key.end, frame_count, first)
            last, last_clamped = _clamp(raw_last, key.end, frame_count, source, warnings)
            if last < first:
                raise source.error(key.index, f'the range "{key.text}" ends (frame {last}) before it starts (frame {first})')
        resolved.append(ResolvedKey(first, last, key.hold, first_clamped or last_clamped))
        previous = last
    return resolved, warnings


def _clamp(frame: int, position: FramePosition, frame_count: int, source: SourceText,
           warnings: list[str]) -> tuple[int, bool]:
    last = frame_count - 1
    if 0 <= frame <= last:
        return frame, False
    clamped = 0 if frame < 0 else last
    line, column = source.line_col(position.index)
    where = "before the first frame" if frame < 0 else f"beyond the last frame ({last}; max_frames {frame_count})"
    message = (f"{source.name}, line {line}, col {column}: keyframe \"{position.text}\" is frame {frame}, "
               f"{where}; clamped to frame {clamped}")
    warnings.append(message)
    log.warning("SteadyFrame schedule: %s", message)
    return clamped, True


def key_points(keys: Sequence[FrameKey], resolved: Sequence[ResolvedKey], source: SourceText,
               warnings: list[str]) -> list[tuple[int, int, bool]]:
    """Sorted ``(frame, key number, hold)`` points; a range gives a held point at each end.

    Two keys on one frame are an error, unless clamping put them there: then the key written
    later wins, with a warning.
    """
    owner: dict[int, int] = {}
    points: dict[int, tuple[int, bool]] = {}
    for number, (key, where) in enumerate(zip(keys, resolved)):
        ends = [(where.first, where.hold if where.first == where.last else True)]
        if where.last != where.first:
            ends.append((where.last, where.hold))
        for frame, hold in ends:
            earlier = owner.get(frame)
            if earlier is not None and earlier != number:
                if not (resolved[earlier].clamped or where.clamped):
                    line, column = source.line_col(key.index)
                    other_line, other_column = source.line_col(keys[earlier].index)
                    raise ScheduleError(
                        f'keyframe "{key.text}" is frame {frame}, which already has a keyframe '
                        f'("{keys[earlier].text}" at line {other_line}, col {other_column}); give each frame one key',
                        source=source.name, line=line, column=column)
                message = (f"{source.name}: keyframes \"{keys[earlier].text}\" and \"{key.text}\" both land on "
                           f"frame {frame} after clamping; the later one is used")
                warnings.append(message)
                log.warning("SteadyFrame schedule: %s", message)
            owner[frame] = number
            points[frame] = (number, hold)
    return [(frame, *points[frame]) for frame in sorted(points)]
