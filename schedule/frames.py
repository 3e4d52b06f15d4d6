"""Keyframe positions: absolute, from the end, relative, percent, expressions, ranges and holds.

A key is written as one of

- ``12``: frame 12 (frames count from 0);
- ``-1``: counted from the end (``-1`` is the last frame, ``-8`` the eighth from the end);
- ``+8``: eight frames after the previous key (in the order the keys are written);
- ``50%``: that fraction of the way to the last frame;
- ``max_f/2``: an expression in ``max_f`` (last frame index) and ``max_frames`` (quoted keys only);
- ``0..11``: a range; the value is held from the first to the last frame of the range;
- any of these followed by ``!``: hold the value until the next key, then cut (no blending).

Keys are resolved against a frame count by :func:`resolve_keys`. What a key outside the frames
means depends on the tool whose syntax the text uses (``outside``): FizzNodes prompts travel
towards it (``"travel"``), A1111 prompt travel refuses it (``"refuse"``), Deforum value schedules
ignore it (``"ignore"``).
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
    """A key resolved to frames ``first``..``last`` (equal unless it is a range).

    Under the ``"travel"`` rule either end may lie outside ``0..frame_count-1`` (``outside``).
    """

    first: int
    last: int
    hold: bool
    outside: bool


OUTSIDE_RULES = ("travel", "refuse", "ignore")


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
    assert position.expression is not None  # the one kind left is "expression", which always has one
    value = position.expression.evaluate({"max_f": float(last), "max_frames": float(frame_count)})
    frame = math.floor(value + 0.5)
    return frame if frame >= 0 else frame_count + frame


def resolve_keys(keys: Sequence[FrameKey], frame_count: int, source: SourceText, *,
                 outside: str = "travel", tool: str = "") -> tuple[list[ResolvedKey | None], list[str]]:
    """Resolve keys (in written order) against ``frame_count``; returns one entry per key and
    the warnings.

    Relative keys count from the previous key (the end of a range), or from 0 for the first key.
    A key outside ``0..frame_count-1`` is, by ``outside``:

    - ``"travel"`` (FizzNodes prompts): kept where it is, so the frames between it and its
      neighbour blend as they would if the clip went on; only frames inside the clip are made;
    - ``"refuse"`` (A1111 prompt travel): a :class:`ScheduleError` at the key;
    - ``"ignore"`` (Deforum values): dropped (its entry is ``None``); a range is cut to the frames
      it covers.

    ``tool`` names the source tool in warnings and errors.
    """
    if outside not in OUTSIDE_RULES:
        raise ValueError(f"outside must be one of {', '.join(OUTSIDE_RULES)}, got {outside!r}")
    if frame_count < 1:
        raise ScheduleError(f"expected at least 1 frame, got {frame_count}", source=source.name)
    warnings: list[str] = []
    resolved: list[ResolvedKey | None] = []
    previous = 0
    for key in keys:
        first = _resolve_position(key.start, frame_count, previous)
        last = first
        if key.end is not None:
            last = _resolve_position(key.end, frame_count, first)
            if last < first:
                raise source.error(key.index, f'the range "{key.text}" ends (frame {last}) before it starts (frame {first})')
        previous = last
        ends = [(first, key.start)] + ([(last, key.end)] if key.end is not None else [])
        stray = [(frame, position) for frame, position in ends if not 0 <= frame < frame_count]
        if not stray:
            resolved.append(ResolvedKey(first, last, key.hold, False))
            continue
        frame, position = stray[0]
        line, column = source.line_col(position.index)
        said = f'keyframe "{position.text}" is frame {frame}, {_where(frame, frame_count)}'
        if outside == "refuse":
            raise ScheduleError(
                f"{said}: {tool or 'this syntax'} refuses keys outside the frames; use a key from 0 to "
                f"{frame_count - 1} or raise the frame count", source=source.name, line=line, column=column)
        if outside == "travel":
            toward = "towards it" if frame > 0 else "from it"
            note = f"the frames next to it travel {toward} as {tool or 'FizzNodes'} does, but it is never reached"
            resolved.append(ResolvedKey(first, last, key.hold, True))
        else:
            inside_first, inside_last = max(first, 0), min(last, frame_count - 1)
            if inside_first <= inside_last:
                note = f"the range is cut to frames {inside_first}..{inside_last}"
                resolved.append(ResolvedKey(inside_first, inside_last, key.hold, False))
            else:
                note = f"ignored, as {tool or 'Deforum'} ignores keys outside the frames"
                resolved.append(None)
        message = f"{source.name}, line {line}, col {column}: {said}; {note}"
        warnings.append(message)
        log.warning("SteadyFrame schedule: %s", message)
    return resolved, warnings


def _where(frame: int, frame_count: int) -> str:
    if frame < 0:
        return "before the first frame (0)"
    return f"beyond the last frame ({frame_count - 1}; {frame_count} frames)"


def key_points(keys: Sequence[FrameKey], resolved: Sequence[ResolvedKey | None],
               source: SourceText) -> list[tuple[int, int, bool]]:
    """Sorted ``(frame, key number, hold)`` points; a range gives a held point at each end.

    Ignored keys (``None``) give no point. Two keys on one frame are an error.
    """
    owner: dict[int, int] = {}
    points: dict[int, tuple[int, bool]] = {}
    for number, (key, where) in enumerate(zip(keys, resolved)):
        if where is None:
            continue
        ends = [(where.first, where.hold if where.first == where.last else True)]
        if where.last != where.first:
            ends.append((where.last, where.hold))
        for frame, hold in ends:
            earlier = owner.get(frame)
            if earlier is not None and earlier != number:
                line, column = source.line_col(key.index)
                other_line, other_column = source.line_col(keys[earlier].index)
                raise ScheduleError(
                    f'keyframe "{key.text}" is frame {frame}, which already has a keyframe '
                    f'("{keys[earlier].text}" at line {other_line}, col {other_column}); give each frame one key',
                    source=source.name, line=line, column=column)
            owner[frame] = number
            points[frame] = (number, hold)
    return [(frame, *points[frame]) for frame in sorted(points)]
