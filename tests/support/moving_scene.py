"""Synthetic clips with exact ground truth at any instant: a textured square gliding over a
textured, panning background.

Textures are sums of sinusoids evaluated analytically at each pixel, so a frame at a fractional
time is rendered exactly (no resampling) and serves as the ground truth for an in-between. The
square is opaque with a hard edge, so it occludes and disoccludes background as it moves.

Frames are (H, W, 3) float32 0..1 (ComfyUI IMAGE layout); flows are (1, 2, H, W) in the pack's
backward-warp convention ``frame_a(p) = frame_b(p + flow_ab(p))``.

``scene_cut_clip`` strings unrelated flat-colour shots together, for cut and keyframe tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def texture(x: torch.Tensor, y: torch.Tensor, seed: int, count: int = 24,
            min_wavelength: float = 6.0, max_wavelength: float = 40.0) -> torch.Tensor:
    """RGB texture at texture coordinates x, y (any matching shape) -> (*shape, 3) in 0..1.

    A sum of ``count`` plane waves in random directions, each with its own colour, so brightness
    varies in every direction (no aperture problem for a flow estimator).
    """
    generator = torch.Generator().manual_seed(seed)
    angle = torch.rand(count, generator=generator, dtype=torch.float64) * 2 * torch.pi
    wavelength = min_wavelength + torch.rand(count, generator=generator, dtype=torch.float64) * (
        max_wavelength - min_wavelength)
    phase = torch.rand(count, generator=generator, dtype=torch.float64) * 2 * torch.pi
    # Mostly grey waves with some colour: luminance carries the structure.
    colour = 0.7 + 0.6 * torch.rand(count, 3, generator=generator, dtype=torch.float64)
    colour *= torch.where(torch.rand(count, 1, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
    kx = torch.cos(angle) * 2 * torch.pi / wavelength
    ky = torch.sin(angle) * 2 * torch.pi / wavelength
    waves = torch.sin(x.to(torch.float64)[..., None] * kx + y.to(torch.float64)[..., None] * ky + phase)
    rgb = waves @ colour / math.sqrt(count)  # (*shape, 3), standard deviation about 0.7
    return (0.5 + 0.3 * rgb).clamp(0, 1).to(torch.float32)


@dataclass(frozen=True)
class MovingSquareScene:
    """A textured square over a textured background, both in linear motion.

    Positions are in pixels; velocities in pixels per source frame. At time t the background
    content at texture coordinate u is seen at pixel ``u + t * background_velocity`` and the
    square's top-left corner is at ``square_origin + t * square_velocity``.
    """

    height: int = 64
    width: int = 64
    square_size: int = 20
    square_origin: tuple[float, float] = (12.0, 18.0)  # (x, y) at t = 0
    square_velocity: tuple[float, float] = (8.0, 4.0)
    background_velocity: tuple[float, float] = (-2.0, 0.0)
    seed: int = 0
    # Shortest and longest waves (pixels) of the background's and the square's textures.
    background_wavelengths: tuple[float, float] = (6.0, 40.0)
    square_wavelengths: tuple[float, float] = (6.0, 24.0)
    # Added to the square's colour so that it also stands out in blurred (coarse) views, as real
    # objects do; the textures themselves average 0.5 grey.
    square_tint: tuple[float, float, float] = (0.25, 0.1, -0.15)

    def square_corner(self, t: float) -> tuple[float, float]:
        return (self.square_origin[0] + t * self.square_velocity[0],
                self.square_origin[1] + t * self.square_velocity[1])

    def _grid(self):
        y, x = torch.meshgrid(torch.arange(self.height, dtype=torch.float64),
                              torch.arange(self.width, dtype=torch.float64), indexing="ij")
        return x, y

    def square_mask(self, t: float) -> torch.Tensor:
        """(H, W) bool: pixels covered by the square at time t."""
        x, y = self._grid()
        cx, cy = self.square_corner(t)
        return (x >= cx) & (x < cx + self.square_size) & (y >= cy) & (y < cy + self.square_size)

    def frame(self, t: float) -> torch.Tensor:
        """The exact frame at time t: (H, W, 3) float32 0..1."""
        x, y = self._grid()
        bvx, bvy = self.background_velocity
        image = texture(x - t * bvx, y - t * bvy, self.seed, min_wavelength=self.background_wavelengths[0],
                        max_wavelength=self.background_wavelengths[1])
        cx, cy = self.square_corner(t)
        square = texture(x - cx, y - cy, self.seed + 1000, min_wavelength=self.square_wavelengths[0],
                         max_wavelength=self.square_wavelengths[1])
        square = (square + torch.tensor(self.square_tint)).clamp(0, 1)
        return torch.where(self.square_mask(t)[..., None], square, image)

    def frames(self, times) -> torch.Tensor:
        return torch.stack([self.frame(float(t)) for t in times])

    def flow(self, t_a: float, t_b: float) -> torch.Tensor:
        """Exact flow from the frame at t_a to the frame at t_b: (1, 2, H, W).

        The flow of each pixel follows whatever is visible there at t_a (square or background),
        also where that content is hidden at t_b.
        """
        dt = t_b - t_a
        inside = self.square_mask(t_a)
        flow = torch.empty(2, self.height, self.width, dtype=torch.float32)
        for channel in range(2):
            flow[channel] = torch.where(inside, dt * self.square_velocity[channel],
                                        dt * self.background_velocity[channel])
        return flow[None]


def scene_cut_clip(lengths, height: int = 64, width: int = 64, motion: float = 1.0) -> torch.Tensor:
    """Shots of unrelated flat-colour "cartoon" scenes back to back: (sum(lengths), H, W, 3).

    Each shot is a flat background with three flat-colour discs drifting ``motion`` pixels per
    frame; shot k starts at frame ``sum(lengths[:k])``. Inside a shot the picture changes slowly,
    so the only large changes are the cuts.
    """
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                          torch.arange(width, dtype=torch.float32), indexing="ij")
    shots = []
    for k, length in enumerate(lengths):
        generator = torch.Generator().manual_seed(1000 + k)
        background = torch.rand(3, generator=generator) * 0.5
        colours = 0.5 + torch.rand(3, 3, generator=generator) * 0.5
        centres = torch.rand(3, 2, generator=generator) * torch.tensor([width * 0.6, height * 0.6]) + torch.tensor(
            [width * 0.2, height * 0.2])
        radii = (0.12 + torch.rand(3, generator=generator) * 0.1) * min(height, width)
        directions = torch.nn.functional.normalize(torch.randn(3, 2, generator=generator), dim=1)
        for f in range(length):
            frame = background.expand(height, width, 3).clone()
            for d in range(3):
                cx, cy = centres[d] + f * motion * directions[d]
                inside = (x - cx) ** 2 + (y - cy) ** 2 < radii[d] ** 2
                frame[inside] = colours[d]
            shots.append(frame)
    return torch.stack(shots)
