"""Motion scale and effect over the sampling steps: keyframes, step ranges, per-block weights.

Pure bookkeeping; the motion modules themselves take one ``scale`` and one ``effect`` per call
(a float, or one value per frame). What this module decides, for one motion model at one
sampling sigma:

- **step range** (``start_percent``..``end_percent``): outside it the model's effect is 0;
- **keyframes**: from its ``start_percent`` on, a keyframe's scale/effect/block weights multiply
  the model's own; ``inherit_missing`` keeps the previous keyframe's value for what a keyframe
  leaves unset; ``guarantee_steps`` holds a keyframe for that many steps before a later one can
  take over;
- **block weights**: a further factor per UNet block (down/mid/up, a block index, a module index).

Semantics follow AnimateDiff-Evolved 1.5.7's keyframes (facts, not code), so that the same
settings sample the same latents: percents become sigmas through the model's
``percent_to_sigma``; a keyframe applies at a step whose sigma is at or below its start sigma;
comparisons run in float32 as ComfyUI's sigma tensors do. The keyframe in force at a step is
worked out from the run's sigmas alone (no state between calls): it replays the steps from the
first one. Multi-stage samplers (Heun, DPM-2) call the model between steps; those calls use the
keyframe of the step they belong to.

Per-frame values (lists) follow the pack's rule: one value per frame, the last one repeats.
Combining two values multiplies them (frame by frame for lists).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Optional, Union

import torch

FrameValues = Union[float, list]
BLOCK_TYPES = ("down", "mid", "up")
# percent_to_sigma(0) of ComfyUI's discrete schedules: "before every step"
_BEFORE_EVERYTHING = 999999999.9


def combine(a: Optional[FrameValues], b: Optional[FrameValues]) -> Optional[FrameValues]:
    """``a * b`` for floats or per-frame lists (lists are extended with their last value); ``None`` is 1."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) * float(b)
    la = [float(a)] if isinstance(a, (int, float)) else [float(v) for v in a]
    lb = [float(b)] if isinstance(b, (int, float)) else [float(v) for v in b]
    n = max(len(la), len(lb))
    la += la[-1:] * (n - len(la))
    lb += lb[-1:] * (n - len(lb))
    return [x * y for x, y in zip(la, lb)]


# ------------------------------------------------------------------------------------------------
# per-block weights

_MODULE_KEY = re.compile(r"^(down_blocks|up_blocks|mid_block)\.(?:(\d+)\.)?motion_modules\.(\d+)$")
_BLOCK_NAME = re.compile(r"^(down|mid|up)(?:_(\d+)(?:\.(\d+))?)?$")


def module_position(key: str) -> tuple:
    """``"down_blocks.2.motion_modules.1"`` -> ``("down", 2, 1)``; the mid module is ``("mid", 0, 0)``."""
    match = _MODULE_KEY.match(key)
    if match is None:
        raise ValueError(f"not a motion-module key: {key!r}")
    kind = {"down_blocks": "down", "up_blocks": "up", "mid_block": "mid"}[match[1]]
    return kind, int(match[2] or 0), int(match[3])


@dataclass(frozen=True)
class BlockWeight:
    """Weights for the modules of one place: a block type, optionally one block, optionally one module."""
    block: str
    index: Optional[int] = None
    module: Optional[int] = None
    effect: Optional[float] = None
    scale: Optional[float] = None

    def matches(self, position: tuple) -> bool:
        kind, index, module = position
        return (self.block == kind and (self.index is None or self.index == index)
                and (self.module is None or self.module == module))

    @property
    def specificity(self) -> int:
        return (self.index is not None) + (self.module is not None)


@dataclass(frozen=True)
class BlockWeights:
    """A set of :class:`BlockWeight`; for each module the most specific entry with a value wins."""
    entries: tuple = ()

    def value(self, key: str, what: str) -> Optional[float]:
        position = module_position(key)
        for entry in sorted(self.entries, key=lambda e: -e.specificity):
            value = getattr(entry, what)
            if value is not None and entry.matches(position):
                return value
        return None


def parse_block_weights(text: str, what: str, name: str) -> list:
    """``"down: 0.5, up_3: 1.2, up_1.2: 0"`` -> one :class:`BlockWeight` per item, setting ``what``.

    Keys: ``down``/``mid``/``up``, ``<type>_<block>`` (e.g. ``down_0``), ``<type>_<block>.<module>``
    (e.g. ``up_3.2``). ``name`` is the input the text came from; errors name it and the item.
    """
    weights = []
    for number, item in enumerate([p for p in re.split(r"[,;\n]", str(text)) if p.strip()], start=1):
        key, colon, value = item.partition(":")
        match = _BLOCK_NAME.match(key.strip())
        if not colon or match is None:
            raise ValueError(f"{name}: item {number} ({item.strip()!r}) should look like 'down: 0.5', 'up_3: 1.2' or "
                             f"'up_1.2: 0' (block type down/mid/up, optional block index, optional .module index)")
        try:
            number_value = float(value)
        except ValueError:
            raise ValueError(f"{name}: item {number} ({item.strip()!r}): {value.strip()!r} is not a number") from None
        index = int(match[2]) if match[2] is not None else None
        module = int(match[3]) if match[3] is not None else None
        weights.append(BlockWeight(match[1], index, module, **{what: number_value}))
    return weights


# ------------------------------------------------------------------------------------------------
# keyframes

@dataclass(frozen=True)
class MotionKeyframe:
    """From ``start_percent`` of the sampling run on, multiply the model's scale/effect by these."""
    start_percent: float = 0.0
    scale: Optional[FrameValues] = None
    effect: Optional[FrameValues] = None
    blocks: Optional[BlockWeights] = None
    inherit_missing: bool = True
    guarantee_steps: int = 1
    default: bool = False  # the implicit keyframe at 0 that every list starts with

    def __post_init__(self):
        if not 0.0 <= self.start_percent <= 1.0:
            raise ValueError(f"keyframe start_percent must be within 0..1, got {self.start_percent}")
        if self.guarantee_steps < 0:
            raise ValueError(f"keyframe guarantee_steps must be 0 or more, got {self.guarantee_steps}")


def add_keyframe(keyframes: Sequence[MotionKeyframe], keyframe: MotionKeyframe) -> tuple:
    """``keyframes`` plus ``keyframe``, ordered by start (stable for equal starts)."""
    kept = [k for k in keyframes if not k.default]
    return tuple(sorted(kept + [keyframe], key=lambda k: k.start_percent))


@dataclass(frozen=True)
class MotionControl:
    """Everything that varies one motion model's strength over the sampling run."""
    scale: FrameValues = 1.0
    effect: FrameValues = 1.0
    blocks: Optional[BlockWeights] = None
    keyframes: tuple = ()
    start_percent: float = 0.0
    end_percent: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.start_percent <= self.end_percent <= 1.0:
            raise ValueError(f"motion step range must satisfy 0 <= start_percent <= end_percent <= 1, "
                             f"got {self.start_percent}..{self.end_percent}")

    @property
    def varies(self) -> bool:
        """True when anything here depends on the step or the block (a per-call plan is needed)."""
        return bool(self.keyframes) or self.blocks is not None or self.start_percent > 0.0 or self.end_percent < 1.0

    def with_changes(self, **changes) -> MotionControl:
        return replace(self, **changes)


@dataclass(frozen=True)
class Resolved:
    """One model's values at one sigma, before per-block weights."""
    scale: Optional[FrameValues]
    effect: Optional[FrameValues]
    blocks: Optional[BlockWeights]
    active: bool = True

    def for_module(self, key: str) -> tuple:
        """``(scale, effect)`` for the module at ``key`` (None means 1)."""
        if not self.active:
            return self.scale if self.scale is not None else 1.0, 0.0
        scale, effect = self.scale, self.effect
        if self.blocks is not None:
            scale = combine(scale, self.blocks.value(key, "scale"))
            effect = combine(effect, self.blocks.value(key, "effect"))
        return (1.0 if scale is None else scale), (1.0 if effect is None else effect)


def _f32(value: float) -> float:
    return float(torch.tensor(float(value), dtype=torch.float32))


@dataclass
class _KeyframeState:
    index: int = -1
    used: int = 0
    scale: Optional[FrameValues] = None
    effect: Optional[FrameValues] = None
    blocks: Optional[BlockWeights] = None
    current: Optional[MotionKeyframe] = field(default=None)


def resolve(control: MotionControl, sigma: float, sample_sigmas: Optional[Sequence[float]],
            percent_to_sigma: Callable[[float], float]) -> Resolved:
    """The values of ``control`` at the model call with ``sigma`` in a run over ``sample_sigmas``."""
    sigma = _f32(sigma)
    start_sigma, end_sigma = _f32(percent_to_sigma(control.start_percent)), _f32(percent_to_sigma(control.end_percent))
    keyframes = list(control.keyframes)
    if not keyframes or keyframes[0].start_percent != 0.0:
        keyframes.insert(0, MotionKeyframe(0.0, default=True))
    starts = [_f32(percent_to_sigma(k.start_percent)) for k in keyframes]
    steps = [_f32(s) for s in (sample_sigmas or [])]
    max_sigma = max(steps) if steps else _f32(_BEFORE_EVERYTHING)
    # the steps run before this call, then this one (distinct sigmas, highest first)
    seen = sorted({s for s in steps[:-1] if s > sigma}, reverse=True) + [sigma]

    def guarantee(i: int) -> int:
        return 0 if starts[i] > max_sigma else keyframes[i].guarantee_steps

    state = _KeyframeState()
    for t in seen:
        if state.current is None or state.used >= guarantee(state.index):
            for i in range(state.index + 1, len(keyframes)):
                if starts[i] < t:
                    break
                keyframe = keyframes[i]
                state.index, state.current, state.used = i, keyframe, 0
                for what in ("scale", "effect", "blocks"):
                    value = getattr(keyframe, what)
                    if value is not None:
                        setattr(state, what, value)
                    elif not keyframe.inherit_missing:
                        setattr(state, what, None)
                if guarantee(i) > 0:
                    break
        state.used += 1
    active = not (sigma > start_sigma or sigma < end_sigma)
    return Resolved(scale=combine(control.scale, state.scale), effect=combine(control.effect, state.effect),
                    blocks=state.blocks if state.blocks is not None else control.blocks, active=active)
