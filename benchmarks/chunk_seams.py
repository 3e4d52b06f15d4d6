"""Chunk seams benchmark: luma flicker and warp error at chunk boundaries vs inside chunks.

    python benchmarks/chunk_seams.py [--frames 96 --chunk 16 --overlaps 4,8 --seeds 3]

No Stable Diffusion weights are available here, so the generator is a TOY, not AnimateDiff. What
is real: the anchoring maths of the pack (``motion.chunk_seam.anchor_latents``, what Start/End
Keyframe Latents does with a chunk), ComfyUI's inpainting rule for a noise mask (each step the
masked-out frames are set to the anchor re-noised to the step's sigma; the result keeps them),
Euler steps, chunks cut by ``chunking.ChunkPlan`` with Video Combine's rule (every chunk writes its
new frames, the lead is dropped), and SD1.5's latent-to-RGB factors for the luma.

The toy "model" (4-channel latents, 32x32, one latent pixel per pixel): its denoised prediction
of frame t is a weighted mean of (a) the chunk's own prior, ``world + style_c`` moved by a known
velocity to frame t plus per-frame jitter (a new chunk is a new sample: another ``style_c``, as a
fresh AnimateDiff run of the same prompt gives another look) and (b) every other frame of the chunk
moved to frame t, weighted exp(-|t - s| / tau) (what temporal attention does, crudely). vid2vid:
sampling starts at sigma 0.7 from the "encoded source" (the world without style).

Rows: one unchunked run (one style for the whole video: the target); chunks sampled independently
(overlap re-read but not anchored: Meta Batch); the lead pinned only (blend_frames 0); pinned plus
the seam blend (defaults 4 frames, 0.5); pinned plus the look settling (Chunk Seam Anchor's
``settle_frames``, ``--settle``). Columns: F_Y (mean |luma jump| x 255) and E_warp (mean squared
difference after the exact motion, x 1e-3) on the pairs across chunk boundaries and on the pairs
inside chunks, and their ratios (issue 16's target: within 1.2x); "worst" is the largest
seam-pair F_Y over the inside mean (a crossfade spreads a jump over the overlap's pairs; this shows
the steepest of them).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack, machine_line  # noqa: E402

import_pack()
from steadyframe.chunking import ChunkPlan  # noqa: E402
from steadyframe.chunking.timeline import seam_write_chunk  # noqa: E402
from steadyframe.motion.chunk_seam import anchor_latents, crossfade_lead, settle_look  # noqa: E402

# SD1.5 latent -> RGB approximation (the factors ComfyUI and others use for previews).
LATENT_RGB = torch.tensor([[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
                           [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]])
LUMA = torch.tensor([0.299, 0.587, 0.114])
VELOCITY = (1, 0)   # latent pixels per frame (whole pixels: the exact warp is a roll)
SIZE = 32
STEPS = 8
SIGMA_START = 0.7
TAU = 3.0
ATTENTION = 0.6     # weight of the temporal mean against the chunk's prior
JITTER = 0.04       # per-frame noise of the prior (frame-to-frame variability inside a chunk)
LUMA_JITTER = 0.02  # per-frame offset of latent channel 0
STYLE = 0.25        # size of a sample's own look (differs between independently sampled chunks)


def smooth_field(generator, channels, scale):
    coarse = torch.randn(1, channels, SIZE // 8, SIZE // 8, generator=generator) * scale
    return torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=False)[0]


def moved(field, frames):
    """field (C, H, W) moved to each of ``frames`` (absolute numbers): (F, C, H, W)."""
    return torch.stack([torch.roll(field, shifts=(VELOCITY[1] * t, VELOCITY[0] * t), dims=(1, 2)) for t in frames])


class ToyVideoModel:
    """Samples the latents of absolute frames ``frames`` as one chunk, with a style drawn from ``sample_seed``."""

    def __init__(self, seed):
        self.seed = seed
        self.world = smooth_field(torch.Generator().manual_seed(seed), 4, 1.0)

    def source(self, frames):
        return moved(self.world, frames)

    def prior(self, frames, sample_seed):
        generator = torch.Generator().manual_seed(self.seed * 1000 + sample_seed)
        style = smooth_field(generator, 4, STYLE) + torch.randn(4, 1, 1, generator=generator) * STYLE / 2
        base = moved(self.world + style, frames)
        jitter = torch.randn(base.shape, generator=generator) * JITTER
        jitter[:, 0] += torch.randn(len(frames), 1, 1, generator=generator) * LUMA_JITTER
        return base + jitter

    def denoise(self, x, prior):
        count = x.shape[0]
        out = prior.clone()
        weight = torch.ones(count, 1, 1, 1)
        for t in range(count):
            for s in range(count):
                if s != t:
                    k = ATTENTION * torch.exp(torch.tensor(-abs(t - s) / TAU))
                    aligned = torch.roll(x[s], shifts=(VELOCITY[1] * (t - s), VELOCITY[0] * (t - s)), dims=(1, 2))
                    out[t] += k * aligned
                    weight[t] += k
        return out / weight

    def sample(self, init, frames, sample_seed, noise_mask=None, anchor=None):
        """Euler from SIGMA_START to 0; frames with noise_mask 0 are held at ``anchor`` (ComfyUI's inpainting rule)."""
        noise = torch.randn(init.shape, generator=torch.Generator().manual_seed(self.seed * 7919 + sample_seed))
        prior = self.prior(frames, sample_seed)
        sigmas = torch.linspace(SIGMA_START, 0.0, STEPS + 1)
        x = init + SIGMA_START * noise
        mask = None if noise_mask is None else noise_mask.view(-1, 1, 1, 1)
        for i in range(STEPS):
            if mask is not None:
                x = x * mask + (anchor + sigmas[i] * noise) * (1 - mask)
            denoised = self.denoise(x, prior)
            if mask is not None:
                denoised = denoised * mask + anchor * (1 - mask)
            x = denoised + (x - denoised) * (sigmas[i + 1] / sigmas[i])
        return x


def chunked(model, plan, mode, blend_frames=0, blend_strength=0.5, settle_frames=0):
    """The written video of a chunked run anchored by ``mode``: "independent" (Meta Batch: each
    chunk its own sample, lead dropped), "pinned" (lead held fixed on the previous chunk's finished
    latents, lead dropped) or "anchored" (the pack: soft anchor, overlap crossfaded and written by
    the next chunk, as Chunk Seam Anchor's write chunk says; ``settle_frames``: its look settling)."""
    written, finished = [], None
    for index in range(plan.count):
        chunk = plan.chunk(index)
        frames = list(range(chunk.first, chunk.end))
        init = model.source(frames)
        if mode == "independent" or chunk.is_first:
            latents = model.sample(init, frames, index)
        else:
            anchors = finished[-max(plan.overlap, 1):]
            anchored, mask = anchor_latents(init, anchors, chunk.lead, blend_frames, blend_strength)
            if mode == "pinned":
                mask[:chunk.lead] = 0.0
            latents = model.sample(anchored, frames, index, mask, anchored.clone())
            if mode == "anchored":
                latents = crossfade_lead(settle_look(latents, anchors, chunk.lead, settle_frames), anchors, chunk.lead)
        finished = latents
        if mode == "anchored":
            write = seam_write_chunk(chunk)
            written.append(latents[write.lead:write.lead + write.end - write.first_new])
        else:
            written.append(latents[chunk.lead:])
    video = torch.cat(written)
    assert video.shape[0] == plan.total_frames
    return video


def decode(latents):
    rgb = torch.einsum("fchw,cr->frhw", latents, LATENT_RGB)
    return (rgb + 1.0) / 2.0


def pair_metrics(latents):
    """Per pair (t, t+1): |luma jump| x 255 and E_warp (x 1e-3) with the exact motion."""
    images = decode(latents)
    luma = torch.einsum("frhw,r->f", images, LUMA) / (SIZE * SIZE)
    jumps = (luma[1:] - luma[:-1]).abs() * 255.0
    back = torch.roll(images[1:], shifts=(-VELOCITY[1], -VELOCITY[0]), dims=(2, 3))
    warp = ((images[:-1] - back) ** 2).mean(dim=(1, 2, 3)) * 1e3
    return jumps, warp


def seam_and_inside(latents, plan, mode):
    """Mean metrics over the pairs where one chunk's frames meet the next's, and over the others.

    The seam pairs are where the written frames change chunk: the plan's boundaries, and for the
    anchored run also every pair inside the crossfaded overlap (its frames mix two chunks).
    """
    jumps, warp = pair_metrics(latents)
    seams = set()
    for i in range(1, plan.count):
        chunk = plan.chunk(i)
        start = chunk.first if mode == "anchored" else chunk.first_new
        seams.update(range(start - 1, chunk.first_new))
    seams = sorted(seams)
    inside = [t for t in range(len(jumps)) if t not in seams]
    return ([float(v[seams].mean()) for v in (jumps, warp)], [float(v[inside].mean()) for v in (jumps, warp)],
            float(jumps[seams].max()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--overlaps", default="4,8")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--settle", default="16,32", help="Chunk Seam Anchor settle_frames rows (comma-separated)")
    args = parser.parse_args()
    print(machine_line())
    print(f"toy latent video {args.frames} frames {SIZE}x{SIZE}, chunks of {args.chunk}, {args.seeds} seeds "
          f"(mean over seeds); F_Y x255, E_warp x1e-3")
    header = (f"{'overlap':>7} {'run':<26} {'F_Y seam':>9} {'F_Y in':>8} {'ratio':>6} {'worst':>6} {'E_w seam':>9} "
              f"{'E_w in':>8} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for overlap in [int(o) for o in args.overlaps.split(",")]:
        plan = ChunkPlan(args.frames, args.chunk, overlap)
        runs = {"independent chunks": ("independent", 0, 0), "lead pinned, dropped": ("pinned", 0, 0),
                "anchored + crossfade": ("anchored", 0, 0), "... + init blend 4/0.5": ("anchored", 4, 0),
                **{f"... + settle {n}": ("anchored", 0, n) for n in (int(v) for v in args.settle.split(",") if v)}}
        rows = {"unchunked (one sample)": [], **{name: [] for name in runs}}
        for seed in range(args.seeds):
            model = ToyVideoModel(seed)
            whole = model.sample(model.source(list(range(args.frames))), list(range(args.frames)), 0)
            rows["unchunked (one sample)"].append(seam_and_inside(whole, plan, "anchored"))
            for name, (mode, blend, settle) in runs.items():
                rows[name].append(seam_and_inside(chunked(model, plan, mode, blend, settle_frames=settle), plan, mode))
        for name, results in rows.items():
            seam = [sum(r[0][i] for r in results) / len(results) for i in range(2)]
            inside = [sum(r[1][i] for r in results) / len(results) for i in range(2)]
            worst = sum(r[2] for r in results) / len(results)
            print(f"{overlap:>7} {name:<26} {seam[0]:>9.3f} {inside[0]:>8.3f} {seam[0] / inside[0]:>6.2f} "
                  f"{worst / inside[0]:>6.2f} {seam[1]:>9.3f} {inside[1]:>8.3f} {seam[1] / inside[1]:>6.2f}")


if __name__ == "__main__":
    main()
