"""Flow between consecutive frames of a clip, computed once and shared by several nodes.

The ComfyUI socket type of a ``FlowSequence`` is ``"SF_FLOW"``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

from .estimate import estimate_flow

FLOW_SOCKET_TYPE = "SF_FLOW"


@dataclass
class FlowSequence:
    """Consecutive-frame flows of an F-frame clip.

    forward: (F-1, 2, H, W) float32 CPU, forward[i] = estimate_flow(frames[i], frames[i+1]);
    backward: (F-1, 2, H, W) float32 CPU, backward[i] = estimate_flow(frames[i+1], frames[i]);
    height, width: the frame size the flows belong to. Memory: 16 bytes per pixel per frame
    (4 MB per frame at 512x512, 1.2 GB for 300 frames).
    """

    forward: torch.Tensor
    backward: torch.Tensor
    height: int
    width: int

    @property
    def frame_count(self) -> int:
        return self.forward.shape[0] + 1

    def check_frames(self, frame_count: int, height: int, width: int, what: str = "frames") -> None:
        """Raise a ValueError naming both sizes when this flow was computed for another clip."""
        if (frame_count, height, width) != (self.frame_count, self.height, self.width):
            raise ValueError(
                f"the flow input was computed for {self.frame_count} frames of {self.width}x{self.height} "
                f"but {what} has {frame_count} frames of {width}x{height}; compute the flow from the same frames"
            )


def compute_flow_sequence(frames: torch.Tensor, preset: str = "balanced", progress: Optional[Callable[[int, int], None]] = None,
                          half_resolution: bool = False, max_motion: float | None = None,
                          estimator=None, device: torch.device | str | None = None) -> FlowSequence:
    """Forward and backward flow between each pair of consecutive frames.

    frames: (F, H, W, 3) float 0..1 (ComfyUI IMAGE layout), F >= 1 (one frame gives empty flows).
    progress: optional callable(done, total) called after each pair; it may raise to cancel.
    device: where to compute (default: the frames' device); results are stored on the CPU so long
    clips do not fill GPU memory. Pairs are processed one at a time, so peak working memory is one
    pair's regardless of clip length.
    """
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got shape {tuple(frames.shape)}")
    count, height, width, _ = frames.shape
    device = frames.device if device is None else torch.device(device)
    forward = torch.empty((max(count - 1, 0), 2, height, width), dtype=torch.float32)
    backward = torch.empty_like(forward)
    total = max(count - 1, 0)
    for i in range(total):
        pair = frames[i:i + 2].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
        # Both directions in one batch of 2: (a, b) and (b, a).
        first = pair
        second = pair.flip(0)
        flows = estimate_flow(first, second, preset=preset, half_resolution=half_resolution,
                              max_motion=max_motion, estimator=estimator)
        forward[i] = flows[0].cpu()
        backward[i] = flows[1].cpu()
        if progress is not None:
            progress(i + 1, total)
    return FlowSequence(forward=forward, backward=backward, height=height, width=width)
