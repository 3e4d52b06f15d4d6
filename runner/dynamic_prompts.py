"""Dynamic prompts: what the frontend does to text widgets marked ``dynamicPrompts`` when queueing.

Comments (``/* ... */`` and ``// ...`` to the end of the line) are removed, and each
``{a|b|c}`` block is replaced by one of its choices, picked at random (blocks nest). A backslash
escapes the next character; ``\\{``, ``\\}`` and ``\\|`` end up as the bare character.
"""
from __future__ import annotations

import random
import re

COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*")
ESCAPED_SYNTAX = re.compile(r"\\([{}|])")


def expand(text: str, rng: random.Random | None = None) -> str:
    """``text`` as the frontend sends it: comments gone, one choice of every ``{...|...}``."""
    rng = rng or random.Random()
    return ESCAPED_SYNTAX.sub(r"\1", _expand(COMMENTS.sub("", text), rng))


def _expand(text: str, rng: random.Random) -> str:
    out, index = [], 0
    while index < len(text):
        char = text[index]
        index += 1
        if char == "\\" and index < len(text):
            out.append("\\" + text[index])
            index += 1
        elif char == "\\":
            out.append("\\")
        elif char == "{":
            choice, index = _choice_block(text, index, rng)
            out.append(choice)
        else:
            out.append(char)
    return "".join(out)


def _choice_block(text: str, index: int, rng: random.Random) -> tuple[str, int]:
    """Read a block after its ``{``; return the expanded choice and where reading stopped."""
    choices, current, depth = [], [], 0
    while index < len(text):
        char = text[index]
        index += 1
        if char == "\\":
            current.append("\\" + (text[index] if index < len(text) else ""))
            index += 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                break
            depth -= 1
        elif char == "|" and depth == 0:
            choices.append("".join(current))
            current = []
            continue
        current.append(char)
    choices.append("".join(current))
    picked = choices[int(rng.random() * len(choices))]
    return _expand(picked, rng), index
