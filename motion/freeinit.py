"""FreeInit: sample a video several times, keeping the low frequencies of each result.

FreeInit (Wu et al., 2023, "FreeInit: Bridging Initialization Gap in Video Diffusion Models")
observes that the noise a video model starts from carries no temporal correlation, while the
noised latents it was trained on do. So it samples once, diffuses the result back to the first
timestep, and keeps only the low spatio-temporal frequencies of that noised result, filling the
high frequencies with fresh noise. The next sampling run starts from this mix.

Everything here is pure torch on latents ``(frames, C, H, W)``; the frequency transform runs
over frames, height and width (not channels). Conventions follow AnimateDiff-Evolved 1.5.7's
"FreeInit [sampler sigma]" mode (facts, not code) so results match it:

- normalised frequency coordinates ``2*i/N - 1`` (-1 at the first centred bin, just under 1 at
  the last), with the temporal axis stretched by ``d_s / d_t``;
- the ideal filter keeps ``d^2 <= 2 * d_s`` (the published FreeInit code's threshold, kept as is);
- the re-noise step uses the DDIM form ``sqrt(a) * x + sqrt(1 - a) * noise`` with
  ``a = 1 / (sigma^2 + 1)`` and ``sigma`` the model's largest sigma divided by the latent
  format's scale factor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .choices import Choice


class FreqFilter(Choice):
    """Low-pass filter shapes (the values are the saved widget strings)."""
    GAUSSIAN = "gaussian"
    BUTTERWORTH = "butterworth"
    IDEAL = "ideal"
    BOX = "box"


@dataclass(frozen=True)
class FreeInitSettings:
    """``iterations``: sampling runs in total (1 = FreeInit off). ``d_s``/``d_t``: normalised
    spatial and temporal stop frequencies (0..1). ``order``: Butterworth order."""
    iterations: int = 2
    filter: FreqFilter = FreqFilter.GAUSSIAN
    d_s: float = 0.25
    d_t: float = 0.25
    order: int = 4
    sigma_step: int = 999
    apply_to_first: bool = False

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"FreeInit iterations must be 1 or more, got {self.iterations}")
        for name in ("d_s", "d_t"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FreeInit {name} must be within 0..1 (a normalised frequency), got {value}")
        if self.order < 1:
            raise ValueError(f"FreeInit Butterworth order must be 1 or more, got {self.order}")
        if not 1 <= self.sigma_step <= 999:
            raise ValueError(f"FreeInit sigma_step must be within 1..999, got {self.sigma_step}")
        FreqFilter.parse(self.filter, "FreeInit filter")


def _squared_distance(frames: int, height: int, width: int, d_s: float, d_t: float) -> torch.Tensor:
    """``(frames, 1, height, width)`` float64: squared normalised distance from the centred origin."""
    def axis(n: int) -> torch.Tensor:
        return 2.0 * torch.arange(n, dtype=torch.float64) / n - 1.0

    t = (d_s / d_t) * axis(frames)
    return t[:, None, None, None] ** 2 + axis(height)[None, None, :, None] ** 2 + axis(width)[None, None, None, :] ** 2


def low_pass_filter(frames: int, height: int, width: int, kind: str = FreqFilter.GAUSSIAN,
                    d_s: float = 0.25, d_t: float = 0.25, order: int = 4) -> torch.Tensor:
    """The centred (``fftshift``-ed) low-pass mask: ``(frames, 1, height, width)`` float32 in 0..1.

    A stop frequency of 0 gives an all-zero mask (everything is replaced by fresh noise).
    """
    kind = FreqFilter.parse(kind, "FreeInit filter")
    if d_s == 0 or d_t == 0:
        return torch.zeros(frames, 1, height, width)
    if kind is FreqFilter.BOX:
        mask = torch.zeros(frames, 1, height, width)
        half_s, half_t = round(int(height // 2) * d_s), round(frames // 2 * d_t)
        ct, ch, cw = frames // 2, height // 2, width // 2
        mask[ct - half_t:ct + half_t, :, ch - half_s:ch + half_s, cw - half_s:cw + half_s] = 1.0
        return mask
    d2 = _squared_distance(frames, height, width, d_s, d_t)
    if kind is FreqFilter.GAUSSIAN:
        mask = torch.exp(-d2 / (2 * d_s ** 2))
    elif kind is FreqFilter.BUTTERWORTH:
        mask = 1.0 / (1.0 + (d2 / d_s ** 2) ** order)
    else:  # ideal; the threshold 2*d_s (not d_s**2) is the published FreeInit code's
        mask = (d2 <= d_s * 2).to(torch.float64)
    return mask.float()


def frequency_mix(low: torch.Tensor, high: torch.Tensor, centred_filter: torch.Tensor) -> torch.Tensor:
    """Low frequencies of ``low`` plus high frequencies of ``high``.

    ``low``, ``high``: ``(frames, C, H, W)``; ``centred_filter``: ``(frames, 1, H, W)`` as made by
    :func:`low_pass_filter`. The 3-D FFT runs over frames, height and width. Shifting the filter
    back once equals shifting both spectra forth and back.
    """
    dims = (-4, -2, -1)
    mask = torch.fft.ifftshift(centred_filter.to(device=low.device, dtype=low.dtype), dim=dims)
    spectrum = torch.fft.fftn(low, dim=dims) * mask + torch.fft.fftn(high.to(device=low.device, dtype=low.dtype), dim=dims) * (1 - mask)
    return torch.fft.ifftn(spectrum, dim=dims).real


def diffuse(latents: torch.Tensor, noise: torch.Tensor, sigma) -> torch.Tensor:
    """``sqrt(a) * latents + sqrt(1 - a) * noise`` with ``a = 1 / (sigma^2 + 1)`` (DDIM's add_noise)."""
    keep: torch.Tensor | float
    add: torch.Tensor | float
    if isinstance(sigma, torch.Tensor):
        alpha = (1.0 / (sigma * sigma + 1.0)).to(device=latents.device)
        keep, add = alpha ** 0.5, (1 - alpha) ** 0.5
    else:
        alpha_value = 1.0 / (float(sigma) ** 2 + 1.0)
        keep, add = math.sqrt(alpha_value), math.sqrt(1 - alpha_value)
    return latents * keep + noise.to(dtype=latents.dtype, device=latents.device) * add


def reinitialize(result: torch.Tensor, noise: torch.Tensor, fresh_noise: torch.Tensor, centred_filter: torch.Tensor,
                 sigma) -> torch.Tensor:
    """The starting noise of the next FreeInit run.

    ``result``: the previous run's latents ``(frames, C, H, W)``; ``noise``: the noise that run
    started from; ``fresh_noise``: new noise for the high frequencies; ``sigma``: the diffusion
    level (model sigma / latent scale factor).
    """
    return frequency_mix(diffuse(result, noise, sigma), fresh_noise, centred_filter)
