"""Colour pictures of flow fields, for checking an estimate by eye."""
from __future__ import annotations

import math

import torch
from kornia.color import hsv_to_rgb

from .occlusion import flow_length


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
