"""Attach a motion module to a ComfyUI MODEL through ModelPatcher extension points only.

What :func:`attach_motion_module` sets on a clone of the MODEL (key ``SteadyFrame_motion``):

- ``set_additional_models``: a ModelPatcher around the motion weights, so they load and
  offload with the UNet;
- ``set_injections``: a ``PatcherInjection`` that inserts the motion modules into the UNet's
  ``TimestepEmbedSequential`` blocks when the model is patched and removes them when it is
  unpatched (after the last SpatialTransformer, else after the first ResBlock, of every block
  that has one: input 1,2,4,5,7,8,10,11, middle ``[Res, ST, MM, Res]`` for mid-block files,
  every output block before its Upsample);
- ``forward_timestep_embed_patch``: ComfyUI calls unknown layers as ``layer(x)``; the patch calls
  our modules with the frame count of this call and the settings of this clone;
- ``add_object_patch("model_sampling", ...)``: the beta schedule the module was trained with;
- for v1 and HotshotXL, object patches that swap the UNet's ResBlock GroupNorms for copies
  (sharing the same weights) that compute statistics across the frames of each cond chunk,
  plus a DIFFUSION_MODEL wrapper that tells them the chunk count of the current call;
- ``model_options["context_handler"]``: ComfyUI's ``IndexListContextHandler`` for windows.

Frames per call = batch / len(transformer_options["cond_or_uncond"]); nothing global.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch

from ..motion.beta_schedules import BETA_RANGES, BetaSchedule, resolve_beta_schedule
from ..motion.formats import MotionModuleInfo, build_motion_model
from ..motion.keyframes import MotionControl
from ..motion.temporal import DEFAULT_MAX_ATTENTION_BATCH, MotionModel, MotionModule
from ..motion.windows import ContextSettings, check_frames_per_call
from .control_windows import enable_per_window_control
from .folders import PACK_MODELS_DIR, extend_model_folder

PATCH_KEY = "SteadyFrame_motion"
SETTINGS_KEY = "steadyframe_motion"
# transformer_options[MOTION_LORA_KEY] = {"<attention key>.to_q": [(down, up, scale), ...], ...}
# adds factorized low-rank terms to the projections (see motion/temporal.py).
MOTION_LORA_KEY = "steadyframe_motion_lora"
# transformer_options[CAMERA_KEY] = {id(motion module): {"<attention key>": fn}}: per-call input
# conditioning of those attentions (CameraCtrl, see comfy_glue/camera_ctrl.py).
CAMERA_KEY = "steadyframe_motion_camera"
MOTION_FOLDER = "animatediff_models"
# transformer_options[PLAN_KEY] = {id(module): (scale, effect)}: this call's values per module, set by
# the step/keyframe/block wrapper of comfy_glue/motion_chain.py; absent, the settings below apply.
PLAN_KEY = "steadyframe_motion_plan"
# model attachment: the motion models on this MODEL, in the order they run (see motion_chain.py)
CHAIN_KEY = "SteadyFrame_motion_chain"
# transformer_options[INPUT_FEATURES_KEY] = {id(module): (batch, C, H, W)}: added to that motion module's input
# (AnimateLCM-I2V's start-image features, set by comfy_glue/image_motion.py)
INPUT_FEATURES_KEY = "steadyframe_motion_input_features"

log = logging.getLogger(__name__)

@dataclass
class MotionSettings:
    """Per-clone settings, stored in ``transformer_options`` (small: copied with the clone)."""
    scale: object = 1.0       # float or per-frame list
    effect: object = 1.0
    pe_length: int = 32
    max_attention_batch: int = DEFAULT_MAX_ATTENTION_BATCH
    name: str = ""


@dataclass(frozen=True)
class ChainedMotion:
    """One motion model on a MODEL: its weights, what the file is, its name, and its step control."""
    patcher: object  # comfy.model_patcher.ModelPatcher around a MotionModel
    info: MotionModuleInfo
    source: str
    control: MotionControl


# ------------------------------------------------------------------------------------------------
# model folder

def register_motion_folder() -> bool:
    """Add ``models/animatediff_models`` and the pack's ``models/`` to ComfyUI's model folders.

    Extends an existing registration (e.g. AnimateDiff-Evolved's), never replaces it; False
    outside ComfyUI.
    """
    return extend_model_folder(MOTION_FOLDER, PACK_MODELS_DIR)


# ------------------------------------------------------------------------------------------------
# where modules go

def injection_slots(unet) -> list:
    """``[(block, position, channels), ...]`` in UNet order; ``block`` is the TimestepEmbedSequential.

    The module goes after the last SpatialTransformer of a block, or after its first ResBlock
    when it has no transformer; blocks with neither (conv_in, Downsample) get none.
    """
    from comfy.ldm.modules.attention import SpatialTransformer
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock

    def slot(block):
        layers = list(block)
        transformers = [i for i, layer in enumerate(layers) if isinstance(layer, SpatialTransformer)]
        if transformers:
            return transformers[-1] + 1, layers[transformers[-1]].in_channels
        res = [i for i, layer in enumerate(layers) if isinstance(layer, ResBlock)]
        if res:
            return res[0] + 1, layers[res[0]].out_channels
        return None

    down, mid, up = [], [], []
    for block in unet.input_blocks:
        found = slot(block)
        if found:
            down.append((block,) + found)
    if unet.middle_block is not None:
        found = slot(unet.middle_block)
        if found:
            mid.append((unet.middle_block,) + found)
    for block in unet.output_blocks:
        found = slot(block)
        if found:
            up.append((block,) + found)
    return down, mid, up


def plan_injection(unet, motion_model: MotionModel, model_name: str, source: str) -> list:
    """``[(block, position, module)]``; raises when the module does not fit this UNet."""
    down, mid, up = injection_slots(unet)
    layout = motion_model.layout
    modules = motion_model.modules_in_order()
    n_down = sum(len(b) for b in layout.down)
    n_up = sum(len(b) for b in layout.up)
    if n_down != len(down) or n_up != len(up):
        raise ValueError(
            f"motion module {source} has {n_down} down / {n_up} up modules but this {model_name} UNet has "
            f"{len(down)} / {len(up)} places for them; SD1.5 motion modules need an SD1.5 checkpoint, SDXL ones an SDXL checkpoint")
    slots = down + (mid if layout.mid is not None else []) + up
    plan = []
    for (block, position, channels), module in zip(slots, modules):
        if module.channels != channels:
            raise ValueError(f"motion module {source}: {module.key} has {module.channels} channels but the UNet block there "
                             f"has {channels}; the file does not belong to this kind of checkpoint ({model_name})")
        plan.append((block, position, module))
    return plan


class MotionInjection:
    """inject/eject callables for ``comfy.patcher_extension.PatcherInjection``.

    ``motion_patchers``: one ModelPatcher per motion model; with several (chained models) each
    place gets their modules in this order.
    """

    def __init__(self, motion_patchers, source: str):
        self.motion_patchers = list(motion_patchers) if isinstance(motion_patchers, (list, tuple)) else [motion_patchers]
        self.source = source

    @property
    def motion_patcher(self):
        return self.motion_patchers[0]

    def inject(self, model_patcher) -> None:
        unet = model_patcher.model.diffusion_model
        name = type(model_patcher.model).__name__
        # every plan is made on the UNet without modules, so all models see the same places
        plans = [plan_injection(unet, patcher.model, name, self.source) for patcher in self.motion_patchers]
        places: dict = {}
        for plan in plans:
            for block, position, module in plan:
                places.setdefault((id(block), position), (block, position, []))[2].append(module)
        # insert back to front inside each block so earlier positions stay valid
        for block, position, modules in sorted(places.values(), key=lambda p: -p[1]):
            for offset, module in enumerate(modules):
                block.insert(position + offset, module)

    def eject(self, model_patcher) -> None:
        unet = model_patcher.model.diffusion_model
        blocks = list(unet.input_blocks) + ([unet.middle_block] if unet.middle_block is not None else []) + list(unet.output_blocks)
        for block in blocks:
            for index in reversed(range(len(block))):
                if isinstance(block[index], MotionModule):
                    del block[index]


# ------------------------------------------------------------------------------------------------
# the forward pass

def _chunks(transformer_options: dict, batch: int) -> int:
    chunks = len(transformer_options.get("cond_or_uncond") or [0])
    if batch % chunks:
        raise RuntimeError(f"motion module: batch {batch} does not split into {chunks} cond/uncond chunks")
    return chunks


def temporal_attention_kernel(comfy_attention, device: torch.device):
    """ComfyUI's attention function for a temporal (frame) sequence on ``device``.

    The user's choice (``optimized_attention``: xformers, SDPA, sage, flash...) is kept, except
    for the memory-saving fallbacks that ComfyUI picks on CPU (sub-quadratic, split): they cut
    long spatial sequences into chunks, which a sequence of at most 64 frames never needs, and are
    several times slower there than ComfyUI's own PyTorch SDPA function (benchmarks/motion.py).
    """
    chosen = comfy_attention.optimized_attention
    if device.type == "cpu":
        fallbacks = {comfy_attention.get_attention_function(name, None) for name in ("sub_quad", "split")}
        if chosen in fallbacks:
            return comfy_attention.get_attention_function("pytorch", chosen)
    return chosen


def motion_forward_patch(layer, x, emb, context, transformer_options, output_shape=None, time_context=None,
                         num_video_frames=None, image_only_indicator=None):
    """``forward_timestep_embed_patch`` handler: run one motion module on this call's frames."""
    import comfy.ldm.modules.attention as comfy_attention

    settings: MotionSettings = transformer_options.get(SETTINGS_KEY) or MotionSettings(pe_length=layer.pe_length)
    frames = x.shape[0] // _chunks(transformer_options, x.shape[0])
    window = transformer_options.get("context_window")
    check_frames_per_call(frames, layer.pe_length, windowed=window is not None)
    if frames < 2:
        if window is None:
            raise ValueError(f"the motion module needs at least 2 frames, got a latent batch of {frames}; "
                             f"set the latent batch_size to the number of frames (16 is the sweet spot)")

    def attention(q, k, v, heads):
        kernel = temporal_attention_kernel(comfy_attention, q.device)
        return kernel(q, k, v, heads, transformer_options=transformer_options)

    scale, effect = settings.scale, settings.effect
    plan = transformer_options.get(PLAN_KEY)
    if plan is not None:
        scale, effect = plan.get(id(layer), (scale, effect))
    index_list = window.index_list if window is not None else None
    feature = (transformer_options.get(INPUT_FEATURES_KEY) or {}).get(id(layer))
    out = layer(x if feature is None else x + feature, frames, scale=scale, effect=effect, index_list=index_list,
                attention=attention, max_attention_batch=settings.max_attention_batch,
                lora=transformer_options.get(MOTION_LORA_KEY), camera=(transformer_options.get(CAMERA_KEY) or {}).get(id(layer)))
    if feature is not None:
        from ..motion.image_encoder import blend_input_feature

        out = blend_input_feature(out, feature, effect, frames, index_list)
    return out


# ------------------------------------------------------------------------------------------------
# GroupNorm across frames (v1, HotshotXL), per model instance

class _ChunkCount:
    """How many cond/uncond chunks the current diffusion-model call has (set by the wrapper)."""

    def __init__(self):
        self.chunks: Optional[int] = None


class _CrossFrameMixin:
    def forward(self, x, *args, **kwargs):
        chunks = self._steadyframe_chunks.chunks
        if chunks is None or x.ndim != 4 or x.shape[0] % chunks:
            return super().forward(x, *args, **kwargs)
        b, c, h, w = x.shape
        frames = b // chunks
        # (chunks*frames, C, H, W) -> (chunks, C, frames, H, W): statistics over all frames of a chunk
        grouped = x.reshape(chunks, frames, c, h, w).transpose(1, 2)
        out = super().forward(grouped, *args, **kwargs)
        return out.transpose(1, 2).reshape(b, c, h, w)


def cross_frame_copy(norm, counter: _ChunkCount, classes: Optional[dict] = None):
    """A GroupNorm of the same class sharing ``norm``'s parameters, normalising across frames.

    The copy's class is a subclass of ``type(norm)`` made here (``classes`` caches them for one
    attachment); ComfyUI's own GroupNorm classes are never modified.
    """
    cls = type(norm)
    classes = {} if classes is None else classes
    sub = classes.get(cls)
    if sub is None:
        sub = type(f"CrossFrame{cls.__name__}", (_CrossFrameMixin, cls), {})
        classes[cls] = sub
    copy = sub.__new__(sub)
    copy.__dict__.update(norm.__dict__)
    copy._parameters = dict(norm._parameters)
    copy._buffers = dict(norm._buffers)
    copy._modules = dict(norm._modules)
    copy._steadyframe_chunks = counter
    object.__setattr__(copy, "_steadyframe_original", norm)  # a plain reference, not a submodule
    return copy


def _ejected_resblock_norm_paths(unet):
    """``[(object-patch path, GroupNorm)]`` of every ResBlock norm, with indices as in the UNet
    without motion modules (the layout object patches are applied in, see ``patch_model``)."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock

    blocks = [(f"input_blocks.{i}", b) for i, b in enumerate(unet.input_blocks)]
    if unet.middle_block is not None:
        blocks.append(("middle_block", unet.middle_block))
    blocks += [(f"output_blocks.{i}", b) for i, b in enumerate(unet.output_blocks)]
    found = []
    for prefix, block in blocks:
        index = 0
        for layer in block:
            if isinstance(layer, MotionModule):
                continue  # injected by a loaded clone; not there when object patches apply
            if isinstance(layer, ResBlock):
                for attr, norm in (("in_layers.0", layer.in_layers[0]), ("out_layers.0", layer.out_layers[0])):
                    found.append((f"diffusion_model.{prefix}.{index}.{attr}", norm))
            index += 1
    if isinstance(unet.out[0], torch.nn.GroupNorm):
        found.append(("diffusion_model.out.0", unet.out[0]))
    return found


def add_cross_frame_groupnorm(model_patcher) -> int:
    """Object-patch every ResBlock GroupNorm (and the output norm) of this clone; returns the count."""
    import comfy.patcher_extension

    counter = _ChunkCount()
    count = patch_cross_frame_norms(model_patcher, _ejected_resblock_norm_paths(model_patcher.model.diffusion_model),
                                    counter, {})
    model_patcher.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, PATCH_KEY,
                                       frame_chunk_wrapper(counter))
    return count


def patch_cross_frame_norms(patcher, norms, counter: _ChunkCount, classes: dict) -> int:
    """Object-patch each ``(path, GroupNorm)`` of ``norms`` on ``patcher`` with its cross-frame copy; the count."""
    for path, norm in norms:
        # the module in place may be another clone's patch: go back to the model's own norm
        original = patcher.object_patches_backup.get(path, norm)
        original = getattr(original, "_steadyframe_original", original)
        patcher.add_object_patch(path, cross_frame_copy(original, counter, classes))
    return len(norms)


def frame_chunk_wrapper(counter: _ChunkCount):
    """A DIFFUSION_MODEL wrapper telling the cross-frame norms how this call's batch splits into clips."""
    def diffusion_model_wrapper(executor, x, *args, **kwargs):
        transformer_options = kwargs.get("transformer_options", args[4] if len(args) > 4 else {})
        previous = counter.chunks
        counter.chunks = _chunks(transformer_options, x.shape[0])
        try:
            return executor(x, *args, **kwargs)
        finally:
            counter.chunks = previous

    return diffusion_model_wrapper


# ------------------------------------------------------------------------------------------------
# beta schedules

class _SamplingSettings:
    def __init__(self, beta_schedule: str, linear_start: float, linear_end: float, zsnr: bool):
        self.sampling_settings = {"beta_schedule": beta_schedule, "linear_start": linear_start, "linear_end": linear_end, "zsnr": zsnr}


def make_model_sampling(schedule: BetaSchedule, model_patcher):
    """The ``model_sampling`` object for a resolved schedule (not ``auto``), or ``None`` for "use existing"."""
    import comfy.model_sampling

    if schedule == BetaSchedule.USE_EXISTING:
        return None
    betas = BETA_RANGES[schedule]
    existing = model_patcher.get_model_object("model_sampling")
    prediction = comfy.model_sampling.V_PREDICTION if isinstance(existing, comfy.model_sampling.V_PREDICTION) else comfy.model_sampling.EPS
    zsnr = bool(getattr(existing, "zsnr", False))
    settings = _SamplingSettings(betas.kind, betas.start, betas.end, zsnr)
    if schedule == BetaSchedule.LCM:
        from comfy_extras.nodes_model_advanced import LCM, ModelSamplingDiscreteDistilled

        class AnimateLCMSampling(ModelSamplingDiscreteDistilled, LCM):
            pass

        return AnimateLCMSampling(settings)

    class MotionSampling(comfy.model_sampling.ModelSamplingDiscrete, prediction):
        pass

    return MotionSampling(settings)


# ------------------------------------------------------------------------------------------------
# context windows

def set_context_windows(model_patcher, settings: ContextSettings) -> None:
    import comfy.context_windows as cw

    model_patcher.model_options["context_handler"] = cw.IndexListContextHandler(
        context_schedule=cw.get_matching_context_schedule(settings.schedule.value),
        fuse_method=cw.get_matching_fuse_method(settings.fuse_method.value),
        context_length=settings.length, context_overlap=settings.overlap, context_stride=settings.stride,
        closed_loop=settings.closed_loop, dim=0)
    # memory estimate for one window, not the whole video
    cw.create_prepare_sampling_wrapper(model_patcher)
    # core ControlNets would otherwise give every window the first frames of a per-frame hint
    enable_per_window_control(model_patcher)


# ------------------------------------------------------------------------------------------------
# the whole attachment

def make_motion_patcher(normalized: dict, info: MotionModuleInfo, model_patcher, consume: bool = False):
    """A ModelPatcher around the motion weights, on the UNet's devices and in its dtype.

    ``consume=True``: ``normalized`` is emptied while the weights move into the model.
    """
    import comfy.model_patcher
    import comfy.ops

    dtype = model_patcher.model.manual_cast_dtype or model_patcher.model_dtype() or torch.float32
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        dtype = torch.float16
    motion_model = build_motion_model(normalized, info, ops=comfy.ops.disable_weight_init, dtype=dtype, consume=consume)
    return comfy.model_patcher.ModelPatcher(motion_model, load_device=model_patcher.load_device,
                                            offload_device=model_patcher.offload_device)


def attach_motion_module(model_patcher, motion_patcher, info: MotionModuleInfo, source: str, *, beta_schedule=BetaSchedule.AUTO,
                         scale=1.0, effect=1.0, context: Optional[ContextSettings] = None):
    """A clone of ``model_patcher`` with the motion module attached (see the module docstring)."""
    import comfy.patcher_extension

    # fail now, not in the middle of sampling, if the module does not fit
    plan_injection(model_patcher.model.diffusion_model, motion_patcher.model, type(model_patcher.model).__name__, source)

    model = model_patcher.clone()
    model.remove_injections(PATCH_KEY)
    model.remove_additional_models(PATCH_KEY)
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, PATCH_KEY)
    injection = MotionInjection(motion_patcher, source)
    model.set_additional_models(PATCH_KEY, [motion_patcher])
    model.set_injections(PATCH_KEY, [comfy.patcher_extension.PatcherInjection(injection.inject, injection.eject)])
    model.set_attachments(CHAIN_KEY, (ChainedMotion(motion_patcher, info, source, MotionControl(scale=scale, effect=effect)),))
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, PATCH_KEY)
    patches = model.model_options["transformer_options"].setdefault("patches", {}).get("forward_timestep_embed_patch", [])
    if not any(handler is motion_forward_patch for _, handler in patches):
        model.set_model_forward_timestep_embed_patch((MotionModule, motion_forward_patch))
    model.model_options["transformer_options"][SETTINGS_KEY] = MotionSettings(scale=scale, effect=effect, pe_length=info.pe_length, name=source)

    sampling = make_model_sampling(resolve_beta_schedule(beta_schedule, info.auto_beta_schedule), model)
    if sampling is not None:
        model.add_object_patch("model_sampling", sampling)
    if info.cross_frame_groupnorm:
        add_cross_frame_groupnorm(model)
    if context is not None:
        if "context_handler" in model.model_options:
            log.info("SteadyFrame: the model already has context windows (e.g. core's Context Windows node); keeping them")
        else:
            set_context_windows(model, context)
    return model
