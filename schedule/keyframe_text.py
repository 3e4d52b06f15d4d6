"""The ``key: (value)`` list syntax, shared by value schedules and MotionLoRA strength schedules.

``0:(1.0), 10:(0.5)``: pairs separated by commas or new lines; a key may be quoted
(``"0": "1.0"``), a value may sit in parentheses, in quotes, or bare up to the next comma or line
break outside parentheses. This module only splits the text: what a key or a value means (a frame,
a sampling progress, an expression in ``t``...) is up to the caller's ``read_key`` and
``read_value``, which receive the text with the source index of each of its characters, so their
errors name the line and column in the schedule.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import SourceText
from .scanner import QUOTES, found_snippet, read_quoted, skip_blanks

K = TypeVar("K")
V = TypeVar("V")


def read_keyframe_pairs(source: SourceText, read_key: Callable[[str, Sequence[int]], K],
                        read_value: Callable[[str, Sequence[int]], V], *,
                        form: str = "frame: (value)") -> list[tuple[K, V]]:
    """``(read_key(key_text, index_map), read_value(value_text, index_map))`` for every pair, in
    written order.

    Each key is read before the text after it is looked at, so the first mistake in the text is the
    one reported. ``form`` names the pair in messages (``expected "frame: (value)"``). Raises
    :class:`ScheduleError`; an empty (or blank) text gives no pairs.
    """
    body = source.text
    expected = f'expected "{form}"'
    key_name = form.split(":")[0].strip()
    pairs: list[tuple[K, V]] = []
    i = skip_blanks(body, 0)
    while True:
        while i < len(body) and (body[i].isspace() or body[i] == ","):
            i += 1
        if i >= len(body):
            return pairs
        key_start = i
        if body[i] in QUOTES:
            key_text, key_map, i = read_quoted(source, i)
            i = skip_blanks(body, i)
        else:
            j = i
            while j < len(body) and body[j] not in ":=\n,()" + QUOTES:
                j += 1
            key_text, key_map, i = body[i:j], list(range(i, j)), j
        if i < len(body) and body[i] == "=" and key_text.strip():
            # AnimateDiff-Evolved's "frame = value" form
            raise source.error(i, f'{expected}, found "=" (a colon goes between the {key_name} and the value)')
        if i >= len(body) or body[i] != ":":
            raise source.error(key_start if not key_text.strip() else i,
                               f"{expected}, found {found_snippet(source, key_start)}")
        if not key_text.strip():
            raise source.error(key_start, f"{expected}: the {key_name} is empty")
        key = read_key(key_text, key_map)
        i = skip_blanks(body, i + 1, newlines=False)
        value_text, value_map, i = _value_text(source, i, expected)
        pairs.append((key, read_value(value_text, value_map)))
        after = skip_blanks(body, i, newlines=False)
        if after < len(body) and body[after] not in ",\n":
            raise source.error(after, f'expected "," or a new line after the value, found {found_snippet(source, after)}')
        i = after


def _value_text(source: SourceText, i: int, expected: str) -> tuple[str, list[int], int]:
    """``(text, index_map, end)`` of the value starting at ``i``, without its quotes or
    enclosing parentheses."""
    body = source.text
    if i >= len(body) or body[i] in ",\n":
        raise source.error(i, f"{expected}: expected a value after the colon, found {source.describe(i)}")
    if body[i] in QUOTES:
        value, value_map, end = read_quoted(source, i)
        if not value.strip():
            raise source.error(i, f"{expected}: the value in quotes is empty")
        return value, value_map, end
    if body[i] == "(":
        close = _matching_paren(source, i)
        after = skip_blanks(body, close + 1, newlines=False)
        # "(1)+2" is a bare expression that starts with parentheses, not a value in parentheses
        if after >= len(body) or body[after] in ",\n":
            if not body[i + 1:close].strip():
                raise source.error(i, f"{expected}: the value in parentheses is empty")
            return body[i + 1:close], list(range(i + 1, close)), close + 1
    # A bare value runs to the next comma or line break outside parentheses.
    depth = 0
    j = i
    while j < len(body):
        ch = body[j]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                raise source.error(j, "found a ) without a matching (")
            depth -= 1
        elif ch in ",\n" and depth == 0:
            break
        elif ch == ":" and depth == 0:
            raise source.error(j, 'found ":" inside a value: expected "," or a new line between keyframes')
        j += 1
    if depth:
        raise source.error(i, "expected a closing ) for the value that starts here")
    return body[i:j], list(range(i, j)), j


def _matching_paren(source: SourceText, i: int) -> int:
    depth = 0
    for j in range(i, len(source.text)):
        if source.text[j] == "(":
            depth += 1
        elif source.text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise source.error(i, "expected a closing ) for the value that starts here")
