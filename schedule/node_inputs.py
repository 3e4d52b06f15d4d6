"""What the Prompt Schedule and Value Schedule nodes hand the parsers, and what they get back.

The frame count from a connected LATENT, the ``pw_a``..``pw_d`` weights, the syntax check run when
a prompt is queued, a :class:`ScheduleError` turned into the ``ValueError`` ComfyUI shows (prefixed
with the node's name), and the Value Schedule's three outputs. Pure: a LATENT is a dict holding a
tensor, nothing here imports ComfyUI.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from .errors import ScheduleError
from .prompt_schedule import WEIGHT_NAMES, parse_prompt_schedule
from .value_schedule import parse_value_schedule, values_at

log = logging.getLogger(__name__)

PROMPT_SCHEDULE = "Prompt schedule"
VALUE_SCHEDULE = "Value schedule"


def frame_count_from(max_frames: int, latent: Mapping | None = None) -> int:
    """The latent's batch size when a latent is connected, else ``max_frames``.

    latent: ComfyUI's LATENT, ``{"samples": (frames, channels, height, width)}``.
    """
    if latent is None:
        return int(max_frames)
    samples = latent.get("samples") if isinstance(latent, Mapping) else None
    if samples is None or samples.ndim != 4:
        shape = None if samples is None else tuple(samples.shape)
        raise ValueError(f"latent: expected an image latent batch [frames, channels, height, width] "
                         f"(one latent per frame), got shape {shape}")
    return int(samples.shape[0])


def schedule_frames(max_frames: int, latent: Mapping | None = None, chunk=None) -> tuple[int, int, int]:
    """``(frame_count, first, end)``: the schedule's length and the frames this run makes.

    Without a chunk: :func:`frame_count_from`, every frame. With a ``chunking.Chunk``: the whole
    video's ``total_frames`` (so keys such as ``-1`` or ``50%`` and ``max_f`` mean the same frame
    in every chunk) and the chunk's loaded frames ``[first, end)``; a connected latent must then
    hold exactly those frames.
    """
    if chunk is None:
        count = frame_count_from(max_frames, latent)
        return count, 0, count
    if latent is not None:
        frames = frame_count_from(max_frames, latent)
        if frames != chunk.frames:
            raise ValueError(f"latent has {frames} frames but chunk {chunk.index} loads {chunk.frames} "
                             f"(frames {chunk.first}..{chunk.end - 1}); make the latent from this chunk's frames")
    return chunk.plan.total_frames, chunk.first, chunk.end


def prompt_weights(inputs: Mapping[str, object]) -> dict:
    """The connected ``pw_a``..``pw_d`` of ``inputs``: a number, or one number per frame.

    A FLOATS socket may carry a tensor or an array; it becomes a list (a 0-d one a number).
    """
    weights = {}
    for name in WEIGHT_NAMES:
        value = inputs.get(name)
        if value is None:
            continue
        weights[name] = value.tolist() if hasattr(value, "tolist") else value
    return weights


@contextmanager
def reported_as(node: str) -> Iterator[None]:
    """Turn a :class:`ScheduleError` into ``ValueError("<node>: <where>: <what>")``.

    ComfyUI shows a node's exception message to the user; the node's name tells which of the
    schedules on the canvas is wrong, the rest names the input, line and column.
    """
    try:
        yield
    except ScheduleError as exc:
        raise ValueError(f"{node}: {exc}") from None


def check_prompt_schedule_syntax(**texts: object) -> bool | str:
    """True, or the message of the first syntax error among the schedule ``texts`` (by input name).

    Inputs that are not strings (linked from another node, unknown until it runs) are skipped.
    """
    for name, value in texts.items():
        if isinstance(value, str):
            try:
                parse_prompt_schedule(value, name)
            except ScheduleError as exc:
                return f"{PROMPT_SCHEDULE}: {exc}"
    return True


def check_value_schedule_syntax(text: object, name: str = "text") -> bool | str:
    """True, or the message of the syntax error in ``text`` (skipped when it is not a string)."""
    if isinstance(text, str):
        try:
            parse_value_schedule(text, name)
        except ScheduleError as exc:
            return f"{VALUE_SCHEDULE}: {exc}"
    return True


def value_schedule_outputs(text: str, frame_count: int, current_frame: int,
                           interpolation: str = "linear", first: int = 0,
                           end: int | None = None) -> tuple[list[float], float, int]:
    """``(values, value, int_value)``: one value per frame ``first..end-1`` (default: all), the
    value at ``current_frame`` (an absolute frame, wrapping around ``frame_count``) and that value
    rounded half up. Raises ``ValueError`` naming line and column."""
    end = frame_count if end is None else end
    with reported_as(VALUE_SCHEDULE):
        schedule = parse_value_schedule(text, "text")
        result = schedule.evaluate(frame_count, interpolation, first, end)
        if (first, end) == (0, frame_count):
            value = values_at(result.values, int(current_frame))
        else:
            frame = int(current_frame) % frame_count
            value = schedule.evaluate(frame_count, interpolation, frame, frame + 1).values[0]
    for warning in result.warnings:
        log.warning("SteadyFrame value schedule: %s", warning)
    return list(result.values), value, int(math.floor(value + 0.5))
