"""Flow Warp Keyframes on one chunk of a long video: keyframes at absolute frame numbers.

A chunk's frames are warped from their previous and next keyframe as in the whole video, with two
differences at the chunk's edges:

* the previous keyframe may lie in an earlier chunk: chunk k keeps, for the next chunk's first
  loaded frame, that keyframe's number and source frame (direct mode) and the composed flow and
  confidence from that frame into it (composed mode, a connected flow), so chunk k+1 continues the
  chain exactly where the unchunked run would be;
* the next keyframe may lie in a later chunk, whose frames this chunk has not read: such frames
  are warped from their previous keyframe only (the unchunked run blends both there). Put a
  keyframe inside every overlap, or chunks that end on keyframes, to avoid it; frames with both
  keyframes in reach are equal to the unchunked run.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch

from ..chunking.plan import Chunk
from ..chunking.state import load_state, save_state
from .chunked import check_chunk_batch
from .keyframe_warp import (
    OutsideKey,
    Sampling,
    SizeMismatch,
    WarpSettings,
    check_keyframes,
    parse_keyframe_indices,
    warp_keyframes,
)
from .provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn
from .sequence import FlowSequence

logger = logging.getLogger(__name__)


def flow_warp_chunk(frames: torch.Tensor, keyframes: torch.Tensor, keyframe_indices: str, chunk: Chunk, owner: str, *,
                    consistency_tolerance: float = 0.5, color_tolerance: float = 0.1, mask_dilation: int = 4,
                    interpolation: str = Sampling.BICUBIC, on_size_mismatch: str = SizeMismatch.ERROR,
                    flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                    progress: ProgressFn = None):
    """The Flow Warp Keyframes node on ``frames`` (F, H, W, 3) = absolute frames ``[chunk.first, chunk.end)``.

    keyframes: (K, h, w, C), one per index of ``keyframe_indices`` (absolute frame numbers of the
    whole video; negative ones count from its end). Returns (images (F, H, W, C), masks (F, H, W)).
    """
    check_chunk_batch(frames, chunk, "frames")
    indices = parse_keyframe_indices(keyframe_indices, chunk.plan.total_frames)
    keyframes = check_keyframes(frames, keyframes, indices, resize=SizeMismatch(on_size_mismatch) is SizeMismatch.RESIZE)
    flows = ClipFlow(frames, flow, options, what="frames")
    settings = WarpSettings(fb_beta=float(consistency_tolerance), mask_dilation=int(mask_dilation),
                            photometric_threshold=None if color_tolerance >= 1.0 else float(color_tolerance),
                            interpolation=Sampling(interpolation).value)
    local = [(k - chunk.first, i) for i, k in enumerate(indices) if chunk.first <= k < chunk.end]
    outside = _carried_key(chunk, owner, indices, flows.given is not None)
    used = [k for k, _ in local] + ([outside.index] if outside is not None else [])
    images_in = keyframes[[i for _, i in local] + ([indices.index(outside.index + chunk.first)] if outside else [])]
    if not used:
        raise ValueError(f"chunk {chunk.index} (frames {chunk.first} .. {chunk.end - 1}) has no keyframe in it or before "
                         f"it (keyframe_indices: {keyframe_indices}); give a keyframe at or before frame {chunk.first}")
    later = [k for k in indices if k >= chunk.end]
    last_local = max(used)
    if later and last_local < chunk.frames - 1:
        logger.info("Flow Warp chunk %d: frames %d .. %d have their next keyframe (%d) in a later chunk; they are warped "
                    "from the previous keyframe only", chunk.index, chunk.first + last_local + 1, chunk.end - 1, min(later))
    capture = _capture_frame(chunk, indices)
    images, masks = warp_keyframes(flows, images_in, used, settings, progress, outside, capture)
    if not chunk.is_last:
        _keep_key(chunk, owner, indices, frames, outside, capture)
    return images, masks


def _next_first(chunk: Chunk) -> int:
    """Absolute number of the next chunk's first loaded frame."""
    return chunk.plan.chunk(chunk.index + 1).first


def _capture_frame(chunk: Chunk, indices: list[int]) -> Optional[dict]:
    if chunk.is_last:
        return None
    return {"frame": _next_first(chunk) - chunk.first}


def _keep_key(chunk: Chunk, owner: str, indices: list[int], frames: torch.Tensor, outside: Optional[OutsideKey],
              capture: Optional[dict]) -> None:
    """Save the next chunk's previous keyframe (if it lies before that chunk's frames) and its chain."""
    start = _next_first(chunk)
    key = max((k for k in indices if k <= start), default=None)
    if key is None or key == start:  # the next chunk reads its previous keyframe itself
        save_state(chunk, owner, {}, {"key": None})
        return
    if key >= chunk.first:
        source = frames[key - chunk.first]
    elif outside is not None and outside.index + chunk.first == key:
        source = outside.source[0]
    else:
        raise ValueError(f"Flow Warp: keyframe {key}'s source frame is neither in chunk {chunk.index} nor kept from "
                         f"the chunk before; run the chain again from chunk 0")
    tensors = {"source": source}
    if capture is not None and "chain" in capture:
        tensors["chain_flow"], tensors["chain_confidence"] = capture["chain"]
    save_state(chunk, owner, tensors, {"key": key})


def _carried_key(chunk: Chunk, owner: str, indices: list[int], composed: bool) -> Optional[OutsideKey]:
    state = load_state(chunk, owner)
    if state is None:
        return None
    tensors, meta = state
    key = meta.get("key")
    if key is None or key >= chunk.first:
        return None
    if key not in indices:
        raise ValueError(f"Flow Warp: the previous chunk used keyframe {key}, which keyframe_indices no longer lists; "
                         f"run the chain again from chunk 0")
    chain = None
    if composed:
        if "chain_flow" not in tensors:
            raise ValueError("Flow Warp: the flow input was connected in this chunk but not in the previous one; "
                             "run the chain again from chunk 0 with the same wiring")
        chain = (tensors["chain_flow"], tensors["chain_confidence"])
    return OutsideKey(key - chunk.first, tensors["source"][None], chain)
