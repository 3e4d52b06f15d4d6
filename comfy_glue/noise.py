"""Consistent Noise as the NOISE object core's SamplerCustomAdvanced calls.

SamplerCustomAdvanced reads ``noise.seed`` and calls ``noise.generate_noise(latent)`` with the
LATENT dict once sampling starts; the noise itself is made by ``motion/noise.py``.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..chunking import load_state, save_state
from ..motion.noise import NoiseMode, check_flow_fits_latents, make_noise
from ..motion.noise_chunks import NoiseCarry, chunk_noise
from .chunk_state import next_first
from .runtime import progress_callback


class ConsistentNoise:
    """A NOISE object: ``seed`` and ``generate_noise(latent)``; ``flow`` only for flow-warped.

    With ``chunk`` (a ``chunking.Chunk``) the latent holds that chunk's loaded frames and gets
    exactly those frames of the whole video's noise; what the next chunk needs is saved under
    ``owner`` when the noise is made.
    """

    def __init__(self, seed: int, mode: NoiseMode, strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
                 flow=None, subdivisions: int = 8, chunk=None, owner: str = "noise"):
        self.seed = int(seed)
        self.mode = mode
        self.strength = float(strength)
        self.context_length = int(context_length)
        self.context_overlap = int(context_overlap)
        self.flow = flow
        self.subdivisions = int(subdivisions)
        self.chunk = chunk
        self.owner = owner

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
        if self.chunk is not None:
            return self._chunk_noise(samples, forward, progress)
        return make_noise(self.mode, samples.shape, self.seed, samples.dtype, strength=self.strength,
                          context_length=self.context_length, context_overlap=self.context_overlap,
                          forward_flow=forward, subdivisions=self.subdivisions,
                          batch_index=input_latent.get("batch_index"), progress=progress)


    def _chunk_noise(self, samples: torch.Tensor, forward, progress) -> torch.Tensor:
        chunk = self.chunk
        if samples.shape[0] != chunk.frames:
            raise ValueError(f"Consistent Noise: the latent has {samples.shape[0]} frames but chunk {chunk.index} loads "
                             f"{chunk.frames} (frames {chunk.first}..{chunk.end - 1}); make the latent from this chunk's frames")
        loaded = load_state(chunk, self.owner)
        noise, carry = chunk_noise(self.mode, samples.shape[1:], chunk.plan.total_frames, chunk.first, chunk.end, self.seed,
                                   samples.dtype, carried=None if loaded is None else NoiseCarry(*loaded),
                                   next_first=next_first(chunk), strength=self.strength,
                                   context_length=self.context_length, context_overlap=self.context_overlap,
                                   forward_flow=forward, subdivisions=self.subdivisions, progress=progress)
        if carry is not None:
            save_state(chunk, self.owner, carry.tensors, carry.meta)
        return noise


def consistent_noise(noise_seed: int, mode: str, strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
                     subdivisions: int = 8, flow=None, source_images: Optional[torch.Tensor] = None,
                     flow_preset: str = "balanced", chunk=None, owner: str = "noise") -> ConsistentNoise:
    """The Consistent Noise node's NOISE object, its settings checked before sampling starts.

    flow-warped takes ``flow`` (a ``FlowSequence``), else computes it from ``source_images``
    (F, H, W, 3) float 0..1 with the optical-flow ``flow_preset``; other modes ignore both.
    ``chunk``/``owner``: one chunk of a long video and the name its state is kept under.
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
    return ConsistentNoise(noise_seed, mode, strength, context_length, context_overlap, flow, subdivisions, chunk, owner)


def source_flow(source_images: torch.Tensor, preset: str):
    """Forward and backward flow of ``source_images`` (F, H, W, 3), with ComfyUI's progress bar and Cancel."""
    from ..flow.provider import flow_for
    from .flow import flow_options

    return flow_for(source_images, options=flow_options(preset=preset), progress=progress_callback(), what="source_images")
