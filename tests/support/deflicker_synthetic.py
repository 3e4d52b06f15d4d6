"""Synthetic flicker clips with exact ground truth, for tests and benchmarks/deflicker.py.

A clean clip is a window sliding over a procedural colour texture by a whole number of pixels per
frame, so its exact flow is known and warping it is exact (E_warp of the clean clip is 0, not a
resampling floor). Flicker is injected on top: per-frame gain, offset and per-channel tint, a
smooth spatial gain field per frame, and "boiling" texture (independent band-limited noise per
frame). The clean clip is the ground truth a deflicker should get back to.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from steadyframe.flow.provider import ClipFlow
from steadyframe.flow.sequence import FlowSequence


@dataclass
class SyntheticClip:
    """clean: (F, H, W, 3) float 0..1; forward/backward: (F-1, 2, H, W) exact flows
    (forward[i] = flow(i -> i+1), backward[i] = flow(i+1 -> i)); height, width: frame size.
    ``forward``/``backward``/``height``/``width`` make it usable wherever a FlowSequence is read."""

    clean: torch.Tensor
    forward: torch.Tensor
    backward: torch.Tensor
    height: int
    width: int

    def flow_sequence(self):
        """The exact flow as a ``FlowSequence`` (what the Optical Flow node would hand on)."""
        return FlowSequence(forward=self.forward, backward=self.backward, height=self.height, width=self.width)

    def exact_flows(self):
        """The exact flow of ``clean`` as the pack's flow provider (``ClipFlow``) gives it to the metrics."""
        return ClipFlow(self.clean, self.flow_sequence())


def procedural_texture(height: int, width: int, seed: int = 0, octaves: tuple = (4, 8, 16, 32, 64)) -> torch.Tensor:
    """Multi-octave colour value noise in about 0.15..0.85. Returns (3, H, W) float32.

    octaves: feature sizes in pixels; each octave's amplitude is 1/1.15 of the previous one.
    """
    generator = torch.Generator().manual_seed(seed)
    texture = torch.zeros(1, 3, height, width)
    amplitude = 1.0
    for size in sorted(octaves, reverse=True):
        grid = torch.rand(1, 3, max(2, height // size + 2), max(2, width // size + 2), generator=generator)
        texture += amplitude * F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        amplitude /= 1.15
    texture = texture - texture.mean(dim=(2, 3), keepdim=True)
    texture = texture / texture.abs().amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    base = torch.rand(1, 3, 1, 1, generator=generator) * 0.3 + 0.35
    return (base + 0.3 * texture).clamp(0.0, 1.0)[0]


def moving_clip(frames: int, height: int, width: int, motion: tuple = (2, 1), seed: int = 0) -> SyntheticClip:
    """A window sliding over a texture by ``motion`` = (dx, dy) whole pixels per frame."""
    dx, dy = int(motion[0]), int(motion[1])
    if (dx, dy) != tuple(motion):
        raise ValueError(f"motion must be whole pixels so the exact flow warps exactly, got {motion}")
    span_x, span_y = abs(dx) * (frames - 1), abs(dy) * (frames - 1)
    canvas = procedural_texture(height + span_y, width + span_x, seed)
    x0 = 0 if dx >= 0 else span_x
    y0 = 0 if dy >= 0 else span_y
    clip = torch.stack([
        canvas[:, y0 + t * dy:y0 + t * dy + height, x0 + t * dx:x0 + t * dx + width] for t in range(frames)
    ]).permute(0, 2, 3, 1).contiguous()
    # frame_t(p) = canvas(p + t*v) = frame_{t+1}(p - v): flow(t -> t+1) = -v, flow(t+1 -> t) = +v.
    velocity = torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1)
    backward = velocity.expand(max(frames - 1, 0), 2, height, width).contiguous()
    return SyntheticClip(clean=clip, forward=-backward, backward=backward.clone(), height=height, width=width)



def moving_disc_clip(frames: int, height: int, width: int, motion: tuple = (2, 1), disc_motion: tuple = (-3, 2),
                     radius: float = 0.25, seed: int = 0) -> SyntheticClip:
    """:func:`moving_clip` with a rigid textured disc moving by ``disc_motion`` whole pixels per
    frame on top, so the clip has motion boundaries, occlusions and disocclusions with exact flow.

    radius: the disc's radius as a fraction of the shorter side. The disc starts centred and its
    texture moves with it. Exact flows: background ``-motion`` / ``+motion`` as in
    :func:`moving_clip`; on the disc, forward = ``+disc_motion`` at the disc's pixels in frame t and
    backward = ``-disc_motion`` at its pixels in frame t+1. Background that the disc covers in the
    other frame gets the background flow, which the forward-backward check rejects (occluded).
    """
    ux, uy = int(disc_motion[0]), int(disc_motion[1])
    if (ux, uy) != tuple(disc_motion):
        raise ValueError(f"disc_motion must be whole pixels so the exact flow warps exactly, got {disc_motion}")
    background = moving_clip(frames, height, width, motion, seed)
    size = max(4, int(round(2 * radius * min(height, width))) | 1)
    half = size // 2
    disc = procedural_texture(size, size, seed + 101, octaves=(4, 8, 16)).permute(1, 2, 0)
    # Darker and more saturated than the background so the boundary is a real edge.
    disc = (0.6 * disc + 0.25 * torch.tensor([0.9, 0.2, 0.3])).clamp(0.0, 1.0)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = ((xs - half) ** 2 + (ys - half) ** 2) <= half * half
    clean = background.clean.clone()
    covers = torch.zeros(frames, height, width, dtype=torch.bool)
    for t in range(frames):
        cx, cy = width // 2 + t * ux, height // 2 + t * uy
        x0, y0 = cx - half, cy - half
        # Clip the disc's square to the frame.
        sx0, sy0 = max(0, -x0), max(0, -y0)
        sx1, sy1 = min(size, width - x0), min(size, height - y0)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        region = inside[sy0:sy1, sx0:sx1]
        target = clean[t, y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
        target[region] = disc[sy0:sy1, sx0:sx1][region]
        covers[t, y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] = region
    forward = background.forward.clone()
    backward = background.backward.clone()
    step = torch.tensor([float(ux), float(uy)]).view(2, 1)
    for t in range(frames - 1):
        forward[t][:, covers[t]] = step
        backward[t][:, covers[t + 1]] = -step
    return SyntheticClip(clean=clean, forward=forward, backward=backward, height=height, width=width)

def inject_flicker(clean: torch.Tensor, gain: float = 0.08, offset: float = 0.02, tint: float = 0.02,
                   gain_field: float = 0.0, boiling: float = 0.0, seed: int = 1) -> torch.Tensor:
    """Flicker a clean clip. clean: (F, H, W, 3) float 0..1 -> new tensor, clamped to 0..1.

    Per frame t (N = standard normal draws): ``x * (1 + gain*N) * (1 + tint*N_c) + offset*N``,
    times a smooth gain field ``1 + gain_field*N`` on a 4x4 grid (bicubic-upsampled) when
    ``gain_field`` > 0, plus independent half-resolution noise of std ``boiling`` when > 0.
    """
    generator = torch.Generator().manual_seed(seed)
    count, height, width, _ = clean.shape
    frame_gain = 1.0 + gain * torch.randn(count, 1, 1, 1, generator=generator)
    channel_tint = 1.0 + tint * torch.randn(count, 1, 1, 3, generator=generator)
    frame_offset = offset * torch.randn(count, 1, 1, 1, generator=generator)
    out = clean * frame_gain * channel_tint + frame_offset
    if gain_field > 0:
        grid = 1.0 + gain_field * torch.randn(count, 1, 4, 4, generator=generator)
        field = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=True)
        out = out * field.permute(0, 2, 3, 1)
    if boiling > 0:
        noise = boiling * torch.randn(count, 3, max(1, height // 2), max(1, width // 2), generator=generator)
        noise = F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)
        out = out + noise.permute(0, 2, 3, 1)
    return out.clamp(0.0, 1.0)
