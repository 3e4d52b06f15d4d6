"""Initial noise for a clip of latent frames, with chosen frame-to-frame correlation.

Every mode returns standard Gaussian noise per frame (mean 0, variance 1 per element); they
differ only in how frames relate to each other:

- ``per-frame``: independent frames, the same tensor core ComfyUI's RandomNoise makes for a seed.
- ``shared``: one noise image repeated on every frame ("fixed noise").
- ``mixed``: ``(s * shared + (1 - s) * own) / sqrt(s**2 + (1 - s)**2)``; neighbouring frames have
  correlation ``s**2 / (s**2 + (1 - s)**2)`` (0 at s=0, 0.5 at s=0.5, 1 at s=1).
- ``FreeNoise``: per-frame noise in which each window-sized block after the first reuses a shuffle
  of the frames the previous window introduced (Qiu et al., "FreeNoise", ICLR 2024), the same
  tensor as core ``comfy.context_windows.apply_freenoise`` for the same seed, length and overlap.
- ``flow-warped``: noise carried along the source video's optical flow with integral noise
  transport (Chang et al., "How I Warped Your Noise", ICLR 2024); see ``transport_noise``.

Shapes: latents are ``(F, C, H, W)`` (frames on the batch axis, as AnimateDiff uses them).
All noise is generated on the CPU from seeded generators, so it is identical on every machine.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F

from .choices import Choice


class NoiseMode(Choice):
    """How the frames of the noise relate to each other (see the module docstring)."""
    PER_FRAME = "per-frame"
    SHARED = "shared"
    MIXED = "mixed"
    FREENOISE = "FreeNoise"
    FLOW_WARPED = "flow-warped"


MAX_SEED = (1 << 64) - 1
"""Seeds are taken modulo 2**64, as core ComfyUI's noise seeds are."""

# The shared noise of ``shared``/``mixed`` comes from a seed derived from the user's seed, so it is
# independent of the per-frame noise of the same seed (64-bit golden-ratio constant).
_SHARED_SEED_SALT = 0x9E3779B97F4A7C15
_SEED_MASK = MAX_SEED


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded like ``torch.manual_seed(seed)`` (seed taken modulo 2**64)."""
    return torch.Generator(device="cpu").manual_seed(int(seed) & _SEED_MASK)


def per_frame_noise(shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32,
                    batch_index: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Independent noise per frame: ``(F, C, H, W)``.

    Identical to core ``comfy.sample.prepare_noise`` for the same seed, dtype and ``batch_index``
    (the latent's optional list of frame indices: frame i then gets the noise that index
    ``batch_index[i]`` would get in a full batch).
    """
    shape = _check_shape(shape)
    generator = seeded_generator(seed)
    if batch_index is None:
        return torch.randn(shape, dtype=dtype, generator=generator, device="cpu")
    indices = [int(i) for i in batch_index]
    if len(indices) != shape[0]:
        raise ValueError(f"batch_index lists {len(indices)} indices but the latent has {shape[0]} frames")
    if min(indices) < 0:
        raise ValueError(f"batch_index must not contain negative indices, got {min(indices)}")
    wanted = set(indices)
    by_index = {}
    for index in range(max(indices) + 1):
        one = torch.randn([1] + shape[1:], dtype=dtype, generator=generator, device="cpu")
        if index in wanted:
            by_index[index] = one
    return torch.cat([by_index[i] for i in indices], dim=0)


def shared_noise(shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One noise image repeated on every frame: ``(F, C, H, W)``, all frames equal."""
    shape = _check_shape(shape)
    generator = seeded_generator((int(seed) ^ _SHARED_SEED_SALT) & _SEED_MASK)
    one = torch.randn([1] + shape[1:], dtype=torch.float32, generator=generator, device="cpu")
    return one.repeat(shape[0], 1, 1, 1).to(dtype)


def mixed_correlation(strength: float) -> float:
    """Correlation between two frames of ``mixed_noise`` with this strength."""
    a, b = float(strength), 1.0 - float(strength)
    return a * a / (a * a + b * b)


def mixed_noise(shape: Sequence[int], seed: int, strength: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Blend of ``shared_noise`` (weight ``strength``) and ``per_frame_noise`` (weight ``1 - strength``).

    The blend is divided by its exact standard deviation ``sqrt(s**2 + (1 - s)**2)``, so every
    element stays N(0, 1); ``strength`` 0 gives ``per_frame_noise`` and 1 gives ``shared_noise``.
    """
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"mixed noise strength must be between 0 and 1, got {strength}")
    s = float(strength)
    own = per_frame_noise(shape, seed, torch.float32)
    common = shared_noise(shape, seed, torch.float32)
    mixed = (s * common + (1.0 - s) * own) / math.sqrt(s * s + (1.0 - s) * (1.0 - s))
    return mixed.to(dtype)


def freenoise_shuffle(noise: torch.Tensor, context_length: int, context_overlap: int, seed: int) -> torch.Tensor:
    """FreeNoise window shuffling of ``noise`` ``(F, ...)``; returns a new tensor.

    Windows start every ``context_length - context_overlap`` frames. For each window start s
    (while s + context_length < F), the frames right after that window,
    ``[s + L, s + L + delta)``, are overwritten by a random permutation of frames
    ``[s, s + delta)`` as they stand at that moment (earlier writes included), with one CPU
    generator seeded by ``seed`` drawing the permutations in order. Clips of at most L frames are
    returned unchanged.
    """
    if context_length < 1:
        raise ValueError(f"FreeNoise context_length must be at least 1, got {context_length}")
    if not 0 <= context_overlap < context_length:
        raise ValueError(
            f"FreeNoise context_overlap must be at least 0 and smaller than context_length "
            f"({context_length}), got {context_overlap}"
        )
    out = noise.clone()
    frames = out.shape[0]
    step = context_length - context_overlap
    generator = seeded_generator(seed)
    for start in range(0, frames - context_length, step):
        target = start + context_length
        count = min(step, frames - target)
        if count <= 0:
            break
        sources = torch.randperm(count, generator=generator, device="cpu") + start
        out[target:target + count] = out[sources]
    return out


def freenoise(shape: Sequence[int], seed: int, context_length: int = 16, context_overlap: int = 4,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-frame noise of ``seed`` with FreeNoise shuffling (core's FreeNoise for the same seed)."""
    return freenoise_shuffle(per_frame_noise(shape, seed, dtype), context_length, context_overlap, seed)


def flow_to_latent(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resample image-space flow ``(B, 2, Hi, Wi)`` (pixels) to a ``height`` x ``width`` latent grid.

    Area-averages the vectors and rescales them to latent pixels per axis.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W) with channels (dx, dy), got shape {tuple(flow.shape)}")
    flow = flow.to(torch.float32)
    image_height, image_width = flow.shape[-2:]
    if (image_height, image_width) != (height, width):
        flow = F.adaptive_avg_pool2d(flow, (height, width)) if image_height >= height and image_width >= width \
            else F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    scale = torch.tensor([width / image_width, height / image_height], dtype=torch.float32).view(1, 2, 1, 1)
    return flow * scale


def transport_noise(noise: torch.Tensor, flow: torch.Tensor, subdivisions: int,
                    generator: torch.Generator) -> torch.Tensor:
    """Carry one frame of Gaussian noise along a flow field; the result is again N(0, 1) per pixel.

    noise: (C, H, W) standard Gaussian; flow: (2, H, W) latent pixels, the forward flow from this
    frame to the next (content at p moves to p + flow(p)). Returns (C, H, W) float32.

    Integral noise transport after Chang et al. (ICLR 2024):

    1. Each pixel is the integral of white noise over its square. It is split into
       ``N = subdivisions**2`` sub-pixels drawn from the exact conditional distribution given the
       pixel value X: ``Y_i = X / N + (Z_i - mean(Z)) / sqrt(N)`` with Z_i ~ N(0, 1). The Y_i are
       independent N(0, 1/N) and sum to X.
    2. Each sub-pixel centre moves along the (bilinearly interpolated) flow and lands in one pixel
       of the next frame, so the sub-pixels are partitioned among the new pixels.
    3. A new pixel that received n sub-pixels is their sum times ``sqrt(N / n)`` (the sqrt-of-area
       renormalisation), which is exactly N(0, 1); pixels receive disjoint sub-pixels, so they stay
       independent. A pixel that received none (disocclusion, strong expansion) gets fresh noise.
    """
    if noise.dim() != 3:
        raise ValueError(f"noise must be (C, H, W), got shape {tuple(noise.shape)}")
    channels, height, width = noise.shape
    if tuple(flow.shape) != (2, height, width):
        raise ValueError(f"flow must be (2, {height}, {width}) for noise {tuple(noise.shape)}, got {tuple(flow.shape)}")
    if subdivisions < 1:
        raise ValueError(f"subdivisions must be at least 1, got {subdivisions}")
    k = int(subdivisions)
    count = k * k
    noise = noise.to(torch.float32)

    # 1. Conditional upsampling: (C, H, W) -> (C, H*k, W*k) sub-pixels summing to each pixel.
    z = torch.randn((channels, height, k, width, k), generator=generator, dtype=torch.float32)
    z = z - z.mean(dim=(2, 4), keepdim=True)
    sub = noise.view(channels, height, 1, width, 1) / count + z / math.sqrt(count)
    sub = sub.reshape(channels, height * k * width * k)

    # 2. Sub-pixel centres, in pixel units with pixel centres at integers, moved by the flow.
    # align_corners=False upsampling evaluates the flow exactly at those centres.
    sub_flow = F.interpolate(flow.to(torch.float32).unsqueeze(0), size=(height * k, width * k),
                             mode="bilinear", align_corners=False)[0]
    offsets = (torch.arange(k, dtype=torch.float32) + 0.5) / k - 0.5
    ys = (torch.arange(height, dtype=torch.float32).view(height, 1) + offsets.view(1, k)).reshape(-1)
    xs = (torch.arange(width, dtype=torch.float32).view(width, 1) + offsets.view(1, k)).reshape(-1)
    dest_x = torch.floor(xs.view(1, -1) + sub_flow[0] + 0.5).long()
    dest_y = torch.floor(ys.view(-1, 1) + sub_flow[1] + 0.5).long()
    inside = ((dest_x >= 0) & (dest_x < width) & (dest_y >= 0) & (dest_y < height)).reshape(-1)
    dest = (dest_y * width + dest_x).reshape(-1)[inside]

    # 3. Sum per destination pixel and renormalise by sqrt(N / n).
    sums = torch.zeros((channels, height * width), dtype=torch.float32)
    sums.index_add_(1, dest, sub[:, inside])
    received = torch.zeros(height * width, dtype=torch.float32)
    received.index_add_(0, dest, torch.ones(dest.shape[0], dtype=torch.float32))
    fresh = torch.randn((channels, height * width), generator=generator, dtype=torch.float32)
    filled = received > 0
    scale = torch.sqrt(count / received.clamp(min=1.0))
    out = torch.where(filled.view(1, -1), sums * scale.view(1, -1), fresh)
    return out.view(channels, height, width)


def flow_warped_noise(shape: Sequence[int], seed: int, forward_flow: torch.Tensor, subdivisions: int = 8,
                      dtype: torch.dtype = torch.float32, progress=None) -> torch.Tensor:
    """Noise whose frame i+1 is frame i carried along the flow from frame i to i+1.

    shape: (F, C, H, W) latent shape; forward_flow: (F-1, 2, Hi, Wi) pixel flows of the source
    frames (``FlowSequence.forward``: content of frame i at p is at p + flow(p) in frame i+1), at
    image resolution (resampled to the latent grid here). Frame 0 equals frame 0 of
    ``per_frame_noise`` for the same seed. ``progress``: optional callable(done, total).
    """
    shape = _check_shape(shape)
    frames, channels, height, width = shape
    if forward_flow.dim() != 4 or forward_flow.shape[1] != 2:
        raise ValueError(f"forward_flow must be (F-1, 2, H, W), got shape {tuple(forward_flow.shape)}")
    if forward_flow.shape[0] != frames - 1:
        raise ValueError(
            f"the flow covers {forward_flow.shape[0] + 1} frames but the latent has {frames} frames; "
            "compute the flow from the same source frames as the latent"
        )
    generator = seeded_generator(seed)
    out = torch.empty((frames, channels, height, width), dtype=torch.float32)
    out[0] = torch.randn((1, channels, height, width), dtype=torch.float32, generator=generator)[0]
    for i in range(frames - 1):
        latent_flow = flow_to_latent(forward_flow[i:i + 1].cpu(), height, width)[0]
        out[i + 1] = transport_noise(out[i], latent_flow, subdivisions, generator)
        if progress is not None:
            progress(i + 1, frames - 1)
    return out.to(dtype)


def make_noise(mode: str, shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32, *,
               strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
               forward_flow: Optional[torch.Tensor] = None, subdivisions: int = 8,
               batch_index: Optional[Sequence[int]] = None, progress=None) -> torch.Tensor:
    """Noise of ``shape`` (F, C, H, W) for a ``NoiseMode`` (or its value).

    ``batch_index`` only applies to ``per-frame`` (the other modes relate frames to each other and
    number them from 0). ``forward_flow`` is required for ``flow-warped``.
    """
    mode = NoiseMode.parse(mode, "noise mode")
    if mode is NoiseMode.PER_FRAME:
        return per_frame_noise(shape, seed, dtype, batch_index)
    if mode is NoiseMode.SHARED:
        return shared_noise(shape, seed, dtype)
    if mode is NoiseMode.MIXED:
        return mixed_noise(shape, seed, strength, dtype)
    if mode is NoiseMode.FREENOISE:
        return freenoise(shape, seed, context_length, context_overlap, dtype)
    if forward_flow is None:
        raise ValueError("flow-warped noise needs the source video's optical flow (connect flow or source_images)")
    return flow_warped_noise(shape, seed, forward_flow, subdivisions, dtype, progress)


def check_flow_fits_latents(flow_frames: int, image_height: int, image_width: int, latent_shape: Sequence[int]) -> None:
    """Raise a ValueError unless a source video's flow can steer noise for these latents.

    The flow of ``flow_frames`` frames of ``image_width`` x ``image_height`` pixels fits latents
    ``(F, C, h, w)`` with the same frame count and (within 10%) the same aspect ratio; the size may
    differ (the flow is resampled to the latent grid).
    """
    frames, _, latent_height, latent_width = (int(s) for s in latent_shape)
    if flow_frames != frames:
        raise ValueError(
            f"the flow was computed for {flow_frames} source frames but the latent batch has {frames} "
            f"frames; compute the flow from the same frames the latents were made from"
        )
    ratio_h = image_height / latent_height
    ratio_w = image_width / latent_width
    if abs(ratio_h / ratio_w - 1.0) > 0.1:
        raise ValueError(
            f"the flow is {image_width}x{image_height} pixels but the latents are {latent_width}x{latent_height} "
            f"(x8 = {latent_width * 8}x{latent_height * 8} pixels), a different aspect ratio; compute the flow from "
            f"source frames with the latents' aspect ratio"
        )


def _check_shape(shape: Sequence[int]) -> list:
    shape = [int(s) for s in shape]
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"noise shape must be (frames, channels, height, width) with positive sizes, got {tuple(shape)}")
    return shape
