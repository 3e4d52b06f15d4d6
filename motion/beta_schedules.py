"""The noise (beta) schedules a motion module can sample with.

Each motion-module family was trained on one DDPM beta schedule; sampling with another one
still runs but gives washed-out or noisy animation. ``auto`` picks the one the file was trained
with (``MotionModuleInfo.auto_beta_schedule``). ComfyUI's ``model_sampling`` object for a schedule
is built in ``comfy_glue/motion_patch.py``; this module holds only the choices and their numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

from .choices import Choice


class BetaSchedule(Choice):
    """The Load Motion Module ``beta_schedule`` choices (AnimateDiff-Evolved's names, so users recognise them)."""
    AUTO = "auto"
    SQRT_LINEAR = "sqrt_linear (AnimateDiff)"
    LINEAR = "linear (HotshotXL/default)"
    LINEAR_SDXL = "linear (AnimateDiff-SDXL)"
    LCM = "lcm (AnimateLCM)"
    USE_EXISTING = "use existing"


@dataclass(frozen=True)
class BetaRange:
    """Betas over 1000 training steps from ``start`` to ``end``; ``kind`` is ComfyUI's
    ``beta_schedule`` name (``linear`` interpolates sqrt(beta), ``sqrt_linear`` beta itself)."""
    kind: str
    start: float
    end: float


BETA_RANGES = {
    BetaSchedule.SQRT_LINEAR: BetaRange("sqrt_linear", 0.00085, 0.012),
    BetaSchedule.LINEAR: BetaRange("linear", 0.00085, 0.012),
    BetaSchedule.LINEAR_SDXL: BetaRange("linear", 0.00085, 0.020),
    # AnimateLCM was distilled from SD1.5's own schedule; LCM sampling on top is ComfyUI's
    BetaSchedule.LCM: BetaRange("linear", 0.00085, 0.012),
}
"""The concrete schedules (``auto`` and ``use existing`` are not schedules of their own)."""


def resolve_beta_schedule(choice, auto: BetaSchedule) -> BetaSchedule:
    """The schedule to sample with: ``choice``, or ``auto`` (the file's own) when it is ``"auto"``.

    Raises a ValueError naming the choices for an unknown ``choice``.
    """
    schedule = BetaSchedule.parse(choice, "beta_schedule")
    return auto if schedule is BetaSchedule.AUTO else schedule
