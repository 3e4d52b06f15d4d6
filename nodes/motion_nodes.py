"""Motion-module nodes: load an AnimateDiff-family file and attach it to a MODEL."""
from __future__ import annotations

import logging

from ..comfy_glue.common import PACK_MODELS_DIR, category, model_file_names, model_file_path
from ..comfy_glue.motion_patch import register_motion_folder
from ..motion.formats import MotionFormatError, load_motion_file
from ..motion.windows import DEFAULT_LENGTH, DEFAULT_OVERLAP, FUSE_METHODS, SCHEDULES, plan_context

log = logging.getLogger(__name__)


def _motion_files() -> list:
    from ..comfy_glue.motion_patch import MOTION_FOLDER

    # the pack's models/ also holds models/motion_lora/, which are not motion modules
    return [name for name in model_file_names(MOTION_FOLDER, PACK_MODELS_DIR)
            if not name.replace("\\", "/").startswith("motion_lora/")]


def _parse_frame_values(text: str, name: str):
    """``"1.0"`` -> 1.0; ``"0, 0.5, 1"`` -> per-frame list (the last value repeats)."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{name}: empty; give a number or comma-separated numbers, one per frame")
    values = []
    for column, part in enumerate(parts, start=1):
        try:
            values.append(float(part))
        except ValueError:
            raise ValueError(f"{name}: item {column} ({part!r}) is not a number; expected e.g. '1.0' or '1.0, 1.2, 0.8'") from None
    return values[0] if len(values) == 1 else values


class SteadyFrameLoadMotionModule:
    """Load a motion module and return a MODEL clone that samples a latent batch as one animation."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "An SD1.5 (or SDXL, for SDXL motion modules) model."}),
                "motion_module": (_motion_files(), {"tooltip": "A file from models/animatediff_models (or the pack's models/): "
                                                               "AnimateDiff v1/v2/v3, SDXL, HotshotXL, AnimateLCM, Lightning."}),
                "beta_schedule": (["auto", "sqrt_linear (AnimateDiff)", "linear (HotshotXL/default)", "linear (AnimateDiff-SDXL)",
                                   "lcm (AnimateLCM)", "use existing"],
                                  {"default": "auto", "tooltip": "Noise schedule. auto = what the module was trained with."}),
                "motion_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01,
                                           "tooltip": "Multiplies the temporal attention keys: >1 sharper, <1 softer motion attention."}),
                "effect": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                     "tooltip": "How much of the motion module's change to keep (0 = off, 1 = full)."}),
                "context_length": ("INT", {"default": DEFAULT_LENGTH, "min": 0, "max": 128,
                                           "tooltip": "Frames per context window for videos longer than this; 0 = no windows."}),
                "context_overlap": ("INT", {"default": DEFAULT_OVERLAP, "min": 0, "max": 127,
                                            "tooltip": "Frames shared by neighbouring windows."}),
                "context_schedule": (list(SCHEDULES), {"default": "standard_static"}),
                "fuse_method": (list(FUSE_METHODS), {"default": "pyramid", "tooltip": "How overlapping windows are blended."}),
                "closed_loop": ("BOOLEAN", {"default": False, "tooltip": "Make the animation loop (uses looped_uniform windows)."}),
            },
            "optional": {
                "motion_scale_per_frame": ("STRING", {"default": "", "tooltip": "Optional: comma-separated per-frame motion scales; "
                                                                                 "overrides motion_scale. The last value repeats."}),
                "effect_per_frame": ("STRING", {"default": "", "tooltip": "Optional: comma-separated per-frame effect values."}),
                "motion_scale_floats": ("FLOATS", {"tooltip": "Optional per-frame motion scales, e.g. from Value Schedule; "
                                                              "overrides motion_scale and motion_scale_per_frame."}),
                "effect_floats": ("FLOATS", {"tooltip": "Optional per-frame effect values, e.g. from Value Schedule; "
                                                        "overrides effect and effect_per_frame."}),
            },
        }

    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = category("motion")
    DESCRIPTION = ("Loads an AnimateDiff-family motion module and attaches it to the model: KSampler then samples the "
                   "latent batch as one animation. Longer videos than the context length use sliding context windows.")

    def load(self, model, motion_module, beta_schedule="auto", motion_scale=1.0, effect=1.0, context_length=DEFAULT_LENGTH,
             context_overlap=DEFAULT_OVERLAP, context_schedule="standard_static", fuse_method="pyramid", closed_loop=False,
             motion_scale_per_frame="", effect_per_frame="", motion_scale_floats=None, effect_floats=None):
        from ..comfy_glue.motion_patch import MOTION_FOLDER, attach_motion_module, make_motion_patcher

        path = model_file_path(MOTION_FOLDER, motion_module, "motion module", PACK_MODELS_DIR)
        try:
            normalized, info = load_motion_file(path)
        except MotionFormatError as exc:
            raise ValueError(str(exc)) from exc
        scale = _parse_frame_values(motion_scale_per_frame, "motion_scale_per_frame") if str(motion_scale_per_frame).strip() else motion_scale
        blend = _parse_frame_values(effect_per_frame, "effect_per_frame") if str(effect_per_frame).strip() else effect
        if motion_scale_floats is not None:
            scale = [float(v) for v in motion_scale_floats]
        if effect_floats is not None:
            blend = [float(v) for v in effect_floats]
        context = None
        if context_length > 0:
            context, warnings = plan_context(info.pe_length, context_length, context_overlap, context_schedule, fuse_method, closed_loop)
            for warning in warnings:
                log.warning("SteadyFrame Load Motion Module: %s", warning)
        log.info("SteadyFrame: %s is %s", motion_module, info.describe())
        motion_patcher = make_motion_patcher(normalized, info, model, consume=True)
        return (attach_motion_module(model, motion_patcher, info, motion_module, beta_schedule=beta_schedule,
                                     scale=scale, effect=blend, context=context),)


NODE_CLASS_MAPPINGS = {"SteadyFrameLoadMotionModule": SteadyFrameLoadMotionModule}
NODE_DISPLAY_NAME_MAPPINGS = {"SteadyFrameLoadMotionModule": "Load Motion Module"}


# users' motion modules are listed as soon as ComfyUI imports the pack (no-op without ComfyUI)
register_motion_folder()
