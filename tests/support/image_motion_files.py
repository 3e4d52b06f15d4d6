"""Random-weight AnimateLCM-I2V and PIA files in their published key layouts.

Written from the layouts of the released files (``AnimateLCM-I2V.ckpt``, ``pia.ckpt``), not from
the pack's loader:

- AnimateLCM-I2V: an AnimateLCM motion module (no positional-encoding keys, mid block) plus
  ``img_encoder.conv_in`` (4 -> 320, 3x3) and ``img_encoder.body.0..7``: two blocks per UNet
  width (320, 640, 1280, 1280), each ``block1`` (3x3) and ``block2`` (1x1), and a 1x1
  ``in_conv`` in the first block of a stage whose width changes (body.2: 320->640, body.4: 640->1280).
- PIA: a v3-style SD1.5 motion module (PE 32, no mid) plus the UNet input convolution
  ``conv_in.weight (320, 9, 3, 3)`` and ``conv_in.bias (320)``.
"""
from pathlib import Path

import torch

from support.motion_files import SD15_CHANNELS, _scaled, make_motion_state_dict


def _encoder_tensors(channels, gen, std, conv_in_std):
    def w(*shape, scale=std):
        return torch.randn(*shape, generator=gen) * scale

    t = {"img_encoder.conv_in.weight": w(channels[0], 4, 3, 3, scale=conv_in_std), "img_encoder.conv_in.bias": w(channels[0])}
    for stage, c in enumerate(channels):
        for j in range(2):
            n = 2 * stage + j
            if stage and j == 0 and channels[stage - 1] != c:
                t[f"img_encoder.body.{n}.in_conv.weight"] = w(c, channels[stage - 1], 1, 1)
                t[f"img_encoder.body.{n}.in_conv.bias"] = w(c)
            t[f"img_encoder.body.{n}.block1.weight"] = w(c, c, 3, 3)
            t[f"img_encoder.body.{n}.block1.bias"] = w(c)
            t[f"img_encoder.body.{n}.block2.weight"] = w(c, c, 1, 1)
            t[f"img_encoder.body.{n}.block2.bias"] = w(c)
    return t


def make_image_motion_state_dict(kind, channels_scale=1.0, seed=0, dtype=torch.float32, encoder_std=0.05, conv_std=0.05,
                                 encoder_conv_in_std=0.05):
    """``kind``: ``animatelcm_i2v`` or ``pia``. The ``*_std`` set how strongly the image input acts."""
    gen = torch.Generator().manual_seed(seed + 1000)
    channels = _scaled(SD15_CHANNELS, channels_scale)
    if kind == "animatelcm_i2v":
        sd = make_motion_state_dict("animatelcm", channels_scale=channels_scale, seed=seed)
        sd.update(_encoder_tensors(channels, gen, encoder_std, encoder_conv_in_std))
    elif kind == "pia":
        sd = make_motion_state_dict("v3", channels_scale=channels_scale, seed=seed)
        sd["conv_in.weight"] = torch.randn(channels[0], 9, 3, 3, generator=gen) * conv_std
        sd["conv_in.bias"] = torch.randn(channels[0], generator=gen) * 0.01
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return {k: v.to(dtype) for k, v in sd.items()}


def write_image_motion_file(path, kind, channels_scale=1.0, seed=0, dtype=torch.float32, wrap_state_dict=False, **kwargs):
    """``.safetensors`` or a torch pickle (``.ckpt``), optionally wrapped as ``{"state_dict": ...}``."""
    path = Path(path)
    sd = make_image_motion_state_dict(kind, channels_scale, seed, dtype, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save({"state_dict": sd} if wrap_state_dict else sd, str(path))
    return path
