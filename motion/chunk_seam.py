"""Seamless AnimateDiff chunks: chunk k+1 regenerates its overlap around chunk k's finished frames.

After sampling, chunk k keeps its last ``overlap`` finished latents: the frames chunk k+1 re-reads
as its lead. Chunk k+1 then

1. **anchors its lead** on them (before sampling): the lead latents are replaced by chunk k's
   finished ones with a noise mask rising from 0 (oldest lead frame: held fixed at every step, as
   ComfyUI does for inpainting) to ``(lead - 1) / lead`` (newest: nearly free). The motion
   module's temporal attention sees the finished frames as context and continues their content,
   motion and look, while the lead frames next to the new ones may already move towards this
   chunk's sample;
2. **blends across the overlap** (after sampling): lead frame i becomes
   ``(1 - w) * finished + w * regenerated`` with ``w = (i + 1) / (lead + 1)``, so the video fades
   from chunk k into chunk k+1 over the overlap instead of cutting. For that the overlap is written
   by chunk k+1: chunk k writes up to ``end - overlap`` (``seam_write_chunk``);
3. optionally blends the last finished latent into the initial latents of the first
   ``blend_frames`` new frames, as Start/End Keyframe Latents does for a start image;
4. optionally (``settle_frames``, after sampling, before the crossfade) **settles the look**: a new
   sample has its own overall look (colour, brightness, the broad layout of tones), which a
   crossfade over the overlap only turns into a quick fade. The difference between chunk k's
   finished overlap and chunk k+1's regenerated one, low-passed to a coarse grid
   (``SETTLE_GRID`` cells across) and averaged over the lead frames by how free each was, is
   added to chunk k+1: in proportion to that freedom on the lead, fully on its first new frame,
   fading linearly to 0 over ``settle_frames`` new frames. The change of look then spreads over
   ``settle_frames`` frames instead of the overlap. Fine detail is left to the crossfade: a
   static correction of moving detail would smear it.

latents: (F, C, H, W); anchors: (A, C, H, W), the last A finished latents of the previous chunk.
benchmarks/chunk_seams.py measures the seams on a toy generator.
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

    The first ``lead`` latents become the last ``lead`` anchors, with a noise mask ``i / lead``
    (0 = held fixed); the new frames get the last anchor blended in by :func:`seam_ramp` (mask 1:
    sampled freely).
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
    mask[:lead] = torch.arange(lead, dtype=torch.float32, device=out.device) / max(lead, 1)
    return out.to(latents.dtype), mask


SETTLE_GRID = 8
"""Cells across each side of the look correction (a coarse field: brightness, colour, broad tones)."""


def settle_weights(count: int, lead: int, settle_frames: int) -> torch.Tensor:
    """Weights (count,) of the look correction: ``i / lead`` on lead frame i (how free its sampling
    was), then ``1 - d / (settle_frames + 1)`` on new frame d = 1, 2, ..., 0 beyond."""
    if settle_frames < 0:
        raise ValueError(f"settle_frames must be 0 or more, got {settle_frames}")
    weights = torch.zeros(count, dtype=torch.float32)
    weights[:lead] = torch.arange(lead, dtype=torch.float32) / max(lead, 1)
    distance = torch.arange(1, count - lead + 1, dtype=torch.float32)
    weights[lead:] = (1.0 - distance / (settle_frames + 1)).clamp(min=0.0)
    return weights


def _coarse(latents: torch.Tensor, grid: int) -> torch.Tensor:
    height, width = latents.shape[-2:]
    small = F.adaptive_avg_pool2d(latents, (min(grid, height), min(grid, width)))
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)


def settle_look(sampled: torch.Tensor, anchors: torch.Tensor, lead: int, settle_frames: int,
                grid: int = SETTLE_GRID) -> torch.Tensor:
    """Sampled latents (F, C, H, W) moved towards the previous chunk's look (step 4 of the module).

    anchors: the previous chunk's finished latents (at least ``lead``); their last ``lead`` are
    the frames the lead regenerated. The correction is the coarse difference finished - sampled
    over the lead, weighted by each lead frame's noise mask ``i / lead`` (the held frames show
    none); ``settle_weights`` spread it. Unchanged when ``settle_frames`` is 0 or the lead has
    fewer than 2 frames (a single held lead frame shows no difference).
    """
    if settle_frames < 0:
        raise ValueError(f"settle_frames must be 0 or more, got {settle_frames}")
    if settle_frames == 0 or lead < 2:
        return sampled
    if anchors.shape[0] < lead or anchors.shape[1:] != sampled.shape[1:]:
        raise ValueError(f"the previous chunk kept {tuple(anchors.shape)} finished latents but this chunk's lead is "
                         f"{lead} frames of {tuple(sampled.shape[1:])}; run the chain again with one overlap and size")
    finished = anchors[-lead:].to(device=sampled.device, dtype=torch.float32)
    freedom = (torch.arange(lead, dtype=torch.float32, device=sampled.device) / lead).view(-1, 1, 1, 1)
    difference = _coarse(finished - sampled[:lead].to(torch.float32), grid)
    correction = (difference * freedom).sum(dim=0) / freedom.sum()
    weights = settle_weights(sampled.shape[0], lead, settle_frames).to(sampled.device).view(-1, 1, 1, 1)
    return (sampled.to(torch.float32) + weights * correction).to(sampled.dtype)


def crossfade_lead(sampled: torch.Tensor, anchors: torch.Tensor, lead: int) -> torch.Tensor:
    """Sampled latents (F, C, H, W) whose lead fades from the previous chunk's finished latents
    (weight ``1 - (i + 1) / (lead + 1)`` on lead frame i) into this chunk's regenerated ones."""
    if lead == 0:
        return sampled
    if anchors.shape[0] < lead or anchors.shape[1:] != sampled.shape[1:]:
        raise ValueError(f"the previous chunk kept {tuple(anchors.shape)} finished latents but this chunk's lead is "
                         f"{lead} frames of {tuple(sampled.shape[1:])}; run the chain again with one overlap and size")
    out = sampled.clone()
    weight = (torch.arange(1, lead + 1, dtype=torch.float32, device=sampled.device) / (lead + 1)).view(-1, 1, 1, 1)
    finished = anchors[-lead:].to(device=sampled.device, dtype=torch.float32)
    out[:lead] = ((1.0 - weight) * finished + weight * sampled[:lead].to(torch.float32)).to(sampled.dtype)
    return out


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
