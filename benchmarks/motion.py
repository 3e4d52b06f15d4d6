"""Motion-module cost: seconds per sampling step and peak RSS, plain UNet vs UNet + our v2 module.

Needs a ComfyUI (``COMFYUI_PATH``); builds a full SD1.5 UNet with random weights and a
full-size random v2 motion module (no downloads). Every case runs in its own process so that
peak RSS is that case's own. Cases:

- ``plain``:    SD1.5 UNet, F frames (the baseline, measured in the same run)
- ``motion``:   the same + our v2 module (Load Motion Module defaults)
- ``long``:     the same + module, 4F frames in context windows of F (overlap F/4)

    COMFYUI_PATH=/path/to/ComfyUI flock /tmp/steadyframe-heavy.lock python benchmarks/motion.py
    ... --full            # also 256x256
    ... --frames 8 --steps 2 --cfg 1.0
    ... --lora            # also MotionLoRA memory/time (benchmarks/motion_lora.py)

Peak RSS on CPU includes the weights (SD1.5 UNet fp32 ~3.4 GB, v2 module ~1.8 GB).
AnimateDiff-Evolved is compared when it is installed in ``$COMFYUI_PATH/custom_nodes`` (not
automated here: this script reports that it is absent).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _setup_comfy():
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.append(comfy_path)
    import torch
    from comfy.cli_args import args

    if not torch.cuda.is_available():
        args.cpu = True
    import importlib.util

    spec = importlib.util.spec_from_file_location("steadyframe", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["steadyframe"] = module
    spec.loader.exec_module(module)


def run_case(case: str, size: int, frames: int, steps: int, cfg: float, motion_file: str) -> dict:
    _setup_comfy()
    import torch
    import folder_paths
    import nodes as comfy_nodes
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule
    from support.sd15_factory import make_sd15_model_patcher

    torch.manual_seed(0)
    model = make_sd15_model_patcher(0)
    n_frames = frames
    if case != "plain":
        folder_paths.add_model_folder_path("animatediff_models", str(Path(motion_file).parent))
        kwargs = {}
        if case == "long":
            n_frames = frames * 4
            kwargs = {"context_length": frames, "context_overlap": max(1, frames // 4)}
        (model,) = SteadyFrameLoadMotionModule().load(model, Path(motion_file).name, **kwargs)
    cond = torch.randn(1, 77, 768)
    uncond = torch.randn(1, 77, 768)
    latent = {"samples": torch.zeros(n_frames, 4, size // 8, size // 8)}

    def sample(n_steps):
        return comfy_nodes.KSampler().sample(model, 0, n_steps, cfg, "euler", "simple", [[cond, {}]], [[uncond, {}]], latent)

    sample(1)  # warm-up: loads and patches the model
    start = time.perf_counter()
    sample(steps)
    seconds = (time.perf_counter() - start) / steps
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"case": case, "size": size, "frames": n_frames, "s_per_step": seconds, "peak_rss_gib": peak_kib / 2 ** 20}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--cfg", type=float, default=7.5)
    parser.add_argument("--full", action="store_true", help="also measure 256x256")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--lora", action="store_true",
                        help="also run benchmarks/motion_lora.py: MotionLoRA memory and time, factorized vs merged")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--motion-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.size, args.frames, args.steps, args.cfg, args.motion_file)))
        return

    sys.path.insert(0, str(REPO / "tests"))
    import torch
    from support.motion_files import write_random_motion_module

    comfy_path = os.environ.get("COMFYUI_PATH", "")
    ade = any("AnimateDiff-Evolved" in p.name for p in (Path(comfy_path) / "custom_nodes").glob("*")) if comfy_path else False
    results = []
    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-") as folder:
        motion_file = str(write_random_motion_module(Path(folder) / "bench_v2.safetensors", "v2", dtype=torch.float16))
        sizes = [64, 256] if args.full else [64]
        for size in sizes:
            cases = ["plain", "motion"] + ([] if args.skip_long else ["long"])
            for case in cases:
                cmd = [sys.executable, __file__, "--case", case, "--size", str(size), "--frames", str(args.frames),
                       "--steps", str(args.steps), "--cfg", str(args.cfg), "--motion-file", motion_file]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    sys.exit(f"case {case} at {size} failed")
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"  measured {case} {size}x{size}: {results[-1]}", file=sys.stderr)

    import platform

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    print(f"\nSteadyFrame motion benchmark on {device}, torch {torch.__version__}: {args.steps} timed Euler step(s) after a "
          f"1-step warm-up, cfg {args.cfg}; AnimateDiff-Evolved installed: {'yes' if ade else 'no (not compared)'}")
    print(f"{'case':<34}{'s/step':>10}{'x plain':>10}{'peak RSS GiB':>14}{'x ref':>8}")
    for size in sorted({r['size'] for r in results}):
        rows = {r["case"]: r for r in results if r["size"] == size}
        plain = rows["plain"]
        labels = {"plain": f"plain UNet {plain['frames']}f {size}px",
                  "motion": f"+ v2 module {plain['frames']}f {size}px",
                  "long": f"+ v2 module {rows.get('long', plain)['frames']}f, windows {args.frames}"}
        for case in ("plain", "motion", "long"):
            if case not in rows:
                continue
            r = rows[case]
            ref = rows["motion"] if case == "long" else plain
            print(f"{labels[case]:<34}{r['s_per_step']:>10.2f}{r['s_per_step'] / plain['s_per_step']:>10.2f}"
                  f"{r['peak_rss_gib']:>14.2f}{r['peak_rss_gib'] / ref['peak_rss_gib']:>8.2f}")
    print("x plain: time relative to the plain UNet; x ref: peak RSS relative to the plain UNet "
          "(for the long run: relative to the 16-frame motion run)")
    if args.lora:
        print()
        subprocess.run([sys.executable, str(Path(__file__).with_name("motion_lora.py")), "--frames", str(args.frames)],
                       check=True)


if __name__ == "__main__":
    main()
