"""MotionLoRA files: read, map onto a motion module's attention projections, keep factorized.

A MotionLoRA adds ``up @ down`` (rank r) to the q/k/v/out projections of the temporal
attentions. The pack never multiplies the factors out: the motion module adds
``strength * (x @ down.T) @ up.T`` in its forward pass (see ``motion/temporal.py``), so a
rank-64 LoRA for a v2 module costs its 77 MB of factors instead of a dense 660 MB copy.

Key namings understood (``<attn>`` = ``<block>.motion_modules.M[.temporal_transformer]
.transformer_blocks.0.attention_blocks.N``, or diffusers' ``...transformer_blocks.0.attnK``):

- official AnimateDiff: ``<attn>.processor.to_q_lora.down.weight`` / ``.up.weight``
  (to_q, to_k, to_v, to_out; no alpha key, so scale 1: the original merge ``W + up @ down``);
- diffusers / PEFT: ``<attn>.to_q.lora_A.weight`` / ``lora_B`` and ``<attn>.to_q.lora.down/up``,
  with ``to_out.0``; an optional ``unet.`` prefix;
- an optional ``.alpha`` tensor next to the factors scales by ``alpha / rank``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..schedule import ScheduleError, SourceText, compile_expression
from ..schedule.keyframe_text import read_keyframe_pairs
from .formats import MotionFormatError, read_state_dict

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")

_ATTENTION = (r"(?P<block>down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.(?P<module>\d+)"
              r"(?:\.temporal_transformer)?\.transformer_blocks\.0\.(?:attention_blocks\.(?P<attn>\d+)|attn(?P<attn1>[12]))")
_PROJECTION = r"(?P<proj>to_q|to_k|to_v|to_out(?:\.0)?)"
_LORA_KEY = re.compile(
    rf"^(?:unet\.)?{_ATTENTION}\.(?:"
    rf"processor\.{_PROJECTION}_lora\.(?P<part1>down|up)\.weight"
    rf"|{_PROJECTION.replace('proj', 'proj2')}\.(?:lora\.(?P<part2>down|up)|(?P<peft>lora_A|lora_B))\.weight"
    rf"|{_PROJECTION.replace('proj', 'proj3')}\.alpha|processor\.{_PROJECTION.replace('proj', 'proj4')}_lora\.alpha"
    rf")$")


class MotionLoRAError(ValueError):
    """The file is not a MotionLoRA that fits this motion module; the message says why."""


@dataclass(frozen=True)
class MotionLoRA:
    """Factors per projection key, e.g. ``"down_blocks.0.motion_modules.0.temporal_transformer
    .transformer_blocks.0.attention_blocks.0.to_q" -> (down (r, C_in), up (C_out, r), scale)``."""
    name: str
    factors: Mapping[str, tuple]
    notes: tuple = ()

    @property
    def rank(self) -> int:
        return max(down.shape[0] for down, _, _ in self.factors.values())

    def nbytes(self) -> int:
        return sum(d.numel() * d.element_size() + u.numel() * u.element_size() for d, u, _ in self.factors.values())


def _target(match: re.Match) -> str:
    attn = match["attn"] if match["attn"] is not None else str(int(match["attn1"]) - 1)
    proj = next(match[g] for g in ("proj", "proj2", "proj3", "proj4") if match[g])
    if proj == "to_out":
        proj = "to_out.0"
    return (f"{match['block']}.motion_modules.{match['module']}.temporal_transformer"
            f".transformer_blocks.0.attention_blocks.{attn}.{proj}")


def parse_motion_lora(sd: Mapping[str, torch.Tensor], name: str = "MotionLoRA") -> MotionLoRA:
    """Group a LoRA state dict into ``target -> (down, up, scale)`` (scale from alpha, else 1).

    Raises :class:`MotionLoRAError` naming ``name`` when no temporal LoRA keys are present
    (for example the v3 "adapter", an ordinary image LoRA) or when a factor pair is incomplete.
    """
    parts: dict = {}
    alphas: dict = {}
    ignored = []
    for key, value in sd.items():
        match = _LORA_KEY.match(key)
        if match is None:
            ignored.append(key)
            continue
        target = _target(match)
        if key.endswith(".alpha"):
            alphas[target] = float(value.reshape(-1)[0])
            continue
        part = match["part1"] or match["part2"] or {"lora_A": "down", "lora_B": "up"}[match["peft"]]
        parts.setdefault(target, {})[part] = value
    if not parts:
        temporal = [k for k in sd if "temporal" in k or "motion_modules" in k]
        hint = ("it has no temporal (motion_modules) LoRA keys: it looks like an image-model LoRA "
                "(the AnimateDiff v3 'adapter' is one); load it with the core Load LoRA node instead")
        if temporal:
            hint = f"its temporal keys are not LoRA factors (e.g. {temporal[0]})"
        raise MotionLoRAError(f"{name} is not a MotionLoRA: {hint}. First keys: {', '.join(list(sd)[:3])}")
    factors = {}
    for target, pair in sorted(parts.items()):
        if set(pair) != {"down", "up"}:
            missing = ({"down", "up"} - set(pair)).pop()
            raise MotionLoRAError(f"{name}: the LoRA for {target} has no '{missing}' factor (file truncated or mixed?)")
        down, up = pair["down"], pair["up"]
        if down.ndim != 2 or up.ndim != 2 or up.shape[1] != down.shape[0]:
            raise MotionLoRAError(f"{name}: {target} has factors of shapes {tuple(down.shape)} and "
                                  f"{tuple(up.shape)}; expected (rank, in) and (out, rank)")
        scale = alphas[target] / down.shape[0] if target in alphas else 1.0
        factors[target] = (down, up, scale)
    notes = (f"ignored {len(ignored)} non-LoRA keys (e.g. {ignored[0]})",) if ignored else ()
    return MotionLoRA(name=name, factors=factors, notes=notes)


def load_motion_lora(path) -> MotionLoRA:
    """Read a ``.safetensors`` or ``.ckpt`` MotionLoRA (pickles with ``weights_only=True``)."""
    try:
        sd = read_state_dict(path, kind="MotionLoRA")
    except MotionFormatError as exc:
        raise MotionLoRAError(str(exc)) from exc
    return parse_motion_lora(sd, name=str(path))


def fit_to_module(lora: MotionLoRA, projections: Mapping[str, tuple]) -> MotionLoRA:
    """Keep the factors whose projection exists with matching shapes.

    ``projections``: ``target -> (out_features, in_features)`` of the motion module. Keys for
    blocks the module lacks (a mid block on a v3 module) are skipped with a note; a shape
    mismatch (a LoRA for another module size) is an error.
    """
    kept = {}
    missing = []
    for target, (down, up, scale) in lora.factors.items():
        if target not in projections:
            missing.append(target)
            continue
        out_features, in_features = projections[target]
        if down.shape[1] != in_features or up.shape[0] != out_features:
            raise MotionLoRAError(
                f"{lora.name}: {target} expects a ({out_features} x {in_features}) projection but the LoRA factors "
                f"are {tuple(up.shape)} @ {tuple(down.shape)}; this LoRA was made for another motion module size")
        kept[target] = (down, up, scale)
    if not kept:
        raise MotionLoRAError(f"{lora.name}: none of its {len(lora.factors)} projections exist in this motion module "
                              f"(first: {next(iter(lora.factors))})")
    notes = list(lora.notes)
    if missing:
        blocks = sorted({t.split(".motion_modules")[0] for t in missing})
        notes.append(f"skipped {len(missing)} LoRA projections for blocks this motion module lacks ({', '.join(blocks)})")
    return MotionLoRA(name=lora.name, factors=kept, notes=tuple(notes))


def projection_shapes(motion_model: torch.nn.Module) -> dict:
    """``target -> (out_features, in_features)`` for every attention projection of a motion model."""
    shapes = {}
    for name, module in motion_model.named_modules():
        if name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v") or name.endswith("to_out.0"):
            shapes[name] = tuple(module.weight.shape)
    return shapes


@dataclass(frozen=True)
class LoRAStackEntry:
    lora: MotionLoRA
    strength: StrengthSchedule


def stack_factors(entries: Sequence[LoRAStackEntry], progress: float) -> dict:
    """The ``lora`` mapping the motion module's forward pass takes, at sampling ``progress``.

    Entries whose strength is 0 at this point are left out, so strength 0 equals no LoRA exactly.
    """
    merged: dict = {}
    for entry in entries:
        strength = entry.strength.at(progress)
        if strength == 0.0:
            continue
        for target, (down, up, scale) in entry.lora.factors.items():
            merged.setdefault(target, []).append((down, up, scale * strength))
    return merged


def merge_into_state_dict(sd: Mapping[str, torch.Tensor], lora: MotionLoRA, strength: float) -> dict:
    """``W + strength * scale * up @ down`` for every targeted weight: the reference the tests
    compare the factorized path against (the pack itself never calls this while sampling)."""
    merged = dict(sd)
    for target, (down, up, scale) in lora.factors.items():
        key = target + ".weight"
        weight = merged[key]
        merged[key] = (weight.double() + strength * scale * (up.double() @ down.double())).to(weight.dtype)
    return merged


# ------------------------------------------------------------------------------------------------
# strength over sampling progress

_STRENGTH_FORM = "progress: (strength)"
_PROGRESS = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class StrengthSchedule:
    """Piecewise-linear strength over sampling progress 0..1 (held before the first and after
    the last point). ``points``: sorted ``(progress, strength)``."""
    points: tuple = field(default=((0.0, 1.0),))

    @classmethod
    def constant(cls, strength: float) -> StrengthSchedule:
        return cls(((0.0, float(strength)),))

    def at(self, progress: float) -> float:
        points = self.points
        if progress <= points[0][0]:
            return points[0][1]
        for (p0, s0), (p1, s1) in zip(points, points[1:]):
            if progress <= p1:
                return s0 + (s1 - s0) * (progress - p0) / (p1 - p0)
        return points[-1][1]

    def scaled(self, factor: float) -> StrengthSchedule:
        return StrengthSchedule(tuple((p, s * factor) for p, s in self.points))


def parse_strength_schedule(text: str, name: str = "strength_schedule") -> StrengthSchedule:
    """``"0:(1.0), 0.5:(0.2)"`` -> strength 1.0 at the start, fading to 0.2 at half-way, held after.

    Keys are sampling progress from 0 (first step) to 1 (last step), in increasing order; values
    are numbers (or arithmetic on numbers). The list syntax is the value schedules' (see
    ``schedule/keyframe_text.py``). Raises :class:`~schedule.ScheduleError` (a ``ValueError``)
    naming the line and column and what was expected.
    """
    source = SourceText(text, name)
    if not source.text.strip():
        raise source.error(0, f'the schedule is empty; expected "{_STRENGTH_FORM}" pairs such as 0:(1.0), 0.5:(0.2)')
    previous: list[float] = []

    def read_progress(key_text: str, index_map) -> float:
        lead = len(key_text) - len(key_text.lstrip())
        where = index_map[lead]
        if _PROGRESS.fullmatch(key_text.strip()) is None:
            raise source.error(where, f'expected a sampling progress from 0 to 1 before the colon (as in "0.5: (0.2)"), '
                                      f"found {key_text.strip()!r}")
        at = float(key_text)
        if not 0.0 <= at <= 1.0:
            raise source.error(where, f"progress {at} is outside 0..1 (0 = first sampling step, 1 = last)")
        if previous and at <= previous[-1]:
            raise source.error(where, f"progress {at} must be after {previous[-1]}: write the points in order")
        previous.append(at)
        return at

    def read_strength(value_text: str, index_map) -> float:
        try:
            return compile_expression(value_text, (), source=source, index_map=index_map).evaluate({})
        except ScheduleError as exc:
            raise ScheduleError(f"expected a number for the strength; {exc.reason}", source=exc.source,
                                line=exc.line, column=exc.column) from None

    points = read_keyframe_pairs(source, read_progress, read_strength, form=_STRENGTH_FORM)
    return StrengthSchedule(tuple(points))


def sampling_progress(sigma: float, sample_sigmas: Iterable[float]) -> float:
    """Fraction 0..1 of the sampling run at ``sigma`` (the step whose sigma is closest)."""
    sigmas = [float(s) for s in sample_sigmas]
    steps = len(sigmas) - 1  # the last sigma (0) ends the run, it is not a step
    if steps <= 1:
        return 0.0
    index = min(range(steps), key=lambda i: abs(sigmas[i] - sigma))
    return index / (steps - 1)
