"""Several motion models on one MODEL, each with its own step range, keyframes and block weights.

Load Motion Module attaches one motion model and records it in the MODEL's ``CHAIN_KEY``
attachment. The functions here add further models to that chain (each runs right after the
previous ones at every place in the UNet) and change the step control of the last one. When
anything varies over the steps or the blocks, an APPLY_MODEL wrapper works out, for each model
call, every module's ``(scale, effect)`` at this call's sigma (``motion/keyframes.py``) and hands
them to the motion modules through ``transformer_options[PLAN_KEY]``. Nothing is stored between
calls; the input MODEL is never changed.
"""
from __future__ import annotations

import logging

from ..motion.keyframes import MotionControl, resolve
from .motion_patch import CHAIN_KEY, PATCH_KEY, PLAN_KEY, ChainedMotion, MotionInjection, plan_injection

log = logging.getLogger(__name__)


def motion_chain(model) -> tuple:
    """The motion models attached to a MODEL, in run order, or a clear error when there are none."""
    chain = model.get_attachment(CHAIN_KEY)
    if not chain:
        raise ValueError("this node needs a MODEL with a motion module: connect the output of Load Motion Module "
                         "(SteadyFrameLoadMotionModule) to its model input")
    return tuple(chain)


def _plan(chain, sigma: float, sample_sigmas, percent_to_sigma) -> dict:
    """``{id(module): (scale, effect)}`` for every module of every model at ``sigma``."""
    plan = {}
    for entry in chain:
        resolved = resolve(entry.control, sigma, sample_sigmas, percent_to_sigma)
        for module in entry.patcher.model.modules_in_order():
            plan[id(module)] = resolved.for_module(module.key)
    return plan


def step_control_wrapper(chain):
    """An APPLY_MODEL wrapper putting this call's per-module values into ``transformer_options``."""

    def apply_model(executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options=None, **kwargs):
        options = dict(transformer_options or {})
        sample_sigmas = options.get("sample_sigmas")
        sigmas = sample_sigmas.reshape(-1).tolist() if sample_sigmas is not None else None
        percent_to_sigma = executor.class_obj.model_sampling.percent_to_sigma
        options[PLAN_KEY] = _plan(chain, float(t.reshape(-1)[0]), sigmas, percent_to_sigma)
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)

    return apply_model


def _install(model, chain: tuple) -> None:
    """Set ``chain`` on ``model`` (a clone): weights, injection, attachment, per-call wrapper."""
    import comfy.patcher_extension

    patchers = [entry.patcher for entry in chain]
    injection = MotionInjection(patchers, " + ".join(entry.source for entry in chain))
    model.remove_injections(PATCH_KEY)
    model.remove_additional_models(PATCH_KEY)
    model.set_additional_models(PATCH_KEY, patchers)
    model.set_injections(PATCH_KEY, [comfy.patcher_extension.PatcherInjection(injection.inject, injection.eject)])
    model.set_attachments(CHAIN_KEY, chain)
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, PATCH_KEY)
    if len(chain) > 1 or any(entry.control.varies for entry in chain):
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, PATCH_KEY, step_control_wrapper(chain))


def set_step_control(model, **changes):
    """A clone of ``model`` whose last-attached motion model has ``changes`` applied to its
    :class:`MotionControl` (``start_percent``, ``end_percent``, ``keyframes``, ``blocks``...)."""
    chain = motion_chain(model)
    last = chain[-1]
    updated = chain[:-1] + (ChainedMotion(last.patcher, last.info, last.source, last.control.with_changes(**changes)),)
    clone = model.clone()
    _install(clone, updated)
    return clone


def chain_motion_model(model, motion_patcher, info, source: str, control: MotionControl):
    """A clone of ``model`` with one more motion model, run after those it already has."""
    chain = motion_chain(model)
    plan_injection(model.model.diffusion_model, motion_patcher.model, type(model.model).__name__, source)
    if any(entry.patcher.model is motion_patcher.model for entry in chain):
        raise ValueError(f"motion module {source} is already on this MODEL; load the file again to chain it twice")
    first = chain[0].info
    if info.cross_frame_groupnorm != first.cross_frame_groupnorm:
        log.warning("SteadyFrame: %s and %s normalise ResBlocks differently (v1/HotshotXL across frames); "
                    "the first motion module's way is used", chain[0].source, source)
    clone = model.clone()
    _install(clone, chain + (ChainedMotion(motion_patcher, info, source, control),))
    return clone


def load_and_chain(model, motion_module: str, control: MotionControl):
    """Read the motion file ``motion_module`` and chain it onto ``model`` (see :func:`chain_motion_model`)."""
    from ..motion.formats import load_motion_file
    from .folders import PACK_MODELS_DIR, model_file_path
    from .motion_patch import MOTION_FOLDER, make_motion_patcher

    motion_chain(model)  # a clear error before reading a large file
    path = model_file_path(MOTION_FOLDER, motion_module, "motion module", PACK_MODELS_DIR)
    normalized, info = load_motion_file(path)
    log.info("SteadyFrame: chaining %s (%s)", motion_module, info.describe())
    return chain_motion_model(model, make_motion_patcher(normalized, info, model, consume=True), info, motion_module, control)
