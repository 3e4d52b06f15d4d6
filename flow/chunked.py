"""Optical flow of one chunk of a long video, with the pair across the chunk boundary.

A chunk's batch holds absolute frames ``[chunk.first, chunk.end)``; its flow is the
``FlowSequence`` of those frames, exactly the slice of the whole video's flow (each pair is
estimated on its own, so the numbers do not depend on the chunking). Without overlap the pair
between the previous chunk's last frame and this chunk's first frame lies in neither batch: the
node keeps its last frame in ``chunking.state`` and the next chunk estimates that pair into
``FlowSequence.before``.
"""
from __future__ import annotations

import torch

from ..chunking.plan import Chunk
from ..chunking.state import load_state, save_state
from .provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from .sequence import FlowSequence


def check_chunk_batch(images: torch.Tensor, chunk: Chunk, what: str = "images") -> None:
    """Raise a ValueError unless ``images`` holds exactly the frames ``chunk`` loads."""
    if not isinstance(chunk, Chunk):
        raise ValueError(f"the chunk input must come from a chunk control, got {type(chunk).__name__}")
    check_clip(images, what)
    if images.shape[0] != chunk.frames:
        raise ValueError(
            f"{what} has {images.shape[0]} frames but chunk {chunk.index} covers frames {chunk.first} .. {chunk.end - 1} "
            f"({chunk.frames} frames, {chunk.lead} of them re-read overlap); connect the frames loaded for this chunk")


def carried_frame(chunk: Chunk, owner: str, name: str = "last") -> torch.Tensor | None:
    """Frame ``name`` (H, W, 3) that ``owner`` kept after the previous chunk; None on the first chunk."""
    state = load_state(chunk, owner)
    if state is None:
        return None
    tensors, _ = state
    if name not in tensors:
        raise ValueError(f"{owner}: the state of chunk {chunk.index - 1} holds no {name!r} frame; run the chain again "
                         f"from chunk 0 with this workflow")
    return tensors[name]


def chunk_flow(frames: torch.Tensor, chunk: Chunk, owner: str, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
               progress: ProgressFn = None) -> FlowSequence:
    """The Optical Flow node on one chunk: flows of ``frames`` (F, H, W, 3) = absolute frames
    ``[chunk.first, chunk.end)``, plus ``before`` (the pair with the previous chunk's last frame)
    when the chunk has no overlap to re-read it from. Keeps the last frame for the next chunk.
    """
    check_chunk_batch(frames, chunk, "frames")
    sequence = ClipFlow(frames, None, options, "frames").sequence(progress)
    if not chunk.is_first and chunk.lead == 0:
        previous = carried_frame(chunk, owner)
        if previous is None or tuple(previous.shape) != tuple(frames.shape[1:]):
            raise ValueError(f"{owner}: the previous chunk's frames are {tuple(previous.shape) if previous is not None else None} "
                             f"but chunk {chunk.index}'s are {tuple(frames.shape[1:])}; every chunk must load the same size")
        pair = torch.stack((previous.to(frames.dtype), frames[0]))
        forward, backward = ClipFlow(pair, None, options, "frames").pair(0, 1)
        sequence.before = (forward.float().cpu(), backward.float().cpu())
    if not chunk.is_last:
        save_state(chunk, owner, {"last": frames[-1]})
    return sequence
