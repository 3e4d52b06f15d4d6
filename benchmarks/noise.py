"""Consistent-noise modes: generation time and the statistics that matter for sampling.

    python benchmarks/noise.py                        # 48 frames of 64x64 latents (512x512 video)
    python benchmarks/noise.py --frames 96 --size 96x64 --repeats 5

Rows:
- every mode of ``motion/noise.py`` on a synthetic source motion (half a latent pixel to the right
  plus a slow zoom per frame), flow-warped at several sub-pixel subdivisions;
- baseline in the same run: ``per-frame`` (core RandomNoise's noise) for time, and for quality
  plain bilinear warping of the previous frame's noise along the same flow (``flow/warp.py``), the
  obvious alternative that integral noise transport replaces.

Columns: median seconds per clip and ratio to per-frame; mean per-frame variance (1 = what the
sampler expects); spatial correlation of horizontally neighbouring pixels (0 = white noise); and
temporal correlation of each frame with the previous frame warped along the flow (how much noise
follows the motion).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from _pack import import_pack, machine_line, print_table

import_pack()
from steadyframe.flow.warp import warp_backward  # noqa: E402
from steadyframe.motion import noise as sfnoise  # noqa: E402


def source_flow(frames: int, height: int, width: int) -> torch.Tensor:
    """Forward image-space flow (F-1, 2, 8H, 8W): 4 px right plus a 2% zoom about the centre per frame."""
    ys, xs = torch.meshgrid(torch.arange(height * 8.0), torch.arange(width * 8.0), indexing="ij")
    flow = torch.empty(frames - 1, 2, height * 8, width * 8)
    flow[:, 0] = 4.0 + 0.02 * (xs - width * 4.0)
    flow[:, 1] = 0.02 * (ys - height * 4.0)
    return flow


def bilinear_warp_noise(shape, seed, forward_flow):
    """Baseline: frame i+1 = bilinear backward warp of frame i (no renormalisation)."""
    frames, channels, height, width = shape
    out = torch.empty(shape)
    out[0] = sfnoise.per_frame_noise(shape, seed)[0]
    for i in range(frames - 1):
        latent_flow = sfnoise.flow_to_latent(forward_flow[i:i + 1], height, width)
        # backward flow of a smooth forward flow, to first order: -flow at the target pixel
        out[i + 1] = warp_backward(out[i:i + 1], -latent_flow, mode="bilinear")[0]
    return out


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.reshape(-1).double() - a.double().mean()
    b = b.reshape(-1).double() - b.double().mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def quality(noise: torch.Tensor, forward_flow: torch.Tensor):
    frames, _, height, width = noise.shape
    variance = float(noise.reshape(frames, -1).var(dim=1).mean())
    spatial = statistics.mean(correlation(f[:, :, 1:], f[:, :, :-1]) for f in noise)
    temporal = []
    for i in range(frames - 1):
        latent_flow = sfnoise.flow_to_latent(forward_flow[i:i + 1], height, width)
        carried = warp_backward(noise[i:i + 1], -latent_flow, mode="nearest")[0]
        margin = 4  # skip the border, where new content enters
        temporal.append(correlation(noise[i + 1][:, margin:-margin, margin:-margin], carried[:, margin:-margin, margin:-margin]))
    return variance, spatial, statistics.mean(temporal)


def timed(fn, repeats: int):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="64x64", help="latent WIDTHxHEIGHT (image size / 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subdivisions", default="2,4,8")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    shape = (args.frames, 4, height, width)
    flow = source_flow(args.frames, height, width)
    seed = 2024

    cases = [
        ("per-frame (baseline)", lambda: sfnoise.make_noise("per-frame", shape, seed)),
        ("shared", lambda: sfnoise.make_noise("shared", shape, seed)),
        ("mixed s=0.5", lambda: sfnoise.make_noise("mixed", shape, seed, strength=0.5)),
        ("FreeNoise 16/4", lambda: sfnoise.make_noise("FreeNoise", shape, seed)),
        ("bilinear warp (baseline)", lambda: bilinear_warp_noise(shape, seed, flow)),
    ]
    for k in (int(v) for v in args.subdivisions.split(",")):
        cases.append((f"flow-warped k={k}", lambda k=k: sfnoise.make_noise("flow-warped", shape, seed, forward_flow=flow, subdivisions=k)))

    print(machine_line())
    print(f"{args.frames} frames of {width}x{height} latents (4 channels), median of {args.repeats} runs")
    rows = []
    base_time = None
    for name, fn in cases:
        seconds, noise = timed(fn, args.repeats)
        base_time = base_time or seconds
        variance, spatial, temporal = quality(noise, flow)
        rows.append([name, f"{seconds:.4f}", f"{seconds / base_time:.1f}x", f"{variance:.3f}", f"{spatial:+.3f}", f"{temporal:+.3f}"])
    print_table(["mode", "s/clip", "vs per-frame", "variance", "spatial corr", "corr along flow"], rows)


if __name__ == "__main__":
    main()
