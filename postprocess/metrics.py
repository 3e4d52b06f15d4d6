"""Temporal-consistency metrics of a clip: luminance flicker, warping error and PSNR.

All functions take clips in ComfyUI's IMAGE layout, ``(F, H, W, 3)`` float 0..1, and stream over
frames (or frame pairs), so memory does not grow with the clip length.

Formulas (Y = 0.299 R + 0.587 G + 0.114 B, the BT.601 luma of ``kornia.color.rgb_to_grayscale``, also
used by the flow estimator):

- **Mean-luminance flicker** ``F_Y = 255 / P * sum_t |mu_Y(t+1) - mu_Y(t)|`` over the P counted
  pairs of consecutive frames, where ``mu_Y(t)`` is the mean luma of frame t. In 0..255 units. It
  sees global brightness flicker only: a static clip scores 0, a clip alternating between mean
  lumas m and m + d scores 255 * d.
- **Warping error** (Lai et al., ECCV 2018) of the pair (t, t+1):
  ``E(t) = sum_p M_t(p) * sum_c (V_t(p, c) - W_t(p, c))^2 / (3 * sum_p M_t(p))`` where
  ``W_t = warp_backward(V_{t+1}, flow(t -> t+1))`` is the next frame moved back onto frame t and
  ``M_t`` is 1 where the flow is trusted: the norm-based forward-backward check of
  ``flow.occlusion.forward_backward_confidence`` (alpha 0.01, beta 0.5 px) times the in-frame
  check. ``E_warp`` is the mean of ``E(t)`` over the counted pairs: a per-channel MSE in 0..1
  units (values are usually quoted x 1e-3). The flow should come from the *source* video (the
  ``reference``) when there is one, so the same motion is used to score every variant. Bilinear
  or bicubic resampling gives even a clean clip a non-zero floor unless the motion is a whole
  number of pixels, and blurring lowers E_warp too: always read it next to a fidelity metric.
- **PSNR** to a reference clip: ``10 * log10(1 / MSE)`` with the MSE pooled over every pixel,
  channel and frame (values in 0..1). Identical clips give ``inf``.

Pairs that straddle a scene cut can be left out of F_Y and E_warp (``skip_pairs``): neither
metric means anything across a cut.

The metric functions trust their arguments; :func:`measure_consistency` (the Temporal Consistency
node) checks the clips once and runs them all.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

import torch
from kornia.color import rgb_to_grayscale

from ..flow.keyframe_warp import format_frame_indices
from ..flow.occlusion import forward_backward_confidence, in_frame_confidence
from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from ..flow.warp import warp_backward
from .deflicker import detect_scene_cuts

log = logging.getLogger(__name__)

NO_VALUE = -1.0
"""What a metric output shows when there is nothing to measure (no pair scored, no reference)."""
IDENTICAL_PSNR = 1000.0
"""The PSNR output for identical clips (inf does not fit a FLOAT widget)."""


class FlowSource(str, Enum):
    """Whose optical flow scores E_warp: the reference (a clean source video) or the images."""

    REFERENCE = "reference"
    IMAGES = "images"


def frame_luma_means(images: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Mean luma of every frame. images: (F, H, W, 3) -> (F,) float64 in 0..1."""
    means = []
    for start in range(0, images.shape[0], chunk_size):
        chunk = images[start:start + chunk_size]
        # Channel means first (cheap reduction), then the luma mix: the mean is linear.
        channel_means = chunk.to(torch.float64).mean(dim=(1, 2))
        means.append(rgb_to_grayscale(channel_means[:, :, None, None]).flatten())
    return torch.cat(means).cpu()


def luminance_flicker(images: torch.Tensor, skip_pairs: Iterable[int] = (), chunk_size: int = 16) -> float:
    """F_Y in 0..255 (see the module docstring); 0.0 when fewer than two frames or no pair counts.

    images: (F, H, W, 3) float 0..1. skip_pairs: indices t of pairs (t, t+1) to leave out, e.g.
    pairs across scene cuts.
    """
    means = frame_luma_means(images, chunk_size)
    jumps = (means[1:] - means[:-1]).abs()
    keep = _kept_pairs(images.shape[0], skip_pairs)
    if not keep:
        return 0.0
    return float(jumps[keep].mean() * 255.0)


def psnr(images: torch.Tensor, reference: torch.Tensor, chunk_size: int = 16) -> float:
    """PSNR in dB of ``images`` against ``reference`` (both (F, H, W, 3) 0..1, same shape)."""
    total = 0.0
    for start in range(0, images.shape[0], chunk_size):
        a = images[start:start + chunk_size].to(torch.float64)
        b = reference[start:start + chunk_size].to(device=images.device, dtype=torch.float64)
        total += float(((a - b) ** 2).sum())
    mse = total / images.numel()
    if mse <= 0.0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse)


@dataclass
class WarpingError:
    """Result of :func:`warping_error`.

    value: E_warp (per-channel MSE, 0..1 units; nan when no pair counted);
    per_pair: E(t) for every counted pair t; trusted_fraction: mean of the mask M_t over counted
    pairs (how much of each frame the metric saw); pairs: number of counted pairs;
    per_pair_trusted: the mask's mean for every pair looked at (scored or not).
    """

    value: float
    per_pair: dict
    trusted_fraction: float
    pairs: int
    per_pair_trusted: dict = field(default_factory=dict)


def trusted_mask(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """M_t of the E_warp formula: forward-backward consistent and inside the frame.

    forward, backward: (B, 2, H, W) flows t -> t+1 and t+1 -> t. Returns (B, 1, H, W) float 0/1.
    """
    return forward_backward_confidence(forward, backward) * in_frame_confidence(forward)


def warping_error(images: torch.Tensor, flows: ClipFlow, skip_pairs: Iterable[int] = (),
                  progress: ProgressFn = None, warp_mode: str = "bicubic") -> WarpingError:
    """E_warp of ``images`` (see the module docstring) with the flows of ``flows``.

    images: (F, H, W, 3) float 0..1, the size of ``flows.frames``; skip_pairs: pair indices t to
    leave out. progress: callable(done, total) after every pair.
    """
    return warping_errors([images], flows, skip_pairs, progress, warp_mode)[0]


def warping_errors(clips: list, flows: ClipFlow, skip_pairs: Iterable[int] = (),
                   progress: ProgressFn = None, warp_mode: str = "bicubic") -> list:
    """E_warp of several clips of the size of ``flows.frames``, scored with the same flows; each
    pair's flow is fetched (or estimated) once. Returns one :class:`WarpingError` per clip."""
    count, height, width, _ = clips[0].shape
    keep = _kept_pairs(count, skip_pairs)
    per_pair: list[dict[int, float]] = [{} for _ in clips]
    trusted = {}
    device = clips[0].device
    for done, t in enumerate(keep, start=1):
        forward, backward = (f.to(device=device, dtype=torch.float32) for f in flows.pair(t, t + 1))
        mask = trusted_mask(forward, backward)
        weight = float(mask.sum())
        trusted[t] = weight / (height * width)
        for index, clip in enumerate(clips):
            frames = clip[t:t + 2].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
            if weight > 0:
                warped = warp_backward(frames[1:2], forward, mode=warp_mode)
                squared = ((frames[0:1] - warped) ** 2).sum(dim=1, keepdim=True)
                per_pair[index][t] = float((squared * mask).sum(dtype=torch.float64)) / (3.0 * weight)
        if progress is not None:
            progress(done, len(keep))
    fraction = sum(trusted.values()) / len(trusted) if trusted else 0.0
    results = []
    for scores in per_pair:
        value = sum(scores.values()) / len(scores) if scores else math.nan
        results.append(WarpingError(value=value, per_pair=scores, trusted_fraction=fraction, pairs=len(scores),
                                    per_pair_trusted=dict(trusted)))
    return results


def _kept_pairs(frame_count: int, skip_pairs: Iterable[int]) -> list[int]:
    skip = {int(t) for t in skip_pairs}
    return [t for t in range(frame_count - 1) if t not in skip]


@dataclass
class ConsistencyReport:
    """What the Temporal Consistency node shows and outputs.

    text: the plain-text report; flicker_fy: F_Y of the images (0..255); warp_error: E_warp of the
    images x 1e3, or ``NO_VALUE``; psnr: dB to the reference, ``IDENTICAL_PSNR`` for identical
    clips, ``NO_VALUE`` without a reference.
    """

    text: str
    flicker_fy: float
    warp_error: float
    psnr: float


def measure_consistency(images: torch.Tensor, reference: Optional[torch.Tensor] = None, measure_warp_error: bool = True,
                        flow_from: str = FlowSource.REFERENCE, flow: Optional[FlowSequence] = None,
                        options: FlowOptions = DEFAULT_FLOW_OPTIONS, progress: ProgressFn = None) -> ConsistencyReport:
    """F_Y, E_warp and PSNR of ``images`` (and F_Y, E_warp of ``reference``), skipping scene cuts.

    images, reference: (F, H, W, 3) float 0..1 of one shape. E_warp of both clips uses the flow of
    the clip ``flow_from`` names (a :class:`FlowSource`; the images when there is no reference):
    ``flow`` when given (a FlowSequence of that clip), else estimated with ``options``.
    progress(done, total) over scene-cut detection (F) and the scored pairs.
    """
    check_clip(images)
    count, height, width, _ = images.shape
    if reference is not None:
        check_clip(reference, "reference")
        if tuple(reference.shape) != tuple(images.shape):
            raise ValueError(
                f"reference has {reference.shape[0]} frames of {reference.shape[2]}x{reference.shape[1]} but "
                f"images has {count} frames of {width}x{height}; connect the source clip the images were made from"
            )
    source = images
    if reference is not None and FlowSource(flow_from) is FlowSource.REFERENCE:
        source = reference
    use_reference = source is not images
    pairs = max(count - 1, 0)
    total = count + (pairs if measure_warp_error else 0)
    clips = [("images", images)] + ([("reference", reference)] if reference is not None else [])

    cuts = detect_scene_cuts(source) if count > 1 else []
    if progress is not None:
        progress(count, total)
    skip = [c - 1 for c in cuts]
    errors = [None] * len(clips)
    if measure_warp_error and pairs:
        flows = ClipFlow(source, flow, options, what="the reference" if use_reference else "the images")
        # Each pair's flow is estimated once and scores every clip.
        errors = warping_errors([clip for _, clip in clips], flows, skip_pairs=skip,
                                progress=None if progress is None else lambda done, _: progress(count + done, total))
    rows = {name: (luminance_flicker(clip, skip_pairs=skip), error) for (name, clip), error in zip(clips, errors)}
    psnr_value = None if reference is None else psnr(images, reference)
    origin = None
    if measure_warp_error:
        origin = "connected flow" if flow is not None else f"'{options.preset}' flow of the {'reference' if use_reference else 'images'}"
    return consistency_report(count, width, height, cuts, origin, rows, psnr_value)


def consistency_report(count: int, width: int, height: int, cuts: list, origin: Optional[str], rows: dict,
                       psnr_value: Optional[float]) -> ConsistencyReport:
    """The report of :func:`measure_consistency` from its numbers (also what a chunked long video
    assembles on its last chunk). rows: name -> (F_Y, WarpingError or None); origin: where E_warp's
    flow came from (None: E_warp not measured)."""
    fy, ew = rows["images"]
    lines = [f"{count} frames, {width}x{height}"]
    if cuts:
        lines.append(f"scene cuts before frames {format_frame_indices(cuts)} (pairs across them are not scored)")
    if origin is not None:
        lines.append(f"E_warp uses the {origin}")
    for name, (row_fy, row_ew) in rows.items():
        parts = [f"F_Y {row_fy:.3f}/255"]
        if row_ew is not None:
            if math.isnan(row_ew.value):
                parts.append("E_warp n/a (no trusted pixels)")
            else:
                parts.append(f"E_warp {row_ew.value * 1e3:.4f}e-3 ({row_ew.trusted_fraction * 100:.1f}% of pixels trusted)")
        lines.append(f"{name}: " + ", ".join(parts))
    if psnr_value is not None:
        lines.append("PSNR to reference: " + ("identical" if math.isinf(psnr_value) else f"{psnr_value:.2f} dB"))
    if count < 2:
        lines.append("a single frame has no flicker to measure")
    text = "\n".join(lines)
    log.info("SteadyFrame temporal consistency:\n%s", text)
    return ConsistencyReport(
        text=text,
        flicker_fy=float(fy),
        warp_error=NO_VALUE if ew is None or math.isnan(ew.value) else float(ew.value * 1e3),
        psnr=NO_VALUE if psnr_value is None else (IDENTICAL_PSNR if math.isinf(psnr_value) else float(psnr_value)),
    )
