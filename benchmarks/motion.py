"""Motion-module cost: seconds per sampling step and peak RSS, plain UNet vs UNet + our v2 module.

Needs a ComfyUI (``COMFYUI_PATH``); builds a full SD1.5 UNet with random weights and a
full-size random v2 motion module (no downloads). Every case runs in its own process so that
peak RSS is that case's own. Cases:

- ``plain``:    SD1.5 UNet, F frames (the baseline, measured in the same run)
- ``motion``:   the same + our v2 module (Load Motion Module defaults)
- ``long``:     the same + module, 4F frames in context windows of F (overlap F/4)
- ``ade``:      the same UNet + the same v2 file through AnimateDiff-Evolved's Gen1 loader
                (``sqrt_linear``), when ADE is installed in ``$COMFYUI_PATH/custom_nodes``
- ``ade_long``: ADE with its Standard Static context options (4F frames, windows of F)

    COMFYUI_PATH=/path/to/ComfyUI flock /tmp/steadyframe-heavy.lock python benchmarks/motion.py
    ... --full            # also 256x256
    ... --frames 8 --steps 2 --cfg 1.0
    ... --lora            # also MotionLoRA memory/time (benchmarks/motion_lora.py)
    ... --repeats 3       # run every case 3 times, interleaved; report the fastest s/step


Peak RSS on CPU includes the weights (SD1.5 UNet fp32 ~3.4 GB, v2 module ~1.8 GB).
The issue's targets: our overhead over the plain UNet at most 0.9x ADE's overhead, our peak RSS
no higher than ADE's, and 4F frames in windows within 1.3x the peak RSS of F frames.
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
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _pack import import_comfyui, import_pack

    if not import_comfyui():
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout that this Python can import")
    import_pack()


def _ade_model(model, file_name: str, context_length: int):
    """``model`` with the motion file applied by AnimateDiff-Evolved's Gen1 loader (its own code)."""
    from support.animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved

    path, reason = find_animatediff_evolved(Path(os.environ["COMFYUI_PATH"]))
    if path is None:
        sys.exit(reason)
    ade = import_animatediff_evolved(path)
    context = None
    if context_length:
        (context,) = ade.NODE_CLASS_MAPPINGS["ADE_StandardStaticContextOptions"]().create_options(
            context_length=context_length, context_overlap=max(1, context_length // 4))
    gen1 = ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffLoaderGen1"]()
    return gen1.load_mm_and_inject_params(model, file_name, "sqrt_linear (AnimateDiff)", context_options=context)[0]


def run_case(case: str, size: int, frames: int, steps: int, cfg: float, motion_file: str) -> dict:
    _setup_comfy()
    import folder_paths
    import torch

    import nodes as comfy_nodes
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule
    from support.sd15_factory import make_sd15_model_patcher

    torch.manual_seed(0)
    model = make_sd15_model_patcher(0)
    n_frames = frames * 4 if case.endswith("long") else frames
    if case != "plain":
        folder_paths.add_model_folder_path("animatediff_models", str(Path(motion_file).parent))
    if case in ("motion", "long"):
        kwargs = {"context_length": frames, "context_overlap": max(1, frames // 4)} if case == "long" else {}
        (model,) = SteadyFrameLoadMotionModule.execute(model, Path(motion_file).name, **kwargs).result
    elif case.startswith("ade"):
        model = _ade_model(model, Path(motion_file).name, frames if case == "ade_long" else 0)
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


def _run_in_subprocess(case, size, args, motion_file) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--size", str(size), "--frames", str(args.frames),
           "--steps", str(args.steps), "--cfg", str(args.cfg), "--motion-file", motion_file]
    from _pack import child_result

    return child_result(cmd, f"case {case} at {size} failed", f"{case} {size}x{size}: ")


def _fastest(runs: list[dict]) -> dict:
    """Fastest s/step of the repeats (least disturbed by other load), largest peak RSS."""
    best = dict(min(runs, key=lambda r: r["s_per_step"]))
    best["peak_rss_gib"] = max(r["peak_rss_gib"] for r in runs)
    return best


def _print_size_table(size: int, rows: dict, frames: int) -> None:
    plain = rows["plain"]
    labels = {"plain": f"plain UNet {frames}f {size}px",
              "motion": f"+ SteadyFrame v2 {frames}f",
              "ade": f"+ AnimateDiff-Evolved v2 {frames}f",
              "long": f"+ SteadyFrame v2 {4 * frames}f, windows {frames}",
              "ade_long": f"+ ADE v2 {4 * frames}f, windows {frames}"}
    print(f"{'case':<38}{'s/step':>9}{'x plain':>9}{'overhead':>10}{'peak RSS GiB':>14}{'x 16f':>7}")
    for case, label in labels.items():
        if case not in rows:
            continue
        r = rows[case]
        short = rows.get(case.replace("_long", "") if case != "long" else "motion", plain)
        overhead = "-" if case == "plain" else f"{r['s_per_step'] - plain['s_per_step']:+.2f}"
        memory_ratio = f"{r['peak_rss_gib'] / short['peak_rss_gib']:.2f}" if case.endswith("long") else "-"
        print(f"{label:<38}{r['s_per_step']:>9.2f}{r['s_per_step'] / plain['s_per_step']:>9.2f}"
              f"{overhead:>10}{r['peak_rss_gib']:>14.2f}{memory_ratio:>7}")
    if "ade" in rows:
        ours = rows["motion"]["s_per_step"] - plain["s_per_step"]
        theirs = rows["ade"]["s_per_step"] - plain["s_per_step"]
        print(f"our overhead / ADE's overhead: {ours / theirs:.2f} (target <= 0.90); "
              f"our peak RSS / ADE's: {rows['motion']['peak_rss_gib'] / rows['ade']['peak_rss_gib']:.2f} (target <= 1.00)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--cfg", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=1, help="runs of every case, interleaved")
    parser.add_argument("--full", action="store_true", help="also measure 256x256")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--no-ade", action="store_true", help="leave AnimateDiff-Evolved out even when installed")
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

    from support.animatediff_evolved import find_animatediff_evolved
    from support.motion_files import write_random_motion_module

    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    ade_path, ade_reason = find_animatediff_evolved(Path(comfy_path))
    use_ade = ade_path is not None and not args.no_ade
    cases = ["plain", "motion"] + (["ade"] if use_ade else [])
    if not args.skip_long:
        cases += ["long"] + (["ade_long"] if use_ade else [])
    runs: dict[tuple[int, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-") as folder:
        motion_file = str(write_random_motion_module(Path(folder) / "bench_v2.safetensors", "v2", dtype=torch.float16))
        for size in ([64, 256] if args.full else [64]):
            for _ in range(args.repeats):
                for case in cases:
                    runs.setdefault((size, case), []).append(_run_in_subprocess(case, size, args, motion_file))

    import platform

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    print(f"\nSteadyFrame motion benchmark on {device}, torch {torch.__version__}: {args.steps} timed Euler step(s) after a "
          f"1-step warm-up, cfg {args.cfg}, fastest of {args.repeats} interleaved run(s)")
    print(f"AnimateDiff-Evolved: {ade_path if use_ade else (ade_reason or 'left out (--no-ade)')}")
    for size in sorted({size for size, _ in runs}):
        print()
        _print_size_table(size, {case: _fastest(r) for (s, case), r in runs.items() if s == size}, args.frames)
    print("\nx plain: time relative to the plain UNet; overhead: s/step above the plain UNet; "
          "x 16f: peak RSS of the windowed run relative to the same pack's F-frame run")
    if args.lora:
        print()
        subprocess.run([sys.executable, str(Path(__file__).with_name("motion_lora.py")), "--frames", str(args.frames)],
                       check=True)


if __name__ == "__main__":
    main()
