"""MotionLoRA memory and speed: factorized in the forward pass vs merged patches.

Each case runs in its own process so its peak RSS is its own:

- ``module``      the v2 motion model alone (the baseline);
- ``factorized``  + a rank-64 MotionLoRA kept as factors, added in the forward pass (ours);
- ``dense``       + the LoRA as dense fp32 ``up @ down`` diffs merged into the weights, with a
                  backup of each patched weight (what AnimateDiff-Evolved's patches make ComfyUI do);
- ``comfy``       + the LoRA as factorized ``comfy.lora`` patches merged by a real ModelPatcher
                  (only when ComfyUI is importable: set COMFYUI_PATH and use ComfyUI's Python).

Step time is one pass through all 21 motion modules at the feature sizes of a 16-frame
64x64 (default) video with cond+uncond, as inside one sampling step.

    python benchmarks/motion_lora.py [--size 64] [--frames 16] [--rank 64] [--repeats 3]
"""
import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _pack import import_comfyui, import_pack, machine_line, print_table  # noqa: E402

CASES = ("module", "factorized", "dense", "comfy")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory now (MB), after a garbage collection."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _features(model, size, frames):
    """Inputs of every module: (2*frames, C, h, w) at the latent scale of its UNet level."""
    latent = size // 8
    inputs = []
    for key in model.layout.injection_order():
        block = key.split(".motion_modules.")[0]
        level = int(block.split(".")[1]) if "." in block else 3
        if block.startswith("up_blocks"):
            level = 3 - level
        side = max(1, latent >> level)
        channels = model.get_submodule(key).channels
        inputs.append((key, torch.randn(2 * frames, channels, side, side)))
    return inputs


def run_case(case, size, frames, rank, repeats):
    import_pack()
    from steadyframe.motion.formats import build_motion_model, normalize_motion_state_dict
    from steadyframe.motion.lora import LoRAStackEntry, StrengthSchedule, fit_to_module, parse_motion_lora, projection_shapes, stack_factors
    from support.motion_files import make_motion_state_dict
    from support.motion_lora_files import make_motion_lora_state_dict

    torch.manual_seed(0)
    normalized, info = normalize_motion_state_dict(make_motion_state_dict("v2", channels_scale=1.0))
    model = build_motion_model(normalized, info, dtype=torch.float32).eval()
    del normalized
    base_rss = _rss_mb()
    lora_factors = None
    if case != "module":
        lora = fit_to_module(parse_motion_lora(make_motion_lora_state_dict(rank=rank, channels_scale=1.0)),
                             projection_shapes(model))
    if case == "factorized":
        lora_factors = stack_factors([LoRAStackEntry(lora, StrengthSchedule.constant(1.0))], 0.0)
    elif case == "dense":
        diffs, backups = {}, {}
        for target, (down, up, scale) in lora.factors.items():
            weight = model.get_submodule(target).weight
            diffs[target] = (up.float() @ down.float()) * scale
            backups[target] = weight.detach().clone()
            weight.data += diffs[target]
    elif case == "comfy":
        if not import_comfyui():
            raise SystemExit("ComfyUI is not importable: set COMFYUI_PATH and run with ComfyUI's Python")
        import comfy.lora
        import comfy.model_patcher

        patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
        sd = make_motion_lora_state_dict(rank=rank, channels_scale=1.0)
        to_load = {}
        for key in sd:
            if key.endswith("_lora.down.weight"):
                stem = key[: -len("_lora.down.weight")]  # ...attention_blocks.N.processor.to_q
                target = stem.replace(".processor.", ".") + (".0" if stem.endswith("to_out") else "")
                to_load[stem] = target + ".weight"
        patcher.add_patches(comfy.lora.load_lora(sd, to_load, log_missing=False), 1.0)
        patcher.patch_model(device_to=torch.device("cpu"))
    inputs = _features(model, size, frames)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            for key, x in inputs:
                model.get_submodule(key)(x, frames, lora=lora_factors)
            times.append(time.perf_counter() - start)
    return {"case": case, "seconds": min(times[1:]), "rss_mb": _rss_mb(), "model_rss_mb": base_rss,
            "peak_rss_mb": _peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="video width/height in pixels")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.size, args.frames, args.rank, args.repeats)))
        return
    print(machine_line())
    print(f"v2 motion model, MotionLoRA rank {args.rank}, {args.frames} frames at {args.size}x{args.size}, cond+uncond")
    results = []
    for case in CASES:
        command = [sys.executable, __file__, "--case", case, "--size", str(args.size), "--frames", str(args.frames),
                   "--rank", str(args.rank), "--repeats", str(args.repeats)]
        # large frees go back to the OS at once, so resident memory tracks live tensors
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{case}: skipped ({last})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = next(r for r in results if r["case"] == "module")
    rows = []
    for r in results:
        added = r["rss_mb"] - r["model_rss_mb"]
        rows.append((r["case"], f"{r['rss_mb']:.0f}", f"{added:+.0f}", f"{r['peak_rss_mb']:.0f}",
                     f"{r['seconds'] * 1000:.1f}", f"{r['seconds'] / base['seconds']:.2f}x"))
    print_table(("case", "RSS MB", "added after model MB", "peak RSS MB", "motion ms/step", "time vs module"), rows)
    print("'added after model' = resident memory after LoRA setup and a forward pass, minus right after "
          "building the motion model (the LoRA's own cost plus activations).")


if __name__ == "__main__":
    main()
