"""Deflicker: remove frame-to-frame brightness, colour and texture flicker from a clip.

Two stages, both pure torch (+ kornia colour conversions), usable without ComfyUI.

**Global stage** (:func:`deflicker_global`, non-causal, whole clip):

1. One streaming pass measures every frame: robust per-channel statistics in YCbCr or Lab
   (mean and standard deviation after clipping values beyond ``clip_sigmas`` standard deviations,
   or ``quantile_levels`` quantiles for the histogram method), on at most ``max_stat_pixels``
   pixels per frame (a regular subsample), plus a 32x32 thumbnail for scene-cut detection.
2. Scene cuts split the clip into segments (:func:`find_scene_cuts`); nothing is ever averaged
   across a cut.
3. Each frame's target statistics are a Gaussian-weighted average over its segment neighbours:
   ``window`` frames wide (+-(window-1)/2), sigma = (window-1)/6. At segment edges the Gaussian is
   truncated and renormalised, so first and last frames are corrected too.
4. A second streaming pass maps every frame onto its target: per channel ``y -> a*(y - mean) +
   target_mean`` with ``a = target_std / std`` (clamped to [1/max_gain, max_gain]) for the
   "moments" method, or the piecewise-linear map from the frame's quantiles to the target
   quantiles (scale-time equalisation, Delon 2006) for "quantiles". ``strength`` blends between
   the input (0) and the fully corrected frame (1). The result is clamped to 0..1.

Only a chunk of ``chunk_size`` frames of float intermediates exists at a time; per-frame
statistics are a few numbers each, so 1,000-frame clips need no more working memory than 16.

**Texture stage** (:func:`stabilize_texture`, optional): a bidirectional, confidence-gated
recursive blend with the flow-warped neighbouring output, for "boiling" texture that the global
stage cannot see. Forward: ``f_t = x_t + beta*c_t*(warp(f_{t-1}) - x_t)``; then backward over the
forward result: ``o_t = f_t + beta*c'_t*(warp(o_{t+1}) - f_t)``, which cancels the lag of a
one-directional filter. Each pair's flow is first made symmetric (:func:`symmetric_flow`: the
forward estimate averaged with the negated backward one where they agree) and then smoothed
within objects (:func:`smooth_flow_guided`), because the estimator's per-pixel noise, not the
blend, is what leaves misaligned texture. The confidence ``c`` falls linearly with the
forward-backward mismatch (1 up to ``consistency[0]`` px, 0 from ``consistency[1]`` px), is 0 out
of frame, and is multiplied by a photometric gate (1 when the channel-mean difference between the
frame and the warped output is at most ``photometric_threshold``, falling linearly to 0 at twice
that). It trades fine detail for stability: texture that genuinely changes from frame to frame
is averaged away where the flow is trusted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale

from ..flow.occlusion import forward_backward_mismatch, in_frame_confidence
from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence
from ..flow.warp import warp_backward


class ColorSpace(str, Enum):
    """Where the global stage matches colour statistics."""

    YCBCR = "ycbcr"
    LAB = "lab"


COLOR_SPACES = tuple(space.value for space in ColorSpace)
METHODS = ("moments", "quantiles")


class DeflickerMode(str, Enum):
    """The Deflicker node's modes: the global stage's method, and whether the texture stage runs."""

    GLOBAL = "global"
    GLOBAL_TEXTURE = "global + texture"
    HISTOGRAM = "histogram"
    HISTOGRAM_TEXTURE = "histogram + texture"

    @property
    def method(self) -> str:
        return "quantiles" if self in (DeflickerMode.HISTOGRAM, DeflickerMode.HISTOGRAM_TEXTURE) else "moments"

    @property
    def texture(self) -> bool:
        return self in (DeflickerMode.GLOBAL_TEXTURE, DeflickerMode.HISTOGRAM_TEXTURE)

# Typical channel range of each space: tolerances below are fractions of it.
_SPACE_SCALE = {"ycbcr": 1.0, "lab": 100.0}
_THUMBNAIL = 32


@dataclass(frozen=True)
class GlobalSettings:
    """Settings of the global stage (see the module docstring).

    strength: 0 = input unchanged, 1 = fully matched to the temporal target.
    window: frames in the temporal average (>= 1; 1 disables smoothing); sigma = (window-1)/6.
    method: "moments" (mean/std matching) or "quantiles" (histogram matching).
    color_space: "ycbcr" (fast: the correction folds into one 3x3 matrix per frame) or "lab".
    detect_cuts / cut_threshold: see :func:`find_scene_cuts`. Checked when made.
    """

    strength: float = 1.0
    window: int = 49
    method: str = "moments"
    color_space: str = "ycbcr"
    detect_cuts: bool = True
    cut_threshold: float = 0.5
    quantile_levels: int = 64
    clip_sigmas: float = 2.5
    max_gain: float = 2.0
    max_stat_pixels: int = 65536
    chunk_size: int = 16

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")
        if int(self.window) < 1:
            raise ValueError(f"window must be at least 1 frame, got {self.window}")
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.color_space not in COLOR_SPACES:
            raise ValueError(f"color_space {self.color_space!r} is not one of {', '.join(COLOR_SPACES)}")
        if self.cut_threshold <= 0:
            raise ValueError(f"cut_threshold must be positive, got {self.cut_threshold}")
        if self.quantile_levels < 2:
            raise ValueError(f"quantile_levels must be at least 2, got {self.quantile_levels}")
        if self.max_gain < 1.0:
            raise ValueError(f"max_gain must be at least 1, got {self.max_gain}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")

    @property
    def sigma(self) -> float:
        return (int(self.window) - 1) / 6.0

    @property
    def radius(self) -> int:
        return (int(self.window) - 1) // 2


@dataclass
class ClipStatistics:
    """Per-frame measurements of the first pass (F = frame count, K = quantile levels).

    mean, std: (F, 3) float64 robust channel statistics in the working colour space;
    quantiles: (F, 3, K) float64 or None; lab_mean: (F, 3) mean Lab colour of the thumbnail;
    structure: (F, 32*32) float32 luma thumbnail normalised to zero mean and unit norm (zeros for
    a flat frame); flat: (F,) bool, frames without structure. "moments" method only: pair_gain,
    pair_bias: (F-1, 3) float64 with frame t+1 ~ gain * frame t + bias on shared content, and
    pair_shift: the (dx, dy) translation found between them.
    """

    mean: torch.Tensor
    std: torch.Tensor
    quantiles: Optional[torch.Tensor]
    lab_mean: torch.Tensor
    structure: torch.Tensor
    flat: torch.Tensor
    # Empty (no pairs measured) unless given, as collect_statistics leaves them for "quantiles".
    pair_gain: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3, dtype=torch.float64))
    pair_bias: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3, dtype=torch.float64))
    pair_shift: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class DeflickerResult:
    images: torch.Tensor
    cuts: list = field(default_factory=list)


# --- colour spaces -------------------------------------------------------------------------------

def to_space(rgb: torch.Tensor, space: str) -> torch.Tensor:
    """rgb: (N, 3, H, W) 0..1 -> (N, 3, H, W) in ``space`` (kornia conventions)."""
    import kornia.color

    if space == "ycbcr":
        return kornia.color.rgb_to_ycbcr(rgb)
    return kornia.color.rgb_to_lab(rgb)


def from_space(values: torch.Tensor, space: str) -> torch.Tensor:
    """Inverse of :func:`to_space` (Lab results are not clipped here; the caller clamps)."""
    import kornia.color

    if space == "ycbcr":
        return kornia.color.ycbcr_to_rgb(values)
    return kornia.color.lab_to_rgb(values, clip=False)


def _ycbcr_affine(device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, o) with ycbcr = T @ rgb + o, read off kornia's own conversion."""
    import kornia.color

    probe = torch.cat([torch.zeros(1, 3), torch.eye(3)]).to(device=device, dtype=torch.float64).view(4, 3, 1, 1)
    out = kornia.color.rgb_to_ycbcr(probe).view(4, 3)
    offset = out[0]
    matrix = (out[1:] - offset).T  # column i = image of the i-th primary
    return matrix.to(dtype), offset.to(dtype)


# --- pass 1: statistics --------------------------------------------------------------------------

def collect_statistics(images: torch.Tensor, settings: GlobalSettings, progress: ProgressFn = None,
                       cut_features_only: bool = False) -> ClipStatistics:
    """Robust per-frame statistics and scene-cut features. images: (F, H, W, 3) float 0..1.

    For the "moments" method this also measures every consecutive pair on the content both frames
    show (see :func:`relative_affine`), which is what the correction uses. cut_features_only skips
    the pair measurements and quantiles (all :func:`find_scene_cuts` needs).
    """
    import kornia.color

    count, height, width, _ = images.shape
    stride = max(1, math.ceil(math.sqrt(height * width / settings.max_stat_pixels)))
    levels = (torch.arange(settings.quantile_levels, dtype=torch.float64) + 0.5) / settings.quantile_levels
    thumb_size = (min(_THUMBNAIL, height), min(_THUMBNAIL, width))
    relative = settings.method == "moments" and not cut_features_only
    means, stds, quantiles, lab_means, structures, gains, biases, shifts = [], [], [], [], [], [], [], []
    previous = None
    for start in range(0, count, settings.chunk_size):
        rgb = images[start:start + settings.chunk_size].permute(0, 3, 1, 2).float()
        sample = to_space(rgb[:, :, ::stride, ::stride], settings.color_space).flatten(2)
        if relative:
            grey = rgb_to_grayscale(rgb)[:, 0].cpu().numpy()
            frames = ([previous[0]] if previous is not None else []) + list(rgb.unbind(0))
            greys = ([previous[1]] if previous is not None else []) + list(grey)
            chunk_shifts = [estimate_shift(greys[i - 1], greys[i]) for i in range(1, len(greys))]
            if chunk_shifts:
                gain, bias = _pair_affines(frames, chunk_shifts, stride, settings)
                gains.append(gain)
                biases.append(bias)
                shifts.extend(chunk_shifts)
            # Views of the input and of this chunk's luma: nothing is copied.
            previous = (rgb[-1], grey[-1])
        mean, std = _robust_moments(sample, settings.clip_sigmas)
        means.append(mean)
        stds.append(std)
        if settings.method == "quantiles" and not cut_features_only:
            quantiles.append(_quantiles(sample, levels.to(sample.device)))
        thumb = F.adaptive_avg_pool2d(rgb, thumb_size)
        lab_means.append(kornia.color.rgb_to_lab(thumb.clamp(0, 1)).mean(dim=(2, 3)).double())
        structures.append(rgb_to_grayscale(thumb).flatten(1))
        if progress is not None:
            progress(min(start + settings.chunk_size, count), count)
    structure = torch.cat(structures).cpu()
    structure = structure - structure.mean(dim=1, keepdim=True)
    norm = structure.norm(dim=1, keepdim=True)
    # 1e-3 of a 0..1 range per thumbnail pixel: below this a frame is flat (fades, title cards).
    flat = norm[:, 0] < 1e-3 * math.sqrt(structure.shape[1])
    structure = torch.where(flat[:, None], torch.zeros_like(structure), structure / norm.clamp_min(1e-12))
    empty = torch.zeros(0, 3, dtype=torch.float64)
    return ClipStatistics(
        mean=torch.cat(means).cpu(),
        std=torch.cat(stds).cpu(),
        quantiles=torch.cat(quantiles).cpu() if quantiles else None,
        lab_mean=torch.cat(lab_means).cpu(),
        structure=structure,
        flat=flat,
        pair_gain=torch.cat(gains).cpu() if gains else empty,
        pair_bias=torch.cat(biases).cpu() if biases else empty.clone(),
        pair_shift=shifts,
    )


def estimate_shift(previous: np.ndarray, current: np.ndarray, coarse_size: int = 64,
                   fine_size: int = 128) -> tuple[int, int]:
    """Dominant whole-pixel translation d = (dx, dy) with ``current(p) ~ previous(p + d)``.

    previous, current: (H, W) luma arrays. Phase correlation, coarse to fine: on thumbnails of at
    most ``coarse_size`` pixels, then at full resolution on a ``fine_size`` crop placed by the
    coarse estimate. Returns (0, 0) when the frames are too small or no clear peak stands out (no
    common translation), so the caller falls back to comparing whole frames.
    """
    # numpy throughout: these arrays are small, and torch's multi-threaded CPU kernels (FFT in
    # particular) spend far longer waking their thread pool than computing when cores are busy.
    height, width = current.shape
    if min(height, width) < 16:
        return (0, 0)
    factor = max(1, math.ceil(max(height, width) / coarse_size))
    coarse = (0, 0)
    if factor > 1 and min(height, width) // factor >= 8:
        peak = _phase_correlation(_block_mean(previous, factor), _block_mean(current, factor))
        if peak is not None:
            coarse = (peak[0] * factor, peak[1] * factor)
    size_y, size_x = min(height, fine_size), min(width, fine_size)
    cur_y, cur_x = (height - size_y) // 2, (width - size_x) // 2
    prev_y = min(max(cur_y + coarse[1], 0), height - size_y)
    prev_x = min(max(cur_x + coarse[0], 0), width - size_x)
    peak = _phase_correlation(previous[prev_y:prev_y + size_y, prev_x:prev_x + size_x],
                              current[cur_y:cur_y + size_y, cur_x:cur_x + size_x])
    if peak is None:
        return (0, 0)
    dx, dy = prev_x - cur_x + peak[0], prev_y - cur_y + peak[1]
    # Less than a quarter of the frame in common: not a translation worth trusting.
    if (width - abs(dx)) * (height - abs(dy)) < 0.25 * width * height:
        return (0, 0)
    return (int(dx), int(dy))


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average over factor x factor blocks (the ragged edge is dropped). (H, W) -> (H//f, W//f)."""
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image[:h * factor, :w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))


def _phase_correlation(a: np.ndarray, b: np.ndarray):
    """Integer (dx, dy) with b(p) ~ a(p + d), or None without a distinct peak. a, b: (h, w).

    a, b: numpy arrays.
    """
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    fa = np.fft.rfft2((a - a.mean()) * window)
    fb = np.fft.rfft2((b - b.mean()) * window)
    cross = fa * np.conj(fb)
    surface = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=(h, w))
    best = int(surface.argmax())
    peak = float(surface.flat[best])
    # A true translation concentrates the surface in one spike; unrelated content spreads it.
    if peak <= 0 or peak < 6.0 * float(surface.std()):
        return None
    qy, qx = divmod(best, w)
    # The spike of b(p) = a(p + d) sits at p = d (mod size); wrap to signed offsets.
    dy = qy - h if qy > h // 2 else qy
    dx = qx - w if qx > w // 2 else qx
    return (dx, dy)


def _pair_affines(frames: list, shifts: list, stride: int, settings: GlobalSettings):
    """(gain, bias), each (P, 3) float64, of the P = len(frames) - 1 consecutive pairs of
    ``frames`` ((3, H, W) RGB views), all measured at once: every pair's overlap is cut with the
    largest shift of the batch as margin, so the crops share one size and stack into one batch."""
    _, height, width = frames[0].shape
    margin_x = max(abs(dx) for dx, _ in shifts)
    margin_y = max(abs(dy) for _, dy in shifts)
    if width - 2 * margin_x < 8 or height - 2 * margin_y < 8:
        pairs = [relative_affine(frames[i], frames[i + 1], shifts[i], stride, settings) for i in range(len(shifts))]
        return torch.stack([g for g, _ in pairs]), torch.stack([b for _, b in pairs])
    crops = []
    for i, (dx, dy) in enumerate(shifts):
        crops.append(frames[i][:, margin_y + dy:height - margin_y + dy:stride, margin_x + dx:width - margin_x + dx:stride])
    for i in range(len(shifts)):
        crops.append(frames[i + 1][:, margin_y:height - margin_y:stride, margin_x:width - margin_x:stride])
    values = to_space(torch.stack(crops), settings.color_space).flatten(2)
    mean, std = _robust_moments(values, settings.clip_sigmas)
    count = len(shifts)
    return _affine_from_moments(mean[:count], std[:count], mean[count:], std[count:], settings)


def _affine_from_moments(mean_p, std_p, mean_c, std_c, settings: GlobalSettings):
    """gain = std ratio (clamped; 1 where either side is flat), bias = mean_c - gain * mean_p."""
    eps = 1e-3 * _SPACE_SCALE[settings.color_space]
    usable = (std_p > eps) & (std_c > eps)
    ratio = (std_c / std_p.clamp_min(eps)).clamp(1.0 / settings.max_gain, settings.max_gain)
    gain = torch.where(usable, ratio, torch.ones_like(ratio))
    return gain, mean_c - gain * mean_p


def relative_affine(previous: torch.Tensor, current: torch.Tensor, shift: tuple[int, int], stride: int,
                    settings: GlobalSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (gain, bias) with ``current ~ gain * previous + bias`` on the content both show,
    in the working colour space.

    previous, current: (3, H, W) RGB 0..1; shift: (dx, dy) from :func:`estimate_shift`. Robust
    moments of the overlapping regions (the same stride grid on both, so pixels correspond exactly
    for whole-pixel motion) are matched: gain = std ratio, bias = mean difference after the gain.
    Returns two (3,) float64 tensors.
    """
    _, height, width = current.shape
    dx, dy = shift
    x0, x1 = max(0, -dx), min(width, width - dx)
    y0, y1 = max(0, -dy), min(height, height - dy)
    pair = torch.stack((previous[:, y0 + dy:y1 + dy:stride, x0 + dx:x1 + dx:stride],
                        current[:, y0:y1:stride, x0:x1:stride]))
    values = to_space(pair, settings.color_space).flatten(2)
    mean, std = _robust_moments(values, settings.clip_sigmas)
    gain, bias = _affine_from_moments(mean[0:1], std[0:1], mean[1:2], std[1:2], settings)
    return gain[0], bias[0]


def _robust_moments(values: torch.Tensor, clip_sigmas: float) -> tuple[torch.Tensor, torch.Tensor]:
    """values: (N, 3, P) -> mean, std (N, 3) float64 after winsorising beyond clip_sigmas std."""
    values = values.float()
    var, mean = torch.var_mean(values, dim=2, unbiased=False, keepdim=True)
    reach = clip_sigmas * var.sqrt()
    clipped = values.clamp(min=mean - reach, max=mean + reach)
    var, mean = torch.var_mean(clipped, dim=2, unbiased=False)
    return mean.double(), var.sqrt().double()


def _quantiles(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """values: (N, 3, P), levels: (K,) in (0, 1) -> (N, 3, K) linearly interpolated quantiles."""
    ordered = values.sort(dim=2).values
    position = levels * (ordered.shape[2] - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=ordered.shape[2] - 1)
    frac = (position - low.double()).to(ordered.dtype)
    return ordered[..., low] * (1 - frac) + ordered[..., high] * frac


# --- scene cuts ----------------------------------------------------------------------------------

def find_scene_cuts(stats: ClipStatistics, threshold: float = 0.5, step_frames: int = 4) -> list[int]:
    """Frames that start a new scene (sorted; frame 0 is never listed).

    Two tests, both insensitive to the flicker being removed:

    - **structure**: 1 - correlation between consecutive frames' normalised luma thumbnails (so a
      gain or offset change scores 0) above ``threshold``; a flat frame next to a structured one
      counts as a cut;
    - **persistent colour step**: the Lab distance between the median thumbnail colour of the
      ``step_frames`` frames before and of those after a boundary above ``40 * threshold`` (20
      Lab units at the default) and above three times the median frame-to-frame colour jump
      around it (so heavy flicker does not read as cuts). Medians ignore single-frame flashes;
      within a run of boundaries over the limit the cut goes where the frame-to-frame colour
      jump is largest.
    """
    count = stats.mean.shape[0]
    if count < 2:
        return []
    return cuts_from_changes(structure_changes(stats.structure, stats.flat), stats.lab_mean, threshold, step_frames)


def structure_changes(structure: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """1 - correlation of consecutive frames' normalised thumbnails: (F-1,) for (F, 32*32) structure
    and (F,) flat flags (two flat frames in a row: no change). Each entry depends on its pair only."""
    corr = (structure[1:] * structure[:-1]).sum(dim=1)
    both_flat = flat[1:] & flat[:-1]
    corr = torch.where(both_flat, torch.ones_like(corr), corr)
    return 1.0 - corr


def cuts_from_changes(changes: torch.Tensor, lab_mean: torch.Tensor, threshold: float = 0.5,
                      step_frames: int = 4) -> list[int]:
    """The cuts of :func:`find_scene_cuts` from the per-pair structure changes (F-1,) and the
    per-frame thumbnail Lab colours (F, 3), so a long video can keep these few numbers per frame
    instead of its thumbnails."""
    count = lab_mean.shape[0]
    if count < 2:
        return []
    cuts = set()
    for t in torch.nonzero(changes > threshold).flatten().tolist():
        cuts.add(t + 1)

    lab = lab_mean
    step = torch.zeros(count)
    for t in range(1, count):
        before = lab[max(0, t - step_frames):t].median(dim=0).values
        after = lab[t:min(count, t + step_frames)].median(dim=0).values
        step[t] = (before - after).norm()
    jump = torch.zeros(count)
    jump[1:] = (lab[1:] - lab[:-1]).norm(dim=1)
    # The step must also stand out from the flicker itself: three times the typical (median)
    # frame-to-frame jump around the boundary.
    typical = torch.zeros(count)
    for t in range(1, count):
        typical[t] = jump[max(1, t - 2 * step_frames):min(count, t + 2 * step_frames + 1)].median()
    over = ((step > 40.0 * threshold) & (step > 3.0 * typical)).tolist()
    t = 1
    while t < count:
        if over[t]:
            end = t
            while end + 1 < count and over[end + 1]:
                end += 1
            run = torch.arange(t, end + 1)
            cuts.add(int(run[jump[t:end + 1].argmax()]))
            t = end + 1
        else:
            t += 1
    return sorted(cuts)


def segments_from_cuts(count: int, cuts: list[int]) -> list[tuple[int, int]]:
    """[(start, end), ...] half-open frame ranges between the cuts."""
    bounds = [0] + [c for c in sorted(set(cuts)) if 0 < c < count] + [count]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


# --- pass 2: targets and mapping -----------------------------------------------------------------

def temporal_gaussian(values: torch.Tensor, segments: list[tuple[int, int]], sigma: float, radius: int) -> torch.Tensor:
    """Gaussian-weighted temporal average of per-frame values within each segment.

    values: (F, ...) float; returns the same shape. The kernel is truncated at +-radius and at the
    segment bounds and renormalised over the frames that exist.
    """
    if sigma <= 0 or radius <= 0:
        return values.clone()
    offsets = torch.arange(-radius, radius + 1, dtype=values.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2).view(1, 1, -1)
    flat = values.reshape(values.shape[0], -1).T.unsqueeze(1)  # (D, 1, F)
    out = torch.empty_like(flat)
    for start, end in segments:
        piece = flat[:, :, start:end]
        ones = torch.ones_like(piece[:1])
        total = F.conv1d(piece, kernel, padding=radius)
        weight = F.conv1d(ones, kernel, padding=radius)
        out[:, :, start:end] = total / weight
    return out.squeeze(1).T.reshape(values.shape)


def _moment_maps(stats: ClipStatistics, segments, settings: GlobalSettings):
    """Per-frame, per-channel affine map y -> gain*y + bias in the working space, strength applied.

    Within a segment starting at frame a, chaining the pair measurements gives frame t ~ alpha_t *
    frame a + beta_t for the same content. Smoothing alpha and beta over time and mapping frame t
    through y -> (alpha_bar/alpha)(y - beta) + beta_bar makes it look the way its neighbours, on
    average, show the same content: flicker goes, content that merely moves in or out of frame
    does not move the statistics.
    """
    count = stats.mean.shape[0]
    starts = {start for start, _ in segments}
    alpha, beta = chain_pairs(stats.pair_gain, stats.pair_bias, count, starts)
    return maps_from_chain(alpha, beta, segments, settings)


def chain_pairs(pair_gain: torch.Tensor, pair_bias: torch.Tensor, count: int, starts: set,
                known: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, beta), each (count, 3) float64: frame t ~ alpha_t * (its segment's first frame) + beta_t.

    pair_gain, pair_bias: (count-1, 3) of the consecutive pairs; starts: frames that start a
    segment (alpha 1, beta 0). known: alpha and beta of the first frames (a long video's earlier
    chunks); the chain goes on from them.
    """
    alpha = torch.ones(count, 3, dtype=torch.float64)
    beta = torch.zeros(count, 3, dtype=torch.float64)
    begin = 1
    if known is not None and known[0].shape[0]:
        given = known[0].shape[0]
        alpha[:given], beta[:given] = known[0], known[1]
        begin = given
    for t in range(begin, count):
        if t in starts:
            continue
        alpha[t] = pair_gain[t - 1] * alpha[t - 1]
        beta[t] = pair_gain[t - 1] * beta[t - 1] + pair_bias[t - 1]
    return alpha, beta


def maps_from_chain(alpha: torch.Tensor, beta: torch.Tensor, segments, settings: GlobalSettings):
    """Per-frame (gain, bias) of :func:`_moment_maps` from the chained alpha and beta."""
    alpha_bar = temporal_gaussian(alpha, segments, settings.sigma, settings.radius)
    beta_bar = temporal_gaussian(beta, segments, settings.sigma, settings.radius)
    gain = (alpha_bar / alpha).clamp(1.0 / settings.max_gain, settings.max_gain)
    bias = beta_bar - gain * beta
    s = float(settings.strength)
    return 1.0 + s * (gain - 1.0), s * bias


def deflicker_global(images: torch.Tensor, settings: GlobalSettings = GlobalSettings(),
                     progress: ProgressFn = None, cuts: Optional[list[int]] = None) -> DeflickerResult:
    """The global stage. images: (F, H, W, 3) float 0..1 -> DeflickerResult with a new tensor of
    the same shape and dtype, and the scene cuts used (frames that start a scene).

    progress: callable(done, total) over both passes (total = 2F); it may raise to cancel.
    cuts: scene cuts to use instead of detecting them.
    """
    count = images.shape[0]

    def report(offset):
        if progress is None:
            return None
        return lambda done, _total: progress(offset + done, 2 * count)

    stats = collect_statistics(images, settings, report(0))
    if cuts is None:
        cuts = find_scene_cuts(stats, settings.cut_threshold) if settings.detect_cuts else []
    segments = segments_from_cuts(count, cuts)
    out = torch.empty_like(images)
    if settings.method == "moments":
        gain, bias = _moment_maps(stats, segments, settings)
        _apply_moments(images, out, gain, bias, settings, report(count))
    else:
        quantiles = stats.quantiles
        # collect_statistics measures quantiles for this method, and a clip it returns has frames.
        assert quantiles is not None
        target = temporal_gaussian(quantiles, segments, settings.sigma, settings.radius)
        _apply_quantiles(images, out, quantiles, target, settings, report(count))
    return DeflickerResult(images=out, cuts=list(cuts))


def _apply_moments(images, out, gain, bias, settings: GlobalSettings, progress: ProgressFn) -> None:
    count = images.shape[0]
    device = images.device
    if settings.color_space == "ycbcr":
        # YCbCr is affine in RGB, so the per-channel map folds into one RGB affine per frame:
        # rgb' = T^-1 diag(g) T rgb + T^-1 (g*o + b - o).
        matrix, offset = _ycbcr_affine(device, torch.float64)
        inverse = torch.linalg.inv(matrix)
        g = gain.to(device)
        b = bias.to(device)
        rgb_matrix = inverse @ (g[:, :, None] * matrix)  # (F, 3, 3)
        rgb_offset = (inverse @ (g * offset + b - offset)[:, :, None])[:, :, 0]  # (F, 3)
        rgb_matrix_t = rgb_matrix.transpose(1, 2).float()
        rgb_offset = rgb_offset.float()
    for start in range(0, count, settings.chunk_size):
        end = min(start + settings.chunk_size, count)
        chunk = images[start:end].float()
        if settings.color_space == "ycbcr":
            n, h, w, _ = chunk.shape
            mapped = torch.baddbmm(rgb_offset[start:end, None, :], chunk.reshape(n, h * w, 3), rgb_matrix_t[start:end])
            mapped = mapped.view(n, h, w, 3)
        else:
            values = to_space(chunk.permute(0, 3, 1, 2), "lab")
            g = gain[start:end].to(device=device, dtype=values.dtype)[:, :, None, None]
            b = bias[start:end].to(device=device, dtype=values.dtype)[:, :, None, None]
            mapped = from_space(values * g + b, "lab").permute(0, 2, 3, 1)
        out[start:end] = mapped.clamp_(0.0, 1.0).to(out.dtype)
        if progress is not None:
            progress(end, count)


def _apply_quantiles(images, out, source, target, settings: GlobalSettings, progress: ProgressFn) -> None:
    count = images.shape[0]
    device = images.device
    strength = float(settings.strength)
    for start in range(0, count, settings.chunk_size):
        end = min(start + settings.chunk_size, count)
        values = to_space(images[start:end].float().permute(0, 3, 1, 2), settings.color_space)
        n, c, h, w = values.shape
        flat = values.reshape(n * c, h * w)
        knots_in = source[start:end].reshape(n * c, -1).to(device=device, dtype=torch.float32)
        knots_out = target[start:end].reshape(n * c, -1).to(device=device, dtype=torch.float32)
        mapped = interpolate_monotone(flat, knots_in, knots_out)
        mapped = flat + strength * (mapped - flat)
        rgb = from_space(mapped.view(n, c, h, w), settings.color_space).permute(0, 2, 3, 1)
        out[start:end] = rgb.clamp_(0.0, 1.0).to(out.dtype)
        if progress is not None:
            progress(end, count)


def interpolate_monotone(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear map through the knots (xp, fp), row by row; slope 1 beyond the end knots.

    x: (B, M); xp: (B, K) non-decreasing; fp: (B, K). Returns (B, M).
    """
    k = xp.shape[1]
    index = torch.searchsorted(xp.contiguous(), x.contiguous(), right=True)
    low = (index - 1).clamp(0, k - 2)
    x0, x1 = xp.gather(1, low), xp.gather(1, low + 1)
    y0, y1 = fp.gather(1, low), fp.gather(1, low + 1)
    span = x1 - x0
    t = torch.where(span > 1e-12, (x - x0) / span.clamp_min(1e-12), torch.zeros_like(x))
    inside = y0 + t.clamp(0.0, 1.0) * (y1 - y0)
    below = x - xp[:, :1] + fp[:, :1]
    above = x - xp[:, -1:] + fp[:, -1:]
    return torch.where(x < xp[:, :1], below, torch.where(x > xp[:, -1:], above, inside))


# --- texture stage -------------------------------------------------------------------------------

def stabilize_texture(images: torch.Tensor, flow, strength: float = 0.5, photometric_threshold: float = 0.05,
                      cuts: Optional[list[int]] = None, progress: ProgressFn = None,
                      consistency: tuple[float, float] = (0.5, 1.5)) -> torch.Tensor:
    return stabilize_texture_carried(images, flow, strength, photometric_threshold, cuts, progress, consistency)[0]


def stabilize_texture_carried(images: torch.Tensor, flow, strength: float = 0.5, photometric_threshold: float = 0.05,
                              cuts: Optional[list[int]] = None, progress: ProgressFn = None,
                              consistency: tuple[float, float] = (0.5, 1.5), first_forward: Optional[torch.Tensor] = None,
                              keep_forward: Optional[int] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The texture stage (see the module docstring).

    images: (F, H, W, 3) float 0..1 (normally the global stage's output); flow: a
    ``flow.sequence.FlowSequence`` of the same clip, checked by the caller (forward[i] =
    flow(i -> i+1), backward[i] = flow(i+1 -> i)). strength: beta in 0..1 (0 returns a copy). photometric_threshold: channel-mean
    difference (0..1) between a frame and its warped neighbour up to which the neighbour gets full
    weight, none at twice it. consistency: (full, none) forward-backward mismatch in pixels (plus 1 %
    of the motion) between which a flow vector's weight falls from 1 to 0. cuts: frames that start a
    scene; nothing is carried across them. progress: callable(done, total) over both passes (2F).
    Returns a new (F, H, W, 3) tensor.

    :func:`stabilize_texture_carried` also serves a chunk of a long video: ``first_forward`` (H, W, 3)
    is the forward pass's output on frame 0 that the previous chunk carried (the forward pass is
    causal, so it goes on exactly), and it returns ``(output, forward output of frame keep_forward)``.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"texture strength must be between 0 and 1, got {strength}")
    if photometric_threshold <= 0:
        raise ValueError(f"photometric_threshold must be positive, got {photometric_threshold}")
    full, none = (float(v) for v in consistency)
    if not 0.0 <= full < none:
        raise ValueError(f"consistency must be two pixel tolerances 0 <= full < none, got {tuple(consistency)}")
    count = images.shape[0]
    out = images.clone()
    if first_forward is not None:
        out[0] = first_forward.to(device=out.device, dtype=out.dtype)
    kept = None
    if count < 2 or strength == 0.0:
        return out, None if keep_forward is None else out[keep_forward].clone()
    starts = set(cuts or [])
    device = images.device

    def frame(tensor, t):
        return tensor[t:t + 1].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)

    def pull(current, neighbour, flow_here_to_neighbour, flow_back):
        toward, confidence = symmetric_flow(flow_here_to_neighbour, flow_back, full, none)
        toward = smooth_flow_guided(toward, current, confidence)
        warped = warp_backward(neighbour, toward, mode="bicubic")
        difference = (current - warped).abs().mean(dim=1, keepdim=True)
        gate = ((2.0 * photometric_threshold - difference) / photometric_threshold).clamp(0.0, 1.0)
        weight = strength * confidence * gate
        return current + weight * (warped - current)

    # Forward pass: frame t (t >= 1) pulls the previous output along backward[t-1] = flow(t -> t-1).
    previous = frame(out, 0)
    if keep_forward == 0:
        kept = out[0].clone()
    for t in range(1, count):
        current = frame(out, t)
        if t not in starts:
            to_prev = flow.backward[t - 1:t].to(device=device, dtype=torch.float32)
            from_prev = flow.forward[t - 1:t].to(device=device, dtype=torch.float32)
            current = pull(current, previous, to_prev, from_prev)
        out[t] = current[0].permute(1, 2, 0).clamp(0.0, 1.0).to(out.dtype)
        previous = frame(out, t)
        if keep_forward == t:
            kept = out[t].clone()
        if progress is not None:
            progress(t, 2 * count)
    # Backward pass over the forward result: frame t pulls the next output along forward[t].
    following = frame(out, count - 1)
    for t in range(count - 2, -1, -1):
        current = frame(out, t)
        if (t + 1) not in starts:
            to_next = flow.forward[t:t + 1].to(device=device, dtype=torch.float32)
            from_next = flow.backward[t:t + 1].to(device=device, dtype=torch.float32)
            current = pull(current, following, to_next, from_next)
        out[t] = current[0].permute(1, 2, 0).clamp(0.0, 1.0).to(out.dtype)
        following = frame(out, t)
        if progress is not None:
            progress(2 * count - 1 - t, 2 * count)
    if progress is not None:
        progress(2 * count, 2 * count)
    return out, kept


def symmetric_flow(flow_ab: torch.Tensor, flow_ba: torch.Tensor, full: float = 0.5, none: float = 1.5,
                   alpha: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions' estimates of a's motion averaged, and how far to trust the result.

    flow_ab, flow_ba: (B, 2, H, W) = estimate_flow(a, b), estimate_flow(b, a). Following a's pixel
    p to q = p + flow_ab(p), ``-flow_ba(q)`` is a second, independent estimate of flow_ab(p): where
    the two agree, their mean halves the estimator's noise variance. That noise (about 0.6 px on
    the benchmark's boiling clip) is what makes the texture stage misalign fine texture: with it
    the stage leaves ~10x the warping error it leaves with the exact flow. Confidence falls
    linearly from 1 where the mismatch |flow_ab(p) + flow_ba(q)| is at most
    ``full + alpha * (|flow_ab(p)| + |flow_ba(q)|)`` pixels to 0 at ``none + ...``; a hard
    cut at one tolerance would drop every pixel whose estimate is merely noisy (a tenth of the
    frame on the benchmark's boiling clip, with a third of its warping error), while occlusions
    mismatch by the motion difference and still score 0. The averaging follows the confidence, so
    occluded pixels keep their own estimate. Also 0 where p + flow leaves the frame.
    Returns (flow (B, 2, H, W), confidence (B, 1, H, W) in 0..1).
    """
    back, mismatch, slack = forward_backward_mismatch(flow_ab, flow_ba, alpha)
    confidence = ((none + slack - mismatch) / (none - full)).clamp(0.0, 1.0)
    averaged = flow_ab + confidence * (0.5 * (flow_ab - back) - flow_ab)
    return averaged, confidence * in_frame_confidence(averaged)


def smooth_flow_guided(flow: torch.Tensor, guide: torch.Tensor, weight: torch.Tensor, radius: int = 2,
                       step: int = 3, sigma_space: float = 4.0, sigma_color: float = 0.1) -> torch.Tensor:
    """Edge-aware, confidence-weighted average of a flow field (a sparse joint bilateral filter).

    flow: (B, 2, H, W); guide: (B, C, H, W) the frame the flow starts from, 0..1; weight:
    (B, 1, H, W) confidence of each vector. Every vector becomes the weighted mean of the
    (2*radius+1)^2 vectors ``step`` pixels apart around it, each weighted by its confidence, a
    spatial Gaussian (sigma_space px) and a colour Gaussian of its guide distance (sigma_color,
    Euclidean over channels), so flow is averaged within objects but not across their edges and
    occluded (zero-weight) vectors contribute nothing. TV-L1's error on noisy texture is largely
    independent from pixel to pixel: averaging 25 taps over +-6 px cuts the warping error the
    texture stage leaves on the benchmark's boiling clip by about 40 % and sharpens the result at
    motion boundaries too (photometric gating keeps wrongly smoothed vectors from pulling foreign
    content).
    Vectors with no weighted neighbour are kept. Returns (B, 2, H, W).
    """
    pad = radius * step
    height, width = flow.shape[-2:]
    # One padded stack (flow, weight, guide) so every tap is a single slice.
    stack = F.pad(torch.cat((flow, weight, guide), dim=1), (pad, pad, pad, pad), mode="replicate")
    c = flow.shape[1]
    total = torch.zeros_like(flow)
    norm = torch.zeros_like(weight)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            y0, x0 = pad + dy * step, pad + dx * step
            window = stack[:, :, y0:y0 + height, x0:x0 + width]
            distance = ((window[:, c + 1:] - guide) ** 2).sum(dim=1, keepdim=True)
            spatial = ((dx * step) ** 2 + (dy * step) ** 2) / (2.0 * sigma_space ** 2)
            tap = torch.exp(-distance / (2.0 * sigma_color ** 2) - spatial) * window[:, c:c + 1]
            total += tap * window[:, :c]
            norm += tap
    return torch.where(norm > 1e-6, total / norm.clamp_min(1e-6), flow)


def detect_scene_cuts(images: torch.Tensor, threshold: float = 0.5, chunk_size: int = 16) -> list[int]:
    """Scene cuts of a clip on their own (frames that start a scene); see :func:`find_scene_cuts`."""
    settings = GlobalSettings(cut_threshold=threshold, chunk_size=chunk_size, max_stat_pixels=4096)
    return find_scene_cuts(collect_statistics(images, settings, cut_features_only=True), threshold)


def deflicker_clip(images: torch.Tensor, settings: GlobalSettings = GlobalSettings(), texture: bool = False,
                   texture_strength: float = 0.6, flow: Optional[FlowSequence] = None,
                   options: FlowOptions = DEFAULT_FLOW_OPTIONS, progress: ProgressFn = None) -> DeflickerResult:
    """The Deflicker node: the global stage, then (``texture``) the texture stage.

    images: (F, H, W, 3) float 0..1; settings: the global stage (strength 0 returns ``images``
    itself); texture_strength: the texture stage's blend, scaled by ``settings.strength``. The
    texture stage uses ``flow`` (a FlowSequence of these frames or of the source they were made
    from) or estimates flow with ``options`` on the globally corrected frames, where brightness
    constancy holds better. progress(done, total) over every stage.
    """
    check_clip(images)
    count = images.shape[0]
    texture = texture and texture_strength > 0 and settings.strength > 0 and count > 1
    # Made before the global stage so that a flow of another clip is refused before the long work.
    flows = ClipFlow(images, flow, options) if texture else None
    if settings.strength == 0:
        return DeflickerResult(images=images, cuts=[])
    estimated = count - 1 if texture and flow is None else 0
    total = 2 * count + (estimated + 2 * count if texture else 0)

    def stage(offset: int):
        return None if progress is None else lambda done, _total: progress(offset + done, total)

    result = deflicker_global(images, settings, stage(0))
    if flows is None:
        return result
    if flows.given is None:
        # Flow of the globally corrected frames: brightness constancy holds better there.
        flows = ClipFlow(result.images, options=options)
    out = stabilize_texture(result.images, flows.sequence(stage(2 * count)), strength=float(texture_strength) * float(settings.strength),
                            cuts=result.cuts, progress=stage(2 * count + estimated))
    return DeflickerResult(images=out, cuts=result.cuts)
