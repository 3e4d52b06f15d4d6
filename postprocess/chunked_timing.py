"""Interpolate Frames and Retime on one chunk of a long video, equal to the unchunked run.

The output positions are planned for the whole video (``chunk.plan.total_frames`` source frames);
the chunk renders only the output frames it owns (``chunking.timeline.owned_outputs``: those whose
``ceil(position)`` is one of its new frames), so the chunks' outputs, one after the other, are the
unchunked output frame for frame. The gap between the previous chunk's last frame and this chunk's
first new frame belongs to this chunk: with overlap its left frame is a re-read lead frame, without
it is the frame the previous chunk kept in ``chunking.state``. A looping interpolation also keeps
frame 0 until the last chunk, which interpolates from the last frame back to it.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..chunking.plan import Chunk
from ..chunking.state import load_state, save_state
from ..chunking.timeline import OutputChunk, output_chunk, owned_outputs
from ..flow.chunked import check_chunk_batch
from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from ..video.rates import exact_rate
from .interpolate import inbetween_positions, render_positions
from .retime import take_frames
from .timing import TimedFrames, retime_plan


def interpolate_chunk(images: torch.Tensor, chunk: Chunk, owner: str, multiplier: int, keep_source_frames: bool = True,
                      loop: bool = False, fps: float = 12.0, flow: Optional[FlowSequence] = None,
                      options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                      progress: ProgressFn = None) -> tuple[TimedFrames, OutputChunk]:
    """Interpolate Frames on ``images`` (F, H, W, 3) = absolute frames ``[chunk.first, chunk.end)``.

    Returns this chunk's share of the whole video's output and the OutputChunk that numbers it.
    """
    total = chunk.plan.total_frames
    if total < 2:
        raise ValueError(f"interpolation needs at least 2 frames; the chunked video has {total}")
    positions = inbetween_positions(total, int(multiplier), bool(loop), bool(keep_source_frames))
    out, owned = _render_chunk(images, chunk, owner, positions, flow, options, progress, bool(loop))
    return (TimedFrames(out, out.shape[0], float(fps) * int(multiplier)),
            output_chunk(chunk, owned, positions, exact_rate(fps)))


def retime_chunk(images: torch.Tensor, chunk: Chunk, owner: str, fps: float, mode: str, n: int = 2,
                 target_fps: float = 24.0, resample_method: str = "drop/duplicate", flow: Optional[FlowSequence] = None,
                 options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                 progress: ProgressFn = None) -> tuple[TimedFrames, OutputChunk]:
    """Retime on ``images`` (F, H, W, 3) = absolute frames ``[chunk.first, chunk.end)`` (see ``retime_clip``)."""
    plan = retime_plan(chunk.plan.total_frames, fps, mode, n, target_fps, resample_method)
    out, owned = _render_chunk(images, chunk, owner, plan.positions, flow, options, progress, False)
    return TimedFrames(out, out.shape[0], plan.fps), output_chunk(chunk, owned, plan.positions, exact_rate(fps))


def _render_chunk(images, chunk: Chunk, owner: str, positions, flow, options, progress, loop: bool):
    """(owned output frames (N, H, W, C), their range in the whole output); keeps what the next chunk needs."""
    check_chunk_batch(images, chunk)
    clip = ClipFlow(images, flow, options)  # checks the given flow against the loaded frames
    total = chunk.plan.total_frames
    owned = owned_outputs(positions, chunk)
    mine = [positions[j] for j in owned]
    state = load_state(chunk, owner)
    kept = {} if state is None else state[0]
    before = None
    # The frame left of this chunk's first gap, when no lead frame re-reads it.
    needs_before = any(p < chunk.first for p in mine)
    if needs_before:
        if "last" not in kept:
            raise ValueError(f"{owner}: chunk {chunk.index} needs frame {chunk.first - 1}, which chunk {chunk.index - 1} "
                             f"did not keep; run the chain again from chunk 0")
        before = kept["last"].to(images.dtype)
    first_frame = images[0] if chunk.is_first else kept.get("first")
    closing = loop and any(p > total - 1 for p in mine)
    parts = ([before[None]] if before is not None else []) + [images]
    if closing:
        if first_frame is None:
            raise ValueError(f"{owner}: the loop's last chunk needs frame 0, which the chain did not keep")
        parts.append(first_frame[None].to(images.dtype))
    frames = torch.cat(parts) if len(parts) > 1 else images
    origin = chunk.first - (1 if before is not None else 0)
    local = [p - origin for p in mine]
    if all(float(p).is_integer() for p in mine):
        out = take_frames(frames, local) if local else frames[:0]
    else:
        out = render_positions(frames, local, _pair_flows(frames, clip, flow, options, before is not None, closing),
                               progress=progress, device=clip.device)
    if not chunk.is_last:
        keep = {"last": images[-1]}
        if loop and first_frame is not None:
            keep["first"] = first_frame
        save_state(chunk, owner, keep)
    return out, owned


def _pair_flows(frames: torch.Tensor, clip: ClipFlow, flow: Optional[FlowSequence], options: FlowOptions,
                shifted: bool, closing: bool):
    """pair_flows(i, j) for ``frames`` = [kept frame] + loaded frames [+ frame 0 of a loop].

    Pairs of loaded frames come from the given flow (as in the unchunked run); the kept frame's
    pair from ``flow.before`` when the Optical Flow node made it, else it is estimated, like the
    loop's closing pair.
    """
    offset = 1 if shifted else 0
    loaded = frames.shape[0] - offset - (1 if closing else 0)
    check_clip(frames)
    estimate = ClipFlow(frames, None, options)

    def pair(i: int, j: int):
        a = i - offset
        if flow is not None and j == i + 1:
            if 0 <= a and j - offset < loaded:
                return clip.pair(a, a + 1)
            if a == -1 and flow.before is not None:
                return flow.before
        return estimate.pair(i, j)

    return pair
