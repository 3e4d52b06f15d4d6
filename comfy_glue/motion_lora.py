"""MotionLoRA on a MODEL: the stack rides in an attachment, a DIFFUSION_MODEL wrapper applies it.

The LoRA factors stay factorized and are added in the motion module's forward pass (see
``motion/lora.py``). The stack of LoRAs lives in an attachment of the MODEL clone (shared,
not deep-copied on every clone) and a DIFFUSION_MODEL wrapper hands the motion modules the
factors at this call's sampling progress through ``transformer_options``.
"""
import logging
import os

from ..motion.lora import LoRAStackEntry, StrengthSchedule, fit_to_module, projection_shapes, sampling_progress, stack_factors
from .folders import PACK_MODELS_DIR, extend_model_folder
from .motion_patch import MOTION_LORA_KEY, PATCH_KEY

LORA_FOLDER = "animatediff_motion_lora"
STACK_KEY = "SteadyFrame_motion_lora"
PACK_LORA_DIR = os.path.join(PACK_MODELS_DIR, "motion_lora")

log = logging.getLogger(__name__)


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
