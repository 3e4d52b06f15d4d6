"""Frame interpolation along bidirectional optical flow, without learned weights.

How an in-between at time t (0 = frame a, 1 = frame b) is made:

0. **Motion-edge repair.** Classical flow is smooth across motion boundaries, so a band around a
   moving object gets a mix of the object's and the background's motion and fails the
   forward-backward check. Each such pixel adopts the flow of a reliable pixel nearby (8
   directions, 4 distances up to 1/8 of the frame) if that flow explains it better (a lower colour
   difference between a and b sampled along it, and below ``REFINE_MATCH``). Two passes, both
   directions. On the benchmark's moving square this gains 5-8 dB (benchmarks/interpolate.py).
   Exact flow needs no repair: ``refine_passes=0``.
1. **Motion at time t by forward splatting.** Every pixel p of a carries its motion
   ``flow_ab(p)`` to where it is at time t, ``p + t * flow_ab(p)``; every pixel of b carries
   ``-flow_ba(p)`` to ``p + (1 - t) * flow_ba(p)``. The vectors are spread with bilinear footprints
   and averaged. Where several surfaces land on the same spot, the one that passes the
   forward-backward check wins: a pixel that will be hidden (or was hidden) has a weight
   ``exp(-SPLAT_SHARPNESS)`` (about 5e-5) of a visible one, so it only fills spots nothing else
   reaches. The few spots that no splat reaches are filled from their surroundings (a
   coarse-to-fine pyramid fill). Unlike the linear-motion approximation (which reuses the flow
   found at the *source* pixel positions), this puts a moving object's motion where the object
   is at time t, so its boundary does not smear.
2. **Sampling both neighbours.** With M the motion at time t, the in-between's pixel q shows
   content found at ``q - t * M(q)`` in a and at ``q + (1 - t) * M(q)`` in b (bicubic backward
   warps).
3. **Occlusion-aware blend.** Weights are ``(1 - t)`` for a and ``t`` for b, except that a sample
   whose content the other frame does not show is taken from its own frame only: content of a
   that is hidden in b (failed forward-backward check, or moving out of the picture) gets weight 0
   from b, and vice versa. Where both checks fail the plain time weights are used.
4. **Cuts.** When fewer than ``CUT_VISIBLE_SHARE`` of the pixels pass the checks in both
   directions the two frames do not show the same scene (a cut, a flash): the in-betweens repeat
   the nearer frame instead of dissolving one shot into the other.

Flows follow the pack's convention ``frame_a(p) ≈ frame_b(p + flow_ab(p))``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Optional

import torch
import torch.nn.functional as F

from ..flow.occlusion import forward_backward_confidence, in_frame_confidence
from ..flow.warp import sample_positions, warp_backward

# Splat priority of a pixel that fails the visibility checks, as exp(-SPLAT_SHARPNESS) of a visible one.
SPLAT_SHARPNESS = 10.0
# Accumulated splat weight below which a spot counts as unreached and is filled from around it.
_HOLE_WEIGHT = 1e-7
# Keeps both blend weights positive where both visibility checks fail: then plain time weights apply.
_BLEND_FLOOR = 1e-3

FlowPair = tuple[torch.Tensor, torch.Tensor]
REFINE_PASSES = 2
# A candidate flow must explain the pixel to this mean colour difference (0..1): content that is
# really hidden in the other frame matches nothing and stays unreliable.
REFINE_MATCH = 0.05
# Above this share of unreliable pixels the flow is not repaired: there is too little to borrow
# from (a scene cut, a flash), and the search would cost more than the flow itself.
REFINE_MAX_SHARE = 0.3
# Below this share of pixels visible in the other frame (both directions) a pair is a cut.
CUT_VISIBLE_SHARE = 0.5


def _visible(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """1 where a's pixel passes the forward-backward check and stays in the frame: (B, 1, H, W)."""
    return forward_backward_confidence(flow_ab, flow_ba) * in_frame_confidence(flow_ab)


def _sample_points(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of image (C, H, W) at points x, y (N,), border-clamped -> (C, N)."""
    height, width = image.shape[-2:]
    gx = x.clamp(0, width - 1) * (2.0 / max(width - 1, 1)) - 1.0
    gy = y.clamp(0, height - 1) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).view(1, 1, -1, 2)
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0, :, 0]


def refine_unreliable_flow(frame_a: torch.Tensor, frame_b: torch.Tensor, flow_ab: torch.Tensor,
                           flow_ba: torch.Tensor) -> torch.Tensor:
    """Replace flow that fails the forward-backward check by the best-fitting reliable flow nearby.

    frame_a, frame_b: (B, C, H, W) float 0..1; flow_ab, flow_ba: (B, 2, H, W) (pack convention).
    Candidates come from reliable pixels at 8 directions and distances of 1/64, 1/32, 1/16 and 1/8
    of the shorter side; a candidate is taken where it lowers the colour difference
    |a(p) - b(p + flow(p))| (channel mean) and brings it under ``REFINE_MATCH``. Reliable pixels
    keep their flow, and so do pixels nothing explains (true occlusions). Only unreliable pixels
    are evaluated, so the cost follows their number; a pair with more than ``REFINE_MAX_SHARE``
    unreliable pixels is left as it is. Returns the refined flow_ab (B, 2, H, W).
    """
    height, width = flow_ab.shape[-2:]
    step = max(1, round(min(height, width) / 64))
    directions = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))
    offsets = torch.tensor([(ux * d, uy * d) for d in (step, 2 * step, 4 * step, 8 * step) for ux, uy in directions],
                           device=flow_ab.device)  # (K, 2) as (dx, dy)
    reliable = _visible(flow_ab, flow_ba) > 0.5
    refined = flow_ab.clone()
    for item in range(flow_ab.shape[0]):
        ys, xs = torch.nonzero(~reliable[item, 0], as_tuple=True)
        count = ys.numel()
        if count == 0 or count > REFINE_MAX_SHARE * height * width:
            continue  # nothing to repair, or no usable flow at all (a scene cut)
        colour = frame_a[item][:, ys, xs]  # (C, N)
        # All candidates at once: (K, N) source pixels, their flows (2, K, N).
        sy = (ys[None] + offsets[:, 1:2]).clamp(0, height - 1)
        sx = (xs[None] + offsets[:, 0:1]).clamp(0, width - 1)
        candidates = torch.cat((flow_ab[item][:, ys, xs][:, None], flow_ab[item][:, sy, sx]), dim=1)  # (2, 1+K, N)
        usable = torch.cat((torch.ones(1, count, dtype=torch.bool, device=flow_ab.device),
                            reliable[item, 0, sy, sx]), dim=0)  # (1+K, N); the current flow is candidate 0
        px = xs.to(flow_ab.dtype)[None] + candidates[0]
        py = ys.to(flow_ab.dtype)[None] + candidates[1]
        sampled = _sample_points(frame_b[item], px.reshape(-1), py.reshape(-1)).view(-1, *px.shape)
        error = (colour[:, None] - sampled).abs().mean(dim=0)  # (1+K, N)
        good = usable & ((error < REFINE_MATCH) | (torch.arange(error.shape[0], device=error.device) == 0)[:, None])
        choice = torch.where(good, error, torch.full_like(error, float("inf"))).argmin(dim=0)  # (N,)
        refined[item][:, ys, xs] = candidates.gather(1, choice.view(1, 1, -1).expand(2, 1, -1))[:, 0]
    return refined


def forward_splat(values: torch.Tensor, displacement: torch.Tensor, weight: torch.Tensor):
    """Accumulate ``values * weight`` at ``p + displacement(p)`` with bilinear footprints.

    values: (B, C, H, W); displacement: (B, 2, H, W) pixels; weight: (B, 1, H, W) >= 0.
    Returns (weighted sum (B, C, H, W), weight sum (B, 1, H, W)); footprints that fall outside
    the image are dropped.
    """
    batch, channels, height, width = values.shape
    pos = sample_positions(displacement)
    x, y = pos[:, 0], pos[:, 1]
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    payload = torch.cat((values * weight, weight), dim=1).reshape(batch, channels + 1, height * width)
    total = torch.zeros_like(payload)
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        index = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)).long()
        index = index.view(batch, 1, height * width).expand(batch, channels + 1, height * width)
        total.scatter_add_(2, index, payload * (share * inside).view(batch, 1, height * width))
    total = total.view(batch, channels + 1, height, width)
    return total[:, :channels], total[:, channels:]


def fill_holes(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Replace unknown pixels by the average of known ones nearby (coarse-to-fine).

    values: (B, C, H, W); known: (B, 1, H, W) float in {0, 1}. Pixels of a batch item with nothing
    known at all become 0.
    """
    if bool((known > 0).all()):
        return values
    height, width = values.shape[-2:]
    if height == 1 and width == 1:
        return values * known
    small_known = F.avg_pool2d(known, 2, ceil_mode=True)
    small_values = F.avg_pool2d(values * known, 2, ceil_mode=True) / small_known.clamp_min(1e-12)
    coarse = fill_holes(small_values, (small_known > 0).to(values.dtype))
    up = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return known * values + (1 - known) * up


class PairInterpolator:
    """In-betweens of one frame pair; the visibility maps are found once for all times t.

    frame_a, frame_b: (B, C, H, W) float 0..1; flow_ab = estimate_flow(frame_a, frame_b),
    flow_ba = estimate_flow(frame_b, frame_a): (B, 2, H, W). refine_passes: passes of
    :func:`refine_unreliable_flow` over both flows first (0 = use the flows as given).
    """

    def __init__(self, frame_a: torch.Tensor, frame_b: torch.Tensor, flow_ab: torch.Tensor, flow_ba: torch.Tensor,
                 mode: str = "bicubic", refine_passes: int = REFINE_PASSES):
        if frame_a.shape != frame_b.shape or frame_a.dim() != 4:
            raise ValueError(f"frames must be two (B, C, H, W) tensors of one shape, got {tuple(frame_a.shape)} "
                             f"and {tuple(frame_b.shape)}")
        expected = (frame_a.shape[0], 2, *frame_a.shape[-2:])
        for name, flow in (("flow_ab", flow_ab), ("flow_ba", flow_ba)):
            if tuple(flow.shape) != expected:
                raise ValueError(f"{name} must have shape {expected} to match the frames, got {tuple(flow.shape)}")
        self.frame_a = frame_a.float()
        self.frame_b = frame_b.float()
        flow_ab = flow_ab.to(self.frame_a.device, torch.float32)
        flow_ba = flow_ba.to(self.frame_a.device, torch.float32)
        for _ in range(refine_passes):
            flow_ab, flow_ba = (refine_unreliable_flow(self.frame_a, self.frame_b, flow_ab, flow_ba),
                                refine_unreliable_flow(self.frame_b, self.frame_a, flow_ba, flow_ab))
        self.flow_ab, self.flow_ba = flow_ab, flow_ba
        self.mode = mode
        # visible_a: a's content also visible in b; visible_b: b's content also visible in a.
        self.visible_a = _visible(flow_ab, flow_ba)
        self.visible_b = _visible(flow_ba, flow_ab)
        self._splat_weight_a = torch.exp(SPLAT_SHARPNESS * (self.visible_a - 1))
        self._splat_weight_b = torch.exp(SPLAT_SHARPNESS * (self.visible_b - 1))
        # (B,) bool: pairs that share too little content to interpolate.
        self.is_cut = ((self.visible_a.mean(dim=(1, 2, 3)) < CUT_VISIBLE_SHARE)
                       & (self.visible_b.mean(dim=(1, 2, 3)) < CUT_VISIBLE_SHARE))

    def motion_at(self, t: float) -> torch.Tensor:
        """Motion a->b of the content seen at each pixel at time t: (B, 2, H, W)."""
        sum_a, weight_a = forward_splat(self.flow_ab, t * self.flow_ab, self._splat_weight_a)
        sum_b, weight_b = forward_splat(-self.flow_ba, (1 - t) * self.flow_ba, self._splat_weight_b)
        weight = weight_a + weight_b
        known = (weight > _HOLE_WEIGHT).to(weight.dtype)
        motion = (sum_a + sum_b) / weight.clamp_min(_HOLE_WEIGHT)
        return fill_holes(motion, known)

    def at(self, t: float) -> torch.Tensor:
        """The in-between at time t in [0, 1]: (B, C, H, W) float 0..1. t = 0 and 1 return the frames."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"interpolation time must lie in [0, 1], got {t}")
        if t == 0.0:
            return self.frame_a.clone()
        if t == 1.0:
            return self.frame_b.clone()
        motion = self.motion_at(t)
        to_a = -t * motion
        to_b = (1 - t) * motion
        from_a = warp_backward(self.frame_a, to_a, self.mode)
        from_b = warp_backward(self.frame_b, to_b, self.mode)
        # Content of a hidden in b must not be blended with what b shows there, and vice versa.
        a_shown_in_b = warp_backward(self.visible_a, to_a, "bilinear")
        b_shown_in_a = warp_backward(self.visible_b, to_b, "bilinear")
        weight_a = (1 - t) * (b_shown_in_a + _BLEND_FLOOR)
        weight_b = t * (a_shown_in_b + _BLEND_FLOOR)
        blended = ((weight_a * from_a + weight_b * from_b) / (weight_a + weight_b)).clamp(0.0, 1.0)
        nearest = self.frame_a if t < 0.5 else self.frame_b
        return torch.where(self.is_cut.view(-1, 1, 1, 1), nearest, blended)


def inbetween_positions(frame_count: int, multiplier: int, loop: bool = False,
                        keep_source_frames: bool = True) -> list[float]:
    """Source positions of the output frames of a ``multiplier``x interpolation.

    Gap i (between frames i and i+1; with ``loop`` also the gap from the last frame back to the
    first, at positions F-1 .. F) gets ``multiplier - 1`` in-betweens at ``i + k / multiplier``.
    With ``keep_source_frames`` the source frames are included: (F-1)*m + 1 frames, or F*m with
    ``loop`` (the first frame is not repeated at the end, so the result loops seamlessly).
    Without, only the in-betweens: (F-1)*(m-1), or F*(m-1) with ``loop``.
    """
    if frame_count < 1:
        raise ValueError("interpolation needs at least one frame")
    if multiplier < 1:
        raise ValueError(f"multiplier must be at least 1, got {multiplier}")
    gaps = frame_count if loop else frame_count - 1
    if loop and frame_count < 2:
        gaps = 0  # a single frame loops onto itself: nothing to interpolate
    positions = []
    for gap in range(gaps):
        for k in range(0 if keep_source_frames else 1, multiplier):
            positions.append(gap + k / multiplier)
    if keep_source_frames and (not loop or gaps == 0):
        positions.append(float(frame_count - 1))
    return positions


def render_positions(frames: torch.Tensor, positions: Sequence[float], pair_flows: Callable[[int, int], FlowPair],
                     loop: bool = False, mode: str = "bicubic",
                     progress: Optional[Callable[[int, int], None]] = None, device=None) -> torch.Tensor:
    """Render output frames at source positions, interpolating fractional ones.

    frames: (F, H, W, C) float 0..1. positions: non-decreasing-per-gap source positions in
    [0, F-1] (or [0, F) with ``loop``, where F-1 .. F interpolates the last frame towards the
    first). Integral positions are copied bit-exactly. pair_flows(i, j) -> (flow_ij, flow_ji),
    each (1, 2, H, W). progress(done, total) is called after each output frame; it may raise to
    cancel. In-betweens are computed on ``device`` (default: the frames' device), one pair at a
    time; the result stays with the frames. Returns (len(positions), H, W, C) in the frames' dtype.
    """
    device = frames.device if device is None else torch.device(device)
    count = frames.shape[0]
    upper = count if loop else count - 1
    out = torch.empty((len(positions), *frames.shape[1:]), dtype=frames.dtype, device=frames.device)
    current_gap, interpolator = None, None
    for n, position in enumerate(positions):
        position = float(position)
        if not (0.0 <= position <= upper) or (loop and position >= count):
            raise ValueError(f"output frame {n}: source position {position} lies outside the clip of {count} frames")
        gap = math.floor(position)
        t = position - gap
        if t == 0.0:
            out[n] = frames[gap % count]
        else:
            if gap != current_gap or interpolator is None:  # None only before the first gap, which differs anyway
                a, b = gap, (gap + 1) % count
                flow_ab, flow_ba = pair_flows(a, b)
                frame_a = frames[a][None].permute(0, 3, 1, 2).to(device)
                frame_b = frames[b][None].permute(0, 3, 1, 2).to(device)
                interpolator = PairInterpolator(frame_a, frame_b, flow_ab.to(device), flow_ba.to(device), mode)
                current_gap = gap
            out[n] = interpolator.at(t)[0].permute(1, 2, 0).to(frames.device, frames.dtype)
        if progress is not None:
            progress(n + 1, len(positions))
    return out


def cross_fade(frame_a: torch.Tensor, frame_b: torch.Tensor, t: float) -> torch.Tensor:
    """The plain blend ``(1 - t) * a + t * b`` (the baseline interpolation is measured against)."""
    return (1 - t) * frame_a + t * frame_b
