"""Seeded random-weight SD1.5 parts built from ComfyUI's own classes (tier 2 only).

Every object here is the real thing ComfyUI hands to nodes: a ``comfy.model_patcher.ModelPatcher``
around the ``comfy.supported_models.SD15`` UNet, a ``comfy.sd.CLIP`` and a ``comfy.sd.VAE``; only
the weights are random. ComfyUI's ops skip weight initialisation (they expect a checkpoint), so
every parameter is initialised explicitly from a seeded generator:

- matrices and conv kernels (2-D and up): normal(0, 0.02)
- 1-D ``weight`` (norm scales): ones; every ``bias``: zeros
- the CLIP ``logit_scale`` scalar: log(100), as in a trained CLIP

With these weights every forward pass stays finite, and the same seed gives bit-identical
tensors. Objects are cached per process (building the SD1.5 UNet takes seconds and ~3.4 GB in
fp32): callers that patch a model must ``.clone()`` it first, as ComfyUI nodes do.

Build the full UNet only under ``flock /tmp/steadyframe-heavy.lock`` on shared machines.
"""
from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
from pathlib import Path

import torch

STD = 0.02

# SD1.5 UNet hyper-parameters as ComfyUI's model detection reports them for an SD1.5 checkpoint.
SD15_UNET_CONFIG = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "channel_mult": [1, 2, 4, 4],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": False,
    "context_dim": 768,
    "num_heads": 8,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False,
    "use_temporal_resblock": False,
}

# The SD1.x VAE (AutoencoderKL, 4 latent channels, 8x down-scaling).
SD15_VAE_DDCONFIG = {
    "double_z": True,
    "z_channels": 4,
    "resolution": 256,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 128,
    "ch_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_resolutions": [],
    "dropout": 0.0,
}

# Offsets so the UNet, CLIP and VAE of one seed do not share a random stream.
_UNET_STREAM, _CLIP_STREAM, _VAE_STREAM = 0, 1, 2


def init_random_weights_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Initialise every parameter of ``module`` in place, deterministically from ``seed``.

    Buffers are left alone: ComfyUI computes them itself (e.g. the noise schedule).
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "logit_scale":
                param.fill_(math.log(100.0))
            elif leaf == "bias" or param.ndim == 0:
                param.zero_()
            elif param.ndim == 1:
                param.fill_(1.0)
            else:
                values = torch.empty(param.shape, dtype=torch.float32).normal_(0.0, STD, generator=generator)
                param.copy_(values.to(device=param.device, dtype=param.dtype))
    return module


def _sd15_model_config():
    import comfy.model_detection

    config = dict(SD15_UNET_CONFIG, dtype=torch.float32)
    model_config = comfy.model_detection.model_config_from_unet_config(config)
    if model_config is None or type(model_config).__name__ != "SD15":
        raise RuntimeError(f"ComfyUI did not recognise the SD1.5 UNet config (got {type(model_config).__name__})")
    model_config.set_inference_dtype(torch.float32, None)
    return model_config


@functools.lru_cache(maxsize=2)
def make_sd15_model_patcher(seed: int = 0):
    """A real ``ModelPatcher`` around a full SD1.5 UNet (CPU, fp32) with seeded random weights.

    Cached per seed: ``.clone()`` before adding patches or injections.
    """
    import comfy.model_management
    import comfy.model_patcher

    model_config = _sd15_model_config()
    model = model_config.get_model({}, "", device=torch.device("cpu"))
    init_random_weights_(model.diffusion_model, seed * 3 + _UNET_STREAM)
    model.diffusion_model.to(torch.float32)
    return comfy.model_patcher.ModelPatcher(
        model,
        load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )


def make_small_sd15_model_patcher(model_channels: int = 32, num_heads: int = 8, weight_seed: int = 5):
    """A real ``ModelPatcher`` around a narrow SD1.5-shaped UNet (CPU, fp32, random weights): fast to sample.

    Same blocks and attention layout as SD1.5, ``model_channels`` wide (320 in the real model).
    """
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    config = dict(SD15_UNET_CONFIG, model_channels=model_channels, num_heads=num_heads, dtype=torch.float32)
    model_config = comfy.supported_models.SD15(config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({}, "", device=torch.device("cpu"))
    init_random_weights_(model.diffusion_model, weight_seed)
    model.diffusion_model.to(torch.float32)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


@functools.lru_cache(maxsize=2)
def make_sd15_clip(seed: int = 0):
    """A real ``comfy.sd.CLIP`` (SD1.5 CLIP-L text encoder and tokenizer), seeded random weights."""
    import comfy.sd

    model_config = _sd15_model_config()
    clip = comfy.sd.CLIP(model_config.clip_target(), model_options={"dtype": torch.float32})
    init_random_weights_(clip.cond_stage_model, seed * 3 + _CLIP_STREAM)
    return clip


def sd15_vae_state_dict(seed: int = 0) -> dict:
    """State dict of an SD1.x VAE in ComfyUI's (= original LDM ``first_stage_model``) key layout."""
    from comfy.ldm.models.autoencoder import AutoencoderKL

    autoencoder = AutoencoderKL(ddconfig=dict(SD15_VAE_DDCONFIG), embed_dim=4)
    init_random_weights_(autoencoder, seed * 3 + _VAE_STREAM)
    return {k: v.to(torch.float32) for k, v in autoencoder.state_dict().items()}


@functools.lru_cache(maxsize=2)
def make_sd15_vae(seed: int = 0):
    """A real ``comfy.sd.VAE`` with the SD1.x architecture (CPU, fp32), seeded random weights."""
    import comfy.sd

    vae = comfy.sd.VAE(sd=sd15_vae_state_dict(seed), device=torch.device("cpu"), dtype=torch.float32)
    vae.throw_exception_if_invalid()
    return vae


def sd15_checkpoint_state_dict(seed: int = 0, dtype: torch.dtype = torch.float16) -> dict:
    """The whole checkpoint (UNet + CLIP + VAE) in the original LDM key layout.

    Uses the model config's ``process_*_state_dict_for_saving`` (what ComfyUI's own
    ``CheckpointSave`` writes), so ``CheckpointLoaderSimple`` detects it as SD1.5.
    """
    patcher = make_sd15_model_patcher(seed)
    clip = make_sd15_clip(seed)
    vae = make_sd15_vae(seed)
    state_dict = patcher.model.state_dict_for_saving(clip.get_sd(), vae.get_sd(), None)
    out = {}
    for key, tensor in state_dict.items():
        if tensor.is_floating_point():
            tensor = tensor.to(dtype)
        out[key] = tensor.contiguous()
    return out


@functools.lru_cache(maxsize=4)
def _cached_checkpoint_file(seed: int, dtype_name: str) -> Path:
    import comfy.utils

    folder = Path(tempfile.mkdtemp(prefix="steadyframe-sd15-"))
    _remove_at_exit(folder)
    path = folder / f"sd15_random_seed{seed}_{dtype_name}.safetensors"
    state_dict = sd15_checkpoint_state_dict(seed, getattr(torch, dtype_name))
    comfy.utils.save_torch_file(state_dict, str(path), metadata={"steadyframe_test_model": "sd15-random", "seed": str(seed)})
    return path


def write_sd15_checkpoint(path, seed: int = 0, dtype: torch.dtype = torch.float16) -> Path:
    """Write a random SD1.5 checkpoint (.safetensors, LDM layout) to ``path``; returns the path.

    fp16 by default (half the disk of fp32; ComfyUI up-casts on CPU). The file is built once per
    process and seed, then hard-linked (or copied) to each requested path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = _cached_checkpoint_file(int(seed), str(dtype).replace("torch.", ""))
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def _remove_at_exit(folder: Path) -> None:
    import atexit

    atexit.register(shutil.rmtree, folder, True)
