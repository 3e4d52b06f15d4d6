"""Random-weight motion-module files in the real key layouts of every AnimateDiff format.

Written from the published layouts (not from the pack's own code), so the loader is tested
against an independent description of the files:

- ``make_motion_state_dict(version, channels_scale=1.0, seed=0)``: a state dict.
  versions: v1, v2, v3, lightning (v2 layout), animatelcm (no PE), sdxl, hotshotxl
  (``temporal_attentions`` naming), diffusers (MotionAdapter naming of a v2 file).
  ``channels_scale=1.0`` gives the real 320/640/1280 channels (needed to inject into a real
  SD1.5 UNet); ``0.1`` gives 32/64/128 for fast tier-1 tests.
- ``write_random_motion_module(path, version="v2", ...)``: the same, written to ``path``
  (``.safetensors``, or a torch pickle for ``.ckpt``/``.pt``).
"""
import math
from pathlib import Path

import torch

SD15_CHANNELS = (320, 640, 1280, 1280)
SDXL_CHANNELS = (320, 640, 1280)
PE_LENGTH = {"v1": 24, "v2": 32, "v3": 32, "lightning": 32, "sdxl": 32, "hotshotxl": 24, "diffusers": 32, "animatelcm": None}
HAS_MID = {"v1": False, "v2": True, "v3": False, "lightning": True, "sdxl": False, "hotshotxl": False,
           "diffusers": True, "animatelcm": True}
VERSIONS = tuple(PE_LENGTH)


def _pe_table(length, channels):
    pos = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, channels, 2, dtype=torch.float64) * -(math.log(10000.0) / channels))
    pe = torch.zeros(1, length, channels, dtype=torch.float64)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe.float()


def _module_tensors(channels, pe_length, gen, weight_std):
    """``<rest> -> tensor`` for one module, original AnimateDiff names."""
    c = channels

    def w(*shape, std=weight_std):
        return torch.randn(*shape, generator=gen) * std

    t = {
        "norm.weight": 1 + w(c, std=0.1), "norm.bias": w(c, std=0.1),
        "proj_in.weight": w(c, c, std=1 / math.sqrt(c)), "proj_in.bias": w(c, std=0.02),
        "proj_out.weight": w(c, c), "proj_out.bias": w(c, std=0.01),
        "transformer_blocks.0.ff.net.0.proj.weight": w(8 * c, c, std=1 / math.sqrt(c)),
        "transformer_blocks.0.ff.net.0.proj.bias": w(8 * c, std=0.02),
        "transformer_blocks.0.ff.net.2.weight": w(c, 4 * c), "transformer_blocks.0.ff.net.2.bias": w(c, std=0.01),
        "transformer_blocks.0.ff_norm.weight": 1 + w(c, std=0.1), "transformer_blocks.0.ff_norm.bias": w(c, std=0.1),
    }
    for a in (0, 1):
        base = f"transformer_blocks.0.attention_blocks.{a}."
        for proj in ("to_q", "to_k", "to_v"):
            t[base + proj + ".weight"] = w(c, c, std=1 / math.sqrt(c))
        t[base + "to_out.0.weight"] = w(c, c)
        t[base + "to_out.0.bias"] = w(c, std=0.01)
        t[f"transformer_blocks.0.norms.{a}.weight"] = 1 + w(c, std=0.1)
        t[f"transformer_blocks.0.norms.{a}.bias"] = w(c, std=0.1)
        if pe_length:
            t[base + "pos_encoder.pe"] = _pe_table(pe_length, c)
    return t


def _scaled(channels, channels_scale):
    out = []
    for c in channels:
        s = int(round(c * channels_scale / 32)) * 32
        out.append(max(32, s))
    return out


def make_motion_state_dict(version="v2", channels_scale=1.0, seed=0, weight_std=0.05, dtype=torch.float32):
    """A random motion-module state dict in the key layout of ``version`` (see module doc)."""
    if version not in PE_LENGTH:
        raise ValueError(f"unknown version {version!r}; one of {VERSIONS}")
    gen = torch.Generator().manual_seed(seed)
    sdxl = version in ("sdxl", "hotshotxl")
    channels = _scaled(SDXL_CHANNELS if sdxl else SD15_CHANNELS, channels_scale)
    pe_length = PE_LENGTH[version]
    modules = []  # (original prefix, channels)
    for b, c in enumerate(channels):
        for m in range(2):
            modules.append((f"down_blocks.{b}.motion_modules.{m}", c))
    if HAS_MID[version]:
        modules.append(("mid_block.motion_modules.0", channels[-1]))
    for b, c in enumerate(reversed(channels)):
        for m in range(3):
            modules.append((f"up_blocks.{b}.motion_modules.{m}", c))
    sd = {}
    for prefix, c in modules:
        for rest, value in _module_tensors(c, pe_length, gen, weight_std).items():
            name = _rename(version, prefix, rest)
            if name is not None:
                sd[name] = value.to(dtype)
    if version == "diffusers":
        # diffusers keeps one positional table per transformer block, not per attention block
        for prefix, c in modules:
            sd[f"{prefix}.transformer_blocks.0.pos_embed.pe"] = _pe_table(pe_length, c).to(dtype)
    return sd


def _rename(version, prefix, rest):
    if version == "hotshotxl":
        block, _, index = prefix.rpartition(".motion_modules.")
        rest = rest.replace("pos_encoder.pe", "pos_encoder.positional_encoding")
        return f"{block}.temporal_attentions.{index}.{rest}"
    if version == "diffusers":
        if rest.endswith("pos_encoder.pe"):
            return None  # diffusers stores one pos_embed.pe per transformer block instead
        for old, new in (("transformer_blocks.0.attention_blocks.0.", "transformer_blocks.0.attn1."),
                         ("transformer_blocks.0.attention_blocks.1.", "transformer_blocks.0.attn2."),
                         ("transformer_blocks.0.norms.0.", "transformer_blocks.0.norm1."),
                         ("transformer_blocks.0.norms.1.", "transformer_blocks.0.norm2."),
                         ("transformer_blocks.0.ff_norm.", "transformer_blocks.0.norm3.")):
            if rest.startswith(old):
                rest = new + rest[len(old):]
        return f"{prefix}.{rest}"
    return f"{prefix}.temporal_transformer.{rest}"


def write_random_motion_module(path, version="v2", channels_scale=1.0, seed=0, wrap_state_dict=False, dtype=torch.float32):
    """Write a random motion module in ``version``'s layout to ``path``; returns the path.

    ``.safetensors`` -> safetensors; ``.ckpt``/``.pt`` -> torch pickle (optionally wrapped as
    ``{"state_dict": ..., "animatediff_config": ...}`` like some original files).
    """
    path = Path(path)
    sd = make_motion_state_dict(version, channels_scale=channels_scale, seed=seed, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        payload = {"state_dict": sd, "animatediff_config": {"note": "random test weights"}} if wrap_state_dict else sd
        torch.save(payload, str(path))
    return path
