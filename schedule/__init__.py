"""Prompt travel and value schedules (pure Python and torch; nothing here imports ComfyUI).

- :func:`parse_prompt_schedule`: FizzNodes JSON members or A1111 prompt-travel lines to a
  :class:`PromptSchedule`, whose :meth:`~PromptSchedule.plan` gives every frame's blend.
- :func:`parse_value_schedule`: Deforum keyframe strings to a :class:`ValueSchedule`, whose
  :meth:`~ValueSchedule.evaluate` gives one float per frame.
- :func:`compile_expression`: the safe math evaluator both use.
- :mod:`.interpolation`: easing and the lerp/slerp of conditioning tensors.
- :mod:`.conditioning`: the per-frame batch of encoded prompts (prompt travel's output).
- :mod:`.keyframe_text`: the ``key: (value)`` list syntax (value and MotionLoRA strength schedules).
- :mod:`.node_inputs`: frame count, weights, syntax checks and errors as the two nodes need them.

Every malformed input raises :class:`ScheduleError` (a ``ValueError``) naming line and column.
"""
from .errors import ScheduleError, SourceText
from .expressions import FUNCTIONS, Expression, compile_expression
from .interpolation import (
    PROMPT_INTERPOLATIONS,
    VALUE_INTERPOLATIONS,
    PromptInterpolation,
    ValueInterpolation,
    blend,
    ease,
    fit_tokens,
    lerp,
    slerp,
)
from .prompt_schedule import FrameBlend, PromptPlan, PromptSchedule, parse_prompt_schedule
from .value_schedule import ValueResult, ValueSchedule, parse_value_schedule, values_at

__all__ = [
    "ScheduleError", "SourceText", "FUNCTIONS", "Expression", "compile_expression",
    "PROMPT_INTERPOLATIONS", "VALUE_INTERPOLATIONS", "PromptInterpolation", "ValueInterpolation",
    "blend", "ease", "fit_tokens", "lerp", "slerp",
    "FrameBlend", "PromptPlan", "PromptSchedule", "parse_prompt_schedule",
    "ValueResult", "ValueSchedule", "parse_value_schedule", "values_at",
]
