"""Per-frame settings of a motion module (motion scale, effect) from the node's three inputs."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

FrameValues = Union[float, list]
"""One value for every frame, or a list with one value per frame (the last one repeats)."""


def parse_frame_values(text: str, name: str) -> FrameValues:
    """``"1.0"`` -> 1.0; ``"0, 0.5; 1"`` -> ``[0.0, 0.5, 1.0]`` (commas or semicolons between frames).

    ``name`` is the input the text came from; errors name it and the item's position.
    """
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{name}: empty; give a number or comma-separated numbers, one per frame")
    values = []
    for column, part in enumerate(parts, start=1):
        try:
            values.append(float(part))
        except ValueError:
            raise ValueError(f"{name}: item {column} ({part!r}) is not a number; expected e.g. '1.0' or '1.0, 1.2, 0.8'") from None
    return values[0] if len(values) == 1 else values


def frame_setting(value: float, text: str = "", floats: Optional[Sequence[float]] = None, name: str = "value") -> FrameValues:
    """The setting from a number widget, its per-frame text and an optional FLOATS input.

    ``floats`` (e.g. a Value Schedule) wins over ``text``, which wins over ``value``; ``name`` is
    the text input's name, for errors.
    """
    if floats is not None:
        return [float(v) for v in floats]
    if str(text).strip():
        return parse_frame_values(text, name)
    return value
