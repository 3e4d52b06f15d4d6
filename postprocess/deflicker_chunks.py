"""Deflicker for one chunk of a long video, carrying its reference statistics to the next chunk.

Chunk k of a video works on its loaded frames ``[first, end)`` (absolute numbers) and hands chunk
k+1 a carry with everything the unchunked run would know about the frames before chunk k+1's
work starts (its *anchor*: its first loaded frame, or the frame before it when the chunks do not
overlap):

- the per-frame statistics (robust channel moments or quantiles, thumbnail structure and colour)
  of the ``history`` frames before the anchor: the Gaussian window's past half and the scene-cut
  test's context, so every frame's target sees the same past as in the unchunked run;
- the pair measurement into the anchor and the chained colour of those frames (``alpha``,
  ``beta``: the moments method's frame-to-segment-start relation, causal), and the scene cuts
  already placed before the anchor;
- without overlap, the last input frame itself (the next chunk measures the pair across the
  boundary with it and drops it from its output);
- with the texture stage, its forward pass's output at the anchor (that pass is causal).

What cannot be carried is the future: a frame's target averages ``(window-1)/2`` frames on each
side, and the next chunk's frames do not exist yet. The last ``(window-1)/2`` frames of a chunk
therefore average over the frames the chunk has (the Gaussian renormalised, as at the end of a
clip or scene), and the texture stage's backward pass starts at the chunk's end. Every other
frame is the unchunked result (to float rounding). The overlap does not change this: a chunk's
lead frames are past frames, already written by the chunk before, and are made again only so the
nodes after Deflicker see them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch

from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from .chunk_span import ChunkSpan
from .deflicker import (
    ClipStatistics,
    DeflickerResult,
    GlobalSettings,
    _apply_moments,
    _apply_quantiles,
    chain_pairs,
    collect_statistics,
    find_scene_cuts,
    maps_from_chain,
    segments_from_cuts,
    stabilize_texture_carried,
    temporal_gaussian,
)

CUT_CONTEXT = 10
"""Frames before a boundary that :func:`find_scene_cuts` reads (its medians span 2 * 4 + 1)."""

_PER_FRAME = ("mean", "std", "lab_mean", "structure", "flat")


@dataclass
class DeflickerCarry:
    """What one chunk hands the next (see the module docstring): tensors and plain facts."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def settings_key(settings: GlobalSettings, texture: bool, texture_strength: float) -> str:
    """A short fingerprint of the settings: a chain whose settings change between chunks is refused."""
    text = json.dumps({**asdict(settings), "texture": bool(texture), "texture_strength": float(texture_strength)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def history_length(settings: GlobalSettings) -> int:
    """Frames of statistics carried before the next chunk's anchor."""
    return settings.radius + CUT_CONTEXT


def _slice_stats(stats: ClipStatistics, low: int, high: int) -> ClipStatistics:
    """Frames ``low..high-1`` of ``stats`` with the pairs between them."""
    return ClipStatistics(
        mean=stats.mean[low:high], std=stats.std[low:high],
        quantiles=None if stats.quantiles is None else stats.quantiles[low:high],
        lab_mean=stats.lab_mean[low:high], structure=stats.structure[low:high], flat=stats.flat[low:high],
        pair_gain=stats.pair_gain[low:max(low, high - 1)], pair_bias=stats.pair_bias[low:max(low, high - 1)])


def _join_stats(history: Optional[dict[str, torch.Tensor]], stats: ClipStatistics) -> ClipStatistics:
    """The carried history frames followed by this chunk's; ``history`` holds the pair into the
    anchor, so the pairs stay one fewer than the frames."""
    if history is None or history["mean"].shape[0] == 0:
        return stats
    quantiles = None
    if stats.quantiles is not None:
        quantiles = torch.cat((history["quantiles"], stats.quantiles))
    return ClipStatistics(
        mean=torch.cat((history["mean"], stats.mean)), std=torch.cat((history["std"], stats.std)),
        quantiles=quantiles, lab_mean=torch.cat((history["lab_mean"], stats.lab_mean)),
        structure=torch.cat((history["structure"], stats.structure)), flat=torch.cat((history["flat"], stats.flat)),
        pair_gain=torch.cat((history["pair_gain"], stats.pair_gain)),
        pair_bias=torch.cat((history["pair_bias"], stats.pair_bias)))


def deflicker_chunk(images: torch.Tensor, span: ChunkSpan, settings: Optional[GlobalSettings] = None,
                    carried: Optional[DeflickerCarry] = None, texture: bool = False, texture_strength: float = 0.6,
                    flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                    progress: ProgressFn = None) -> tuple[DeflickerResult, Optional[DeflickerCarry]]:
    """The Deflicker node on one chunk: ``images`` (F, H, W, 3) are absolute frames ``span.first..span.end-1``.

    settings: the global stage (default ``GlobalSettings()``). carried: what the previous chunk
    returned (None on the first chunk). Returns the deflickered
    frames (all F, lead frames included) with the scene cuts among them (absolute frame numbers),
    and the carry for the next chunk (None on the last chunk).
    """
    check_clip(images)
    settings = GlobalSettings() if settings is None else settings
    if images.shape[0] != span.end - span.first:
        raise ValueError(f"Deflicker: images has {images.shape[0]} frames but the chunk loads {span.end - span.first} "
                         f"(frames {span.first}..{span.end - 1}); connect this chunk's frames")
    key = settings_key(settings, texture, texture_strength)
    height, width = images.shape[1:3]
    history, anchor = None, span.first
    if carried is not None:
        _check(carried, key, span, height, width)
        anchor = int(carried.meta["anchor"])
        history = carried.tensors
    work = images
    if history is not None and anchor < span.first:  # no overlap: the previous chunk's last frame goes in front
        work = torch.cat((history["frame"][None].to(images.device, images.dtype), images))
    lead = span.first - anchor
    count = work.shape[0]
    texture = texture and texture_strength > 0 and settings.strength > 0 and count > 1
    if texture and flow is not None:
        ClipFlow(images, flow, options)  # a flow of another clip is refused before the long work
    if settings.strength == 0:
        carry = None if span.next_anchor is None else DeflickerCarry(
            {"frame": images[-1]} if span.next_needs_frame else {},
            {"settings": key, "anchor": span.next_anchor, "history_first": span.next_anchor,
             "height": height, "width": width})
        return DeflickerResult(images=images, cuts=[]), carry

    steps = (3 if texture else 2) * count  # statistics, mapping, and the texture stage when on
    stats = collect_statistics(work, settings, None if progress is None else lambda d, _t: progress(d, steps))
    joined = _join_stats(history, stats)
    start = anchor - (history["mean"].shape[0] if history is not None else 0)  # absolute frame of joined[0]
    kept_cuts = [] if history is None else [int(c) for c in history["cuts"].tolist()]
    found = find_scene_cuts(joined, settings.cut_threshold) if settings.detect_cuts else []
    # Cuts before the anchor were placed by earlier chunks (their frames are written); this chunk
    # places the later ones, with more frames after them than the earlier chunk had.
    cuts = sorted({c for c in kept_cuts if c < anchor} | {start + c for c in found if start + c >= anchor})
    local_cuts = [c - start for c in cuts if c > start]
    segments = segments_from_cuts(joined.mean.shape[0], local_cuts)
    skip = anchor - start
    out = torch.empty_like(work)
    report = None if progress is None else (lambda d, _t: progress(count + d, steps))
    alpha = beta = None
    if settings.method == "moments":
        known = None if history is None else (history["alpha"], history["beta"])
        alpha, beta = chain_pairs(joined.pair_gain, joined.pair_bias, joined.mean.shape[0],
                                  {a for a, _ in segments}, known)
        gain, bias = maps_from_chain(alpha, beta, segments, settings)
        _apply_moments(work, out, gain[skip:], bias[skip:], settings, report)
    else:
        assert joined.quantiles is not None
        target = temporal_gaussian(joined.quantiles, segments, settings.sigma, settings.radius)
        _apply_quantiles(work, out, joined.quantiles[skip:], target[skip:], settings, report)

    kept = None
    keep_at = None if span.next_anchor is None else span.next_anchor - anchor
    if texture:
        out, kept = _texture(out, images, flow, options, lead, [c - anchor for c in cuts if c > anchor],
                             float(texture_strength) * float(settings.strength),
                             None if history is None else history.get("forward"), keep_at,
                             None if progress is None else lambda d, t: progress(2 * count + d * count // max(t, 1),
                                                                                    steps))
    carry = None
    if span.next_anchor is not None:
        carry = _carry(joined, start, span, cuts, alpha, beta, key, work, anchor, kept, settings, height, width)
    return DeflickerResult(images=out[lead:], cuts=[c for c in cuts if span.first <= c < span.end]), carry


def _check(carried: DeflickerCarry, key: str, span: ChunkSpan, height: int, width: int) -> None:
    meta = carried.meta
    if meta.get("settings") != key:
        raise ValueError("Deflicker: the settings changed between chunks of one video; run the whole chain again "
                         "from its first chunk with one setting")
    if (meta.get("height"), meta.get("width")) != (height, width):
        raise ValueError(f"Deflicker: this chunk's frames are {width}x{height} but the previous chunk's were "
                         f"{meta.get('width')}x{meta.get('height')}")
    anchor = int(meta.get("anchor", -1))
    if anchor not in (span.first, span.first - 1):
        raise ValueError(f"Deflicker: the carried state is for a chunk starting at frame {anchor}, this chunk starts "
                         f"at frame {span.first}; run the chain again from the chunk before this one")


def _texture(out, images, flow, options, lead, cuts, strength, first_forward, keep_at, progress):
    count = out.shape[0]
    given = flow
    texture_cuts = list(cuts)
    if given is not None and lead:
        # The connected flow covers this chunk's own frames: the carried frame in front has none,
        # so the texture stage does not link across that boundary.
        zeros = torch.zeros((lead, 2, given.height, given.width), dtype=given.forward.dtype)
        given = FlowSequence(forward=torch.cat((zeros, given.forward)), backward=torch.cat((zeros, given.backward)),
                             height=given.height, width=given.width)
        texture_cuts.append(lead)
    sequence = ClipFlow(out, given, options).sequence(None) if count > 1 else None
    if sequence is None:
        return out, (out[keep_at].clone() if keep_at is not None else None)
    return stabilize_texture_carried(out, sequence, strength=strength, cuts=sorted(set(texture_cuts)),
                                     progress=progress, first_forward=first_forward, keep_forward=keep_at)


def _carry(joined: ClipStatistics, start: int, span: ChunkSpan, cuts, alpha, beta, key, work, anchor, kept,
           settings: GlobalSettings, height: int, width: int) -> DeflickerCarry:
    """The statistics of the frames before the next anchor, and what else the next chunk needs."""
    next_anchor = span.next_anchor
    assert next_anchor is not None
    low = max(start, next_anchor - history_length(settings))
    a, b = low - start, next_anchor - start
    part = _slice_stats(joined, a, b)
    tensors = {name: getattr(part, name) for name in _PER_FRAME}
    # The pair into the anchor comes too: the next chunk chains its first frame from it.
    moments = settings.method == "moments"
    tensors["pair_gain"] = joined.pair_gain[a:b] if moments else torch.zeros(b - a, 3, dtype=torch.float64)
    tensors["pair_bias"] = joined.pair_bias[a:b] if moments else torch.zeros(b - a, 3, dtype=torch.float64)
    if part.quantiles is not None:
        tensors["quantiles"] = part.quantiles
    if alpha is not None:
        tensors["alpha"], tensors["beta"] = alpha[a:b].clone(), beta[a:b].clone()
    tensors["cuts"] = torch.tensor([c for c in cuts if low < c < next_anchor], dtype=torch.int64)
    if span.next_needs_frame:
        tensors["frame"] = work[next_anchor - anchor]
    if kept is not None:
        tensors["forward"] = kept
    return DeflickerCarry(tensors, {"settings": key, "anchor": next_anchor, "history_first": low,
                                    "height": int(height), "width": int(width)})
