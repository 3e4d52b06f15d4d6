"""Optical flow of a clip for every node that needs it: the flow the user connected, else estimated.

This is the one place that decides where a pair's flow comes from. A ``FlowSequence`` given for the
clip is checked against the frames once, here, and then trusted by everything downstream; pairs it
does not hold (or every pair, without one) are estimated with ``estimate_flow``, by a learned
estimator when one is given, else by the embedded TV-L1 with a preset.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

from .estimate import estimate_flow
from .sequence import FlowSequence

ProgressFn = Optional[Callable[[int, int], None]]
"""``progress(done, total)``, called after each step of a long loop; it may raise to cancel."""


def check_clip(images, what: str = "images", minimum: int = 1) -> None:
    """Raise a ValueError unless ``images`` is an IMAGE batch (F, H, W, 3) of at least ``minimum`` frames."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor (F, H, W, 3), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"{what} must be (F, H, W, 3) RGB frames, got shape {tuple(images.shape)}")
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"{what} is empty: shape {tuple(images.shape)}")
    if images.shape[0] < max(minimum, 1):
        raise ValueError(f"{what} needs at least {max(minimum, 1)} frame(s), got {images.shape[0]}")


@dataclass(frozen=True)
class FlowOptions:
    """How flow is estimated where none is given.

    preset: TV-L1 preset (``flow.estimate.PRESETS``); half_resolution, max_motion: see
    ``estimate_flow``; estimator: a learned estimator ``(frame_a, frame_b) -> flow`` (e.g.
    ``flow.raft.RaftEstimator``) that replaces TV-L1; device: where to estimate (None = where the
    frames are).
    """

    preset: str = "balanced"
    half_resolution: bool = False
    max_motion: Optional[float] = None
    estimator: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None
    device: Optional[torch.device] = None

    def estimate(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Flow from each of ``first`` to the same item of ``second``: (B, 3, H, W) -> (B, 2, H, W)."""
        return estimate_flow(first, second, preset=self.preset, half_resolution=self.half_resolution,
                             max_motion=self.max_motion, estimator=self.estimator)


DEFAULT_FLOW_OPTIONS = FlowOptions()
"""TV-L1 ``balanced`` at full resolution, where the frames are."""


@dataclass(frozen=True, eq=False)
class ClipFlow:
    """The optical flow of one clip.

    frames: (F, H, W, 3) float 0..1, already checked (``check_clip``); given: an optional
    FlowSequence of these frames, checked against them here (type, frame count and size);
    options: how missing flow is estimated; what: the frames' name in error messages.
    """

    frames: torch.Tensor
    given: Optional[FlowSequence] = None
    options: FlowOptions = DEFAULT_FLOW_OPTIONS
    what: str = "images"

    def __post_init__(self) -> None:
        if self.given is None:
            return
        if not isinstance(self.given, FlowSequence):
            raise ValueError(f"the flow input must be the output of the Optical Flow node, got {type(self.given).__name__}")
        count, height, width = self.frames.shape[:3]
        self.given.check_frames(count, height, width, self.what)

    @property
    def device(self) -> torch.device:
        """Where flows are estimated and the work that uses them is done."""
        return self.frames.device if self.options.device is None else torch.device(self.options.device)

    def pair(self, i: int, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow i -> j, flow j -> i), each (1, 2, H, W) float32.

        From the given flow for consecutive pairs (j = i + 1): CPU tensors, moved by the caller.
        Estimated on ``device`` otherwise (other pairs, e.g. a loop's last-to-first, or every
        pair without a given flow).
        """
        if self.given is not None and j == i + 1:
            return self.given.forward[i:i + 1], self.given.backward[i:i + 1]
        pair = torch.stack((self.frames[i], self.frames[j])).permute(0, 3, 1, 2).to(self.device, torch.float32)
        both = self.options.estimate(pair, pair.flip(0))  # (i -> j, j -> i) in one batch of 2
        return both[0:1], both[1:2]

    def sequence(self, progress: ProgressFn = None) -> FlowSequence:
        """Every consecutive pair's flow: the given FlowSequence, or estimated pair by pair.

        Estimated flows are stored on the CPU, so long clips do not fill GPU memory; one pair is
        worked on at a time. progress(done, total) is called after each estimated pair.
        """
        if self.given is not None:
            return self.given
        count, height, width = self.frames.shape[:3]
        total = max(count - 1, 0)
        forward = torch.empty((total, 2, height, width), dtype=torch.float32)
        backward = torch.empty_like(forward)
        for i in range(total):
            there, back = self.pair(i, i + 1)
            forward[i] = there[0].cpu()
            backward[i] = back[0].cpu()
            if progress is not None:
                progress(i + 1, total)
        return FlowSequence(forward=forward, backward=backward, height=height, width=width)


def flow_for(frames: torch.Tensor, flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
             progress: ProgressFn = None, what: str = "frames", minimum: int = 1) -> FlowSequence:
    """Forward and backward flow between each pair of consecutive frames of ``frames``.

    frames: (F, H, W, 3) float 0..1, F >= ``minimum`` (one frame gives empty flows). ``flow``, when
    given, is returned after one check that it belongs to these frames; otherwise it is estimated
    with ``options``, reporting progress(done, total) after each pair.
    """
    check_clip(frames, what, minimum)
    return ClipFlow(frames, flow, options, what).sequence(progress)
