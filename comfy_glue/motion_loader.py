"""Load Motion Module's work: list the motion-module files, read one, attach it to a MODEL clone."""
from __future__ import annotations

import logging
from typing import Optional

from ..motion.beta_schedules import BetaSchedule
from ..motion.formats import load_motion_file
from ..motion.per_frame import frame_setting
from ..motion.windows import DEFAULT_LENGTH, DEFAULT_OVERLAP, ContextSchedule, FuseMethod, plan_context
from .folders import PACK_MODELS_DIR, model_file_names, model_file_path
from .motion_patch import MOTION_FOLDER, attach_motion_module, make_motion_patcher

# the pack's models/ folder also holds models/motion_lora/, whose files are not motion modules
_LORA_SUBFOLDER = "motion_lora/"

log = logging.getLogger(__name__)


def motion_file_names() -> list:
    """The motion-module files of ``models/animatediff_models`` and the pack's ``models/`` (empty outside ComfyUI)."""
    return [name for name in model_file_names(MOTION_FOLDER, PACK_MODELS_DIR)
            if not name.replace("\\", "/").startswith(_LORA_SUBFOLDER)]


def load_motion_module(model, motion_module: str, *, beta_schedule: str = BetaSchedule.AUTO, motion_scale: float = 1.0,
                       effect: float = 1.0, context_length: int = DEFAULT_LENGTH, context_overlap: int = DEFAULT_OVERLAP,
                       context_schedule: str = ContextSchedule.STANDARD_STATIC, fuse_method: str = FuseMethod.PYRAMID,
                       closed_loop: bool = False, motion_scale_per_frame: str = "", effect_per_frame: str = "",
                       motion_scale_floats: Optional[list] = None, effect_floats: Optional[list] = None):
    """A clone of ``model`` (a MODEL) with the motion file ``motion_module`` attached.

    Per-frame settings: ``*_floats`` (a FLOATS input) over ``*_per_frame`` (comma-separated text)
    over the number. ``context_length`` 0 means no context windows; otherwise the windows are
    clamped to what the module can do, with a logged warning for each change.
    """
    path = model_file_path(MOTION_FOLDER, motion_module, "motion module", PACK_MODELS_DIR)
    normalized, info = load_motion_file(path)  # MotionFormatError (a ValueError) names the file and the finding
    scale = frame_setting(motion_scale, motion_scale_per_frame, motion_scale_floats, "motion_scale_per_frame")
    blend = frame_setting(effect, effect_per_frame, effect_floats, "effect_per_frame")
    context = None
    if context_length > 0:
        context, warnings = plan_context(info.pe_length, context_length, context_overlap, context_schedule, fuse_method, closed_loop)
        for warning in warnings:
            log.warning("SteadyFrame Load Motion Module: %s", warning)
    log.info("SteadyFrame: %s is %s", motion_module, info.describe())
    for note in info.notes:
        if "Load AnimateLCM-I2V" in note or "Load PIA" in note:
            log.warning("SteadyFrame Load Motion Module: %s is %s", motion_module, note)
    motion_patcher = make_motion_patcher(normalized, info, model, consume=True)
    return attach_motion_module(model, motion_patcher, info, motion_module, beta_schedule=beta_schedule,
                                scale=scale, effect=blend, context=context)
