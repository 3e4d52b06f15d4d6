"""Prompt travel and value-schedule nodes.

The parsing, expressions and blend maths live in ``schedule/`` (no ComfyUI there); this
module encodes the prompts with the CLIP the user connects and batches one conditioning per frame.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from ..comfy_glue.common import category, comfy_progress_bar, throw_if_interrupted
from ..schedule import (
    PROMPT_INTERPOLATIONS,
    VALUE_INTERPOLATIONS,
    PromptPlan,
    ScheduleError,
    blend,
    fit_tokens,
    parse_prompt_schedule,
    parse_value_schedule,
    values_at,
)

log = logging.getLogger(__name__)

MAX_FRAMES = 100_000
MAX_RESOLUTION = 16384
SDXL_SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")
WEIGHT_INPUTS = ("pw_a", "pw_b", "pw_c", "pw_d")

DEFAULT_PROMPT_TEXT = '"0": "a cat sitting on a sofa",\n"8": "a dog sitting on a sofa",\n"15": "a fox sitting on a sofa"'
DEFAULT_VALUE_TEXT = "0:(1.0), 8:(0.5), 15:(1.0)"


# -- encoding ----------------------------------------------------------------------------------

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

    def __init__(self, clip, add_dict: dict | None = None):
        self.clip = clip
        self.add_dict = dict(add_dict or {})
        self.stats = EncodeStats()
        self._cache: dict[tuple[str, str | None], list] = {}

    def __contains__(self, key: tuple[str, str | None]) -> bool:
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
    return isinstance(tokens, dict) and "g" in tokens and "l" in tokens


def _with_separate_l(clip, tokens, text_l: str):
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


@dataclass(frozen=True)
class _Side:
    """One text encoder input of a frame: ``a`` blended towards ``b`` by ``weight``."""

    a: str
    b: str | None
    weight: float


def _sides(plan: PromptPlan, negative: bool) -> list[_Side]:
    out = []
    for frame in plan.frames:
        if negative:
            out.append(_Side(frame.negative_from, frame.negative_to, frame.weight))
        else:
            out.append(_Side(frame.positive_from, frame.positive_to, frame.weight))
    return out


def _frame_keys(g: _Side, l: _Side | None) -> list[tuple[str, str | None]]:
    g_texts = [g.a] + ([g.b] if g.weight and g.b is not None else [])
    if l is None:
        return [(text, None) for text in g_texts]
    l_texts = [l.a] + ([l.b] if l.weight and l.b is not None else [])
    return [(gt, lt) for gt in g_texts for lt in l_texts]


def build_conditioning(cache: PromptEncodeCache, g_sides: list[_Side], l_sides: list[_Side] | None,
                       method: str, progress=None) -> list:
    """One ComfyUI CONDITIONING whose batch holds one frame per side (cond and pooled output).

    cond: (frames, tokens, dim), tokens = the longest prompt's (shorter ones repeat their
    77-token chunks); pooled_output: (frames, dim). With ``l_sides`` (SDXL with a separate
    CLIP-L schedule) every frame blends over the encodings of its G/L prompt pairs: first along
    the G schedule by its weight, then along the L schedule by its own weight.
    """
    import torch

    per_frame: list[dict] = []
    unique: dict = {}
    for i, g in enumerate(g_sides):
        encoded = {}
        for key in _frame_keys(g, l_sides[i] if l_sides else None):
            fresh = key not in cache
            encoded[key] = cache.encode(*key)
            unique[key] = encoded[key]
            if fresh and progress is not None:
                progress.update(1)
        per_frame.append(encoded)
    entry_counts = {len(e) for e in unique.values()}
    if len(entry_counts) != 1:
        raise RuntimeError("the CLIP returned a different number of scheduled conditionings for different prompts; "
                           "remove the CLIP's scheduled hooks or encode these prompts separately")
    output = []
    for entry in range(entry_counts.pop()):
        length = max(e[entry][0].shape[1] for e in unique.values())
        conds, pooled_rows = [], []
        for i, g in enumerate(g_sides):
            l_side = l_sides[i] if l_sides else None
            encoded = per_frame[i]

            def along_g(text_l, encoded=encoded, g=g, entry=entry):
                cond_a, extras_a = encoded[(g.a, text_l)][entry]
                cond_a, pooled_a = fit_tokens(cond_a, length), extras_a.get("pooled_output")
                if not g.weight or g.b is None:
                    return cond_a, pooled_a
                cond_b, extras_b = encoded[(g.b, text_l)][entry]
                cond_b, pooled_b = fit_tokens(cond_b, length), extras_b.get("pooled_output")
                pooled = None if pooled_a is None or pooled_b is None else blend(pooled_a, pooled_b, g.weight, method)
                return blend(cond_a, cond_b, g.weight, method), pooled

            cond, pooled = along_g(None if l_side is None else l_side.a)
            if l_side is not None and l_side.weight and l_side.b is not None:
                cond_b, pooled_b = along_g(l_side.b)
                cond = blend(cond, cond_b, l_side.weight, method)
                pooled = None if pooled is None or pooled_b is None else blend(pooled, pooled_b, l_side.weight, method)
            conds.append(cond)
            pooled_rows.append(pooled)
        extras = _shared_extras(unique, entry)
        if all(p is not None for p in pooled_rows):
            extras["pooled_output"] = torch.cat(pooled_rows, dim=0)
        output.append([torch.cat(conds, dim=0), extras])
    return output


def _shared_extras(encodings: dict, entry: int) -> dict:
    """The non-pooled keys of the conditioning dicts (SDXL sizes, hooks...), equal for all prompts."""
    import torch

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


def frame_count_from(max_frames: int, latent=None) -> int:
    """The latent's batch size when a latent is connected, else ``max_frames``."""
    if latent is None:
        return int(max_frames)
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if samples is None or samples.ndim != 4:
        shape = None if samples is None else tuple(samples.shape)
        raise ValueError(f"latent: expected an image latent batch [frames, channels, height, width] "
                         f"(one latent per frame), got shape {shape}")
    return int(samples.shape[0])


def _weights(kwargs: dict) -> dict:
    out = {}
    for name in WEIGHT_INPUTS:
        value = kwargs.get(name)
        if value is None:
            continue
        if hasattr(value, "tolist"):
            value = value.tolist()
        out[name] = value
    return out


def _schedule_error(exc: ScheduleError) -> ValueError:
    return ValueError(f"Prompt schedule: {exc}")


# -- nodes ---------------------------------------------------------------------------------------

class SteadyFramePromptSchedule:
    """Prompt travel: one conditioning per frame, blended between keyframe prompts."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip": ("CLIP", {"tooltip": "The CLIP from your checkpoint (SD1.5 or SDXL)."}),
                "text": ("STRING", {"multiline": True, "default": DEFAULT_PROMPT_TEXT,
                                    "tooltip": 'Keyframes: FizzNodes style "frame": "prompt" (commas between, braces '
                                               'optional) or A1111 lines frame: prompt with optional head and tail lines. '
                                               'Frames: 12, -1 (last), +8 (after the previous key), 50%, 0..11 (hold a range), '
                                               '12! (hold until the next key). "--neg" starts the negative part; '
                                               '`expressions` in t, max_f, pw_a..pw_d are evaluated per frame.'}),
                "max_frames": ("INT", {"default": 16, "min": 1, "max": MAX_FRAMES,
                                       "tooltip": "Number of frames (ignored when a latent is connected: its batch size counts)."}),
            },
            "optional": {
                "latent": ("LATENT", {"tooltip": "Optional: the frame count is this latent's batch size."}),
                "pre_text": ("STRING", {"default": "", "tooltip": "Put before every prompt (may hold --neg and `expressions`)."}),
                "app_text": ("STRING", {"default": "", "tooltip": "Put after every prompt (may hold --neg and `expressions`)."}),
                "interpolation": (list(PROMPT_INTERPOLATIONS), {"default": "linear",
                                  "tooltip": "How frames between keys blend: linear, slerp (spherical), ease_in/ease_out/"
                                             "ease_in_out (eased linear), none (hold each prompt until the next key)."}),
                **{name: ("FLOAT,FLOATS", {"forceInput": True,
                                           "tooltip": f"`{name}` in expressions: a number, or one number per frame "
                                                      "(the values of a Value Schedule)."})
                   for name in WEIGHT_INPUTS},
                "loop": ("BOOLEAN", {"default": False,
                                     "tooltip": "After the last key, travel back to the first (a seamless loop)."}),
                "text_l": ("STRING", {"multiline": True, "default": "",
                                      "tooltip": "SDXL only: a separate schedule for the CLIP-L encoder (same syntax). "
                                                 "Empty: G and L both encode text."}),
                **{name: ("INT", {"default": default, "min": 0, "max": MAX_RESOLUTION, "step": 8,
                                  "tooltip": f"SDXL size conditioning {name} (ignored by SD1.5 CLIPs)."})
                   for name, default in zip(SDXL_SIZE_KEYS, (1024, 1024, 0, 0, 1024, 1024))},
            },
        }

    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "STRING")
    RETURN_NAMES = ("positive", "negative", "frame_prompts")
    OUTPUT_TOOLTIPS = (
        "One conditioning per frame (cond and pooled output batched by frame) for AnimateDiff sampling.",
        "The --neg parts, one per frame (an empty prompt where there are none).",
        "The prompt and blend of every frame, one line each.",
    )
    FUNCTION = "schedule"
    CATEGORY = category("schedule")
    DESCRIPTION = ("Prompt travel: encodes each keyframe prompt once and blends the token embeddings and pooled output "
                   "between keyframes, giving one conditioning per frame. Accepts FizzNodes, A1111 prompt travel and "
                   "Deforum-style keys.")

    @classmethod
    def VALIDATE_INPUTS(cls, text=None, text_l=None):
        """Syntax errors show up when the prompt is queued, before anything runs."""
        for name, value in (("text", text), ("text_l", text_l)):
            if isinstance(value, str):
                try:
                    parse_prompt_schedule(value, name)
                except ScheduleError as exc:
                    return f"Prompt schedule: {exc}"
        return True

    def schedule(self, clip, text, max_frames, latent=None, pre_text="", app_text="", interpolation="linear",
                 loop=False, text_l="", width=1024, height=1024, crop_w=0, crop_h=0, target_width=1024,
                 target_height=1024, **weights):
        if clip is None:
            raise RuntimeError("clip input is invalid: None (if it comes from a checkpoint loader, the checkpoint "
                               "has no text encoder)")
        frames = frame_count_from(max_frames, latent)
        pw = _weights(weights)
        try:
            plan = parse_prompt_schedule(text, "text").plan(
                frames, pre_text=pre_text, app_text=app_text, weights=pw, interpolation=interpolation, loop=loop)
            plan_l = None
            if text_l and text_l.strip():
                plan_l = parse_prompt_schedule(text_l, "text_l").plan(
                    frames, pre_text=pre_text, app_text=app_text, weights=pw, interpolation=interpolation, loop=loop)
        except ScheduleError as exc:
            raise _schedule_error(exc) from None
        for warning in plan.warnings + (plan_l.warnings if plan_l else []):
            log.warning("SteadyFrame prompt schedule: %s", warning)

        size = dict(zip(SDXL_SIZE_KEYS, (width, height, crop_w, crop_h, target_width, target_height)))
        cache = PromptEncodeCache(clip, add_dict=size)
        needed = set()
        for negative in (False, True):
            sides_l = _sides(plan_l, negative) if plan_l else None
            for i, g in enumerate(_sides(plan, negative)):
                needed.update(_frame_keys(g, sides_l[i] if sides_l else None))
        progress = comfy_progress_bar(len(needed))
        positive = build_conditioning(cache, _sides(plan, False), _sides(plan_l, False) if plan_l else None,
                                      interpolation, progress)
        negative = build_conditioning(cache, _sides(plan, True), _sides(plan_l, True) if plan_l else None,
                                      interpolation, progress)
        log.info("SteadyFrame prompt schedule: %d frames, %d keyframes, %d prompts encoded (%d cache hits)",
                 frames, len(plan.keyframes), cache.stats.encodes, cache.stats.hits)
        return (positive, negative, plan.describe())


class SteadyFrameValueSchedule:
    """A keyframed value (Deforum ``0:(1.0), 10:(0.5)``) as one float per frame."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": DEFAULT_VALUE_TEXT,
                                    "tooltip": "frame:(value) pairs separated by commas or new lines; a value may be an "
                                               "expression in t (frame) and max_f (last frame), e.g. 0.5+0.5*sin(t/4)."}),
                "max_frames": ("INT", {"default": 16, "min": 1, "max": MAX_FRAMES,
                                       "tooltip": "Number of frames (ignored when a latent is connected)."}),
                "current_frame": ("INT", {"default": 0, "min": 0, "max": MAX_FRAMES * 10,
                                          "tooltip": "Frame whose value the FLOAT and INT outputs give (wraps around)."}),
                "interpolation": (list(VALUE_INTERPOLATIONS), {"default": "linear",
                                  "tooltip": "Between numeric keys: linear, eased, or none (hold until the next key)."}),
            },
            "optional": {
                "latent": ("LATENT", {"tooltip": "Optional: the frame count is this latent's batch size."}),
            },
        }

    RETURN_TYPES = ("FLOATS", "FLOAT", "INT")
    RETURN_NAMES = ("values", "value", "int_value")
    OUTPUT_TOOLTIPS = (
        "One value per frame (a list), for pw_a..pw_d and other per-frame inputs.",
        "The value at current_frame.",
        "The value at current_frame, rounded to the nearest whole number.",
    )
    FUNCTION = "evaluate"
    CATEGORY = category("schedule")
    DESCRIPTION = ("Turns a keyframe string such as 0:(1.0), 10:(0.5), 20:(0.5+0.25*sin(t/4)) into one value per frame, "
                   "plus the value at current_frame.")

    @classmethod
    def VALIDATE_INPUTS(cls, text=None):
        """Syntax errors show up when the prompt is queued, before anything runs."""
        if isinstance(text, str):
            try:
                parse_value_schedule(text, "text")
            except ScheduleError as exc:
                return f"Value schedule: {exc}"
        return True

    def evaluate(self, text, max_frames, current_frame, interpolation="linear", latent=None):
        frames = frame_count_from(max_frames, latent)
        try:
            result = parse_value_schedule(text, "text").evaluate(frames, interpolation)
        except ScheduleError as exc:
            raise ValueError(f"Value schedule: {exc}") from None
        for warning in result.warnings:
            log.warning("SteadyFrame value schedule: %s", warning)
        value = values_at(result.values, int(current_frame))
        return (list(result.values), value, int(math.floor(value + 0.5)))


NODE_CLASS_MAPPINGS = {
    "SteadyFramePromptSchedule": SteadyFramePromptSchedule,
    "SteadyFrameValueSchedule": SteadyFrameValueSchedule,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFramePromptSchedule": "Prompt Schedule (prompt travel)",
    "SteadyFrameValueSchedule": "Value Schedule",
}
