"""AnimateLCM-I2V's reference-image encoder, in pure torch.

AnimateLCM-I2V files carry, beside an AnimateLCM motion module, a small convolutional adapter
(``img_encoder.*``) that turns the latent of the start image into one feature map per UNet
resolution. Each map is added to the input of the second motion module of that down block
(``down_blocks.N.motion_modules.1``), so the temporal attention sees the start image everywhere.

Layout (file keys without the ``img_encoder.`` prefix; C = (320, 640, 1280, 1280) for SD1.5)::

    conv_in                      Conv2d(4, C0, 3, padding 1)
    body.{2s + j}, s = stage 0..3, j = 0..1
        in_conv                  Conv2d(C[s-1], C[s], 1), only where the width changes (s, j = 1|2, 0)
        block1                   Conv2d(C[s], C[s], 3, padding 1), then ReLU
        block2                   Conv2d(C[s], C[s], 1)
    the first block of stages 1..3 halves the size first (2x2 average, odd sizes padded by
    repeating the last row/column, so the size is ceil(n / 2) like the UNet's own downsampling)

    stage output = 2 blocks with a residual each; features[s] = output of stage s

``ref_drift`` adds ``drift * sinusoidal position of the frame`` to the first feature map, so
later frames may drift away from the start image (0 = every frame gets the same features).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .temporal import frame_values, sinusoidal_pe

LATENT_CHANNELS = 4
BLOCKS_PER_STAGE = 2
# the motion module of each down block that receives the stage's features
FEATURE_MODULE_INDEX = 1


def feature_module_keys(stages: int) -> list:
    """The motion modules (normalised keys) that receive features, one per stage."""
    return [f"down_blocks.{s}.motion_modules.{FEATURE_MODULE_INDEX}" for s in range(stages)]


class EncoderBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, downsample: bool, conv=nn.Conv2d):
        super().__init__()
        self.downsample = downsample
        self.in_conv = conv(in_channels, out_channels, 1, 1, 0) if in_channels != out_channels else None
        self.block1 = conv(out_channels, out_channels, 3, 1, 1)
        self.block2 = conv(out_channels, out_channels, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample:
            pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            x = F.avg_pool2d(x, 2, 2)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return self.block2(F.relu(self.block1(x))) + x


class RefImageEncoder(nn.Module):
    """``state_dict()`` keys equal the file's ``img_encoder.*`` keys without the prefix."""

    def __init__(self, channels: Sequence[int], ops=None):
        super().__init__()
        conv = (ops or nn).Conv2d
        self.channels = tuple(int(c) for c in channels)
        self.conv_in = conv(LATENT_CHANNELS, self.channels[0], 3, 1, 1)
        blocks = []
        for stage, width in enumerate(self.channels):
            for j in range(BLOCKS_PER_STAGE):
                first = stage > 0 and j == 0
                blocks.append(EncoderBlock(self.channels[stage - 1] if first else width, width, first, conv))
        self.body = nn.ModuleList(blocks)

    def forward(self, ref_latent: torch.Tensor, frames: int, ref_drift: float = 0.0) -> list:
        """``ref_latent: (1 or frames, 4, h, w)`` (scaled as the UNet sees latents) ->
        one ``(frames, C_s, h_s, w_s)`` map per stage.

        The drift uses the positions 0..frames-1 of this call (of the context window, with windows).
        """
        if ref_latent.ndim != 4 or ref_latent.shape[1] != LATENT_CHANNELS:
            raise ValueError(f"AnimateLCM-I2V image encoder: expected a (frames, {LATENT_CHANNELS}, h, w) latent, "
                             f"got {tuple(ref_latent.shape)}")
        weight = self.conv_in.weight
        dtype = weight.dtype if weight.dtype.is_floating_point and weight.dtype.itemsize >= 2 else ref_latent.dtype
        x = self.conv_in(ref_latent.to(dtype))
        position = sinusoidal_pe(frames, self.channels[0])[0].to(device=x.device, dtype=x.dtype)
        x = x + position[:, :, None, None] * float(ref_drift)
        features = []
        for stage in range(len(self.channels)):
            for j in range(BLOCKS_PER_STAGE):
                x = self.body[stage * BLOCKS_PER_STAGE + j](x)
            features.append(x)
        return features


def expected_encoder_shapes(channels: Sequence[int]) -> dict:
    """``{key: shape}`` of an encoder with these stage widths (no prefix)."""
    with torch.device("meta"):
        encoder = RefImageEncoder(channels)
    return {k: tuple(v.shape) for k, v in encoder.state_dict().items()}


def blend_input_feature(module_out: torch.Tensor, feature: torch.Tensor, effect, frames: int,
                        index_list: Optional[Sequence[int]] = None) -> torch.Tensor:
    """The output of a motion module that ran on ``x + feature``, corrected so that ``effect``
    blends with the features left out: ``(1 - e) * x + e * module(x + feature)``.

    ``module_out = x + feature + e * delta`` (the module's own blend), so subtract
    ``(1 - e) * feature``. ``effect``: a float or per-frame values of the whole video.
    """
    per_frame = frame_values(effect, frames, index_list, "effect")
    if per_frame is None:
        left_out = 1.0 - float(effect)
        return module_out if left_out == 0.0 else module_out - left_out * feature
    chunks = module_out.shape[0] // frames
    keep = (1.0 - per_frame).to(device=module_out.device, dtype=module_out.dtype).repeat(chunks)[:, None, None, None]
    return module_out - keep * feature
