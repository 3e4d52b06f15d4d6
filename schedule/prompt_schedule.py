"""Prompt schedules: parse FizzNodes and A1111 prompt-travel text, plan the blend of every frame.

Two syntaxes, told apart by how the text starts:

FizzNodes (JSON members, with or without the outer braces; a text starting with ``{`` or a
quote, or with ``frame: "``)::

    "0": "a cat --neg blurry",
    "12": "a dog, (running:`0.5+0.5*sin(t/4)`)",
    "-1": "a bird"

A1111 prompt travel (``frame: prompt`` lines between optional head and tail lines)::

    masterpiece, best quality
    0: closed eyes
    8: open eyes
    smiling

Keys are those of :mod:`.frames` (``12``, ``-1``, ``+8``, ``50%``, ``0..11``, ``12!``...).
:meth:`PromptSchedule.plan` turns a schedule into, for every frame, the prompt of the key before
it, the prompt of the key after it and the blend weight; encoding is left to the caller.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ScheduleError, SourceText
from .frames import FrameKey, key_points, parse_frame_key, resolve_keys
from .interpolation import PROMPT_INTERPOLATIONS, check_method, ease
from .prompt_text import EMPTY_TEXT, PromptText, join_prompt, parse_prompt_text
from .scanner import QUOTES, read_quoted, skip_blanks
from .scanner import found_snippet as _found

WEIGHT_NAMES = ("pw_a", "pw_b", "pw_c", "pw_d")

# ``frame: prompt`` at the start of an A1111 line; the key is checked by parse_frame_key.
_KEY_LINE = re.compile(r"[ \t]*([+-]?\d[\d.%]*(?:[ \t]*\.\.[ \t]*[+-]?\d[\d.%]*)?[ \t]*!?)[ \t]*:")
# A FizzNodes member whose key is written without quotes: ``0: "a cat"``.
_BARE_MEMBER = re.compile(r"[^\s:\"'{]+[ \t]*:[ \t]*[\"']")
# AnimateDiff-Evolved's "pythonic" member: ``0 = "a cat"`` (its keys may hold colons: ``0:8``).
_PYTHONIC_MEMBER = re.compile(r"[^\s=\"'{]+[ \t]*=[ \t]*[\"']")
# An AnimateDiff-Evolved range or hold key (``0:8``, ``16:``), which means something else here.
_ADE_COLON_KEY = re.compile(r"[ \t]*([\d.\-]*:[\d.\-:]*)[ \t]*(?==[ \t]*[\"'])")

EXPECTED_MEMBER = 'expected "frame": "prompt"'

# What a key outside the frames means, by syntax, as the tool that defined the syntax reads it:
# FizzNodes' BatchPromptSchedule blends the frames towards a key past max_frames (and so does
# AnimateDiff-Evolved for its `frame = "prompt"` form); A1111 prompt travel asserts every key is
# below the frame count.
OUTSIDE_KEYS = {"fizznodes": ("travel", "FizzNodes"), "pythonic": ("travel", "AnimateDiff-Evolved"),
                "a1111": ("refuse", "A1111 prompt travel")}
EXPECTED_LINE = 'expected "frame: prompt"'


@dataclass(frozen=True)
class PromptKeyframe:
    key: FrameKey
    text: PromptText


@dataclass(frozen=True)
class FrameBlend:
    """What one frame is made of: ``from`` prompts blended towards ``to`` prompts by ``weight``.

    ``weight`` is already eased; 0 means the ``from`` prompts exactly (``to`` is then None).
    """

    frame: int
    positive_from: str
    negative_from: str
    positive_to: str | None = None
    negative_to: str | None = None
    weight: float = 0.0


@dataclass
class PromptPlan:
    """The per-frame blends of a schedule; ``keyframes`` are the resolved key frames."""

    frames: list[FrameBlend]
    keyframes: list[int]
    interpolation: str
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line per frame: ``frame: prompt`` or ``frame: a (0.75) -> b (0.25)``."""
        lines = []
        for blend in self.frames:
            line = f"{blend.frame}: {blend.positive_from}"
            if blend.positive_to is not None and blend.weight:
                line = (f"{blend.frame}: {blend.positive_from} ({1 - blend.weight:.3f}) -> "
                        f"{blend.positive_to} ({blend.weight:.3f})")
            negative = blend.negative_from
            if blend.negative_to is not None and blend.weight and blend.negative_to != blend.negative_from:
                negative = f"{blend.negative_from or chr(34) * 2} -> {blend.negative_to or chr(34) * 2}"
            if negative:
                line += f" --neg {negative}"
            lines.append(line)
        return "\n".join(lines)


@dataclass(frozen=True)
class PromptSchedule:
    """A parsed prompt schedule.

    ``syntax``: ``"fizznodes"`` (JSON members), ``"pythonic"`` (AnimateDiff-Evolved's
    ``frame = "prompt"`` members), ``"a1111"`` (prompt-travel lines) or ``"plain"`` (no keys).
    """

    keyframes: tuple[PromptKeyframe, ...]
    head: tuple[PromptText, ...]
    tail: tuple[PromptText, ...]
    source: SourceText
    syntax: str

    def plan(self, frame_count: int, *, pre_text: str = "", app_text: str = "",
             weights: Mapping[str, float | Sequence[float]] | None = None,
             interpolation: str = "linear", loop: bool = False, first: int = 0,
             end: int | None = None) -> PromptPlan:
        """The blend of every frame ``first..end-1`` of a ``frame_count``-frame schedule.

        pre_text/app_text: prepended/appended to every prompt (they may hold ``--neg`` and
        backticks too). weights: ``pw_a``..``pw_d``, each a number or one number per planned
        frame (value ``i`` belongs to frame ``first + i``). loop: after the last key, travel back
        towards the first (A1111's cyclic travel). ``first``/``end`` (default: every frame) plan
        one chunk of a long video: keys, ``-1``, ``50%``, ``t`` and ``max_f`` still refer to the
        whole ``frame_count`` frames, so a chunk's frames are those of the unchunked plan.
        """
        check_method(interpolation, PROMPT_INTERPOLATIONS)
        if frame_count < 1:
            raise ScheduleError(f"expected at least 1 frame, got {frame_count}", source=self.source.name)
        end = frame_count if end is None else int(end)
        if not 0 <= first < end <= frame_count:
            raise ScheduleError(f"the planned frames {first}..{end - 1} must lie within 0..{frame_count - 1}",
                                source=self.source.name)
        pre = parse_prompt_text_input(pre_text, "pre_text")
        app = parse_prompt_text_input(app_text, "app_text")
        per_frame_weights = _frame_weights(weights or {}, end - first)
        points, warnings = self._points(frame_count)
        last_frame = frame_count - 1
        if loop and len(points) > 1:
            stray = next((p for p in points if not 0 <= p[0] < frame_count), None)
            if stray is not None:
                key = self.keyframes[stray[3]].key
                raise self.source.error(
                    key.index, f'keyframe "{key.text}" is frame {stray[0]}, outside the frames 0..{last_frame}: '
                               "with loop on, the last key travels back to the first across the end of the "
                               "clip, so every key must be a frame of the clip")

        def render(text: PromptText | None, frame: int) -> tuple[str, str]:
            variables = {"t": float(frame), "max_f": float(last_frame)}
            variables.update({name: values[frame - first] for name, values in per_frame_weights.items()})
            sections = [pre, *self.head, text or EMPTY_TEXT, *self.tail, app]
            positive = join_prompt([s.positive.render(variables, frame) for s in sections])
            negative = join_prompt([s.negative.render(variables, frame) for s in sections])
            return positive, negative

        frames = []
        point_frames = [p[0] for p in points]
        for frame in range(first, end):
            if not points:
                positive, negative = render(None, frame)
                frames.append(FrameBlend(frame, positive, negative))
                continue
            here, there, position, hold = _segment(points, point_frames, frame, frame_count, loop)
            weight = 0.0 if hold or there is None else ease(position, interpolation)
            positive, negative = render(here, frame)
            if weight == 0.0:
                frames.append(FrameBlend(frame, positive, negative))
                continue
            positive_to, negative_to = render(there, frame)
            frames.append(FrameBlend(frame, positive, negative, positive_to, negative_to, weight))
        keyframes = sorted(f for f in set(point_frames) if first <= f < end)
        return PromptPlan(frames, keyframes, interpolation, warnings)

    def _points(self, frame_count: int) -> tuple[list[tuple[int, PromptText, bool, int]], list[str]]:
        """Sorted (frame, text, hold, key number) points; a range gives a point at each end.

        A key past the last frame (or before the first) keeps its place in FizzNodes text, whose
        prompts travel towards it, and is refused in A1111 text (see :func:`.frames.resolve_keys`).
        """
        keys = [k.key for k in self.keyframes]
        outside, tool = OUTSIDE_KEYS.get(self.syntax, ("travel", "FizzNodes"))
        resolved, warnings = resolve_keys(keys, frame_count, self.source, outside=outside, tool=tool)
        points = key_points(keys, resolved, self.source)
        return [(frame, self.keyframes[number].text, hold, number) for frame, number, hold in points], warnings


def _segment(points, point_frames, frame, frame_count, loop):
    """(text here, text there or None, linear position 0..1, hold) for ``frame``."""
    i = bisect.bisect_right(point_frames, frame) - 1
    cyclic = loop and len(points) > 1
    if 0 <= i < len(points) - 1:
        start, text, hold, _ = points[i]
        end, next_text, _, _ = points[i + 1]
        return text, next_text, (frame - start) / (end - start), hold
    if not cyclic:
        start, text, hold, _ = points[max(i, 0)]
        return text, None, 0.0, True
    # Cyclic: from the last key across the end of the clip to the first key.
    last_start, text, hold, _ = points[-1]
    first_start, first_text, _, _ = points[0]
    span = first_start + frame_count - last_start
    offset = frame - last_start if frame >= last_start else frame + frame_count - last_start
    return text, first_text, offset / span, hold


def _frame_weights(weights: Mapping[str, float | Sequence[float]], frame_count: int) -> dict[str, list[float]]:
    out = {name: [0.0] * frame_count for name in WEIGHT_NAMES}
    for name, value in weights.items():
        if name not in WEIGHT_NAMES:
            raise ScheduleError(f"unknown prompt weight {name!r} (expected one of {', '.join(WEIGHT_NAMES)})")
        if value is None:
            continue
        if isinstance(value, (int, float)):
            values = [float(value)] * frame_count
        else:
            values = [float(v) for v in value]
            if len(values) < frame_count:
                raise ScheduleError(
                    f"{name} has {len(values)} values but the schedule has {frame_count} frames; "
                    f"give {name} one value per frame (a value schedule with the same max_frames) or a single number")
            values = values[:frame_count]
        for frame, v in enumerate(values):
            if v != v or v in (float("inf"), float("-inf")):
                raise ScheduleError(f"{name} is not a finite number at frame {frame}")
        out[name] = values
    return out


def parse_prompt_text_input(text: str, name: str) -> PromptText:
    """A plain prompt input (pre_text, app_text) that may hold ``--neg`` and backticks."""
    source = SourceText(text or "", name)
    return parse_prompt_text(source.text, source, list(range(len(source.text))))


def parse_prompt_schedule(text: str, name: str = "text") -> PromptSchedule:
    """Parse a FizzNodes or A1111 prompt schedule; raises :class:`ScheduleError` with a position."""
    source = SourceText(text if text is not None else "", name)
    body = source.text
    start = skip_blanks(body, 0)
    if start >= len(body):
        return PromptSchedule((), (), (), source, "plain")
    first_line = body[start:body.find("\n", start) if "\n" in body[start:] else len(body)]
    if body[start] in "{" + QUOTES or _BARE_MEMBER.match(first_line) or _PYTHONIC_MEMBER.match(first_line):
        return _parse_members(source, start)
    return _parse_lines(source)


def _parse_members(source: SourceText, start: int) -> PromptSchedule:
    text = source.text
    i = start
    braced = text[i] == "{"
    if braced:
        i += 1
    keyframes: list[PromptKeyframe] = []
    separators: list[str] = []
    while True:
        i = _skip_separators(text, i)
        if i >= len(text):
            if braced:
                raise source.error(start, "expected a closing } for the { that starts here")
            break
        if text[i] == "}":
            if not braced:
                raise source.error(i, f"{EXPECTED_MEMBER}, found a }} without an opening {{")
            end = skip_blanks(text, i + 1)
            if end < len(text):
                raise source.error(end, f"expected the end of the schedule after }}, found {source.describe(end)}")
            break
        key_start = i
        if text[i] in QUOTES:
            key_text, key_map, i = read_quoted(source, i)
            if re.fullmatch(r"[ \t]*[\d.\-]*:[\d.\-:]*[ \t]*", key_text):
                raise source.error(key_start + 1, _ade_colon_key_message(key_text.strip()))
        else:
            ade_key = _ADE_COLON_KEY.match(text, i)
            if ade_key:
                raise source.error(key_start, _ade_colon_key_message(ade_key.group(1)))
            j = i
            while j < len(text) and text[j] not in ":=\n," + QUOTES + "{}":
                j += 1
            if j >= len(text) or text[j] not in ":=":
                raise source.error(key_start, f"{EXPECTED_MEMBER}, found {_found(source, key_start)}")
            key_text, key_map, i = text[i:j], list(range(i, j)), j
        if not key_text.strip():
            raise source.error(key_start, f'{EXPECTED_MEMBER}: the frame is empty')
        i = skip_blanks(text, i)
        if i >= len(text) or text[i] not in ":=":
            raise source.error(i, f'{EXPECTED_MEMBER}: expected ":" after the frame, found {source.describe(i)}')
        separators.append(text[i])
        i = skip_blanks(text, i + 1)
        if i >= len(text) or text[i] not in QUOTES:
            raise source.error(i, f'{EXPECTED_MEMBER}: expected the prompt in double quotes, found {_found(source, i)}')
        key = parse_frame_key(key_text, source, key_map, allow_expressions=True)
        value, value_map, i = read_quoted(source, i)
        keyframes.append(PromptKeyframe(key, parse_prompt_text(value, source, value_map)))
        after = skip_blanks(text, i, newlines=False)
        if after < len(text) and text[after] not in ",\n}":
            raise source.error(after, f'expected "," or a new line after the prompt, found {_found(source, after)}')
        i = after
    # AnimateDiff-Evolved reads a text whose members all use "=" (and travels towards far keys
    # as FizzNodes does); its messages name it.
    syntax = "pythonic" if separators and all(sep == "=" for sep in separators) else "fizznodes"
    return PromptSchedule(tuple(keyframes), (), (), source, syntax)


def _ade_colon_key_message(key: str) -> str:
    """The error for an AnimateDiff-Evolved range (``0:8``, end excluded) or hold (``16:``) key."""
    span = re.fullmatch(r"(\d+):(\d+)", key)
    hold = re.fullmatch(r"(\d+):", key)
    if span and int(span.group(2)) > int(span.group(1)):
        first, end = int(span.group(1)), int(span.group(2))
        hint = f'write "{first}..{end - 1}" for frames {first} to {end - 1} (ranges here include their last frame)'
    elif hold:
        hint = f'write "{hold.group(1)}!" to hold the prompt until the next key'
    else:
        hint = 'write a range as "0..7" (both ends included) and a hold as "16!"'
    return (f'expected a frame key, found AnimateDiff-Evolved\'s range or hold key "{key}", '
            f'which this schedule does not read: {hint}')


def _skip_separators(text: str, i: int) -> int:
    while i < len(text) and (text[i].isspace() or text[i] == ","):
        i += 1
    return i


def _parse_lines(source: SourceText) -> PromptSchedule:
    text = source.text
    head: list[PromptText] = []
    tail: list[tuple[PromptText, int]] = []
    keyframes: list[PromptKeyframe] = []
    line_start = 0
    for line in text.split("\n"):
        offset = line_start
        line_start += len(line) + 1
        if not line.strip():
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            indent = len(line) - len(line.lstrip())
            parsed = parse_prompt_text(line, source, list(range(offset, offset + len(line))))
            if keyframes:
                tail.append((parsed, offset + indent))
            else:
                head.append(parsed)
            continue
        if tail:
            raise source.error(
                tail[0][1], f"{EXPECTED_LINE}: lines without a frame may only come before the first "
                            "keyframe (head) or after the last one (tail)")
        key_text = match.group(1)
        key_offset = offset + match.start(1)
        key = parse_frame_key(key_text, source, list(range(key_offset, key_offset + len(key_text))),
                              allow_expressions=False)
        value = line[match.end():]
        value_offset = offset + match.end()
        keyframes.append(PromptKeyframe(key, parse_prompt_text(value, source, list(range(value_offset, value_offset + len(value))))))
    syntax = "a1111" if keyframes else "plain"
    return PromptSchedule(tuple(keyframes), tuple(head), tuple(t for t, _ in tail), source, syntax)
