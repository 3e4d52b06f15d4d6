"""Select Keyframes over a chunked long video: absolute frame numbers, the last keyframe carried.

Keyframe selection is causal: frame i becomes a keyframe from its distance to the last keyframe
and the change since it. Each chunk decides the frames it is the first to load
(``[first_new, end)``) and hands the next chunk the keyframes so far and what the change since
the last one needs: that keyframe's edge maps (edge method), or the running sum of occluded
shares (occlusion method, summed in the same order as the unchunked run, so thresholds compare the
same numbers). The pair across a chunk boundary is measured on the frame before the chunk's
first new frame: re-read by the overlap, or carried by the previous chunk (its flow is then
estimated here). ``include_last`` applies on the video's last frame, in the last chunk. The result
is the unchunked selection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..flow.keyframe_warp import format_frame_indices
from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from .chunk_span import ChunkSpan
from .keyframes import (
    EdgeMaps,
    KeyframeChoice,
    KeyframeGaps,
    KeyframeMethod,
    edge_change,
    edge_maps,
    occlusion_fractions,
)


@dataclass
class KeyframeCarry:
    """What one chunk hands the next: the keyframes so far and the last one's change reference."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def choose_keyframes_chunk(images: torch.Tensor, span: ChunkSpan, first_new: int,
                           method: str = KeyframeMethod.EDGE_CHANGE, edge_threshold: float = 60.0,
                           occlusion_threshold: float = 15.0, gaps: Optional[KeyframeGaps] = None,
                           flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                           carried: Optional[KeyframeCarry] = None,
                           progress: ProgressFn = None) -> tuple[KeyframeChoice, Optional[KeyframeCarry]]:
    """The Select Keyframes node on one chunk: ``images`` are absolute frames ``span.first..span.end-1``.

    Returns the keyframes among this chunk's loaded frames (indices are absolute frame numbers,
    the images are taken from ``images``) and the carry for the next chunk (None on the last).
    """
    check_clip(images)
    gaps = KeyframeGaps() if gaps is None else gaps
    count = images.shape[0]
    if count != span.end - span.first:
        raise ValueError(f"Select Keyframes: images has {count} frames but the chunk loads {span.end - span.first} "
                         f"(frames {span.first}..{span.end - 1}); connect this chunk's frames")
    method = KeyframeMethod(method)
    settings = {"method": method.value, "edge_threshold": float(edge_threshold),
                "occlusion_threshold": float(occlusion_threshold), "min_gap": gaps.min_gap, "max_gap": gaps.max_gap,
                "include_last": gaps.include_last, "height": int(images.shape[1]), "width": int(images.shape[2])}
    history = None if carried is None else carried.tensors
    if carried is not None:
        if {k: carried.meta.get(k) for k in settings} != settings:
            raise ValueError("Select Keyframes: the settings or frame size changed between chunks of one video; run "
                             "the whole chain again from its first chunk")
        if int(carried.meta["decided_to"]) != first_new:
            raise ValueError(f"Select Keyframes: the carried keyframes end at frame {carried.meta['decided_to']} but "
                             f"this chunk's new frames start at {first_new}; run the chain again from the chunk before")
    keys = [0] if history is None else [int(k) for k in history["keys"].tolist()]
    own = first_new - span.first
    new_frames = images[own:]
    tensors: dict[str, torch.Tensor] = {}
    if method is KeyframeMethod.EDGE_CHANGE:
        maps = edge_maps(new_frames, progress=progress)
        key_thin = None if history is None else history["key_thin"]
        key_near = None if history is None else history["key_near"]

        def slot(frame: int) -> tuple[torch.Tensor, torch.Tensor]:
            if frame >= first_new:
                return maps.thin[frame - first_new], maps.near[frame - first_new]
            assert key_thin is not None and key_near is not None
            return key_thin, key_near

        def change(key: int, frame: int) -> float:
            (a_thin, a_near), (b_thin, b_near) = slot(key), slot(frame)
            pair = EdgeMaps(torch.stack((a_thin, b_thin)), torch.stack((a_near, b_near)), maps.tolerance)
            return edge_change(pair, 0, 1)

        threshold = float(edge_threshold)
        _decide(keys, first_new, span, gaps, change, threshold)
        tensors["key_thin"], tensors["key_near"] = slot(keys[-1])
    else:
        fractions = _occlusion(images, own, first_new, flow, options, history, progress)
        # prefix[i] = sum of the fractions of pairs before frame i, summed as the unchunked run sums them.
        start = 0 if first_new == 0 else first_new - 1
        prefix = {0: 0.0}
        if history is not None:
            prefix = {keys[-1]: float(history["prefix_key"]), start: float(history["prefix_last"])}
        for t, value in enumerate(fractions, start=start):
            prefix[t + 1] = prefix[t] + float(value)
        _decide(keys, first_new, span, gaps, lambda key, frame: prefix[frame] - prefix[key], float(occlusion_threshold))
        tensors["prefix_key"] = torch.tensor(prefix[keys[-1]], dtype=torch.float64)
        tensors["prefix_last"] = torch.tensor(prefix[span.end - 1], dtype=torch.float64)
    tensors["keys"] = torch.tensor(keys, dtype=torch.int64)
    if span.next_needs_frame:
        tensors["last_frame"] = images[-1]
    carry = None
    if span.next_anchor is not None:
        carry = KeyframeCarry(tensors, {**settings, "decided_to": span.end, "key": keys[-1]})
    inside = [k for k in keys if span.first <= k < span.end]
    local = torch.tensor([k - span.first for k in inside], dtype=torch.long, device=images.device)
    return KeyframeChoice(format_frame_indices(inside), images[local], len(inside)), carry


def _decide(keys: list[int], first_new: int, span: ChunkSpan, gaps: KeyframeGaps, change, threshold: float) -> None:
    """:func:`keyframes.select_keyframes` over frames ``first_new..span.end-1``, appending to ``keys``."""
    for i in range(max(first_new, 1), span.end):
        gap = i - keys[-1]
        if gap >= gaps.max_gap or (gap >= gaps.min_gap and change(keys[-1], i) >= threshold):
            keys.append(i)
    last = span.total - 1
    if span.end == span.total and gaps.include_last and keys[-1] != last and last - keys[-1] >= gaps.min_gap:
        keys.append(last)


def _occlusion(images, own, first_new, flow, options, history, progress) -> list[float]:
    """Occluded share of every pair (t, t+1) ending on a new frame (t from first_new - 1), in order."""
    if first_new == 0:
        whole = ClipFlow(images, flow, options).sequence(progress)
        return occlusion_fractions(whole.forward, whole.backward)
    sequence = ClipFlow(images, flow, options).sequence(progress) if images.shape[0] > 1 else None
    values = []
    if own == 0:
        if history is None or "last_frame" not in history:
            raise ValueError(f"Select Keyframes: frame {first_new} starts a later chunk but the previous frame was not "
                             "carried")
        pair = torch.stack((history["last_frame"].to(images.device, images.dtype), images[0]))
        boundary = ClipFlow(pair, None, options).sequence()
        values.extend(occlusion_fractions(boundary.forward, boundary.backward))
        start = 0
    else:
        start = own - 1
    if sequence is not None and sequence.forward.shape[0] > start:
        values.extend(occlusion_fractions(sequence.forward[start:], sequence.backward[start:]))
    return values
