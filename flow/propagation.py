"""Neighbour-flow propagation: each pixel adopts a nearby pixel's flow when it matches better.

A coarse-to-fine variational solver blurs motion boundaries at its coarse levels and, because its
data term is linearised, cannot move a boundary that is several pixels off at the fine levels. This
step tests, for every pixel, the flows of the pixels ``d`` to its left, right, top and bottom (for
each ``d`` in a list, largest first) with the true matching cost, the mean absolute difference
over a small patch between image a and image b sampled along the candidate flow, and keeps a
candidate whose cost is lower by a margin. Like PatchMatch's propagation (Barnes et al. 2009) a
correct flow spreads from the interior of an object to its mislabelled rim; unlike a median filter
it decides by what the images show, not by which motion is the majority around the pixel.

The patch cost of a candidate field is computed densely on the shifted field (one bilinear
sampling per candidate, then a box filter): exact inside regions of constant flow, and what matters
near boundaries is the comparison between candidates, which shares that approximation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def propagate_candidates(image_a: torch.Tensor, image_b: torch.Tensor, flow: torch.Tensor, distances,
                         patch: int = 5, margin: float = 0.5) -> torch.Tensor:
    """Flow after the neighbour test, one round per distance.

    image_a, image_b: (B, 1, H, W) float, any range (``margin`` is in the same units);
    flow: (B, 2, H, W) pixels with ``image_a(p) ≈ image_b(p + flow(p))``;
    distances: neighbour distances in pixels, e.g. (8, 4, 2, 1): far ones first, so that a good
    flow crosses a wide wrong band in a few rounds and the near ones then settle its edge.
    Returns (B, 2, H, W), each vector either unchanged or copied from a neighbour.
    """
    batch, _, height, width = flow.shape
    cost_of = _PatchCost(image_a, image_b, patch)
    # Channels-last in grid_sample's units, so that candidates need no per-call conversion.
    field = flow.permute(0, 2, 3, 1) * cost_of.scale
    cost = cost_of(field.unsqueeze(1))[:, 0]
    candidates = field.new_empty(batch, len(_DIRECTIONS), height, width, 2)
    for distance in distances:
        if distance < 1 or distance >= max(height, width):
            continue
        for index, (dx, dy) in enumerate(_DIRECTIONS):
            _shift_into(candidates[:, index], field, dx * distance, dy * distance)
        best_cost, best = cost_of(candidates).min(dim=1)
        better = best_cost < cost - margin
        chosen = candidates.gather(1, best.view(batch, 1, height, width, 1).expand(batch, 1, height, width, 2))[:, 0]
        field = torch.where(better.unsqueeze(-1), chosen, field)
        cost = torch.where(better, best_cost, cost)
    return (field / cost_of.scale).permute(0, 3, 1, 2).contiguous()


class _PatchCost:
    """Mean |a - b(p + flow)| over patch x patch windows for a stack of candidate fields."""

    def __init__(self, image_a: torch.Tensor, image_b: torch.Tensor, patch: int):
        self.image_a, self.image_b, self.patch = image_a, image_b, patch
        height, width = image_a.shape[-2:]
        dtype, device = image_a.dtype, image_a.device
        # grid_sample units (align_corners=True): -1 and +1 are the centres of the edge pixels.
        self.scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=dtype, device=device)
        ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                                torch.arange(width, dtype=dtype, device=device), indexing="ij")
        self.base = (torch.stack((xs, ys), dim=-1) * self.scale - 1.0).view(1, 1, height, width, 2)
        # Positions are clamped to the image first, so "border" padding never applies; MPS has a
        # broken "border" mode (pytorch#125098) and gets "zeros" for the same result.
        self.padding = "zeros" if device.type == "mps" else "border"

    def __call__(self, fields: torch.Tensor) -> torch.Tensor:
        """fields: (B, K, H, W, 2) in grid units -> costs (B, K, H, W)."""
        batch, count, height, width, _ = fields.shape
        grid = torch.add(self.base, fields).clamp_(-1.0, 1.0).view(batch, count * height, width, 2)
        warped = F.grid_sample(self.image_b, grid, mode="bilinear", padding_mode=self.padding, align_corners=True)
        residual = warped.view(batch, count, height, width).sub_(self.image_a).abs_()
        return box_mean(residual, self.patch)


def box_mean(image: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over size x size windows (size odd) with replicated borders; image (..., H, W).

    Running sums of shifted slices: avg_pool2d is several times slower on CPUs for these
    single-channel images.
    """
    radius = size // 2
    height, width = image.shape[-2:]
    flat = image.reshape(-1, 1, height, width)
    padded = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    rows = padded[..., :, 0:width].clone()
    for dx in range(1, size):
        rows.add_(padded[..., :, dx:dx + width])
    out = rows[..., 0:height, :].clone()
    for dy in range(1, size):
        out.add_(rows[..., dy:dy + height, :])
    return out.mul_(1.0 / (size * size)).view(image.shape)


def _shift_into(out: torch.Tensor, field: torch.Tensor, dx: int, dy: int) -> None:
    """out(p) = field(p + (dx, dy)) with replicated borders; field, out: (B, H, W, 2), dx or dy 0."""
    height, width = field.shape[1:3]
    if dx:
        step = min(abs(dx), width)
        if dx > 0:
            out[:, :, :width - step] = field[:, :, step:]
            out[:, :, width - step:] = field[:, :, width - 1:width]
        else:
            out[:, :, step:] = field[:, :, :width - step]
            out[:, :, :step] = field[:, :, 0:1]
    else:
        step = min(abs(dy), height)
        if dy > 0:
            out[:, :height - step] = field[:, step:]
            out[:, height - step:] = field[:, height - 1:height]
        else:
            out[:, step:] = field[:, :height - step]
            out[:, :step] = field[:, 0:1]
