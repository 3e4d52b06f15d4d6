"""Context-window settings for motion modules (pure; the windows themselves are ComfyUI's).

Sampling runs the whole UNet on windows of ``length`` frames that overlap by ``overlap``
frames; ComfyUI's ``comfy/context_windows.py`` cuts and fuses them. This module only decides
sane settings for a given motion module and explains what it changed.
"""
from __future__ import annotations

from dataclasses import dataclass

from .choices import Choice

DEFAULT_LENGTH = 16
DEFAULT_OVERLAP = 4


class ContextSchedule(Choice):
    """How windows are laid over the clip; the values are ``comfy/context_windows.py``'s names."""
    STANDARD_STATIC = "standard_static"
    STANDARD_UNIFORM = "standard_uniform"
    LOOPED_UNIFORM = "looped_uniform"
    BATCHED = "batched"


class FuseMethod(Choice):
    """How the overlapping windows' predictions are blended (``comfy/context_windows.py``'s names)."""
    PYRAMID = "pyramid"
    FLAT = "flat"
    OVERLAP_LINEAR = "overlap-linear"
    RELATIVE = "relative"


@dataclass(frozen=True)
class ContextSettings:
    length: int
    overlap: int
    schedule: ContextSchedule
    fuse_method: FuseMethod
    closed_loop: bool
    stride: int = 1


def plan_context(pe_length: int, length: int = DEFAULT_LENGTH, overlap: int = DEFAULT_OVERLAP,
                 schedule: str = ContextSchedule.STANDARD_STATIC, fuse_method: str = FuseMethod.PYRAMID,
                 closed_loop: bool = False, stride: int = 1) -> tuple:
    """``(ContextSettings, [warning, ...])``: the settings clamped to what the module can do.

    - ``length`` above the module's positional length is clamped to it (the module has no
      positions for more frames per call);
    - ``length`` below 2 is raised to 2 (a one-frame window has nothing to attend to);
    - ``overlap`` is clamped to ``length - 1`` (windows must advance);
    - ``closed_loop`` needs wrapping windows, so it selects ``looped_uniform``.
    """
    # Parsed into their own names: the parameters are plain strings (saved workflows hold those).
    schedule_choice = ContextSchedule.parse(schedule, "context schedule")
    fuse_choice = FuseMethod.parse(fuse_method, "fuse method")
    if fuse_choice is FuseMethod.RELATIVE and schedule_choice is not ContextSchedule.STANDARD_STATIC:
        raise ValueError("fuse method 'relative' only works with the 'standard_static' schedule")
    warnings = []
    if length > pe_length:
        warnings.append(f"context length {length} is longer than the motion module's {pe_length} positions; using {pe_length}")
        length = pe_length
    if length < 2:
        warnings.append(f"context length {length} is below 2 frames; using 2")
        length = 2
    if overlap >= length:
        warnings.append(f"context overlap {overlap} must be below the context length {length}; using {length - 1}")
        overlap = length - 1
    if overlap < 0:
        raise ValueError(f"context overlap must be 0 or more, got {overlap}")
    if closed_loop and schedule_choice is not ContextSchedule.LOOPED_UNIFORM:
        warnings.append(f"closed_loop needs windows that wrap around; using 'looped_uniform' instead of '{schedule_choice}'")
        schedule_choice = ContextSchedule.LOOPED_UNIFORM
    if stride < 1:
        raise ValueError(f"context stride must be 1 or more, got {stride}")
    return ContextSettings(length, overlap, schedule_choice, fuse_choice, closed_loop, stride), warnings


def check_frames_per_call(frames: int, pe_length: int, windowed: bool) -> None:
    """Raise a clear error when one motion-module call gets more frames than it has positions."""
    if frames > pe_length:
        if windowed:
            raise ValueError(f"a context window of {frames} frames exceeds the motion module's {pe_length} positions; "
                             f"set context_length to {pe_length} or less")
        raise ValueError(f"{frames} frames in one batch exceed the motion module's {pe_length} positions; "
                         f"enable context windows (context_length 16 on Load Motion Module, or core's Context Windows node)")
