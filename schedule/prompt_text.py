"""Prompt text with backtick math and ``--neg`` parts.

``"a (smiling:`0.5+0.5*sin(t/12)`) cat --neg blurry"`` has a positive part with one expression
and a negative part. Expressions are evaluated per frame with ``t`` (the frame), ``max_f`` (the
last frame index) and the prompt weights ``pw_a``..``pw_d``; the number replaces the backticks.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import SourceText
from .expressions import Expression, compile_expression

PROMPT_VARIABLES = ("t", "max_f", "pw_a", "pw_b", "pw_c", "pw_d")
NEGATIVE_MARKER = "--neg"


def format_number(value: float) -> str:
    """How an expression's value is written into a prompt: at most 4 decimals, no trailing zeros."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class PromptTemplate:
    """Literal text and expressions, in order."""

    parts: tuple[str | Expression, ...]

    @property
    def is_static(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    def render(self, variables: Mapping[str, float], frame: int | None = None) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(format_number(part.evaluate(variables, frame=frame)))
        return "".join(out).strip()


EMPTY_TEMPLATE = PromptTemplate(())


@dataclass(frozen=True)
class PromptText:
    """A positive and a negative template (the negative one is empty without ``--neg``)."""

    positive: PromptTemplate
    negative: PromptTemplate


EMPTY_TEXT = PromptText(EMPTY_TEMPLATE, EMPTY_TEMPLATE)


def parse_prompt_text(text: str, source: SourceText, index_map: Sequence[int]) -> PromptText:
    """Split ``text`` (whose characters sit at ``index_map`` in ``source``) at ``--neg`` and backticks."""
    spans = _expression_spans(text, source, index_map)
    marker = _find_marker(text, spans)
    if marker is None:
        return PromptText(_template(text, 0, len(text), spans, source, index_map), EMPTY_TEMPLATE)
    second = _find_marker(text, spans, marker + len(NEGATIVE_MARKER))
    if second is not None:
        raise source.error(index_map[second], f'expected at most one "{NEGATIVE_MARKER}" in a prompt')
    positive = _template(text, 0, marker, spans, source, index_map)
    negative = _template(text, marker + len(NEGATIVE_MARKER), len(text), spans, source, index_map)
    return PromptText(positive, negative)


def _expression_spans(text: str, source: SourceText, index_map: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) of every backtick pair, backticks included."""
    spans: list[tuple[int, int]] = []
    position = 0
    while True:
        opening = text.find("`", position)
        if opening < 0:
            return spans
        closing = text.find("`", opening + 1)
        if closing < 0:
            raise source.error(index_map[opening], "expected a closing ` for the expression that starts here")
        spans.append((opening, closing + 1))
        position = closing + 1


def _find_marker(text: str, spans: list[tuple[int, int]], start: int = 0) -> int | None:
    position = start
    while True:
        found = text.find(NEGATIVE_MARKER, position)
        if found < 0:
            return None
        if not any(a <= found < b for a, b in spans):
            return found
        position = found + 1


def _template(text: str, start: int, end: int, spans: list[tuple[int, int]], source: SourceText,
              index_map: Sequence[int]) -> PromptTemplate:
    parts: list[str | Expression] = []
    position = start
    for a, b in spans:
        if a < start or b > end:
            continue
        if a > position:
            parts.append(text[position:a])
        inner = text[a + 1:b - 1]
        if not inner.strip():
            raise source.error(index_map[a], "expected an expression between the backticks, found nothing")
        parts.append(compile_expression(inner, PROMPT_VARIABLES, source=source, index_map=index_map[a + 1:b - 1]))
        position = b
    if position < end:
        parts.append(text[position:end])
    # Outer blanks carry no meaning; strip them here so that joining parts is predictable.
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0].lstrip()
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
    return PromptTemplate(tuple(p for p in parts if not (isinstance(p, str) and p == "")))


def join_prompt(parts: Sequence[str]) -> str:
    """Join prompt pieces with ``", "``, skipping empty ones.

    A single piece comes back unchanged (blanks aside), so a keyframe without pre/app text
    encodes exactly like the same text in CLIPTextEncode; commas are tidied only at the seams.
    """
    pieces = [part.strip() for part in parts if part.strip()]
    if len(pieces) <= 1:
        return pieces[0] if pieces else ""
    tidy = []
    for i, piece in enumerate(pieces):
        if i > 0:
            piece = piece.lstrip(",").lstrip()
        if i < len(pieces) - 1:
            piece = piece.rstrip(",").rstrip()
        if piece:
            tidy.append(piece)
    return ", ".join(tidy)
