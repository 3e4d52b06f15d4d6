"""Random MotionLoRA state dicts in the published key namings (official AnimateDiff, diffusers, PEFT).

Written from the published layouts: ``<block>.motion_modules.M.temporal_transformer
.transformer_blocks.0.attention_blocks.N.processor.{to_q,to_k,to_v,to_out}_lora.{down,up}.weight``.
"""
import torch

from support.motion_files import HAS_MID, SD15_CHANNELS, _scaled

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out")


def module_channels(channels_scale=1.0, with_mid=True):
    """``[(block prefix, channels), ...]`` of an SD1.5 motion module (down 2 per block, up 3)."""
    channels = _scaled(SD15_CHANNELS, channels_scale)
    out = [(f"down_blocks.{b}.motion_modules.{m}", c) for b, c in enumerate(channels) for m in range(2)]
    if with_mid:
        out.append(("mid_block.motion_modules.0", channels[-1]))
    out += [(f"up_blocks.{b}.motion_modules.{m}", c) for b, c in enumerate(reversed(channels)) for m in range(3)]
    return out


def make_motion_lora_state_dict(rank=4, channels_scale=0.1, seed=0, naming="official", with_mid=True, std=0.05):
    """A random MotionLoRA. ``naming``: ``official`` | ``diffusers`` (attn1/attn2 + lora.down/up) | ``peft``."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for prefix, c in module_channels(channels_scale, with_mid):
        for a in (0, 1):
            for proj in PROJECTIONS:
                down = torch.randn(rank, c, generator=gen) * std
                up = torch.randn(c, rank, generator=gen) * std
                if naming == "official":
                    base = f"{prefix}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.processor.{proj}_lora"
                    sd[f"{base}.down.weight"], sd[f"{base}.up.weight"] = down, up
                else:
                    target = proj + (".0" if proj == "to_out" else "")
                    base = f"{prefix}.transformer_blocks.0.attn{a + 1}.{target}"
                    if naming == "diffusers":
                        sd[f"{base}.lora.down.weight"], sd[f"{base}.lora.up.weight"] = down, up
                    else:
                        sd[f"unet.{base}.lora_A.weight"], sd[f"unet.{base}.lora_B.weight"] = down, up
    return sd


def uses_mid(version):
    return HAS_MID[version]
