"""Seamless AnimateDiff chunks: chunk k+1 is sampled around chunk k's finished frames.

After sampling, chunk k keeps its last ``overlap`` finished latents (the frames chunk k+1 re-reads
as its lead). Chunk k+1 then

1. **pins its lead** on them: the lead latents are replaced by chunk k's finished ones and get a
   noise mask of 0, so the sampler keeps them fixed at every step (it re-noises them to each
   step's noise level, as for inpainting); the motion module's temporal attention sees the
   finished frames as context and continues their content, motion and style into the new frames;
   the lead comes out equal to what chunk k wrote;
2. **blends across the seam**: the initial latents of the first ``blend_frames`` new frames get
   the last finished latent mixed in with a weight falling linearly from ``blend_strength``
   (frame after the lead) to 0, as Start/End Keyframe Latents do for a start image.

latents: (F, C, H, W); anchors: (A, C, H, W), the last A finished latents of the previous chunk.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def seam_ramp(count: int, blend_frames: int, blend_strength: float) -> torch.Tensor:
    """Weights (count,) of the last finished latent on the new frames 0, 1, ... after the lead:
    ``blend_strength * (1 - (d + 1) / (blend_frames + 1))`` for d < blend_frames, then 0."""
    if blend_frames < 0:
        raise ValueError(f"blend_frames must be 0 or more, got {blend_frames}")
    if not 0.0 <= blend_strength <= 1.0:
        raise ValueError(f"blend_strength must be between 0 and 1, got {blend_strength}")
    distance = torch.arange(1, count + 1, dtype=torch.float64)
    return (blend_strength * (1.0 - distance / (blend_frames + 1)).clamp(min=0.0)).to(torch.float32)


def anchor_latents(latents: torch.Tensor, anchors: torch.Tensor, lead: int, blend_frames: int = 4,
                   blend_strength: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(initial latents (F, C, H, W), per-frame noise mask (F,)) of a chunk anchored on the previous one.

    The first ``lead`` latents become the last ``lead`` anchors (mask 0: kept fixed); the new
    frames get the last anchor blended in by :func:`seam_ramp` (mask 1: sampled freely).
    """
    if latents.dim() != 4 or anchors.dim() != 4:
        raise ValueError(f"latents and anchors must be (frames, channels, height, width), got {tuple(latents.shape)} "
                         f"and {tuple(anchors.shape)}")
    if anchors.shape[1:] != latents.shape[1:]:
        raise ValueError(f"the previous chunk's finished latents are {tuple(anchors.shape[1:])} (channels, height, width) "
                         f"but this chunk's are {tuple(latents.shape[1:])}; every chunk must be sampled at one size")
    if not 0 <= lead < latents.shape[0]:
        raise ValueError(f"lead {lead} must leave at least one new frame of the chunk's {latents.shape[0]}")
    if anchors.shape[0] < max(lead, 1):
        raise ValueError(f"the previous chunk kept {anchors.shape[0]} finished latent(s) but this chunk re-reads {lead} "
                         f"overlap frame(s); run the chain again from the previous chunk with the same overlap")
    out = latents.to(torch.float32).clone()
    anchors = anchors.to(device=out.device, dtype=torch.float32)
    if lead:
        out[:lead] = anchors[-lead:]
    ramp = seam_ramp(out.shape[0] - lead, blend_frames, blend_strength).to(out.device).view(-1, 1, 1, 1)
    out[lead:] = (1.0 - ramp) * out[lead:] + ramp * anchors[-1:]
    mask = torch.ones(out.shape[0], dtype=torch.float32, device=out.device)
    mask[:lead] = 0.0
    return out.to(latents.dtype), mask


def combined_noise_mask(frame_mask: torch.Tensor, latents: torch.Tensor, existing: Optional[torch.Tensor] = None) -> torch.Tensor:
    """A LATENT ``noise_mask`` (F, 1, H, W) at the latents' size: ``frame_mask`` (F,) times an existing
    noise mask (any (..., h, w) that ComfyUI accepts, resized and repeated over the frames)."""
    frames, _, height, width = latents.shape
    mask = frame_mask.view(frames, 1, 1, 1).expand(frames, 1, height, width).to(torch.float32)
    if existing is None:
        return mask.contiguous()
    old = existing.to(device=mask.device, dtype=torch.float32).reshape(-1, 1, *existing.shape[-2:])
    old = F.interpolate(old, size=(height, width), mode="bilinear", align_corners=False)
    repeats = -(-frames // old.shape[0])
    return mask * old.repeat(repeats, 1, 1, 1)[:frames]
