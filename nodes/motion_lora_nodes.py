"""Apply MotionLoRA: camera moves on an attached motion module, factorized, stackable, scheduled.

The LoRA factors stay factorized and are added in the motion module's forward pass (see
``motion/lora.py``). The stack of LoRAs lives in an attachment of the MODEL clone (shared,
not deep-copied on every clone) and a DIFFUSION_MODEL wrapper hands the motion modules the
factors at this call's sampling progress through ``transformer_options``.
"""
import logging
import os

from ..motion.lora import (LoRAStackEntry, StrengthSchedule, fit_to_module, load_motion_lora,
                           parse_strength_schedule, projection_shapes, sampling_progress, stack_factors)
from .common import PACK_MODELS_DIR, category, extend_model_folder, model_file_names, model_file_path
from .motion_patch import MOTION_LORA_KEY, PATCH_KEY

LORA_FOLDER = "animatediff_motion_lora"
STACK_KEY = "SteadyFrame_motion_lora"
PACK_LORA_DIR = os.path.join(PACK_MODELS_DIR, "motion_lora")

log = logging.getLogger("SteadyFrame")


def register_motion_lora_folder() -> bool:
    """``models/animatediff_motion_lora`` (AnimateDiff-Evolved's folder name, so users' files
    appear) and the pack's ``models/motion_lora``; False outside ComfyUI."""
    return extend_model_folder(LORA_FOLDER, PACK_LORA_DIR)


def motion_model_of(model):
    """The motion model attached to a MODEL by Load Motion Module, or a clear error."""
    attached = model.get_additional_models_with_key(PATCH_KEY)
    if not attached:
        raise ValueError("Apply MotionLoRA needs a MODEL with a motion module: connect the output of "
                         "Load Motion Module (SteadyFrameLoadMotionModule) to its model input")
    return attached[0].model


def lora_wrapper(stack):
    """A DIFFUSION_MODEL wrapper giving the motion modules ``stack`` at this call's progress."""

    def apply(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        sigma = transformer_options.get("sigmas")
        sample_sigmas = transformer_options.get("sample_sigmas")
        progress = 0.0
        if sigma is not None and sample_sigmas is not None:
            progress = sampling_progress(float(sigma.reshape(-1)[0]), sample_sigmas.reshape(-1).tolist())
        options = dict(transformer_options)
        options[MOTION_LORA_KEY] = stack_factors(stack, progress)
        return executor(x, timesteps, context, y, control, options, **kwargs)

    return apply


def apply_motion_lora(model, lora, strength: StrengthSchedule):
    """A clone of ``model`` with ``lora`` stacked on top of the LoRAs it already carries."""
    import comfy.patcher_extension

    fitted = fit_to_module(lora, projection_shapes(motion_model_of(model)))
    for note in fitted.notes:
        log.info("SteadyFrame MotionLoRA %s: %s", lora.name, note)
    stack = tuple(model.get_attachment(STACK_KEY) or ()) + (LoRAStackEntry(fitted, strength),)
    clone = model.clone()
    clone.set_attachments(STACK_KEY, stack)
    clone.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, STACK_KEY)
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, STACK_KEY, lora_wrapper(stack))
    return clone


class SteadyFrameApplyMotionLoRA:
    """Stack a MotionLoRA (camera move) on the motion module of a MODEL."""

    DESCRIPTION = ("Adds a MotionLoRA (e.g. the official v2 camera moves: pan, zoom, tilt, roll) to the motion module "
                   "attached by Load Motion Module. Chain several to stack them. The LoRA stays factorized (no dense "
                   "weight copies); an optional schedule fades it over the sampling steps.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "A MODEL with a motion module (output of Load Motion Module)."}),
                "lora_name": (model_file_names(LORA_FOLDER, PACK_LORA_DIR),
                              {"tooltip": f"A MotionLoRA from models/{LORA_FOLDER}."}),
                "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01,
                                       "tooltip": "Multiplies the LoRA: W + strength * up @ down. 0 = off."}),
            },
            "optional": {
                "strength_schedule": ("STRING", {
                    "default": "", "multiline": False,
                    "tooltip": "Optional strength over sampling progress 0..1, multiplied by strength, "
                               "e.g. '0:(1.0), 0.5:(0.2)' fades the move to 20% by half-way. Empty = constant."}),
            },
        }

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "apply"
    CATEGORY = category("motion")

    def apply(self, model, lora_name, strength, strength_schedule=""):
        path = model_file_path(LORA_FOLDER, lora_name, "MotionLoRA", PACK_LORA_DIR)
        schedule = (parse_strength_schedule(strength_schedule) if strength_schedule.strip()
                    else StrengthSchedule.constant(1.0)).scaled(strength)
        return (apply_motion_lora(model, load_motion_lora(path), schedule),)


NODE_CLASS_MAPPINGS = {"SteadyFrameApplyMotionLoRA": SteadyFrameApplyMotionLoRA}
NODE_DISPLAY_NAME_MAPPINGS = {"SteadyFrameApplyMotionLoRA": "Apply MotionLoRA"}
