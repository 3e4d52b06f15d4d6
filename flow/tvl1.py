"""Coarse-to-fine TV-L1 optical flow in pure torch (+ kornia filters).

The energy is the classic duality-based TV-L1 (Zach, Pock and Bischof 2007; the IPOL description by
Sánchez, Meinhardt-Llopis and Facciolo 2013): a total-variation prior on each flow component, an L1
brightness-constancy data term linearised around the current flow, and a quadratic coupling (theta)
between the two that is solved by alternating a pointwise thresholding step with Chambolle's dual
projection. Following Wedel et al. (2009) the flow is median-filtered after every warp, which removes
the outliers that the linearisation produces at motion boundaries.

Coarse-to-fine alone fails where an object moves far relative to its background: its boundary is
blurred at the coarse levels, and at the fine ones the linearisation (valid within a pixel or two)
cannot move it back, so a band of the object keeps the background's motion (on the 768x512
benchmark a 16 px band of a disc moving 25 px against the background held 55-85% of the error).
Before each level's solve, every pixel therefore tries its neighbours' flows at a few distances and
keeps one that matches a patch clearly better (flow/propagation.py, PatchMatch-style propagation).

Everything is batched: B image pairs are solved at once with the same iteration counts, so results
are deterministic and identical in shape on CPU and GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from .propagation import propagate_candidates
from .warp import out_of_frame_mask, warp_backward


@dataclass(frozen=True)
class TVL1Settings:
    """Solver settings. Intensities are scaled to 0..255, the range in which ``lam`` = 0.15 is the
    customary weight of the data term.

    warps: re-linearisations per pyramid level; iterations: primal-dual steps per warp at the
    coarsest level (``fine_iterations`` at the finest, interpolated in between: the fine levels
    dominate the cost and need fewer steps because they start from the coarse solution);
    median: median-filter size after each warp (0 = off); median_each_warp: False filters only
    after the last warp of each level (cheaper, +0.003 px EPE on the benchmark); max_motion:
    largest displacement in pixels the pyramid must reach; min_level_size: smallest side of the
    coarsest level; presmooth_sigma: Gaussian blur of the full-resolution images against noise;
    propagation / fine_propagation: neighbour distances (pixels of that level) whose flows each
    pixel tries before the solve at the coarser levels / at full resolution (empty = off);
    propagation_patch: side of the matching patch; propagation_margin: how much lower (0..255
    grey levels, patch mean) a neighbour's matching cost must be to replace a pixel's flow.
    """

    lam: float = 0.15
    theta: float = 0.3
    tau: float = 0.25
    warps: int = 3
    iterations: int = 30
    fine_iterations: int = 20
    median: int = 3
    median_each_warp: bool = True
    max_motion: float = 48.0
    min_level_size: int = 8
    presmooth_sigma: float = 0.8
    propagation: tuple[int, ...] = ()
    fine_propagation: tuple[int, ...] = ()
    propagation_patch: int = 5
    propagation_margin: float = 0.5


def pyramid_levels(height: int, width: int, max_motion: float, min_level_size: int = 8) -> int:
    """Number of pyramid levels (1 = full resolution only).

    Enough levels that ``max_motion`` shrinks to at most ~2 px at the coarsest level, where the
    linearised data term still holds, but never so many that the coarsest side drops below
    ``min_level_size`` pixels.
    """
    by_motion = 1 + max(0, math.ceil(math.log2(max(float(max_motion), 1.0) / 2.0)))
    smallest = min(height, width)
    by_size = 1 + max(0, int(math.floor(math.log2(max(smallest, 1) / float(min_level_size)))))
    return max(1, min(by_motion, by_size))


def tvl1_flow(gray_a: torch.Tensor, gray_b: torch.Tensor, settings: TVL1Settings = TVL1Settings(),
              initial_flow: torch.Tensor | None = None) -> torch.Tensor:
    """Flow from ``gray_a`` to ``gray_b`` with ``gray_a(p) ≈ gray_b(p + flow(p))``.

    gray_a, gray_b: (B, 1, H, W) float, any range (normalised jointly to 0..255 here).
    initial_flow: optional (B, 2, H, W) starting guess at full resolution.
    Returns (B, 2, H, W) float32 pixels (dx, dy).
    """
    if gray_a.shape != gray_b.shape or gray_a.dim() != 4 or gray_a.shape[1] != 1:
        raise ValueError(f"expected two (B, 1, H, W) images of one shape, got {tuple(gray_a.shape)} and {tuple(gray_b.shape)}")
    a, b = _normalise_pair(gray_a.float(), gray_b.float())
    pair = torch.cat((a, b), dim=1)  # both images filtered in one call per level
    if settings.presmooth_sigma > 0:
        pair = _blur(pair, settings.presmooth_sigma)
    _, _, height, width = pair.shape
    levels = pyramid_levels(height, width, settings.max_motion, settings.min_level_size)
    pyramid = [pair]
    for _ in range(levels - 1):
        pyramid.append(_downsample(pyramid[-1]))

    coarsest = pyramid[-1][:, 0:1]
    h, w = coarsest.shape[-2:]
    if initial_flow is not None:
        flow = _resize_flow(initial_flow.float().to(coarsest.device), h, w)
    else:
        flow = coarsest.new_zeros(coarsest.shape[0], 2, h, w)
    for level in range(levels - 1, -1, -1):
        la, lb = pyramid[level][:, 0:1], pyramid[level][:, 1:2]
        h, w = la.shape[-2:]
        flow = _resize_flow(flow, h, w)  # returns flow itself at the coarsest level
        iterations = _level_iterations(settings, level, levels)
        distances = settings.fine_propagation if level == 0 else settings.propagation
        if distances:
            # Before the solve: the upsampled coarse flow is blurred across motion boundaries, and
            # the linearised data term cannot pull a boundary back once it is off by more than a
            # pixel or two; the candidate test uses the true (non-linearised) matching cost.
            flow = propagate_candidates(la, lb, flow, distances, settings.propagation_patch, settings.propagation_margin)
        flow = _solve_level(la, lb, flow, settings, iterations)
    return flow


def _level_iterations(settings: TVL1Settings, level: int, levels: int) -> int:
    if levels == 1:
        return settings.fine_iterations
    t = level / (levels - 1)  # 0 at the finest level, 1 at the coarsest
    return max(1, round(settings.fine_iterations + t * (settings.iterations - settings.fine_iterations)))


def _solve_level(a: torch.Tensor, b: torch.Tensor, flow: torch.Tensor, s: TVL1Settings, iterations: int) -> torch.Tensor:
    grad_b = _central_gradient(b)
    stack = torch.cat((b, grad_b), dim=1)  # warped together: one sampling call per warp
    dual_x = torch.zeros_like(flow)  # Chambolle dual variables of each flow component
    dual_y = torch.zeros_like(flow)
    # Work buffers, reused by every iteration (the loop is memory-bound on the CPU).
    ux = torch.zeros_like(flow)
    uy = torch.zeros_like(flow)
    norm = torch.empty_like(flow)
    rho = torch.empty_like(flow[:, 0:1])
    lt = s.lam * s.theta
    tau_theta = s.tau / s.theta
    for warp_index in range(s.warps):
        warped = warp_backward(stack, flow, mode="bicubic")
        b_w, gx, gy = warped[:, 0:1], warped[:, 1:2], warped[:, 2:3]
        # Where p + flow leaves the image the border-clamped sample says nothing about the motion:
        # drop the data term there and let the TV prior extend the flow from inside.
        inside = 1.0 - out_of_frame_mask(flow)
        grad = torch.cat((gx, gy), dim=1) * inside
        gx, gy = grad[:, 0:1], grad[:, 1:2]
        grad_sq = (gx * gx + gy * gy).clamp_min_(1e-9)
        # rho(u) = rho_const + <grad, u>: the brightness residual linearised at the current flow.
        rho_const = (b_w - a) * inside - gx * flow[:, 0:1] - gy * flow[:, 1:2]
        u = flow.clone()
        for _ in range(iterations):
            torch.addcmul(rho_const, gx, u[:, 0:1], out=rho)
            rho.addcmul_(gy, u[:, 1:2])
            # Pointwise minimiser of |rho| + (u - v)^2 / (2 theta): a step of -rho/|g|^2 along the
            # image gradient, clamped to lambda*theta (the three cases of the thresholding collapse
            # to one clamp because |rho/|g|^2| <= lambda*theta exactly in the middle case).
            step = rho.div_(grad_sq).clamp_(-lt, lt)
            u.addcmul_(step, grad, value=-1.0)
            _add_divergence(u, dual_x, dual_y, s.theta)
            _forward_gradient(u, ux, uy)
            # One hypot pass instead of square, add and sqrt (a plain sqrt is also ~20x slower on the
            # denormal values that tiny gradients produce).
            torch.hypot(ux, uy, out=norm).mul_(tau_theta).add_(1.0)
            dual_x.add_(ux, alpha=tau_theta).div_(norm)
            dual_y.add_(uy, alpha=tau_theta).div_(norm)
        flow = u
        last = warp_index == s.warps - 1
        if s.median >= 3 and min(flow.shape[-2:]) >= s.median and (s.median_each_warp or last):
            flow = median_filter(flow, s.median)
    return flow


# Devillard's median-of-9 exchange network (19 compare-exchanges); the middle element ends in p[4].
_MEDIAN9_NETWORK = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
                    (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median_filter(image: torch.Tensor, size: int) -> torch.Tensor:
    """Median over size x size neighbourhoods with replicated borders; image (B, C, H, W).

    kornia's median_blur pads with zeros, which drags flow vectors at the image border towards 0,
    and its unfold-by-convolution is slow on CPUs; 3x3 here is an exchange network of min/max ops.
    """
    radius = size // 2
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    height, width = image.shape[-2:]
    if size == 3:
        p = [padded[..., dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
        for i, j in _MEDIAN9_NETWORK:
            low = torch.minimum(p[i], p[j])
            p[j] = torch.maximum(p[i], p[j])
            p[i] = low
        return p[4].contiguous()
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)
    return windows.reshape(*image.shape, size * size).median(dim=-1).values


def _forward_gradient(u: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor) -> None:
    """Forward differences of u into ux, uy (whose last column / row stay 0)."""
    torch.sub(u[..., :, 1:], u[..., :, :-1], out=ux[..., :, :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=uy[..., :-1, :])


def _add_divergence(u: torch.Tensor, px: torch.Tensor, py: torch.Tensor, scale: float) -> None:
    """u += scale * div(px, py), the negative adjoint of _forward_gradient (the last column/row of
    px/py stays 0), without a temporary."""
    u.add_(px, alpha=scale)
    u[..., :, 1:].sub_(px[..., :, :-1], alpha=scale)
    u.add_(py, alpha=scale)
    u[..., 1:, :].sub_(py[..., :-1, :], alpha=scale)


def _central_gradient(image: torch.Tensor) -> torch.Tensor:
    """Central differences (one-sided at the borders): (B, 1, H, W) -> (B, 2, H, W) = (d/dx, d/dy)."""
    grad = image.new_zeros(image.shape[0], 2, *image.shape[-2:])
    if image.shape[-1] > 2:
        torch.sub(image[..., 0, :, 2:], image[..., 0, :, :-2], out=grad[:, 0, :, 1:-1]).mul_(0.5)
    if image.shape[-1] > 1:
        grad[:, 0, :, 0] = image[:, 0, :, 1] - image[:, 0, :, 0]
        grad[:, 0, :, -1] = image[:, 0, :, -1] - image[:, 0, :, -2]
    if image.shape[-2] > 2:
        torch.sub(image[..., 0, 2:, :], image[..., 0, :-2, :], out=grad[:, 1, 1:-1, :]).mul_(0.5)
    if image.shape[-2] > 1:
        grad[:, 1, 0, :] = image[:, 0, 1, :] - image[:, 0, 0, :]
        grad[:, 1, -1, :] = image[:, 0, -1, :] - image[:, 0, -2, :]
    return grad


def _normalise_pair(a: torch.Tensor, b: torch.Tensor):
    both = torch.cat((a, b), dim=1).flatten(1)
    low = both.min(dim=1).values.view(-1, 1, 1, 1)
    high = both.max(dim=1).values.view(-1, 1, 1, 1)
    scale = 255.0 / (high - low).clamp_min(1e-6)
    return (a - low) * scale, (b - low) * scale


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2 * sigma)))
    return gaussian_blur2d(image, (2 * radius + 1, 2 * radius + 1), (sigma, sigma), border_type="replicate")


def _downsample(image: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    # sigma ~ 0.6 per halving (IPOL's 0.6 * sqrt(1/zfactor^2 - 1) for zfactor 0.5) against aliasing.
    smoothed = _blur(image, 1.04)
    return F.interpolate(smoothed, size=(max(1, (h + 1) // 2), max(1, (w + 1) // 2)), mode="bilinear", align_corners=False)


def _resize_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    h, w = flow.shape[-2:]
    if (h, w) == (height, width):
        return flow
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    scale = torch.tensor([width / w, height / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return resized * scale
