"""SparseCtrl memory and seconds per sampling step: ours vs Advanced-ControlNet on the same file.

Each case runs in its own process so its peak RSS is its own; all share one random SD1.5 UNet
(seed 0) and one random full-size SparseCtrl file in the published layout (fp16 on disk):

- ``unet``  sampling without a control (the baseline);
- ``ours``  Load SparseCtrl -> SparseCtrl Hint -> core Apply ControlNet;
- ``acn``   Advanced-ControlNet's SparseCtrl loader + index method + Apply Advanced ControlNet
            (only when ACN and AnimateDiff-Evolved are in ``$COMFYUI_PATH/custom_nodes``).

"control MB" is resident memory added by loading the control (its weights: a SparseCtrl encoder
is ~1.8 GB in fp32 on CPU), "peak" the whole process's. Needs ComfyUI: set COMFYUI_PATH and use
ComfyUI's Python. Heavy: on shared machines run it under ``flock /tmp/steadyframe-heavy.lock``.

    python benchmarks/sparsectrl.py [--kind scribble|rgb] [--frames 16] [--size 128] [--steps 2]
"""
import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _pack import import_comfyui, import_pack, machine_line, print_table  # noqa: E402

CASES = ("unet", "ours", "acn")


def _rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _conds():
    gen = torch.Generator().manual_seed(3)
    return [[torch.randn(1, 77, 768, generator=gen), {}]], [[torch.randn(1, 77, 768, generator=gen), {}]]


def run_case(case, kind, frames, size, steps, folder):
    if not import_comfyui():
        raise SystemExit("needs ComfyUI: set COMFYUI_PATH and use ComfyUI's Python")
    import_pack()
    import folder_paths

    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_model_patcher, make_sd15_vae

    folder_paths.add_model_folder_path("controlnet", folder)
    name = f"bench_sparsectrl_{kind}.safetensors"
    model = make_sd15_model_patcher(0)
    vae = make_sd15_vae(0) if kind == "rgb" else None
    positive, negative = _conds()
    images = torch.rand(2, size, size, 3, generator=torch.Generator().manual_seed(8))
    indices = f"0,{frames - 1}"
    before = _rss_mb()
    if case == "ours":
        from steadyframe.nodes.sparsectrl_nodes import SteadyFrameLoadSparseCtrl, SteadyFrameSparseCtrlHint

        control = SteadyFrameLoadSparseCtrl.execute(name).result[0]
        hint = SteadyFrameSparseCtrlHint.execute(images, indices, frames).result[0]
        positive, negative = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
            positive, negative, control, hint, 1.0, 0.0, 1.0, vae=vae)
    elif case == "acn":
        import asyncio

        from support.advanced_controlnet import find_advanced_controlnet, import_advanced_controlnet

        root = Path(os.environ["COMFYUI_PATH"])
        path, reason = find_advanced_controlnet(root)
        if path is None:
            raise SystemExit(reason)
        acn = import_advanced_controlnet(path, root)
        extension = asyncio.run(acn.comfy_entrypoint())
        mappings = {n.GET_SCHEMA().node_id: n for n in asyncio.run(extension.get_node_list())}
        method = mappings["ACN_SparseCtrlIndexMethodNode"].execute(indices).result[0]
        control = mappings["ACN_SparseCtrlLoaderAdvanced"].execute(name, True, 1.0, 1.0, sparse_method=method).result[0]
        image = images
        if kind == "rgb":
            latent_size = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}
            image = mappings["ACN_SparseCtrlRGBPreprocessor"].execute(vae, image, latent_size).result[0]
        positive, negative = mappings["ACN_AdvancedControlNetApply_v2"].execute(
            positive, negative, control, image, 1.0, 0.0, 1.0).result
    loaded = _rss_mb()
    latent = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}
    sampler = comfy_nodes.KSampler()
    sampler.sample(model, 1, 1, 4.0, "euler", "normal", positive, negative, latent)  # warm-up
    start = time.perf_counter()
    sampler.sample(model, 1, steps, 4.0, "euler", "normal", positive, negative, latent)
    seconds = (time.perf_counter() - start) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "control_mb": loaded - before, "peak_mb": peak, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("scribble", "rgb"), default="scribble")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128, help="video width/height in pixels")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.kind, args.frames, args.size, args.steps, args.folder)))
        return
    from support.sparsectrl_files import write_random_sparsectrl

    print(machine_line())
    print(f"SparseCtrl {args.kind}, {args.frames} frames at {args.size}x{args.size}, hints on 2 frames, cond+uncond, "
          f"euler, {args.steps} timed steps after one warm-up step")
    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-sparsectrl-") as folder:
        write_random_sparsectrl(Path(folder) / f"bench_sparsectrl_{args.kind}.safetensors", kind=args.kind, seed=1,
                                dtype=torch.float16)
        results = []
        for case in CASES:
            command = [sys.executable, __file__, "--case", case, "--kind", args.kind, "--frames", str(args.frames),
                       "--size", str(args.size), "--steps", str(args.steps), "--folder", folder]
            env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{case}: skipped ({last})")
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = next(r for r in results if r["case"] == "unet")
    rows = [(r["case"], f"{r['control_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['seconds']:.2f}",
             f"{r['seconds'] / base['seconds']:.2f}x") for r in results]
    print_table(("case", "control MB", "peak RSS MB", "s/step", "time vs unet"), rows)


if __name__ == "__main__":
    main()
