"""FreeInit and two chained motion models: seconds per sampling step and peak RSS, ours vs ADE.

Needs a ComfyUI (``COMFYUI_PATH``) and, for the ADE columns, AnimateDiff-Evolved in its
``custom_nodes``. Full SD1.5 UNet with random weights (ADE builds its modules at the SD1.5
widths), full-size random v2 and v3 motion files, a small latent; every case in its own process
so peak RSS is its own. Cases:

- ``single``:   Load Motion Module (v2) / ADE Gen1 (v2), the baseline of both packs
- ``freeinit``: the same + FreeInit, 2 iterations, gaussian (ADE: its FreeInit iteration options)
- ``chain``:    v2 for steps 0..50%, v3 for 50..100% (ADE: Gen2 Apply AnimateDiff Model x2)

s/step is the wall time of one sampling call divided by its steps (FreeInit: by steps x iterations,
so it shows the per-step overhead; the run itself takes iterations times longer).

    COMFYUI_PATH=/path/to/ComfyUI flock /tmp/steadyframe-heavy.lock python benchmarks/motion_freeinit_chain.py
    ... --frames 8 --steps 2 --repeats 2
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from _pack import import_ade, ours_vs_ade_parser, run_ours_vs_ade, setup_comfy_and_pack  # noqa: E402

CASES = ("single", "freeinit", "chain")
ITERATIONS = 2


def _ours_model(model, case, v2, v3):
    from steadyframe.nodes.motion_keyframe_nodes import SteadyFrameChainMotionModule, SteadyFrameFreeInit, SteadyFrameMotionSteps
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    (model,) = SteadyFrameLoadMotionModule.execute(model, v2, context_length=0).result
    if case == "freeinit":
        (model,) = SteadyFrameFreeInit.execute(model, ITERATIONS, "gaussian").result
    elif case == "chain":
        (model,) = SteadyFrameMotionSteps.execute(model, 0.0, 0.5).result
        (model,) = SteadyFrameChainMotionModule.execute(model, v3, 0.5, 1.0).result
    return model


def _ade_model(model, case, v2, v3):
    ade = import_ade()
    nodes = ade.NODE_CLASS_MAPPINGS
    schedule = "sqrt_linear (AnimateDiff)"
    if case == "chain":
        group = None
        for name, start, end in ((v2, 0.0, 0.5), (v3, 0.5, 1.0)):
            (motion,) = nodes["ADE_LoadAnimateDiffModel"]().load_motion_model(name)
            (group,) = nodes["ADE_ApplyAnimateDiffModel"]().apply_motion_model(motion, start, end, prev_m_models=group)
        return nodes["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, schedule, m_models=group)[0]
    settings = None
    if case == "freeinit":
        (opts,) = nodes["ADE_IterationOptsFreeInit"]().create_iter_opts(ITERATIONS, "gaussian", 0.25, 0.25, 4, 999, False,
                                                                         "FreeInit [sampler sigma]")
        (settings,) = nodes["ADE_AnimateDiffSamplingSettings"]().create_settings(0, "default", "comfy", 0, iteration_opts=opts)
    return nodes["ADE_AnimateDiffLoaderGen1"]().load_mm_and_inject_params(model, v2, schedule, sample_settings=settings)[0]


def run_case(pack: str, case: str, size: int, frames: int, steps: int, folder: str) -> dict:
    setup_comfy_and_pack()
    import folder_paths
    import torch

    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_model_patcher

    folder_paths.add_model_folder_path("animatediff_models", folder)
    model = make_sd15_model_patcher(0)
    make = _ours_model if pack == "ours" else _ade_model
    model = make(model, case, "bench_v2.safetensors", "bench_v3.safetensors")
    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}

    def sample(n_steps):
        return comfy_nodes.KSampler().sample(model, 0, n_steps, 7.5, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)

    sample(1)  # warm-up: loads and patches the model
    start = time.perf_counter()
    sample(steps)
    runs = ITERATIONS if case == "freeinit" else 1
    seconds = (time.perf_counter() - start) / (steps * runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return {"pack": pack, "case": case, "s_per_step": seconds, "peak_rss_gib": peak}


def main():
    args = ours_vs_ade_parser(__doc__).parse_args()
    if args.run:
        print(json.dumps(run_case(args.run[0], args.run[1], args.size, args.frames, args.steps, args.folder)))
        return
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    sys.path.insert(0, str(REPO / "tests"))
    import torch

    from support.motion_files import write_random_motion_module

    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-") as folder:
        for version in ("v2", "v3"):
            write_random_motion_module(Path(folder) / f"bench_{version}.safetensors", version, dtype=torch.float16)
        results = run_ours_vs_ade(__file__, CASES, args, folder)
    print(f"\nFreeInit / chained motion models, SD1.5 UNet random weights, {args.frames} frames {args.size}x{args.size}, "
          f"{args.steps} Euler steps, cfg 7.5, torch {torch.__version__}, {os.cpu_count()} CPUs, fastest of {args.repeats}")
    print(f"{'case':<12}{'ours s/step':>12}{'ADE s/step':>12}{'ratio':>8}{'ours RSS GiB':>14}{'ADE RSS GiB':>13}")
    for case in CASES:
        ours, ade = results[("ours", case)], results[("ade", case)]
        print(f"{case:<12}{ours['s_per_step']:>12.2f}{ade['s_per_step']:>12.2f}{ours['s_per_step'] / ade['s_per_step']:>8.2f}"
              f"{ours['peak_rss_gib']:>14.2f}{ade['peak_rss_gib']:>13.2f}")


if __name__ == "__main__":
    main()
