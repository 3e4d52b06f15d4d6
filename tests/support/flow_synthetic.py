"""Synthetic optical-flow ground truth the pack generates itself (tests and benchmarks/flow.py).

A pair (frame_a, frame_b) with known flow ``frame_a(p) = frame_b(p + flow(p))``: a multi-octave
colour texture moved by a smooth affine + sinusoidal flow, plus a textured disc that moves rigidly
on its own. The ground-truth occlusion mask marks frame_a pixels whose content is not visible in
frame_b: background hidden under the disc in frame_b, and positions that leave the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from steadyframe.flow.warp import out_of_frame_mask, sample_positions, warp_backward


@dataclass
class SyntheticPair:
    """frame_a, frame_b: (1, 3, H, W) float 0..1; flow: (1, 2, H, W) ground truth a->b;
    occluded: (1, 1, H, W) float, 1 where a's pixel has no visible counterpart in b (includes
    out_of_frame); out_of_frame: (1, 1, H, W) float."""

    frame_a: torch.Tensor
    frame_b: torch.Tensor
    flow: torch.Tensor
    occluded: torch.Tensor
    out_of_frame: torch.Tensor


def value_noise_texture(height: int, width: int, seed: int = 0, smallest: int = 4, largest: int = 128) -> torch.Tensor:
    """Colour multi-octave value noise, (1, 3, H, W) float 0..1, octaves from ``smallest`` to
    ``largest`` pixels with amplitude falling by 1/1.15 per octave towards the fine end."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(1, 3, height, width)
    size = largest
    octave = 0
    while size >= smallest:
        grid = torch.rand(1, 3, height // size + 3, width // size + 3, generator=gen)
        up = F.interpolate(grid, scale_factor=size, mode="bicubic", align_corners=False)
        total += up[..., :height, :width] / (1.15 ** octave)
        size //= 2
        octave += 1
    low = total.amin(dim=(2, 3), keepdim=True)
    high = total.amax(dim=(2, 3), keepdim=True)
    return (total - low) / (high - low).clamp_min(1e-6)


def smooth_flow(height: int, width: int, magnitude: float, seed: int = 0) -> torch.Tensor:
    """A smooth flow field (1, 2, H, W): rotation about the centre (1.5 deg), zoom 1.02, a
    translation and sinusoidal terms of amplitude 0.4*magnitude; mean norm close to ``magnitude``."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    cx, cy = (width - 1) / 2, (height - 1) / 2
    angle = math.radians(1.5)
    zoom = 1.02
    rx = zoom * (math.cos(angle) * (xs - cx) - math.sin(angle) * (ys - cy)) + cx - xs
    ry = zoom * (math.sin(angle) * (xs - cx) + math.cos(angle) * (ys - cy)) + cy - ys
    phase = torch.rand(4, generator=gen) * 2 * math.pi
    direction = torch.rand(1, generator=gen).item() * 2 * math.pi
    wave_x = 0.4 * magnitude * torch.sin(2 * math.pi * ys / max(height, 1) * 1.3 + phase[0]) * torch.cos(2 * math.pi * xs / max(width, 1) + phase[1])
    wave_y = 0.4 * magnitude * torch.sin(2 * math.pi * xs / max(width, 1) * 1.1 + phase[2]) * torch.cos(2 * math.pi * ys / max(height, 1) + phase[3])
    flow = torch.stack((rx + wave_x, ry + wave_y))
    current = torch.linalg.vector_norm(flow, dim=0).mean().item()
    # Add a translation that brings the mean norm to about ``magnitude``.
    extra = max(magnitude - current, 0.0)
    flow[0] += extra * math.cos(direction)
    flow[1] += extra * math.sin(direction)
    return flow.unsqueeze(0)


def _textured_disc(height: int, width: int, centre: tuple[float, float], radius: float, seed: int):
    """A rigid textured disc: (colour (1,3,H,W), coverage (1,1,H,W) in 0/1) centred at ``centre``.

    Its texture is value noise in the disc's own coordinates, so it moves rigidly with the disc. It
    is deliberately aperiodic: a periodic pattern (a checkerboard) moved by one period looks
    unmoved, which would make the ground truth ambiguous.
    """
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    lx, ly = xs - centre[0], ys - centre[1]
    inside = ((lx * lx + ly * ly) <= radius * radius).float()
    side = int(2 * radius) + 8
    noise = value_noise_texture(side, side, seed + 7919, smallest=4, largest=32)
    half = (side - 1) / 2
    grid = torch.stack(((lx / half).clamp(-1, 1), (ly / half).clamp(-1, 1)), dim=-1).unsqueeze(0)
    local = F.grid_sample(noise, grid, mode="bilinear", padding_mode="border", align_corners=True)
    colour = (0.1 + 0.8 * local).clamp(0, 1)
    return colour, inside.view(1, 1, height, width)


def moving_disc_pair(height: int, width: int, magnitude: float = 6.0, disc_motion: tuple[float, float] = (7.0, 3.0),
                     seed: int = 0, integer: bool = False) -> SyntheticPair:
    """Textured background moved by ``smooth_flow`` (or, with ``integer``, one whole-pixel shift of
    about ``magnitude``) plus a textured disc moving by ``disc_motion`` pixels from b to a.

    The disc sits at the image centre in frame_b and at centre + disc_motion in frame_a.
    """
    texture = value_noise_texture(height, width, seed)
    if integer:
        shift = (float(round(magnitude * 0.8)), float(round(magnitude * 0.6)))
        background_flow = torch.empty(1, 2, height, width)
        background_flow[:, 0] = shift[0]
        background_flow[:, 1] = shift[1]
    else:
        background_flow = smooth_flow(height, width, magnitude, seed)
    background_a = warp_backward(texture, background_flow, mode="bicubic").clamp(0, 1)
    radius = 0.18 * min(height, width)
    centre_b = ((width - 1) / 2, (height - 1) / 2)
    centre_a = (centre_b[0] + disc_motion[0], centre_b[1] + disc_motion[1])
    disc_b, cover_b = _textured_disc(height, width, centre_b, radius, seed)
    disc_a, cover_a = _textured_disc(height, width, centre_a, radius, seed)
    frame_b = texture * (1 - cover_b) + disc_b * cover_b
    frame_a = background_a * (1 - cover_a) + disc_a * cover_a
    disc_flow = torch.tensor([-disc_motion[0], -disc_motion[1]]).view(1, 2, 1, 1)
    flow = background_flow * (1 - cover_a) + disc_flow * cover_a
    # Background of a whose source in b lies under the disc is occluded in b.
    pos = sample_positions(background_flow)
    dx, dy = pos[:, 0:1] - centre_b[0], pos[:, 1:2] - centre_b[1]
    hidden = ((dx * dx + dy * dy) <= radius * radius).float() * (1 - cover_a)
    outside = out_of_frame_mask(flow)
    occluded = torch.clamp(hidden + outside, max=1.0)
    return SyntheticPair(frame_a, frame_b, flow, occluded, outside)


def translated_sequence(frame_count: int, height: int, width: int, step: tuple[int, int] = (2, 1), seed: int = 0) -> torch.Tensor:
    """Frames (F, H, W, 3) of one texture moving by an integer ``step`` (dx, dy) per frame, so
    frame t = frame 0 shifted by t*step; with ``flow(t -> s) = (s - t) * step`` everywhere exact
    away from the border."""
    margin = (abs(step[0]) + abs(step[1])) * frame_count + 2
    big = value_noise_texture(height + 2 * margin, width + 2 * margin, seed)
    frames = []
    for t in range(frame_count):
        x0 = margin - t * step[0]
        y0 = margin - t * step[1]
        frames.append(big[0, :, y0:y0 + height, x0:x0 + width])
    return torch.stack(frames).permute(0, 2, 3, 1).contiguous()
