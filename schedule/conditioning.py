"""Per-frame conditioning batches from encoded prompts: which prompts each frame needs, and the
blend of their encodings into one ComfyUI conditioning list (pure torch; the encoding itself, with
the user's CLIP, is ``comfy_glue/prompt_encode.py``).

An encoding is what ComfyUI's ``CLIP.encode_from_tokens_scheduled`` returns for one prompt: a
list of ``[cond (1, T, D), extras]`` entries (one per scheduled hook; usually one), ``extras``
holding ``pooled_output (1, D)`` and, for SDXL, the size keys.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from .interpolation import blend, fit_tokens
from .prompt_schedule import PromptPlan

PromptKey = tuple[str, "str | None"]
"""``(text, text_l)``: the prompt for the G (or only) encoder and, with a separate CLIP-L
schedule, the prompt for CLIP-L (None otherwise)."""


@dataclass(frozen=True)
class EncoderSide:
    """One text encoder's input on one frame: prompt ``a`` blended towards ``b`` by ``weight``."""

    a: str
    b: str | None
    weight: float


def encoder_sides(plan: PromptPlan, negative: bool) -> list[EncoderSide]:
    """The positive (or negative) side of every frame of ``plan``, in frame order."""
    if negative:
        return [EncoderSide(f.negative_from, f.negative_to, f.weight) for f in plan.frames]
    return [EncoderSide(f.positive_from, f.positive_to, f.weight) for f in plan.frames]


def prompt_keys(g: EncoderSide, l: EncoderSide | None) -> list[PromptKey]:
    """The prompts one frame needs encoded: its G prompts, each paired with each of its L prompts."""
    g_texts = [g.a] + ([g.b] if g.weight and g.b is not None else [])
    if l is None:
        return [(text, None) for text in g_texts]
    l_texts = [l.a] + ([l.b] if l.weight and l.b is not None else [])
    return [(gt, lt) for gt in g_texts for lt in l_texts]


def prompt_keys_per_frame(g_sides: Sequence[EncoderSide],
                          l_sides: Sequence[EncoderSide] | None) -> list[list[PromptKey]]:
    """:func:`prompt_keys` of every frame (``l_sides``: the CLIP-L schedule's sides, or None)."""
    return [prompt_keys(g, l_sides[i] if l_sides else None) for i, g in enumerate(g_sides)]


def batch_conditioning(encodings: Mapping[PromptKey, list], g_sides: Sequence[EncoderSide],
                       l_sides: Sequence[EncoderSide] | None, method: str) -> list:
    """One ComfyUI CONDITIONING whose batch holds one frame per side (cond and pooled output).

    ``encodings``: the encoding of every key :func:`prompt_keys_per_frame` lists (more are
    ignored). cond: (frames, tokens, dim), tokens = the longest prompt's among these frames
    (shorter ones repeat their 77-token chunks); pooled_output: (frames, dim). With ``l_sides``
    (SDXL with a separate CLIP-L schedule) every frame blends over the encodings of its G/L prompt
    pairs: first along the G schedule by its weight, then along the L schedule by its own weight.
    """
    used: dict[PromptKey, list] = {}  # in first-use order: the first prompt's extras lead
    for keys in prompt_keys_per_frame(g_sides, l_sides):
        for key in keys:
            used.setdefault(key, encodings[key])
    entry_counts = {len(e) for e in used.values()}
    if len(entry_counts) != 1:
        raise RuntimeError("the CLIP returned a different number of scheduled conditionings for different prompts; "
                           "remove the CLIP's scheduled hooks or encode these prompts separately")
    output = []
    for entry in range(entry_counts.pop()):
        length = max(e[entry][0].shape[1] for e in used.values())

        def along_g(g: EncoderSide, text_l: str | None, entry: int = entry, length: int = length):
            cond_a, extras_a = used[(g.a, text_l)][entry]
            cond_a, pooled_a = fit_tokens(cond_a, length), extras_a.get("pooled_output")
            if not g.weight or g.b is None:
                return cond_a, pooled_a
            cond_b, extras_b = used[(g.b, text_l)][entry]
            cond_b, pooled_b = fit_tokens(cond_b, length), extras_b.get("pooled_output")
            pooled = None if pooled_a is None or pooled_b is None else blend(pooled_a, pooled_b, g.weight, method)
            return blend(cond_a, cond_b, g.weight, method), pooled

        conds, pooled_rows = [], []
        for i, g in enumerate(g_sides):
            l_side = l_sides[i] if l_sides else None
            cond, pooled = along_g(g, None if l_side is None else l_side.a)
            if l_side is not None and l_side.weight and l_side.b is not None:
                cond_b, pooled_b = along_g(g, l_side.b)
                cond = blend(cond, cond_b, l_side.weight, method)
                pooled = None if pooled is None or pooled_b is None else blend(pooled, pooled_b, l_side.weight, method)
            conds.append(cond)
            pooled_rows.append(pooled)
        extras = _shared_extras(used, entry)
        if all(p is not None for p in pooled_rows):
            extras["pooled_output"] = torch.cat(pooled_rows, dim=0)
        output.append([torch.cat(conds, dim=0), extras])
    return output


def _shared_extras(encodings: Mapping[PromptKey, list], entry: int) -> dict:
    """The non-pooled keys of the conditioning dicts (SDXL sizes, hooks...), equal for all prompts."""
    items = [e[entry][1] for e in encodings.values()]
    extras = {}
    for key, value in items[0].items():
        if key == "pooled_output":
            continue
        if isinstance(value, torch.Tensor):
            for other in items[1:]:
                v = other.get(key)
                if not isinstance(v, torch.Tensor) or v.shape != value.shape or not torch.equal(v, value):
                    raise ValueError(f"this text encoder returns a per-prompt {key!r}, which prompt travel cannot batch; "
                                     "use an SD1.x/SD2.x/SDXL CLIP")
        extras[key] = value
    return extras
