"""Interpolate Frames and Retime on whole clips: frame plans rendered with the clip's optical flow.

Each function checks its inputs once and returns the frames together with their count and the
frame rate to play them at, which is what the nodes hand on to the video writer.
"""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Optional

import torch

from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from .interpolate import inbetween_positions, render_positions
from .retime import RetimePlan, hold_plan, resample_plan, take_frames


class RetimeMode(str, Enum):
    """The Retime node's modes (the strings saved workflows hold)."""

    HOLD = "hold on N (same fps)"
    REPEAT = "repeat each frame N times (fps x N)"
    DECIMATE = "keep every Nth frame (fps / N)"
    RESAMPLE = "resample to target fps"


# The hold_plan mode behind each of the node's hold modes.
_HOLD_PLANS = {RetimeMode.HOLD: "hold", RetimeMode.REPEAT: "repeat", RetimeMode.DECIMATE: "decimate"}


class ResampleMethod(str, Enum):
    """How the resample mode fills output instants between source frames."""

    NEAREST = "drop/duplicate"
    INTERPOLATE = "interpolate (optical flow)"


_RESAMPLE_PLANS = {ResampleMethod.NEAREST: "nearest", ResampleMethod.INTERPOLATE: "interpolate"}


class TimedFrames(NamedTuple):
    """images: (N, H, W, C); frame_count: N; fps: the rate that keeps the clip's duration."""

    images: torch.Tensor
    frame_count: int
    fps: float


def interpolate_clip(images: torch.Tensor, multiplier: int, keep_source_frames: bool = True, loop: bool = False,
                     fps: float = 12.0, flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                     progress: ProgressFn = None) -> TimedFrames:
    """``multiplier`` x the frame rate by in-betweens made along optical flow.

    images: (F, H, W, 3) float 0..1, F >= 2; flow: optional FlowSequence of ``images`` (the loop's
    closing pair is estimated with ``options`` either way). See ``inbetween_positions`` for the
    output count. progress(done, total) after each output frame.
    """
    check_clip(images, minimum=2)
    flows = ClipFlow(images, flow, options)
    positions = inbetween_positions(images.shape[0], int(multiplier), bool(loop), bool(keep_source_frames))
    out = render_positions(images, positions, flows.pair, loop=bool(loop), progress=progress, device=flows.device)
    return TimedFrames(out, out.shape[0], float(fps) * int(multiplier))


def retime_plan(num_frames: int, fps: float, mode: str = RetimeMode.HOLD, n: int = 2, target_fps: float = 24.0,
                resample_method: str = ResampleMethod.NEAREST) -> RetimePlan:
    """The Retime node's plan for a clip of ``num_frames`` source frames (see :class:`RetimeMode`)."""
    mode = RetimeMode(mode)
    if mode is RetimeMode.RESAMPLE:
        return resample_plan(num_frames, float(fps), float(target_fps), _RESAMPLE_PLANS[ResampleMethod(resample_method)])
    return hold_plan(num_frames, float(fps), int(n), _HOLD_PLANS[mode])


def retime_clip(images: torch.Tensor, fps: float, mode: str = RetimeMode.HOLD, n: int = 2, target_fps: float = 24.0,
                resample_method: str = ResampleMethod.NEAREST, flow: Optional[FlowSequence] = None,
                options: FlowOptions = DEFAULT_FLOW_OPTIONS, progress: ProgressFn = None) -> TimedFrames:
    """Animate on N, repeat, decimate or resample a clip (see :class:`RetimeMode`).

    images: (F, H, W, 3) float 0..1. Whole source frames are copied bit-exactly; only a resample
    with ``INTERPOLATE`` makes in-betweens, and only then is optical flow used (``flow``, a
    FlowSequence of ``images``, or estimated with ``options``). progress(done, total) after each
    in-between frame.
    """
    check_clip(images)
    plan = retime_plan(images.shape[0], fps, mode, n, target_fps, resample_method)
    if plan.is_integral:
        out = take_frames(images, plan.positions)
    else:
        flows = ClipFlow(images, flow, options)
        out = render_positions(images, plan.positions, flows.pair, progress=progress, device=flows.device)
    return TimedFrames(out, out.shape[0], plan.fps)
