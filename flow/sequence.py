"""Flow between consecutive frames of a clip, computed once and shared by several nodes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class FlowSequence:
    """Consecutive-frame flows of an F-frame clip.

    forward: (F-1, 2, H, W) float32 CPU, forward[i] = estimate_flow(frames[i], frames[i+1]);
    backward: (F-1, 2, H, W) float32 CPU, backward[i] = estimate_flow(frames[i+1], frames[i]);
    height, width: the frame size the flows belong to. Memory: 16 bytes per pixel per frame
    (4 MB per frame at 512x512, 1.2 GB for 300 frames). Made by ``flow.provider``.
    before: in a chunked run without overlap, the flows between the previous chunk's last frame
    and frames[0] as (forward (1, 2, H, W), backward (1, 2, H, W)), so that nodes working across
    the chunk boundary need not estimate that pair again; None otherwise.
    """

    forward: torch.Tensor
    backward: torch.Tensor
    height: int
    width: int
    before: Optional[tuple[torch.Tensor, torch.Tensor]] = None

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
