"""Prompt travel with the user's CLIP: encode each distinct prompt once, batch one conditioning per frame.

The schedule syntax and the blend maths are pure (``schedule/``); this module calls the CLIP the
user connected (ComfyUI's ``comfy.sd.CLIP``: ``tokenize`` and ``encode_from_tokens_scheduled``),
moves ComfyUI's progress bar and honours Cancel between encodes.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..schedule.conditioning import EncoderSide, PromptKey, batch_conditioning, encoder_sides, prompt_keys_per_frame
from ..schedule.node_inputs import PROMPT_SCHEDULE, reported_as
from ..schedule.prompt_schedule import PromptPlan, parse_prompt_schedule
from .runtime import comfy_progress_bar, throw_if_interrupted

log = logging.getLogger(__name__)

SDXL_SIZE_DEFAULTS = {"width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
                      "target_height": 1024}
"""SDXL's size conditioning (the ``add_dict`` of ``CLIPTextEncodeSDXL``); SD1.x CLIPs ignore it."""


@dataclass
class EncodeStats:
    """How many prompts were encoded and how many lookups the cache answered."""

    encodes: int = 0
    hits: int = 0


class PromptEncodeCache:
    """Encodes each distinct prompt (or G/L prompt pair) once for one node run.

    ``encode(text, text_l)`` returns ComfyUI's conditioning list for that prompt, exactly what
    ``CLIPTextEncode`` returns for it (plus the SDXL size keys in ``add_dict``).
    """

    def __init__(self, clip, add_dict: Mapping | None = None):
        self.clip = clip
        self.add_dict = dict(add_dict or {})
        self.stats = EncodeStats()
        self._cache: dict[PromptKey, list] = {}

    def __contains__(self, key: PromptKey) -> bool:
        return key in self._cache

    def encode(self, text: str, text_l: str | None = None) -> list:
        key = (text, text_l)
        if key in self._cache:
            self.stats.hits += 1
            return self._cache[key]
        throw_if_interrupted()
        tokens = self.clip.tokenize(text)
        if text_l is not None:
            tokens = _with_separate_l(self.clip, tokens, text_l)
        add_dict = self.add_dict if _is_dual_clip(tokens) else {}
        encoded = self.clip.encode_from_tokens_scheduled(tokens, add_dict=add_dict)
        self.stats.encodes += 1
        self._cache[key] = encoded
        return encoded


def _is_dual_clip(tokens) -> bool:
    """SDXL's CLIP tokenizes for two encoders: ``{"g": ..., "l": ...}``."""
    return isinstance(tokens, dict) and "g" in tokens and "l" in tokens


def _with_separate_l(clip, tokens, text_l: str):
    """``tokens`` of the G prompt with CLIP-L's tokens replaced by those of ``text_l``."""
    if not _is_dual_clip(tokens):
        raise ValueError("text_l: a separate CLIP-L schedule needs an SDXL CLIP (with G and L text encoders); "
                         "this CLIP has one text encoder, so leave text_l empty")
    tokens = dict(tokens)
    tokens["l"] = list(clip.tokenize(text_l)["l"])
    tokens["g"] = list(tokens["g"])
    # Both encoders must see the same number of 77-token chunks; pad the shorter with empty chunks.
    if len(tokens["l"]) != len(tokens["g"]):
        empty = clip.tokenize("")
        while len(tokens["l"]) < len(tokens["g"]):
            tokens["l"].extend(empty["l"])
        while len(tokens["g"]) < len(tokens["l"]):
            tokens["g"].extend(empty["g"])
    return tokens


def build_conditioning(cache: PromptEncodeCache, g_sides: Sequence[EncoderSide],
                       l_sides: Sequence[EncoderSide] | None, method: str, progress=None) -> list:
    """Encode (through ``cache``) every prompt the frames need, then batch them: see
    :func:`schedule.conditioning.batch_conditioning` for the layout. ``progress`` (a ComfyUI
    progress bar) moves by one for every prompt encoded here for the first time."""
    encodings: dict[PromptKey, list] = {}
    for keys in prompt_keys_per_frame(g_sides, l_sides):
        for key in keys:
            fresh = key not in cache
            encodings[key] = cache.encode(*key)
            if fresh and progress is not None:
                progress.update(1)
    return batch_conditioning(encodings, g_sides, l_sides, method)


def encode_prompt_schedule(clip, text: str, frame_count: int, *, pre_text: str = "", app_text: str = "",
                           interpolation: str = "linear", loop: bool = False, text_l: str = "",
                           weights: Mapping | None = None, size: Mapping[str, int] | None = None,
                           first: int = 0, end: int | None = None) -> tuple[list, list, str]:
    """``(positive, negative, frame_prompts)`` of the Prompt Schedule node.

    positive/negative: ComfyUI CONDITIONING with one frame per batch row; frame_prompts: one line
    per frame. ``text_l``: a separate schedule for SDXL's CLIP-L (blank: none). ``weights``:
    ``pw_a``..``pw_d`` (a number or one per frame); ``size``: SDXL size keys over
    :data:`SDXL_SIZE_DEFAULTS`. ``first``/``end``: only frames ``first..end-1`` of the
    ``frame_count``-frame schedule (one chunk of a long video; weights then hold one value per
    such frame). Schedule errors are ``ValueError`` naming input, line and column.
    """
    if clip is None:
        raise RuntimeError("clip input is invalid: None (if it comes from a checkpoint loader, the checkpoint "
                           "has no text encoder)")
    options = {"pre_text": pre_text, "app_text": app_text, "weights": dict(weights or {}),
               "interpolation": interpolation, "loop": loop, "first": first, "end": end}
    with reported_as(PROMPT_SCHEDULE):
        plan = parse_prompt_schedule(text, "text").plan(frame_count, **options)
        plan_l = parse_prompt_schedule(text_l, "text_l").plan(frame_count, **options) if text_l and text_l.strip() else None
    for warning in plan.warnings + (plan_l.warnings if plan_l else []):
        log.warning("SteadyFrame prompt schedule: %s", warning)

    cache = PromptEncodeCache(clip, add_dict={**SDXL_SIZE_DEFAULTS, **(size or {})})
    sides = {negative: (encoder_sides(plan, negative), _l_sides(plan_l, negative)) for negative in (False, True)}
    needed = {key for g, l in sides.values() for keys in prompt_keys_per_frame(g, l) for key in keys}
    progress = comfy_progress_bar(len(needed))
    positive = build_conditioning(cache, *sides[False], interpolation, progress)
    negative = build_conditioning(cache, *sides[True], interpolation, progress)
    log.info("SteadyFrame prompt schedule: %d frames, %d keyframes, %d prompts encoded (%d cache hits)",
             len(plan.frames), len(plan.keyframes), cache.stats.encodes, cache.stats.hits)
    return positive, negative, plan.describe()


def _l_sides(plan_l: PromptPlan | None, negative: bool) -> list[EncoderSide] | None:
    return encoder_sides(plan_l, negative) if plan_l is not None else None
