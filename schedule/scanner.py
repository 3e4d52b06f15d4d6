"""Character-level helpers shared by the schedule parsers (quoted strings, blanks)."""
from __future__ import annotations

from .errors import SourceText

QUOTES = "\"'"
_ESCAPES = {"\"": "\"", "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def skip_blanks(text: str, index: int, *, newlines: bool = True) -> int:
    """Index of the first character at or after ``index`` that is not a blank."""
    while index < len(text) and text[index].isspace() and (newlines or text[index] != "\n"):
        index += 1
    return index


def read_quoted(source: SourceText, index: int) -> tuple[str, list[int], int]:
    """Read the quoted string that starts at ``index``.

    Returns ``(value, index_map, end)``: the decoded value, the source index of every character
    of the value, and the index just after the closing quote. JSON escapes are decoded
    (``\\"``, ``\\\\``, ``\\n``, ``\\uXXXX``...); any other backslash pair is kept as written,
    so ComfyUI's ``\\(`` prompt escapes survive.
    """
    text = source.text
    quote = text[index]
    out: list[str] = []
    positions: list[int] = []
    i = index + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), positions, i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u":
                digits = text[i + 2:i + 6]
                if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                    out.append(chr(int(digits, 16)))
                    positions.append(i)
                    i += 6
                    continue
                raise source.error(i, "expected 4 hex digits after \\u")
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                positions.append(i)
                i += 2
                continue
            out.extend((ch, nxt))
            positions.extend((i, i + 1))
            i += 2
            continue
        out.append(ch)
        positions.append(i)
        i += 1
    raise source.error(index, f"expected a closing {quote} for the string that starts here")


def found_snippet(source: SourceText, index: int, limit: int = 20) -> str:
    """What the text holds at ``index`` (up to the line end), for 'found ...' in messages."""
    text = source.text
    if index >= len(text):
        return "the end of the text"
    end = index
    while end < len(text) and end - index < limit and text[end] != "\n":
        end += 1
    return repr(text[index:end]) if end > index else source.describe(index)
