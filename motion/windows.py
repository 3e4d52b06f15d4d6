"""Context-window settings for motion modules (pure; the windows themselves are ComfyUI's).

Sampling runs the whole UNet on windows of ``length`` frames that overlap by ``overlap``
frames; ComfyUI's ``comfy/context_windows.py`` cuts and fuses them. This module only decides
sane settings for a given motion module and explains what it changed.
"""
from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("standard_static", "standard_uniform", "looped_uniform", "batched")
FUSE_METHODS = ("pyramid", "flat", "overlap-linear", "relative")
DEFAULT_LENGTH = 16
DEFAULT_OVERLAP = 4


@dataclass(frozen=True)
class ContextSettings:
    length: int
    overlap: int
    schedule: str
    fuse_method: str
    closed_loop: bool
    stride: int = 1


def plan_context(pe_length: int, length: int = DEFAULT_LENGTH, overlap: int = DEFAULT_OVERLAP,
                 schedule: str = "standard_static", fuse_method: str = "pyramid", closed_loop: bool = False,
                 stride: int = 1) -> tuple:
    """``(ContextSettings, [warning, ...])``: the settings clamped to what the module can do.

    - ``length`` above the module's positional length is clamped to it (the module has no
      positions for more frames per call);
    - ``length`` below 2 is raised to 2 (a one-frame window has nothing to attend to);
    - ``overlap`` is clamped to ``length - 1`` (windows must advance);
    - ``closed_loop`` needs wrapping windows, so it selects ``looped_uniform``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown context schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if fuse_method not in FUSE_METHODS:
        raise ValueError(f"unknown fuse method {fuse_method!r}; expected one of {', '.join(FUSE_METHODS)}")
    if fuse_method == "relative" and schedule != "standard_static":
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
    if closed_loop and schedule != "looped_uniform":
        warnings.append(f"closed_loop needs windows that wrap around; using 'looped_uniform' instead of {schedule!r}")
        schedule = "looped_uniform"
    if stride < 1:
        raise ValueError(f"context stride must be 1 or more, got {stride}")
    return ContextSettings(length, overlap, schedule, fuse_method, closed_loop, stride), warnings


def check_frames_per_call(frames: int, pe_length: int, windowed: bool) -> None:
    """Raise a clear error when one motion-module call gets more frames than it has positions."""
    if frames > pe_length:
        if windowed:
            raise ValueError(f"a context window of {frames} frames exceeds the motion module's {pe_length} positions; "
                             f"set context_length to {pe_length} or less")
        raise ValueError(f"{frames} frames in one batch exceed the motion module's {pe_length} positions; "
                         f"enable context windows (context_length 16 on Load Motion Module, or core's Context Windows node)")
