"""Image-to-video motion models (AnimateLCM-I2V, PIA) on a ComfyUI MODEL, through extension points.

Both start from :func:`.motion_patch.attach_motion_module` (the motion modules, beta schedule,
context windows) and add, on the same clone:

- an ``OUTER_SAMPLE`` wrapper that VAE-encodes the start image once per run, at the size of the
  latent being sampled (bilinear, centre crop), before the UNet is loaded;

AnimateLCM-I2V (key ``SteadyFrame_i2v``):

- ``set_additional_models``: a ModelPatcher around the reference-image encoder (loads and
  offloads with the UNet);
- an ``APPLY_MODEL`` wrapper that runs the encoder on the start latent for this call's frame
  count and hands the four feature maps to the motion forward patch in
  ``transformer_options[INPUT_FEATURES_KEY]`` (keyed by module), which adds them to the input
  of ``down_blocks.N.motion_modules.1``;

PIA (key ``SteadyFrame_pia``):

- an object patch of ``diffusion_model.input_blocks.0.0`` (conv_in): a copy of the UNet's conv
  sharing its weight and bias, that also convolves 5 extra input channels with the file's
  (320, 5, 3, 3) kernel; no copy of the UNet's own weights;
- an ``APPLY_MODEL`` wrapper that appends those 5 channels, ``[affinity, start-image latent]``,
  as ``c_concat`` for the frames of this call;
- GroupNorm statistics across the frames of each cond chunk for every GroupNorm of the UNet
  and the motion modules' own norms (object patches on both ModelPatchers, as
  AnimateDiff-Evolved runs PIA).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..motion.beta_schedules import BetaSchedule
from ..motion.image_encoder import RefImageEncoder, feature_module_keys
from ..motion.image_motion_files import ImageMotionFile
from ..motion.pia import AffinityPreset, affinity_channel, affinity_schedule, extra_conv_in
from ..motion.temporal import MotionModule
from ..motion.windows import ContextSettings
from .motion_patch import (
    _ChunkCount,
    _chunks,
    attach_motion_module,
    frame_chunk_wrapper,
    make_motion_patcher,
    patch_cross_frame_norms,
)

I2V_KEY = "SteadyFrame_i2v"
PIA_KEY = "SteadyFrame_pia"
CONV_IN_PATH = "diffusion_model.input_blocks.0.0"

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# the start image

def check_start_image(image, what: str) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] < 1 or image.shape[-1] not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{what}: start_image must be an IMAGE batch (frames, height, width, 3), got {shape}")
    if image.shape[1] < 8 or image.shape[2] < 8:
        raise ValueError(f"{what}: start_image is {image.shape[2]}x{image.shape[1]} pixels; it needs at least 8x8")


def encode_start_image(vae, image: torch.Tensor, latent_shape, what: str) -> torch.Tensor:
    """The raw latent ``(1, 4, h, w)`` of ``image[0]`` resized (bilinear, centre crop) to the latent size."""
    import comfy.utils

    if len(latent_shape) != 4:
        raise ValueError(f"{what}: expected an image latent (frames, 4, h, w), got a latent of shape {tuple(latent_shape)}")
    if image.shape[0] > 1:
        log.info("SteadyFrame %s: start_image has %d images; the first one is used", what, image.shape[0])
    ratio = getattr(vae, "downscale_ratio", 8)
    ratio = ratio if isinstance(ratio, int) else 8
    h, w = int(latent_shape[2]), int(latent_shape[3])
    pixels = image[:1, :, :, :3].movedim(-1, 1)
    pixels = comfy.utils.common_upscale(pixels, w * ratio, h * ratio, "bilinear", "center").movedim(1, -1)
    latent = vae.encode(pixels)
    if latent.ndim != 4 or latent.shape[1] != latent_shape[1]:
        raise ValueError(f"{what}: the VAE gives latents of shape {tuple(latent.shape)}, but the model samples "
                         f"{latent_shape[1]}-channel latents; connect the VAE of the SD1.5 checkpoint")
    return latent


@dataclass
class _Run:
    """What one sampling run of a clone computes once: the start latent, per-call caches."""
    latent: Optional[torch.Tensor] = None           # raw VAE latent (1, 4, h, w)
    affinity: Optional[list] = None                 # PIA: one value per frame of the clip
    cache: dict = field(default_factory=dict)

    def clear(self) -> None:
        self.latent, self.affinity = None, None
        self.cache.clear()


def _outer_sample_wrapper(run: _Run, vae, image, what: str, affinity_settings=None):
    def outer_sample(executor, *args, **kwargs):
        noise = args[0] if args else kwargs["noise"]
        run.clear()
        run.latent = encode_start_image(vae, image, tuple(noise.shape), what)
        if affinity_settings is not None:
            preset, start_frame, value = affinity_settings
            run.affinity = affinity_schedule(noise.shape[0], preset, start_frame, value)
        try:
            return executor(*args, **kwargs)
        finally:
            run.clear()
    return outer_sample


def _processed_ref(run: _Run, x: torch.Tensor, latent_format) -> torch.Tensor:
    """The start latent at ``x``'s size, scaled as the UNet sees latents: ``(1, 4, h, w)``."""
    import comfy.utils

    key = ("ref", x.shape[2], x.shape[3], x.dtype, x.device)
    if key not in run.cache:
        ref = run.latent
        if ref.shape[2:] != x.shape[2:]:
            ref = comfy.utils.common_upscale(ref, x.shape[3], x.shape[2], "nearest-exact", "center")
        run.cache[key] = latent_format.process_in(ref.to(device=x.device, dtype=x.dtype))
    return run.cache[key]


def _call_args(args, kwargs):
    """(x, transformer_options) of an APPLY_MODEL call: ``(x, t, c_concat, c_crossattn, control, transformer_options)``."""
    x = args[0]
    options = args[5] if len(args) > 5 else kwargs.get("transformer_options", {})
    return x, options


def _replace_arg(args, kwargs, index: int, name: str, value):
    if len(args) > index:
        args = list(args)
        args[index] = value
    else:
        kwargs = dict(kwargs)
        kwargs[name] = value
    return args, kwargs


# ------------------------------------------------------------------------------------------------
# AnimateLCM-I2V

def make_encoder_patcher(file: ImageMotionFile, model_patcher):
    import comfy.model_patcher
    import comfy.ops

    dtype = model_patcher.model.manual_cast_dtype or model_patcher.model_dtype() or torch.float32
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        dtype = torch.float16
    with torch.device("meta"):
        encoder = RefImageEncoder(file.encoder_channels, ops=comfy.ops.disable_weight_init)
    encoder.load_state_dict({k: v.to(dtype=dtype, memory_format=torch.contiguous_format) for k, v in file.encoder.items()},
                            strict=True, assign=True)
    encoder = encoder.eval().requires_grad_(False)
    return comfy.model_patcher.ModelPatcher(encoder, load_device=model_patcher.load_device, offload_device=model_patcher.offload_device)


def attach_animatelcm_i2v(model_patcher, file: ImageMotionFile, source: str, start_image, vae, *, ref_drift: float = 0.0,
                          beta_schedule=BetaSchedule.AUTO, scale=1.0, effect=1.0, context: Optional[ContextSettings] = None):
    """A clone of ``model_patcher`` that animates ``start_image`` with an AnimateLCM-I2V file."""
    import comfy.patcher_extension

    from .motion_patch import INPUT_FEATURES_KEY

    what = f"AnimateLCM-I2V ({source})"
    check_start_image(start_image, what)
    if vae is None:
        raise ValueError(f"{what}: connect a VAE (the checkpoint's) to encode the start image")
    encoder_patcher = make_encoder_patcher(file, model_patcher)
    file.encoder = None  # the patcher holds the weights now
    motion_patcher = make_motion_patcher(file.motion, file.info, model_patcher, consume=True)
    model = attach_motion_module(model_patcher, motion_patcher, file.info, source, beta_schedule=beta_schedule,
                                 scale=scale, effect=effect, context=context)
    model.remove_additional_models(I2V_KEY)
    model.set_additional_models(I2V_KEY, [encoder_patcher])
    targets = [id(motion_patcher.model.get_submodule(key)) for key in feature_module_keys(len(file.encoder_channels))]
    run = _Run()

    def apply_model(executor, *args, **kwargs):
        if run.latent is None:  # not inside a KSampler run (nothing to animate from): plain model
            return executor(*args, **kwargs)
        x, options = _call_args(args, kwargs)
        chunks = _chunks(options, x.shape[0])
        frames = x.shape[0] // chunks
        key = ("features", frames, chunks, x.shape[2], x.shape[3], x.dtype, x.device)
        features = run.cache.get(key)
        if features is None:
            ref = _processed_ref(run, x, executor.class_obj.latent_format)
            maps = encoder_patcher.model(ref, frames, ref_drift)
            features = {target: f.to(x.dtype).repeat(chunks, 1, 1, 1) for target, f in zip(targets, maps)}
            run.cache[key] = features
        options = dict(options)
        options[INPUT_FEATURES_KEY] = {**(options.get(INPUT_FEATURES_KEY) or {}), **features}
        args, kwargs = _replace_arg(args, kwargs, 5, "transformer_options", options)
        return executor(*args, **kwargs)

    wrappers = comfy.patcher_extension.WrappersMP
    for kind in (wrappers.OUTER_SAMPLE, wrappers.APPLY_MODEL):
        model.remove_wrappers_with_key(kind, I2V_KEY)
    model.add_wrapper_with_key(wrappers.OUTER_SAMPLE, I2V_KEY, _outer_sample_wrapper(run, vae, start_image, what))
    model.add_wrapper_with_key(wrappers.APPLY_MODEL, I2V_KEY, apply_model)
    return model


# ------------------------------------------------------------------------------------------------
# PIA

class _WideConvInMixin:
    """conv_in that also takes the extra PIA channels: ``conv(x[:, :n]) + conv(x[:, n:], extra)``."""

    def forward(self, x, *args, **kwargs):
        extra = self._steadyframe_extra_weight
        n = self.in_channels
        if x.shape[1] == n + extra.shape[1]:
            return super().forward(x[:, :n], *args, **kwargs) + extra_conv_in(x[:, n:], extra)
        return super().forward(x, *args, **kwargs)


def wide_conv_in(conv, extra_weight: torch.Tensor, classes: Optional[dict] = None):
    """A conv of ``conv``'s class sharing its parameters (no copy), that adds the extra channels' kernel."""
    if conv.kernel_size != (3, 3) or conv.out_channels != extra_weight.shape[0]:
        raise ValueError(f"PIA: the UNet's conv_in is {conv.out_channels} channels, kernel {conv.kernel_size}; the file's "
                         f"extra kernel is {tuple(extra_weight.shape)}: this is not an SD1.5 UNet")
    classes = {} if classes is None else classes
    cls = type(conv)
    sub = classes.setdefault(cls, type(f"PIA{cls.__name__}", (_WideConvInMixin, cls), {}))
    copy = sub.__new__(sub)
    copy.__dict__.update(conv.__dict__)
    copy._parameters = dict(conv._parameters)
    copy._buffers = dict(conv._buffers)
    copy._modules = dict(conv._modules)
    object.__setattr__(copy, "_steadyframe_extra_weight", extra_weight)
    object.__setattr__(copy, "_steadyframe_original", conv)
    return copy


def _unet_groupnorm_paths(unet) -> list:
    """``[(object-patch path, GroupNorm)]`` of every GroupNorm of the UNet, indexed as without motion modules."""
    blocks = [(f"input_blocks.{i}", b) for i, b in enumerate(unet.input_blocks)]
    if unet.middle_block is not None:
        blocks.append(("middle_block", unet.middle_block))
    blocks += [(f"output_blocks.{i}", b) for i, b in enumerate(unet.output_blocks)]
    found = []
    for prefix, block in blocks:
        index = 0
        for layer in block:
            if isinstance(layer, MotionModule):
                continue
            for name, module in layer.named_modules():
                if isinstance(module, torch.nn.GroupNorm):
                    found.append((f"diffusion_model.{prefix}.{index}" + (f".{name}" if name else ""), module))
            index += 1
    for name, module in unet.out.named_modules():
        if isinstance(module, torch.nn.GroupNorm):
            found.append((f"diffusion_model.out.{name}", module))
    return found


def add_cross_frame_groupnorm_everywhere(model, motion_patcher) -> int:
    """Every GroupNorm of the UNet and of the motion modules computes statistics across frames."""
    import comfy.patcher_extension

    counter = _ChunkCount()
    classes: dict = {}
    count = patch_cross_frame_norms(model, _unet_groupnorm_paths(model.model.diffusion_model), counter, classes)
    motion_norms = [(path, motion_patcher.model.get_submodule(path))
                    for path in (f"{key}.temporal_transformer.norm" for key in motion_patcher.model.layout.injection_order())]
    count += patch_cross_frame_norms(motion_patcher, motion_norms, counter, classes)
    model.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, PIA_KEY)
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, PIA_KEY, frame_chunk_wrapper(counter))
    return count


def attach_pia(model_patcher, file: ImageMotionFile, source: str, start_image, vae, *,
               affinity_preset: str = AffinityPreset.CONSTANT, start_frame: int = 0, affinity=1.0,
               beta_schedule=BetaSchedule.AUTO, scale=1.0, effect=1.0, context: Optional[ContextSettings] = None):
    """A clone of ``model_patcher`` that animates ``start_image`` with a PIA file.

    ``affinity``: a float (multiplies the preset) or one value per frame.
    """
    import comfy.patcher_extension

    what = f"PIA ({source})"
    check_start_image(start_image, what)
    if vae is None:
        raise ValueError(f"{what}: connect a VAE (the checkpoint's) to encode the start image")
    affinity_schedule(2, affinity_preset, start_frame, affinity)  # bad settings fail here, not mid-run
    extra_weight = file.pia_extra_weight
    unet = model_patcher.model.diffusion_model
    conv = model_patcher.object_patches_backup.get(CONV_IN_PATH, model_patcher.get_model_object(CONV_IN_PATH))
    conv = getattr(conv, "_steadyframe_original", conv)
    wide = wide_conv_in(conv, extra_weight)
    if getattr(unet, "in_channels", 4) != 4:
        log.warning("SteadyFrame %s: the UNet takes %s input channels (not 4); PIA was trained on a plain SD1.5 UNet",
                    what, getattr(unet, "in_channels", "?"))
    motion_patcher = make_motion_patcher(file.motion, file.info, model_patcher, consume=True)
    model = attach_motion_module(model_patcher, motion_patcher, file.info, source, beta_schedule=beta_schedule,
                                 scale=scale, effect=effect, context=context)
    model.add_object_patch(CONV_IN_PATH, wide)
    add_cross_frame_groupnorm_everywhere(model, motion_patcher)
    run = _Run()

    def apply_model(executor, *args, **kwargs):
        if run.latent is None:
            return executor(*args, **kwargs)
        x, options = _call_args(args, kwargs)
        chunks = _chunks(options, x.shape[0])
        frames = x.shape[0] // chunks
        window = options.get("context_window")
        index_list = list(window.index_list) if window is not None else None
        if index_list is None and frames != len(run.affinity):
            index_list = list(range(frames))
        ref = _processed_ref(run, x, executor.class_obj.latent_format)
        mask = affinity_channel(run.affinity, index_list, x.shape[2], x.shape[3], x.device, x.dtype)
        extra = torch.cat([mask, ref.expand(frames, -1, -1, -1)], dim=1).repeat(chunks, 1, 1, 1)
        c_concat = args[2] if len(args) > 2 else kwargs.get("c_concat")
        if c_concat is not None:
            extra = torch.cat([c_concat.to(extra), extra], dim=1)
        args, kwargs = _replace_arg(args, kwargs, 2, "c_concat", extra)
        return executor(*args, **kwargs)

    wrappers = comfy.patcher_extension.WrappersMP
    for kind in (wrappers.OUTER_SAMPLE, wrappers.APPLY_MODEL):
        model.remove_wrappers_with_key(kind, PIA_KEY)
    model.add_wrapper_with_key(wrappers.OUTER_SAMPLE, PIA_KEY,
                               _outer_sample_wrapper(run, vae, start_image, what, (affinity_preset, start_frame, affinity)))
    model.add_wrapper_with_key(wrappers.APPLY_MODEL, PIA_KEY, apply_model)
    return model


# ------------------------------------------------------------------------------------------------
# node entry points

def _context(info, context_length: int, context_overlap: int, what: str):
    from ..motion.windows import plan_context

    if context_length <= 0:
        return None
    context, warnings = plan_context(info.pe_length, context_length, context_overlap)
    for warning in warnings:
        log.warning("SteadyFrame %s: %s", what, warning)
    return context


def _read(motion_module: str, kind: str) -> ImageMotionFile:
    from ..motion.image_motion_files import load_image_motion_file
    from .folders import PACK_MODELS_DIR, model_file_path
    from .motion_patch import MOTION_FOLDER

    path = model_file_path(MOTION_FOLDER, motion_module, "motion module", PACK_MODELS_DIR)
    file = load_image_motion_file(path, kind)  # MotionFormatError (a ValueError) names the file and the finding
    log.info("SteadyFrame: %s is %s", motion_module, file.describe())
    return file


def load_animatelcm_i2v(model, motion_module: str, start_image, vae, *, ref_drift: float = 0.0,
                        beta_schedule: str = BetaSchedule.AUTO, motion_scale: float = 1.0, effect: float = 1.0,
                        context_length: int = 16, context_overlap: int = 4):
    from ..motion.image_motion_files import ANIMATELCM_I2V

    check_start_image(start_image, f"Load AnimateLCM-I2V ({motion_module})")
    file = _read(motion_module, ANIMATELCM_I2V)
    return attach_animatelcm_i2v(model, file, motion_module, start_image, vae, ref_drift=ref_drift, beta_schedule=beta_schedule,
                                 scale=motion_scale, effect=effect,
                                 context=_context(file.info, context_length, context_overlap, "Load AnimateLCM-I2V"))


def load_pia(model, motion_module: str, start_image, vae, *, affinity_preset: str = AffinityPreset.CONSTANT,
             start_frame: int = 0, affinity: float = 1.0, affinity_floats=None, beta_schedule: str = BetaSchedule.AUTO,
             motion_scale: float = 1.0, effect: float = 1.0, context_length: int = 16, context_overlap: int = 4):
    from ..motion.image_motion_files import PIA

    AffinityPreset.parse(affinity_preset, "PIA affinity preset")
    check_start_image(start_image, f"Load PIA ({motion_module})")
    file = _read(motion_module, PIA)
    value = [float(v) for v in affinity_floats] if affinity_floats is not None else affinity
    return attach_pia(model, file, motion_module, start_image, vae, affinity_preset=affinity_preset, start_frame=start_frame,
                      affinity=value, beta_schedule=beta_schedule, scale=motion_scale, effect=effect,
                      context=_context(file.info, context_length, context_overlap, "Load PIA"))
