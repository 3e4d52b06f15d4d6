"""Random-weight CameraCtrl adapter files in the published key layout.

Written from the layout of AnimateDiff-Evolved's ``CameraCtrl_pruned.safetensors`` (not from the
pack's code): a pose encoder (``encoder_conv_in``, ``encoder_down_conv_blocks.L.B``,
``encoder_down_attention_blocks.L.B``; 2 blocks per level, 1x1 ``in_conv`` where the channel count
changes, ``block1`` 3x3 and ``block2`` 1x1, one temporal self-attention with a 16-frame positional
table per block) and one ``qkv_merge`` Linear per motion module of the v3 down and up blocks, on
its first attention block.

- ``make_cameractrl_state_dict(channels_scale=1.0, seed=0)``
- ``write_random_cameractrl(path, ...)``: ``.safetensors``, or a torch pickle for ``.ckpt``
  (``layout="release"`` wraps it as ``{"pose_encoder_state_dict", "attention_processor_state_dict"}``).
"""
import math
from pathlib import Path

import torch

from support.motion_files import SD15_CHANNELS, _pe_table, _scaled

ENCODER_PE_LENGTH = 16


def make_cameractrl_state_dict(channels_scale=1.0, seed=0, weight_std=0.05, pe_length=ENCODER_PE_LENGTH, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    channels = _scaled(SD15_CHANNELS, channels_scale)

    def w(*shape, std=weight_std):
        return (torch.randn(*shape, generator=gen) * std).to(dtype)

    sd = {"encoder_conv_in.weight": w(channels[0], 384, 3, 3, std=1 / math.sqrt(384 * 9)), "encoder_conv_in.bias": w(channels[0], std=0.02)}
    for level, c in enumerate(channels):
        for block in range(2):
            conv = f"encoder_down_conv_blocks.{level}.{block}."
            c_in = channels[max(level - 1, 0)] if block == 0 else c
            if c_in != c:
                sd[conv + "in_conv.weight"] = w(c, c_in, 1, 1, std=1 / math.sqrt(c_in))
                sd[conv + "in_conv.bias"] = w(c, std=0.02)
            sd[conv + "block1.weight"] = w(c, c, 3, 3, std=1 / math.sqrt(9 * c))
            sd[conv + "block1.bias"] = w(c, std=0.02)
            sd[conv + "block2.weight"] = w(c, c, 1, 1, std=0.5 / math.sqrt(c))
            sd[conv + "block2.bias"] = w(c, std=0.02)
            att = f"encoder_down_attention_blocks.{level}.{block}."
            for proj in ("to_q", "to_k", "to_v"):
                sd[att + f"attention_blocks.0.{proj}.weight"] = w(c, c, std=1 / math.sqrt(c))
            sd[att + "attention_blocks.0.to_out.0.weight"] = w(c, c, std=0.5 / math.sqrt(c))
            sd[att + "attention_blocks.0.to_out.0.bias"] = w(c, std=0.01)
            sd[att + "attention_blocks.0.pos_encoder.pe"] = _pe_table(pe_length, c).to(dtype)
            sd[att + "norms.0.weight"] = 1 + w(c, std=0.1)
            sd[att + "norms.0.bias"] = w(c, std=0.1)
            sd[att + "ff.net.0.proj.weight"] = w(8 * c, c, std=1 / math.sqrt(c))
            sd[att + "ff.net.0.proj.bias"] = w(8 * c, std=0.02)
            sd[att + "ff.net.2.weight"] = w(c, 4 * c, std=0.5 / math.sqrt(4 * c))
            sd[att + "ff.net.2.bias"] = w(c, std=0.01)
            sd[att + "ff_norm.weight"] = 1 + w(c, std=0.1)
            sd[att + "ff_norm.bias"] = w(c, std=0.1)
    modules = [(f"down_blocks.{b}.motion_modules.{m}", c) for b, c in enumerate(channels) for m in range(2)]
    modules += [(f"up_blocks.{b}.motion_modules.{m}", c) for b, c in enumerate(reversed(channels)) for m in range(3)]
    for prefix, c in modules:
        base = f"{prefix}.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.qkv_merge."
        sd[base + "weight"] = w(c, c, std=1 / math.sqrt(c))
        sd[base + "bias"] = w(c, std=0.02)
    return sd


def write_random_cameractrl(path, channels_scale=1.0, seed=0, layout="flat", dtype=torch.float32):
    path = Path(path)
    sd = make_cameractrl_state_dict(channels_scale=channels_scale, seed=seed, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif layout == "release":
        torch.save({"pose_encoder_state_dict": {k: v for k, v in sd.items() if k.startswith("encoder_")},
                    "attention_processor_state_dict": {k: v for k, v in sd.items() if not k.startswith("encoder_")}}, str(path))
    else:
        torch.save(sd, str(path))
    return path
