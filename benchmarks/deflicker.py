"""Deflicker benchmark: flicker metrics before/after and throughput, against baselines in the same run.

    python benchmarks/deflicker.py [--frames 48 --height 256 --width 384 --seeds 3]

Synthetic clips (tests/support/deflicker_synthetic.py): a texture panning by (2, 1) whole pixels per frame,
so the exact flow is known and the clean clip's E_warp is exactly 0. Three flicker cases:
"global" (per-frame gain 8%, offset 0.02, tint 2%), "+field" (plus a smooth 4x4 gain field, 5%)
and "+boiling" (global plus per-frame half-resolution texture noise, std 0.03).

Rows: the flickering input; the `deflicker` PyPI package's rule (one gain per frame to a centred
10-frame rolling mean of the mean brightness, first/last frames left alone; reimplemented here
because the package does not install cleanly); a naive per-frame mean match (each frame's channel
means set to the clip's); and our modes. E_warp uses the exact flow of the clean source (x 1e-3);
PSNR is to the clean clip. Speed: frames per second of the global stage at --speed-size, and of the
texture stage given a flow (flow estimation is timed by benchmarks/flow.py). --clip disc adds a disc
moving against the pan, for motion boundaries and occlusions.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack  # noqa: E402

import_pack()
from steadyframe.flow.provider import FlowOptions, flow_for  # noqa: E402
from steadyframe.flow.sequence import FlowSequence  # noqa: E402
from steadyframe.postprocess.deflicker import GlobalSettings, deflicker_global, stabilize_texture  # noqa: E402
from steadyframe.postprocess.metrics import luminance_flicker, psnr, warping_error  # noqa: E402
from support.deflicker_synthetic import inject_flicker, moving_clip, moving_disc_clip  # noqa: E402

CASES = {
    "global": dict(gain=0.08, offset=0.02, tint=0.02),
    "+field": dict(gain=0.08, offset=0.02, tint=0.02, gain_field=0.05),
    "+boiling": dict(gain=0.08, offset=0.02, tint=0.02, boiling=0.03),
}


def deflicker_package_rule(images: torch.Tensor, window: int = 10) -> torch.Tensor:
    """The `deflicker` package's method: gain = centred rolling mean / frame brightness."""
    brightness = images.double().mean(dim=(1, 2, 3))
    count = brightness.shape[0]
    out = images.clone()
    # A centred rolling window of `window` frames (pandas-style: window//2 before, the rest after);
    # frames whose window does not fit are left unadjusted, as in the package.
    before, after = window // 2, window - window // 2 - 1
    for t in range(before, count - after):
        target = brightness[t - before:t + after + 1].mean()
        out[t] = (images[t] * float(target / brightness[t])).clamp(0.0, 1.0)
    return out


def naive_mean_match(images: torch.Tensor) -> torch.Tensor:
    """Every frame's channel means shifted to the whole clip's channel means."""
    frame_means = images.mean(dim=(1, 2), keepdim=True)
    return (images - frame_means + frame_means.mean(dim=0, keepdim=True)).clamp(0.0, 1.0)


def methods(flow_preset: str):
    def ours(**kwargs):
        return lambda x, clip: deflicker_global(x, GlobalSettings(**kwargs)).images

    def textured(use_exact_flow: bool):
        def run(x, clip):
            first = deflicker_global(x)
            if use_exact_flow:
                flow = clip.flow_sequence()
            else:
                flow = flow_for(first.images, options=FlowOptions(preset=flow_preset))
            return stabilize_texture(first.images, flow, strength=0.6, cuts=first.cuts)
        return run

    return {
        "input (no deflicker)": lambda x, clip: x,
        "deflicker pkg rule (w=10)": lambda x, clip: deflicker_package_rule(x),
        "naive per-frame mean match": lambda x, clip: naive_mean_match(x),
        "ours global ycbcr (default)": ours(),
        "ours global lab": ours(color_space="lab"),
        "ours histogram ycbcr": ours(method="quantiles"),
        "ours global+texture, exact flow": textured(True),
        f"ours global+texture, {flow_preset} TV-L1": textured(False),
    }


def quality_table(args) -> None:
    print(f"\nQuality: {args.frames} frames of {args.width}x{args.height}, motion (2, 1) px/frame, "
          f"mean over seeds {list(range(1, args.seeds + 1))}; F_Y in 0..255, E_warp x 1e-3, PSNR dB to clean")
    if args.clip == "disc":
        clip = moving_disc_clip(args.frames, args.height, args.width, motion=(2, 1), disc_motion=(-3, 2), seed=0)
        print("clip: the pan plus a textured disc moving by (-3, 2) px/frame (motion boundaries, occlusions)")
    else:
        clip = moving_clip(args.frames, args.height, args.width, motion=(2, 1), seed=0)
    flows = clip.exact_flows()
    print(f"clean clip: F_Y {luminance_flicker(clip.clean):.3f}, E_warp {warping_error(clip.clean, flows).value * 1e3:.4f}")
    table = methods(args.flow_preset)
    shown = args.cases or list(CASES)
    print(f"{'method':34s}" + "".join(f" | {case:^30s}" for case in shown))
    print(f"{'':34s}" + " | ".join([""] + [f"{'F_Y':>7s} {'E_warp':>8s} {'PSNR':>6s} {'worst':>5s}"] * len(shown)))
    cases = {case: CASES[case] for case in (args.cases or list(CASES))}
    for name, run in table.items():
        if args.skip_estimated_flow and "TV-L1" in name:
            continue
        if args.methods and name != "input (no deflicker)" and not any(part in name for part in args.methods):
            continue
        cells = []
        for _case, flicker in cases.items():
            fy, ew, ps = [], [], []
            for seed in range(1, args.seeds + 1):
                x = inject_flicker(clip.clean, seed=seed, **flicker)
                y = run(x, clip)
                fy.append(luminance_flicker(y))
                ew.append(warping_error(y, flows).value * 1e3)
                ps.append(psnr(y, clip.clean))
            cells.append(f"{sum(fy) / len(fy):7.3f} {sum(ew) / len(ew):8.4f} {sum(ps) / len(ps):6.2f} {min(ps):5.1f}")
        print(f"{name:34s} | " + " | ".join(cells), flush=True)
    print("(worst = lowest PSNR over the seeds)")


def speed_table(args) -> None:
    size = args.speed_size
    frames = args.speed_frames
    print(f"\nSpeed: {frames} frames of {size}x{size}, {torch.get_num_threads()} torch threads, best of {args.repeats}")
    clip = torch.rand(frames, size, size, 3)
    # A sub-pixel flow, so the warps take their interpolating (not whole-pixel) path.
    pairs = max(args.texture_frames - 1, 0)
    motion = torch.tensor([1.3, -0.7]).view(1, 2, 1, 1).expand(pairs, 2, size, size)
    still = FlowSequence(forward=motion.contiguous(), backward=(-motion).contiguous(), height=size, width=size)
    rows = {
        "deflicker pkg rule (baseline)": lambda: deflicker_package_rule(clip),
        "naive per-frame mean match": lambda: naive_mean_match(clip),
        "ours global ycbcr (default)": lambda: deflicker_global(clip),
        "ours global lab": lambda: deflicker_global(clip, GlobalSettings(color_space="lab")),
        "ours histogram ycbcr": lambda: deflicker_global(clip, GlobalSettings(method="quantiles")),
        "texture stage alone (flow given)": lambda: stabilize_texture(clip[:args.texture_frames], still, strength=0.6),
    }
    baseline = None
    print(f"{'method':34s} | {'frames/s':>9s} | {'ms/frame':>9s} | {'vs baseline':>11s}")
    for name, run in rows.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        fps = (args.texture_frames if name.startswith("texture") else frames) / best
        baseline = baseline or fps
        print(f"{name:34s} | {fps:9.1f} | {1000 / fps:9.2f} | {fps / baseline:10.2f}x", flush=True)


def long_clip_memory(args) -> None:
    """Peak resident memory of the global stage on a long clip, beyond its input and output."""
    frames, size = args.long, args.speed_size
    clip = torch.rand(frames, size, size, 3)
    clip_mb = clip.numel() * 4 / 2 ** 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = deflicker_global(clip).images
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nLong clip: {frames} frames of {size}x{size}: {frames / seconds:.1f} frames/s; input {clip_mb:.0f} MB, "
          f"output {out.numel() * 4 / 2 ** 20:.0f} MB, peak RSS grew by {peak - before:.0f} MB "
          f"(output + working memory; working memory = growth - output)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--flow-preset", default="balanced", choices=["fast", "balanced", "quality"],
                        help="TV-L1 preset of the estimated-flow row (the node's default is balanced)")
    parser.add_argument("--clip", choices=["pan", "disc"], default="pan",
                        help="pan: the texture panning by (2, 1) px; disc: plus a moving disc (occlusions)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=None, help="flicker cases to run")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="only the rows whose name contains one of these strings (the input row is always kept)")
    parser.add_argument("--skip-estimated-flow", action="store_true", help="skip the TV-L1 row (slow on CPU)")
    parser.add_argument("--speed-size", type=int, default=512)
    parser.add_argument("--speed-frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texture-frames", type=int, default=16, help="frames of the texture-stage speed row")
    parser.add_argument("--long", type=int, default=0, help="also run the global stage on this many frames "
                        "(e.g. 1000) and report its peak memory")
    parser.add_argument("--only", choices=["quality", "speed"], default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default); "
                        "1 gives steadier timings on a machine whose cores are shared")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CUDA {'yes' if torch.cuda.is_available() else 'no'} (runs on CPU)")
    if args.only in (None, "quality"):
        quality_table(args)
    if args.only in (None, "speed"):
        speed_table(args)
    if args.long:
        long_clip_memory(args)


if __name__ == "__main__":
    main()
