"""Independent reference of the original AnimateDiff math, for tests.

Written straight from the published AnimateDiff definitions with plain torch functions, on a
normalised state dict; shares no code with the pack's ``motion/``.
"""
import math

import torch
import torch.nn.functional as F


def reference_module(sd, prefix, x, frames, scale=1.0):
    """Original AnimateDiff TemporalTransformer3DModel, written straight from its definition.

    x: (b*f, C, h, w); returns x + proj_out(blocks(proj_in(norm(x)))).
    """
    def p(name):
        return sd[f"{prefix}.temporal_transformer.{name}"]

    bf, c, h, w = x.shape
    b = bf // frames
    hidden = F.group_norm(x, 32, p("norm.weight"), p("norm.bias"), eps=1e-6)
    hidden = hidden.permute(0, 2, 3, 1).reshape(bf, h * w, c)
    hidden = F.linear(hidden, p("proj_in.weight"), p("proj_in.bias"))
    for a in (0, 1):
        base = f"transformer_blocks.0.attention_blocks.{a}."
        normed = F.layer_norm(hidden, (c,), p(f"transformer_blocks.0.norms.{a}.weight"), p(f"transformer_blocks.0.norms.{a}.bias"))
        # "(b f) d c -> (b d) f c"
        seq = normed.reshape(b, frames, h * w, c).transpose(1, 2).reshape(b * h * w, frames, c)
        seq = seq + p(base + "pos_encoder.pe")[:, :frames]
        q, k, v = (F.linear(seq, p(base + n + ".weight")) for n in ("to_q", "to_k", "to_v"))
        k = k * scale
        heads, dh = 8, c // 8
        q, k, v = (t.reshape(-1, frames, heads, dh).transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        att = (weights @ v).transpose(1, 2).reshape(-1, frames, c)
        att = F.linear(att, p(base + "to_out.0.weight"), p(base + "to_out.0.bias"))
        att = att.reshape(b, h * w, frames, c).transpose(1, 2).reshape(bf, h * w, c)
        hidden = hidden + att
    normed = F.layer_norm(hidden, (c,), p("transformer_blocks.0.ff_norm.weight"), p("transformer_blocks.0.ff_norm.bias"))
    value, gate = F.linear(normed, p("transformer_blocks.0.ff.net.0.proj.weight"), p("transformer_blocks.0.ff.net.0.proj.bias")).chunk(2, -1)
    hidden = hidden + F.linear(value * F.gelu(gate), p("transformer_blocks.0.ff.net.2.weight"), p("transformer_blocks.0.ff.net.2.bias"))
    hidden = F.linear(hidden, p("proj_out.weight"), p("proj_out.bias"))
    return x + hidden.reshape(bf, h, w, c).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------------
# An inflated SD1.5 UNet, walked by hand (tier 2): the original AnimateDiff placement, hard-coded.

# input block index -> motion module; output block i -> up_blocks.{i // 3}.motion_modules.{i % 3}
SD15_INPUT_MOTION = {1: "down_blocks.0.motion_modules.0", 2: "down_blocks.0.motion_modules.1",
                     4: "down_blocks.1.motion_modules.0", 5: "down_blocks.1.motion_modules.1",
                     7: "down_blocks.2.motion_modules.0", 8: "down_blocks.2.motion_modules.1",
                     10: "down_blocks.3.motion_modules.0", 11: "down_blocks.3.motion_modules.1"}


def _run_block(block, h, emb, context, frames, motion_sd, motion_key):
    """Run one TimestepEmbedSequential layer by layer; the motion module goes before any
    Upsample/last mid ResBlock, i.e. right after the block's last transformer (or its ResBlock)."""
    from comfy.ldm.modules.attention import SpatialTransformer
    from comfy.ldm.modules.diffusionmodules.openaimodel import Downsample, ResBlock, Upsample

    layers = list(block)
    # where the original inserts: input/output blocks: after ST or Res, before Upsample;
    # middle: [Res, ST, MM, Res]
    if motion_key is not None:
        kinds = [type(layer) for layer in layers]
        if motion_key.startswith("mid_block"):
            insert_at = 2
        elif SpatialTransformer in kinds:
            insert_at = kinds.index(SpatialTransformer) + 1
        else:
            insert_at = 1
    for i, layer in enumerate(layers):
        if motion_key is not None and i == insert_at:
            h = reference_module(motion_sd, motion_key, h, frames)
        if isinstance(layer, ResBlock):
            h = layer(h, emb)
        elif isinstance(layer, SpatialTransformer):
            h = layer(h, context)
        elif isinstance(layer, Upsample):
            h = layer(h, output_shape=None)
        elif isinstance(layer, Downsample):
            h = layer(h)
        else:
            h = layer(h)
    if motion_key is not None and insert_at == len(layers):
        h = reference_module(motion_sd, motion_key, h, frames)
    return h


def reference_inflated_unet(unet, x, timesteps, context, frames, motion_sd, has_mid):
    """eps prediction of the SD1.5 UNet with AnimateDiff motion modules, by hand. x: (chunks*frames, 4, h, w)."""
    from comfy.ldm.modules.diffusionmodules.util import timestep_embedding

    emb = unet.time_embed(timestep_embedding(timesteps, unet.model_channels).to(x.dtype))
    hs = []
    h = x
    for i, block in enumerate(unet.input_blocks):
        h = _run_block(block, h, emb, context, frames, motion_sd, SD15_INPUT_MOTION.get(i))
        hs.append(h)
    h = _run_block(unet.middle_block, h, emb, context, frames, motion_sd, "mid_block.motion_modules.0" if has_mid else None)
    for i, block in enumerate(unet.output_blocks):
        h = torch.cat([h, hs.pop()], dim=1)
        h = _run_block(block, h, emb, context, frames, motion_sd, f"up_blocks.{i // 3}.motion_modules.{i % 3}")
    return unet.out(h)


def sqrt_linear_sigmas(timesteps=1000, start=0.00085, end=0.012):
    """sigma_t of the AnimateDiff training schedule: betas linear in [start, end] (not in sqrt space)."""
    betas = torch.linspace(start, end, timesteps, dtype=torch.float64)
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def reference_euler_sample(unet, noise, cond, uncond, cfg, steps, frames, motion_sd, has_mid, latent_scale=0.18215):
    """txt2vid Euler sampling with the "simple" schedule on sqrt_linear sigmas, cond/uncond CFG.

    noise: (frames, 4, h, w); cond/uncond: (1, 77, 768). Returns latents as KSampler outputs them.
    """
    table = sqrt_linear_sigmas()
    stride = len(table) / steps
    sigmas = [float(table[-(1 + int(i * stride))]) for i in range(steps)] + [0.0]
    log_table = table.log()
    x = noise.double() * math.sqrt(1.0 + sigmas[0] ** 2)
    context = torch.cat([cond.repeat(frames, 1, 1), uncond.repeat(frames, 1, 1)])
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        t = float((math.log(sigma) - log_table).abs().argmin())
        x_in = (x / math.sqrt(sigma ** 2 + 1)).float()
        eps = reference_inflated_unet(unet, torch.cat([x_in, x_in]), torch.full((2 * frames,), t), context, frames,
                                      motion_sd, has_mid).double()
        eps_cond, eps_uncond = eps[:frames], eps[frames:]
        denoised = x - sigma * (eps_uncond + cfg * (eps_cond - eps_uncond))
        x = x + (x - denoised) / sigma * (sigma_next - sigma)
    return (x / latent_scale).float()
