"""A real SDXL ``comfy.sd.CLIP`` (CLIP-L + OpenCLIP-G, SDXL tokenizer) shrunk to a few MB (tier 2).

The classes, tokenizer, G/L concatenation and pooled-output path are ComfyUI's own
(``comfy.sdxl_clip.SDXLClipModel`` through ``comfy.supported_models.SDXL``'s clip target); only
the transformer sizes are overridden through ComfyUI's ``clip_l_model_config`` /
``clip_g_model_config`` model options, so the model fits comfortably in a shared test machine.
Weights are seeded random (``support.sd15_factory.init_random_weights_``).
"""
from __future__ import annotations

import functools

import torch

from support.sd15_factory import init_random_weights_

SMALL_TEXT_MODEL = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                    "num_hidden_layers": 3}


@functools.lru_cache(maxsize=2)
def make_small_sdxl_clip(seed: int = 0):
    """SDXL CLIP: cond width 64 (L) + 64 (G) = 128, pooled width 64 (G projection)."""
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.supported_models_base

    target = comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLClipModel)
    options = {"dtype": torch.float32, "clip_l_model_config": dict(SMALL_TEXT_MODEL),
               "clip_g_model_config": dict(SMALL_TEXT_MODEL)}
    clip = comfy.sd.CLIP(target, model_options=options)
    init_random_weights_(clip.cond_stage_model, 1000 + seed)
    return clip
