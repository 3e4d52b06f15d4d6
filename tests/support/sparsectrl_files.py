"""Random-weight SparseCtrl files in the published key layouts (v3_sd15_sparsectrl_{rgb,scribble}).

Written from the published layout (the AnimateDiff v3 SparseControlNetModel, a diffusers-style
ControlNet encoder for SD1.5 with motion modules in its four down blocks), not from the pack's
loader:

- ``conv_in``, ``time_embedding.linear_{1,2}``
- ``down_blocks.B.{resnets.R, attentions.A, downsamplers.0.conv}`` (attentions in blocks 0-2)
- ``down_blocks.B.motion_modules.M.temporal_transformer.*`` with ONE temporal self-attention
  (``attention_blocks.0`` / ``norms.0``) and a 32-frame positional table
- ``mid_block.{resnets.0, attentions.0, resnets.1}`` (no motion module in the mid block)
- ``controlnet_down_blocks.0-11``, ``controlnet_mid_block`` (1x1 convs)
- scribble: ``controlnet_cond_embedding.{conv_in, blocks.0-5, conv_out}``, 3 image channels + 1 mask
- rgb: the simplified embedding, one conv ``controlnet_cond_embedding.{weight,bias}`` on
  4 latent channels + 1 mask

``channels_scale=1.0`` gives the real SD1.5 sizes (ComfyUI's model detection needs them);
``0.1`` gives small tensors for tier-1 tests of key handling.
"""
import math
from pathlib import Path

import torch

from .motion_files import _pe_table

SD15_CHANNELS = (320, 640, 1280, 1280)
CONTEXT_DIM = 768
PE_LENGTH = 32
COND_EMBEDDING_CHANNELS = (16, 32, 96, 256)


def _scaled(c, channels_scale):
    return max(32, int(round(c * channels_scale / 32)) * 32)


class _Writer:
    def __init__(self, seed, weight_std, dtype):
        self.gen = torch.Generator().manual_seed(seed)
        self.std = weight_std
        self.dtype = dtype
        self.sd = {}

    def t(self, name, *shape, std=None, base=0.0):
        value = torch.randn(*shape, generator=self.gen) * (self.std if std is None else std) + base
        self.sd[name] = value.to(self.dtype)

    def conv(self, name, c_out, c_in, k=3, bias=True):
        fan_in = c_in * k * k
        self.t(f"{name}.weight", c_out, c_in, k, k, std=1 / math.sqrt(fan_in))
        if bias:
            self.t(f"{name}.bias", c_out, std=0.01)

    def linear(self, name, c_out, c_in, bias=True, std=None):
        self.t(f"{name}.weight", c_out, c_in, std=std if std is not None else 1 / math.sqrt(c_in))
        if bias:
            self.t(f"{name}.bias", c_out, std=0.01)

    def norm(self, name, c):
        self.t(f"{name}.weight", c, std=0.05, base=1.0)
        self.t(f"{name}.bias", c, std=0.05)

    def resnet(self, name, c_in, c_out, temb):
        self.norm(f"{name}.norm1", c_in)
        self.conv(f"{name}.conv1", c_out, c_in)
        self.linear(f"{name}.time_emb_proj", c_out, temb)
        self.norm(f"{name}.norm2", c_out)
        self.conv(f"{name}.conv2", c_out, c_out)
        if c_in != c_out:
            self.conv(f"{name}.conv_shortcut", c_out, c_in, k=1)

    def attention(self, name, c, context_dim):
        self.norm(f"{name}.norm", c)
        self.conv(f"{name}.proj_in", c, c, k=1)
        block = f"{name}.transformer_blocks.0"
        for attn, kv_dim in (("attn1", c), ("attn2", context_dim)):
            self.linear(f"{block}.{attn}.to_q", c, c, bias=False)
            self.linear(f"{block}.{attn}.to_k", c, kv_dim, bias=False)
            self.linear(f"{block}.{attn}.to_v", c, kv_dim, bias=False)
            self.linear(f"{block}.{attn}.to_out.0", c, c)
        for n in ("norm1", "norm2", "norm3"):
            self.norm(f"{block}.{n}", c)
        self.linear(f"{block}.ff.net.0.proj", 8 * c, c)
        self.linear(f"{block}.ff.net.2", c, 4 * c)
        self.conv(f"{name}.proj_out", c, c, k=1)

    def motion_module(self, name, c, pe_length):
        base = f"{name}.temporal_transformer"
        self.norm(f"{base}.norm", c)
        self.linear(f"{base}.proj_in", c, c)
        block = f"{base}.transformer_blocks.0"
        attn = f"{block}.attention_blocks.0"
        for proj in ("to_q", "to_k", "to_v"):
            self.linear(f"{attn}.{proj}", c, c, bias=False)
        self.linear(f"{attn}.to_out.0", c, c, std=self.std)
        if pe_length:
            self.sd[f"{attn}.pos_encoder.pe"] = _pe_table(pe_length, c).to(self.dtype)
        self.norm(f"{block}.norms.0", c)
        self.linear(f"{block}.ff.net.0.proj", 8 * c, c)
        self.linear(f"{block}.ff.net.2", c, 4 * c, std=self.std)
        self.norm(f"{block}.ff_norm", c)
        self.linear(f"{base}.proj_out", c, c, std=self.std)


def make_sparsectrl_state_dict(kind="scribble", channels_scale=1.0, seed=0, weight_std=0.05, pe_length=PE_LENGTH,
                               dtype=torch.float32):
    """A random SparseCtrl state dict: ``kind`` is ``"scribble"`` or ``"rgb"`` (see module doc)."""
    if kind not in ("scribble", "rgb"):
        raise ValueError(f"unknown SparseCtrl kind {kind!r}; 'scribble' or 'rgb'")
    w = _Writer(seed, weight_std, dtype)
    channels = [_scaled(c, channels_scale) for c in SD15_CHANNELS]
    context_dim = CONTEXT_DIM if channels_scale == 1.0 else 64
    c0 = channels[0]
    temb = 4 * c0
    w.conv("conv_in", c0, 4)
    w.linear("time_embedding.linear_1", temb, c0)
    w.linear("time_embedding.linear_2", temb, temb)
    if kind == "rgb":
        w.conv("controlnet_cond_embedding", c0, 4 + 1)
    else:
        emb = [max(4, int(round(c * min(1.0, channels_scale * 4)))) for c in COND_EMBEDDING_CHANNELS]
        w.conv("controlnet_cond_embedding.conv_in", emb[0], 3 + 1)
        index = 0
        for c_in, c_out in zip(emb[:-1], emb[1:]):
            w.conv(f"controlnet_cond_embedding.blocks.{index}", c_in, c_in)
            w.conv(f"controlnet_cond_embedding.blocks.{index + 1}", c_out, c_in)
            index += 2
        w.conv("controlnet_cond_embedding.conv_out", c0, emb[-1])
    zero_convs = [c0]
    c_prev = c0
    for b, c in enumerate(channels):
        for r in range(2):
            w.resnet(f"down_blocks.{b}.resnets.{r}", c_prev if r == 0 else c, c, temb)
            if b < 3:
                w.attention(f"down_blocks.{b}.attentions.{r}", c, context_dim)
            w.motion_module(f"down_blocks.{b}.motion_modules.{r}", c, pe_length)
            zero_convs.append(c)
        if b < 3:
            w.conv(f"down_blocks.{b}.downsamplers.0.conv", c, c)
            zero_convs.append(c)
        c_prev = c
    c_mid = channels[-1]
    w.resnet("mid_block.resnets.0", c_mid, c_mid, temb)
    w.attention("mid_block.attentions.0", c_mid, context_dim)
    w.resnet("mid_block.resnets.1", c_mid, c_mid, temb)
    for i, c in enumerate(zero_convs):
        w.conv(f"controlnet_down_blocks.{i}", c, c, k=1)
    w.conv("controlnet_mid_block", c_mid, c_mid, k=1)
    return w.sd


def write_random_sparsectrl(path, kind="scribble", channels_scale=1.0, seed=0, dtype=torch.float32, wrap=None):
    """Write a random SparseCtrl file to ``path`` (``.safetensors`` or a torch pickle); returns the path.

    ``wrap``: for pickles, ``"state_dict"`` or ``"controlnet"`` wraps the tensors in that key, as
    some checkpoints do.
    """
    path = Path(path)
    sd = make_sparsectrl_state_dict(kind, channels_scale=channels_scale, seed=seed, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save({wrap: sd} if wrap else sd, str(path))
    return path


_CACHE: dict = {}


def cached_sparsectrl_file(folder, name, kind, seed=0):
    """A full-size fp16 random SparseCtrl file at ``folder/name``, generated once per process and
    kind/seed/suffix, then hard-linked (or copied) to each requested place."""
    import os
    import shutil
    import tempfile

    suffix = Path(name).suffix
    key = (kind, seed, suffix)
    source = _CACHE.get(key)
    if source is None or not source.exists():
        source = Path(tempfile.mkdtemp(prefix="steadyframe-sparsectrl-")) / f"{kind}_{seed}{suffix}"
        write_random_sparsectrl(source, kind=kind, seed=seed, dtype=torch.float16)
        _CACHE[key] = source
    target = Path(folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target
