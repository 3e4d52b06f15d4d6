"""Temporal Consistency Metrics over a chunked long video: sums kept across chunks, one report at the end.

Each chunk measures the frames it is the first to load (``[first_new, end)``) and the pairs that
end on them, and adds a few numbers per frame to the carried totals: the mean luma of every frame
(F_Y), the scene-cut features of the source clip (one structure change per pair, one thumbnail
colour per frame), E(t) and the trusted share of every pair (E_warp), and the squared error and
value count against the reference (PSNR). Scene cuts need frames on both sides of a boundary, so
they are decided once, on the last chunk, over the whole video; the pairs across them are then
left out of F_Y and E_warp exactly as the unchunked node leaves them out. The last chunk's report
is the unchunked report; earlier chunks report the frames so far.

The pair across a chunk boundary needs the frame before the chunk's first new frame: the
overlap re-reads it, or (without overlap) the previous chunk carries it. Its flow is then
estimated here, as a connected flow only covers the chunk's own frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from .chunk_span import ChunkSpan
from .deflicker import GlobalSettings, collect_statistics, cuts_from_changes, structure_changes
from .metrics import ConsistencyReport, FlowSource, WarpingError, consistency_report, frame_luma_means, warping_errors

_CUT_SETTINGS = GlobalSettings(cut_threshold=0.5, chunk_size=16, max_stat_pixels=4096)  # as detect_scene_cuts


@dataclass
class MetricsCarry:
    """The running totals one chunk hands the next (see the module docstring)."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class _BoundaryFlows:
    """Flows of a clip whose first frame is a carried one: that pair is estimated, the others come
    from the chunk's own (given or estimated) flows."""

    def __init__(self, work: torch.Tensor, own: ClipFlow, options: FlowOptions):
        self.boundary = ClipFlow(work[:2], None, options)
        self.own = own

    def pair(self, i: int, j: int):
        if i == 0:
            return self.boundary.pair(0, 1)
        return self.own.pair(i - 1, j - 1)


def _cat(carried: Optional[dict], name: str, new: torch.Tensor) -> torch.Tensor:
    if carried is None or name not in carried:
        return new
    return torch.cat((carried[name], new))


def measure_chunk(images: torch.Tensor, span: ChunkSpan, first_new: int, reference: Optional[torch.Tensor] = None,
                  measure_warp_error: bool = True, flow_from: str = FlowSource.REFERENCE,
                  flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                  carried: Optional[MetricsCarry] = None,
                  progress: ProgressFn = None) -> tuple[ConsistencyReport, Optional[MetricsCarry]]:
    """The Temporal Consistency node on one chunk: ``images`` (and ``reference``) are absolute frames
    ``span.first..span.end-1``; ``first_new`` is the first of them no earlier chunk measured.

    Returns the report (the whole video's on the last chunk, the frames so far before it) and the
    totals for the next chunk (None on the last chunk).
    """
    check_clip(images)
    count, height, width, _ = images.shape
    if count != span.end - span.first:
        raise ValueError(f"Temporal Consistency: images has {count} frames but the chunk loads {span.end - span.first} "
                         f"(frames {span.first}..{span.end - 1}); connect this chunk's frames")
    if reference is not None:
        check_clip(reference, "reference")
        if tuple(reference.shape) != tuple(images.shape):
            raise ValueError(f"reference has {reference.shape[0]} frames of {reference.shape[2]}x{reference.shape[1]} "
                             f"but images has {count} frames of {width}x{height}; connect the source clip the images "
                             "were made from")
    history = None if carried is None else carried.tensors
    meta = {"measured_to": span.end, "height": height, "width": width, "reference": reference is not None,
            "warp": bool(measure_warp_error), "flow_from": str(FlowSource(flow_from).value)}
    if carried is not None:
        expected = {k: carried.meta.get(k) for k in ("height", "width", "reference", "warp", "flow_from")}
        if expected != {k: meta[k] for k in expected}:
            raise ValueError("Temporal Consistency: the inputs or settings changed between chunks of one video; "
                             "run the whole chain again from its first chunk")
        if int(carried.meta["measured_to"]) != first_new:
            raise ValueError(f"Temporal Consistency: the carried totals end at frame {carried.meta['measured_to']} but "
                             f"this chunk's new frames start at {first_new}; run the chain again from the chunk before")
    own = first_new - span.first  # local index of the first new frame
    clips = {"images": images, **({"reference": reference} if reference is not None else {})}
    use_reference = reference is not None and FlowSource(flow_from) is FlowSource.REFERENCE
    source_name = "reference" if use_reference else "images"

    # Work clips: from the frame before the first new one (re-read, or carried), to the end.
    if own > 0 or first_new == 0:
        low = max(own - 1, 0)
        work = {name: clip[low:] for name, clip in clips.items()}
        own_flows = ClipFlow(clips[source_name], flow, options, what=f"the {source_name}")
        flows: Any = _OffsetFlows(own_flows, low)
    else:
        if history is None:
            raise ValueError(f"Temporal Consistency: frame {first_new} starts a later chunk but no totals were carried")
        work = {name: torch.cat((history[f"last_{name}"][None].to(clip.device, clip.dtype), clip))
                for name, clip in clips.items()}
        own_flows = ClipFlow(clips[source_name], flow, options, what=f"the {source_name}")
        flows = _BoundaryFlows(work[source_name], own_flows, options)
    offset = 0 if first_new == 0 else 1  # work frame `offset` is the first new frame

    tensors: dict[str, torch.Tensor] = {}
    new = {name: clip[offset:] for name, clip in work.items()}
    for name, clip in new.items():
        tensors[f"luma_{name}"] = _cat(history, f"luma_{name}", frame_luma_means(clip))
    features = collect_statistics(new[source_name], _CUT_SETTINGS, cut_features_only=True)
    structure = features.structure
    flat = features.flat
    if history is not None and "last_structure" in history:
        structure = torch.cat((history["last_structure"][None], structure))
        flat = torch.cat((history["last_flat"][None], flat))
    tensors["changes"] = _cat(history, "changes", structure_changes(structure, flat))
    tensors["lab_mean"] = _cat(history, "lab_mean", features.lab_mean)
    tensors["last_structure"], tensors["last_flat"] = features.structure[-1], features.flat[-1]
    if reference is not None:
        difference = new["images"].to(torch.float64) - new["reference"].to(new["images"].device, torch.float64)
        previous = history["sse"] if history is not None else torch.zeros((), dtype=torch.float64)
        tensors["sse"] = previous + (difference ** 2).sum().cpu()
        values = torch.tensor(float(difference.numel()), dtype=torch.float64)
        tensors["values"] = values + (history["values"] if history is not None else 0.0)
    pairs = work[source_name].shape[0] - 1
    if measure_warp_error and pairs > 0:
        # Every work pair ends on a new frame: the work starts at the frame before the first new one.
        errors = warping_errors(list(work.values()), flows, progress=progress)
        scored = range(pairs)
        tensors["trusted"] = _cat(history, "trusted", torch.tensor(
            [errors[0].per_pair_trusted.get(t, math.nan) for t in scored], dtype=torch.float64))
        for name, error in zip(work, errors):
            tensors[f"e_{name}"] = _cat(history, f"e_{name}", torch.tensor(
                [error.per_pair.get(t, math.nan) for t in scored], dtype=torch.float64))
    elif history is not None:
        for name in ("trusted", *(f"e_{n}" for n in work)):
            if name in history:
                tensors[name] = history[name]
    if span.next_anchor is not None and span.next_needs_frame:
        for name, clip in clips.items():
            tensors[f"last_{name}"] = clip[-1]

    report = _report(tensors, span, list(work), measure_warp_error, flow is not None, options, source_name,
                     width, height)
    carry = None if span.next_anchor is None else MetricsCarry(tensors, meta)
    return report, carry


class _OffsetFlows:
    """A clip's flows seen from a later first frame."""

    def __init__(self, flows: ClipFlow, offset: int):
        self.flows, self.offset = flows, offset

    def pair(self, i: int, j: int):
        return self.flows.pair(i + self.offset, j + self.offset)


def _report(tensors, span: ChunkSpan, names, measure_warp_error, flow_given, options, source_name, width, height):
    measured = tensors["luma_images"].shape[0]
    cuts = cuts_from_changes(tensors["changes"], tensors["lab_mean"], _CUT_SETTINGS.cut_threshold) if measured > 1 else []
    skip = {c - 1 for c in cuts}
    kept = [t for t in range(measured - 1) if t not in skip]
    rows = {}
    for name in names:
        luma = tensors[f"luma_{name}"]
        jumps = (luma[1:] - luma[:-1]).abs()
        fy = float(jumps[kept].mean() * 255.0) if kept else 0.0
        error = None
        if measure_warp_error and measured > 1:
            per_pair = tensors[f"e_{name}"]
            trusted = tensors["trusted"]
            scores = {t: float(per_pair[t]) for t in kept if not math.isnan(float(per_pair[t]))}
            fractions = [float(trusted[t]) for t in kept]
            value = sum(scores.values()) / len(scores) if scores else math.nan
            error = WarpingError(value=value, per_pair=scores,
                                 trusted_fraction=sum(fractions) / len(fractions) if fractions else 0.0, pairs=len(scores))
        rows[name] = (fy, error)
    psnr_value = None
    if "sse" in tensors:
        mse = float(tensors["sse"]) / float(tensors["values"])
        psnr_value = math.inf if mse <= 0.0 else 10.0 * math.log10(1.0 / mse)
    origin = None
    if measure_warp_error:
        origin = "connected flow" if flow_given else f"'{options.preset}' flow of the {source_name}"
    report = consistency_report(measured, width, height, cuts, origin, rows, psnr_value)
    if span.next_anchor is not None:
        note = (f"frames 0..{measured - 1} of {span.total} so far (a chunk of a long video; the whole video's report "
                f"comes with its last chunk)")
        report = ConsistencyReport(text=note + "\n" + report.text, flicker_fy=report.flicker_fy,
                                   warp_error=report.warp_error, psnr=report.psnr)
    return report
