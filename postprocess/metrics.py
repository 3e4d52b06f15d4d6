"""Temporal-consistency metrics of a clip: luminance flicker, warping error and PSNR.

All functions take clips in ComfyUI's IMAGE layout, ``(F, H, W, 3)`` float 0..1, and stream over
frames (or frame pairs), so memory does not grow with the clip length.

Formulas (Y = 0.299 R + 0.587 G + 0.114 B, the BT.601 luma also used by the flow estimator):

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
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Optional

import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)

ProgressFn = Optional[Callable[[int, int], None]]


def check_clip(images: torch.Tensor, what: str = "images") -> None:
    """Raise a ValueError unless ``images`` is a non-empty (F, H, W, 3) tensor."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor (F, H, W, 3), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"{what} must be (F, H, W, 3) RGB frames, got shape {tuple(images.shape)}")
    if images.shape[0] < 1 or images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"{what} is empty: shape {tuple(images.shape)}")


def frame_luma_means(images: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Mean luma of every frame. images: (F, H, W, 3) -> (F,) float64 in 0..1."""
    check_clip(images)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64, device=images.device)
    means = []
    for start in range(0, images.shape[0], chunk_size):
        chunk = images[start:start + chunk_size]
        # Channel means first (cheap reduction), then the luma mix: the mean is linear.
        channel_means = chunk.to(torch.float64).mean(dim=(1, 2))
        means.append(channel_means @ weights)
    return torch.cat(means).cpu()


def luminance_flicker(images: torch.Tensor, skip_pairs: Iterable[int] = (), chunk_size: int = 16) -> float:
    """F_Y in 0..255 (see the module docstring); 0.0 when fewer than two frames or no pair counts.

    skip_pairs: indices t of pairs (t, t+1) to leave out, e.g. pairs across scene cuts.
    """
    means = frame_luma_means(images, chunk_size)
    jumps = (means[1:] - means[:-1]).abs()
    keep = _kept_pairs(images.shape[0], skip_pairs)
    if not keep:
        return 0.0
    return float(jumps[keep].mean() * 255.0)


def psnr(images: torch.Tensor, reference: torch.Tensor, chunk_size: int = 16) -> float:
    """PSNR in dB of ``images`` against ``reference`` (both (F, H, W, 3) 0..1, same shape)."""
    check_clip(images)
    check_clip(reference, "reference")
    if images.shape != reference.shape:
        raise ValueError(
            f"reference has shape {tuple(reference.shape)} but images has {tuple(images.shape)}; "
            "PSNR needs the same frame count and size"
        )
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
    pairs (how much of each frame the metric saw); pairs: number of counted pairs.
    """

    value: float
    per_pair: dict
    trusted_fraction: float
    pairs: int


class PairFlows:
    """Flows of consecutive frame pairs, either looked up or estimated on demand.

    ``pair(t)`` returns ``(forward, backward)``, each (1, 2, H, W): forward = flow(t -> t+1),
    backward = flow(t+1 -> t), in the convention of ``flow.estimate.estimate_flow``.
    Built from a ``FlowSequence`` (anything with ``forward`` and ``backward`` tensors of shape
    (F-1, 2, H, W)) or from the frames the flow should be measured on plus an estimator preset.
    """

    def __init__(self, frames: Optional[torch.Tensor] = None, flow=None, preset: str = "balanced"):
        if flow is None and frames is None:
            raise ValueError("PairFlows needs either frames to estimate flow on or a precomputed flow")
        self.frames = frames
        self.flow = flow
        self.preset = preset

    def check(self, frame_count: int, height: int, width: int, what: str) -> None:
        if self.flow is not None:
            forward = self.flow.forward
            expected = (max(frame_count - 1, 0), 2, height, width)
            if tuple(forward.shape) != expected or tuple(self.flow.backward.shape) != expected:
                raise ValueError(
                    f"the flow input has shape {tuple(forward.shape)} (pairs, 2, H, W) but {what} has "
                    f"{frame_count} frames of {width}x{height}, which needs {expected}; "
                    "compute the flow from the same clip"
                )
        elif tuple(self.frames.shape[:3]) != (frame_count, height, width):
            raise ValueError(
                f"the flow source has {self.frames.shape[0]} frames of {self.frames.shape[2]}x{self.frames.shape[1]} "
                f"but {what} has {frame_count} frames of {width}x{height}; they must match"
            )

    def pair(self, t: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if self.flow is not None:
            forward = self.flow.forward[t:t + 1].to(device=device, dtype=torch.float32)
            backward = self.flow.backward[t:t + 1].to(device=device, dtype=torch.float32)
            return forward, backward
        from ..flow.estimate import estimate_flow

        pair = self.frames[t:t + 2].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
        # One batch of two gives both directions: (t, t+1) and (t+1, t).
        flows = estimate_flow(pair, pair.flip(0), preset=self.preset)
        return flows[0:1], flows[1:2]


def trusted_mask(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """M_t of the E_warp formula: forward-backward consistent and inside the frame.

    forward, backward: (B, 2, H, W) flows t -> t+1 and t+1 -> t. Returns (B, 1, H, W) float 0/1.
    """
    from ..flow.occlusion import forward_backward_confidence, in_frame_confidence

    return forward_backward_confidence(forward, backward) * in_frame_confidence(forward)


def warping_error(images: torch.Tensor, flows: PairFlows, skip_pairs: Iterable[int] = (),
                  progress: ProgressFn = None, warp_mode: str = "bicubic") -> WarpingError:
    """E_warp of ``images`` (see the module docstring) with the flows of ``flows``.

    images: (F, H, W, 3) float 0..1; flows: a :class:`PairFlows` for a clip of the same size.
    skip_pairs: pair indices t to leave out. progress: callable(done, total) after every pair.
    """
    return warping_errors([images], flows, skip_pairs, progress, warp_mode)[0]


def warping_errors(clips: list, flows: PairFlows, skip_pairs: Iterable[int] = (),
                   progress: ProgressFn = None, warp_mode: str = "bicubic") -> list:
    """E_warp of several same-size clips scored with the same flows, each pair's flow fetched (or
    estimated) once. Returns one :class:`WarpingError` per clip."""
    from ..flow.warp import warp_backward

    for index, clip in enumerate(clips):
        check_clip(clip, f"clip {index}")
        if clip.shape != clips[0].shape:
            raise ValueError(f"clip {index} has shape {tuple(clip.shape)} but clip 0 has {tuple(clips[0].shape)}")
    count, height, width, _ = clips[0].shape
    flows.check(count, height, width, "images")
    keep = _kept_pairs(count, skip_pairs)
    per_pair = [dict() for _ in clips]
    trusted = []
    device = clips[0].device
    for done, t in enumerate(keep, start=1):
        forward, backward = flows.pair(t, device)
        mask = trusted_mask(forward, backward)
        weight = float(mask.sum())
        trusted.append(weight / (height * width))
        for index, clip in enumerate(clips):
            frames = clip[t:t + 2].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
            if weight > 0:
                warped = warp_backward(frames[1:2], forward, mode=warp_mode)
                squared = ((frames[0:1] - warped) ** 2).sum(dim=1, keepdim=True)
                per_pair[index][t] = float((squared * mask).sum(dtype=torch.float64)) / (3.0 * weight)
        if progress is not None:
            progress(done, len(keep))
    fraction = sum(trusted) / len(trusted) if trusted else 0.0
    results = []
    for scores in per_pair:
        value = sum(scores.values()) / len(scores) if scores else math.nan
        results.append(WarpingError(value=value, per_pair=scores, trusted_fraction=fraction, pairs=len(scores)))
    return results


def _kept_pairs(frame_count: int, skip_pairs: Iterable[int]) -> list[int]:
    skip = {int(t) for t in skip_pairs}
    return [t for t in range(frame_count - 1) if t not in skip]
