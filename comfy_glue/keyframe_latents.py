"""Start/End Keyframe Latents on ComfyUI LATENT dicts (the blend itself is ``motion/keyframe_latents.py``)."""
from __future__ import annotations

import os
from typing import Optional

from ..chunking.state import load_state, save_state
from ..chunking.timeline import seam_write_chunk
from ..motion.chunk_seam import anchor_latents, combined_noise_mask, crossfade_lead, seam_ramp, settle_look
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


SEAM_OWNER = "seam-anchor"
"""The ``chunking.state`` owner of the finished latents one chunk hands the next (one anchor per workflow)."""


def save_seam_anchor(latent: dict, chunk, blend_frames: int = 0, blend_strength: float = 0.5, settle_frames: int = 0):
    """Chunk Seam Anchor on the sampled LATENT of a chunk: ``(latent, write chunk)``.

    latent: ``samples`` (F, C, H, W) with F = ``chunk.frames``. After the first chunk (when the
    previous chunk's anchor exists) its lead is faded from the previous chunk's finished latents
    into this chunk's (``motion.chunk_seam.crossfade_lead``). The last ``overlap`` (at least 1)
    latents are kept for the next chunk, with ``blend_frames`` / ``blend_strength`` (how the next
    chunk's Keyframe Latents blends the last one into its first new frames). The write chunk
    (``chunking.timeline.seam_write_chunk``) tells Video Combine to write the blended overlap and
    leave this chunk's own overlap to the next chunk.
    """
    samples = latent["samples"]
    if samples.dim() != 4 or samples.shape[0] != chunk.frames:
        raise ValueError(f"Chunk Seam Anchor: the latent has {tuple(samples.shape)} but chunk {chunk.index} covers "
                         f"{chunk.frames} frames ({chunk.first} .. {chunk.end - 1}); connect the sampled latents of "
                         f"this chunk (one per frame)")
    seam_ramp(1, blend_frames, blend_strength)  # checks the settings before anything is written
    if settle_frames < 0:
        raise ValueError(f"Chunk Seam Anchor: settle_frames must be 0 or more, got {settle_frames}")
    out = latent
    state = load_state(chunk, SEAM_OWNER)
    if state is not None and chunk.lead:
        anchors = state[0]["latents"]
        out = latent.copy()
        out["samples"] = crossfade_lead(settle_look(samples, anchors, chunk.lead, int(settle_frames)), anchors,
                                        chunk.lead)
    if not chunk.is_last:
        keep = max(chunk.plan.overlap, 1)
        save_state(chunk, SEAM_OWNER, {"latents": out["samples"][-keep:]},
                   {"blend_frames": int(blend_frames), "blend_strength": float(blend_strength)})
    return out, seam_write_chunk(chunk)


def chunk_keyframe_latent_dicts(latents: dict, chunk, start_latent: Optional[dict] = None,
                                end_latent: Optional[dict] = None, *, start_strength: float = 1.0,
                                end_strength: float = 1.0, power: float = 1.0, scale: float = 32.0) -> dict:
    """Start/End Keyframe Latents on one chunk: keyframes at the whole video's first and last frame,
    and after the first chunk the lead anchored on the previous chunk's finished latents (Chunk Seam
    Anchor) through a ``noise_mask`` rising from 0 over the lead (``motion.chunk_seam``).

    latents: LATENT with ``samples`` (F, C, H, W), F = ``chunk.frames`` (absolute frames
    ``[chunk.first, chunk.end)``).
    """
    samples = latents["samples"]
    if samples.dim() != 4 or samples.shape[0] != chunk.frames:
        raise ValueError(f"Start/End Keyframe Latents: the latents are {tuple(samples.shape)} but chunk {chunk.index} "
                         f"covers {chunk.frames} frames ({chunk.first} .. {chunk.end - 1}); make one latent per loaded frame")
    out = latents.copy()
    out["samples"] = blend_keyframe_latents(
        samples, start=None if start_latent is None else start_latent["samples"],
        end=None if end_latent is None else end_latent["samples"], start_strength=start_strength,
        end_strength=end_strength, power=power, scale=scale, first=chunk.first, total=chunk.plan.total_frames)
    if chunk.is_first or not os.path.isdir(os.path.join(chunk.state_dir, SEAM_OWNER)):
        # No Chunk Seam Anchor in this workflow (it has written nothing yet): keyframes only.
        return out
    state = load_state(chunk, SEAM_OWNER)
    if state is None:
        return out
    tensors, meta = state
    anchored, frame_mask = anchor_latents(out["samples"], tensors["latents"], chunk.lead,
                                          int(meta.get("blend_frames", 0)), float(meta.get("blend_strength", 0.5)))
    out["samples"] = anchored
    out["noise_mask"] = combined_noise_mask(frame_mask, anchored, latents.get("noise_mask"))
    return out
