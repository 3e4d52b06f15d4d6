"""Dense optical flow between frame pairs: the pack's one entry point for flow.

Convention: ``flow = estimate_flow(frame_a, frame_b)`` satisfies ``frame_a(p) ≈ frame_b(p + flow(p))``,
so ``warp_backward(frame_b, flow) ≈ frame_a``. Flow is (B, 2, H, W) float pixels, channel 0 = dx,
channel 1 = dy.
"""
from __future__ import annotations

import dataclasses
from enum import Enum

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale

from .tvl1 import TVL1Settings, tvl1_flow


class FlowPreset(str, Enum):
    """The embedded TV-L1 estimator's presets (the names saved workflows hold); settings in ``PRESETS``."""

    FAST = "fast"
    BALANCED = "balanced"
    QUALITY = "quality"


# Presets of the embedded TV-L1 estimator. Accuracy/speed measured by benchmarks/flow.py.
# Iterations are per warp at the coarsest level, falling to fine_iterations at full resolution,
# where each step costs the most and the coarse solution is already close. Every preset runs the
# neighbour propagation (flow/propagation.py) before each level's solve: it cut the benchmark's
# EPE by 2-8x (the rim of a fast-moving object) for ~1.4-1.6x the time; at full resolution `fast`
# tries two distances (the costliest step), `balanced` and `quality` four.
PRESETS: dict[str, TVL1Settings] = {
    FlowPreset.FAST.value: TVL1Settings(warps=2, iterations=20, fine_iterations=4, median=3, median_each_warp=False,
                                        propagation=(8, 4, 2, 1), fine_propagation=(4, 1)),
    FlowPreset.BALANCED.value: TVL1Settings(warps=3, iterations=30, fine_iterations=8, median=3,
                                            propagation=(8, 4, 2, 1), fine_propagation=(8, 4, 2, 1)),
    FlowPreset.QUALITY.value: TVL1Settings(warps=4, iterations=40, fine_iterations=15, median=5,
                                           propagation=(16, 8, 4, 2, 1), fine_propagation=(8, 4, 2, 1)),
}
DEFAULT_MAX_MOTION = 48.0


class Resolution(str, Enum):
    """Where TV-L1 runs: on the frames, or on frames downscaled by 2 (``half_resolution``)."""

    FULL = "full"
    HALF = "half"


def preset_settings(preset: str, max_motion: float | None = None) -> TVL1Settings:
    """The TV-L1 settings of a preset name, optionally with another ``max_motion`` (pixels)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown optical-flow preset {preset!r}; expected one of {', '.join(PRESETS)}")
    settings = PRESETS[preset]
    if max_motion is not None:
        if max_motion <= 0:
            raise ValueError(f"max_motion must be a positive number of pixels, got {max_motion}")
        settings = dataclasses.replace(settings, max_motion=float(max_motion))
    return settings


def estimate_flow(frame_a: torch.Tensor, frame_b: torch.Tensor, preset: str = "balanced",
                  half_resolution: bool = False, max_motion: float | None = None,
                  estimator=None) -> torch.Tensor:
    """Flow from ``frame_a`` to ``frame_b`` (backward-warp convention, see the module docstring).

    frame_a, frame_b: (B, 3, H, W) or (B, 1, H, W) float 0..1, on any device.
    preset: "fast", "balanced" or "quality" (the embedded TV-L1 estimator).
    half_resolution: estimate on frames downscaled by 2 and upsample the flow: roughly 4x faster,
        with softer motion boundaries (a draft mode; see benchmarks/flow.py for the accuracy).
    max_motion: largest expected displacement in pixels (at full resolution); sets the pyramid
        depth together with the image size. None = 48 px.
    estimator: optional callable ``(frame_a, frame_b) -> flow`` used instead of TV-L1, e.g. a
        loaded RAFT model (flow/raft.py); it receives full-resolution RGB frames.
    Returns (B, 2, H, W) float32 on the frames' device.
    """
    _check_pair(frame_a, frame_b)
    if estimator is not None:
        return estimator(frame_a, frame_b).float()
    half = bool(half_resolution)
    motion = DEFAULT_MAX_MOTION if max_motion is None else max_motion
    height, width = frame_a.shape[-2:]
    if half and min(height, width) >= 32:
        small_h, small_w = (height + 1) // 2, (width + 1) // 2
        settings = preset_settings(preset, motion * small_w / width)
        gray_a = _downscale(_gray(frame_a), small_h, small_w)
        gray_b = _downscale(_gray(frame_b), small_h, small_w)
        small_flow = tvl1_flow(gray_a, gray_b, settings)
        flow = F.interpolate(small_flow, size=(height, width), mode="bilinear", align_corners=False)
        scale = torch.tensor([width / small_w, height / small_h], dtype=flow.dtype, device=flow.device)
        return flow * scale.view(1, 2, 1, 1)
    settings = preset_settings(preset, motion)
    return tvl1_flow(_gray(frame_a), _gray(frame_b), settings)


def _check_pair(frame_a: torch.Tensor, frame_b: torch.Tensor) -> None:
    for name, frame in (("frame_a", frame_a), ("frame_b", frame_b)):
        if frame.dim() != 4 or frame.shape[1] not in (1, 3):
            raise ValueError(f"{name} must be (B, 3, H, W) or (B, 1, H, W), got shape {tuple(frame.shape)}")
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frame_a {tuple(frame_a.shape)} and frame_b {tuple(frame_b.shape)} must have the same shape")


def _gray(frame: torch.Tensor) -> torch.Tensor:
    frame = frame.float()
    if frame.shape[1] == 1:
        return frame
    return rgb_to_grayscale(frame)


def _downscale(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
