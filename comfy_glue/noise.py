"""Consistent Noise as the NOISE object core's SamplerCustomAdvanced calls.

SamplerCustomAdvanced reads ``noise.seed`` and calls ``noise.generate_noise(latent)`` with the
LATENT dict once sampling starts; the noise itself is made by ``motion/noise.py``.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..motion.noise import NoiseMode, check_flow_fits_latents, make_noise
from .runtime import progress_callback


class ConsistentNoise:
    """A NOISE object: ``seed`` and ``generate_noise(latent)``; ``flow`` only for flow-warped."""

    def __init__(self, seed: int, mode: NoiseMode, strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
                 flow=None, subdivisions: int = 8):
        self.seed = int(seed)
        self.mode = mode
        self.strength = float(strength)
        self.context_length = int(context_length)
        self.context_overlap = int(context_overlap)
        self.flow = flow
        self.subdivisions = int(subdivisions)

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        """Noise shaped like ``input_latent["samples"]`` (F, C, H, W), in its dtype, on the CPU (as core's)."""
        samples = input_latent["samples"]
        if getattr(samples, "is_nested", False) or samples.dim() != 4:
            shape = "a nested tensor" if getattr(samples, "is_nested", False) else f"shape {tuple(samples.shape)}"
            raise ValueError(
                f"Consistent Noise needs latents shaped (frames, channels, height, width), as SD1.5/SDXL AnimateDiff "
                f"uses them; got {shape}"
            )
        forward = None
        progress = None
        if self.mode is NoiseMode.FLOW_WARPED:
            check_flow_fits_latents(self.flow.frame_count, self.flow.height, self.flow.width, samples.shape)
            forward = self.flow.forward
            progress = progress_callback(samples.shape[0] - 1)
        return make_noise(self.mode, samples.shape, self.seed, samples.dtype, strength=self.strength,
                          context_length=self.context_length, context_overlap=self.context_overlap,
                          forward_flow=forward, subdivisions=self.subdivisions,
                          batch_index=input_latent.get("batch_index"), progress=progress)


def consistent_noise(noise_seed: int, mode: str, strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
                     subdivisions: int = 8, flow=None, source_images: Optional[torch.Tensor] = None,
                     flow_preset: str = "balanced") -> ConsistentNoise:
    """The Consistent Noise node's NOISE object, its settings checked before sampling starts.

    flow-warped takes ``flow`` (a ``FlowSequence``), else computes it from ``source_images``
    (F, H, W, 3) float 0..1 with the optical-flow ``flow_preset``; other modes ignore both.
    """
    mode = NoiseMode.parse(mode, "noise mode")
    if mode is NoiseMode.FREENOISE and context_overlap >= context_length:
        raise ValueError(f"FreeNoise context_overlap ({context_overlap}) must be smaller than context_length ({context_length})")
    if mode is not NoiseMode.FLOW_WARPED:
        flow = None
    elif flow is None:
        if source_images is None:
            raise ValueError("flow-warped noise needs the source video: connect flow (SF_FLOW) or source_images (IMAGE)")
        flow = source_flow(source_images, flow_preset)
    return ConsistentNoise(noise_seed, mode, strength, context_length, context_overlap, flow, subdivisions)


def source_flow(source_images: torch.Tensor, preset: str):
    """Forward and backward flow of ``source_images`` (F, H, W, 3), with ComfyUI's progress bar and Cancel."""
    from ..flow.provider import flow_for
    from .flow import flow_options

    return flow_for(source_images, options=flow_options(preset=preset), progress=progress_callback(), what="source_images")
