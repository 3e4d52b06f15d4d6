"""Colour pictures of flow fields, for checking an estimate by eye."""
from __future__ import annotations

import math
from enum import Enum

import torch
from kornia.color import hsv_to_rgb

from .occlusion import flow_confidence, flow_length
from .provider import ProgressFn
from .sequence import FlowSequence


class FlowDirection(str, Enum):
    """Which of a FlowSequence's flows to show: frame t to t+1, or t+1 to t."""

    FORWARD = "forward"
    BACKWARD = "backward"


def flow_to_rgb(flow: torch.Tensor, max_magnitude: float | None = None) -> torch.Tensor:
    """Colour-wheel picture of flow: hue = direction, saturation = speed, white = still.

    flow: (B, 2, H, W) pixels -> (B, 3, H, W) float 0..1. Hue 0 (red) points right (+x), hue 1/4
    (yellow-green) down (+y, image rows grow downwards). Speed is scaled by ``max_magnitude``
    (default: the largest vector of each picture), so full saturation = the fastest motion.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W), got shape {tuple(flow.shape)}")
    flow = flow.float()
    magnitude = flow_length(flow)
    if max_magnitude is None:
        scale = magnitude.flatten(1).amax(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
    else:
        scale = torch.full_like(magnitude[:, :, :1, :1], float(max_magnitude)).clamp_min(1e-6)
    angle = torch.atan2(flow[:, 1:2], flow[:, 0:1]) % (2 * math.pi)
    saturation = (magnitude / scale).clamp(0, 1)
    hsv = torch.cat((angle, saturation, torch.ones_like(saturation)), dim=1)
    return hsv_to_rgb(hsv).clamp(0, 1)


def preview_flow(flow: FlowSequence, direction: str = FlowDirection.FORWARD, max_magnitude: float = 0.0,
                 progress: ProgressFn = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pictures of a clip's flow and of where it cannot be trusted.

    flow: a FlowSequence of F frames; direction: a :class:`FlowDirection`; max_magnitude: speed in
    pixels shown fully saturated, 0 = the fastest vector of the whole clip (one scale for all).
    Returns (images (F-1, H, W, 3) float 0..1 from :func:`flow_to_rgb`, masks (F-1, H, W) float,
    1 where the flow fails the forward-backward or in-frame check). progress(done, total) after
    each pair.
    """
    pairs = flow.forward.shape[0]
    if pairs == 0:
        raise ValueError("the flow input holds no frame pairs (it was computed from a single frame)")
    forward = FlowDirection(direction) is FlowDirection.FORWARD
    there, back = (flow.forward, flow.backward) if forward else (flow.backward, flow.forward)
    scale = max_magnitude if max_magnitude > 0 else float(flow_length(there).max().clamp_min(1e-6))
    images = torch.empty(pairs, flow.height, flow.width, 3)
    masks = torch.empty(pairs, flow.height, flow.width)
    for i in range(pairs):
        images[i] = flow_to_rgb(there[i:i + 1], scale)[0].permute(1, 2, 0)
        confidence = flow_confidence(None, None, there[i:i + 1], back[i:i + 1], photometric_threshold=None)
        masks[i] = 1.0 - confidence[0, 0]
        if progress is not None:
            progress(i + 1, pairs)
    return images, masks
