"""Start/End Keyframe Latents on ComfyUI LATENT dicts (the blend itself is ``motion/keyframe_latents.py``)."""
from __future__ import annotations

from typing import Optional

from ..motion.keyframe_latents import blend_keyframe_latents


def blend_keyframe_latent_dicts(latents: dict, start_latent: Optional[dict] = None, end_latent: Optional[dict] = None, *,
                                start_strength: float = 1.0, end_strength: float = 1.0, power: float = 1.0,
                                scale: float = 32.0) -> dict:
    """A copy of the LATENT ``latents`` whose ``samples`` (F, C, H, W) have the keyframes blended in.

    Other keys (``noise_mask``, ``batch_index``) are kept as they are; a missing keyframe LATENT has
    weight 0.
    """
    out = latents.copy()
    out["samples"] = blend_keyframe_latents(
        latents["samples"],
        start=None if start_latent is None else start_latent["samples"],
        end=None if end_latent is None else end_latent["samples"],
        start_strength=start_strength, end_strength=end_strength, power=power, scale=scale,
    )
    return out
