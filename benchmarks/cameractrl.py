"""CameraCtrl: seconds per sampling step and peak RSS, ours vs AnimateDiff-Evolved (ADE).

Needs a ComfyUI (``COMFYUI_PATH``) and, for the ADE columns, AnimateDiff-Evolved in its
``custom_nodes``. Full SD1.5 UNet with random weights, a full-size random v3 motion module and a
full-size random CameraCtrl adapter in the published layout, a small latent; every case runs in
its own process so its peak RSS is its own. Cases (the first is the baseline of both packs):

- ``v3``:         the v3 motion module alone (ours: Load Motion Module; ADE: Gen2 load/apply/use)
- ``cameractrl``: the same + CameraCtrl with a 16-frame orbit (ours: Apply CameraCtrl; ADE: Load/Apply
                  AnimateDiff+CameraCtrl Model)

``weights MiB`` is what the case holds in motion/CameraCtrl parameters and buffers: CameraCtrl
should add exactly the adapter file's tensors (no dense copies of existing weights).

    COMFYUI_PATH=/path/to/ComfyUI flock /tmp/steadyframe-heavy.lock python benchmarks/cameractrl.py
    ... --frames 8 --steps 2 --size 64 --repeats 1
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

CASES = ("v3", "cameractrl")
MOTION, ADAPTER = "bench_cc_v3.safetensors", "bench_cameractrl.safetensors"


def _mib(modules) -> float:
    seen, total = set(), 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.data_ptr() not in seen:
                seen.add(tensor.data_ptr())
                total += tensor.numel() * tensor.element_size()
    return total / 2 ** 20


def _poses(frames):
    from steadyframe.motion.camera_poses import preset_poses

    return preset_poses("orbit left", frames)


def _ours(model, case, frames):
    from steadyframe.comfy_glue.camera_ctrl import CAMERA_PATCH_KEY
    from steadyframe.comfy_glue.motion_patch import PATCH_KEY
    from steadyframe.nodes.camera_nodes import SteadyFrameApplyCameraCtrl
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    (model,) = SteadyFrameLoadMotionModule.execute(model, MOTION, context_length=0).result
    if case == "cameractrl":
        (model,) = SteadyFrameApplyCameraCtrl.execute(model, ADAPTER, _poses(frames)).result
    held = [p.model for key in (PATCH_KEY, CAMERA_PATCH_KEY) for p in model.get_additional_models_with_key(key)]
    return model, _mib(held)


def _ade_model(model, case, frames):
    nodes = import_ade().NODE_CLASS_MAPPINGS
    if case == "cameractrl":
        (motion,) = nodes["ADE_LoadAnimateDiffModelWithCameraCtrl"]().load_camera_ctrl(MOTION, ADAPTER)
        rows = [[p.timestamp, p.fx, p.fy, p.cx, p.cy, p.pose_width, p.pose_height, *p.w2c] for p in _poses(frames)]
        (group,) = nodes["ADE_ApplyAnimateDiffModelWithCameraCtrl"]().apply_motion_model(motion, rows)
    else:
        (motion,) = nodes["ADE_LoadAnimateDiffModel"]().load_motion_model(MOTION)
        (group,) = nodes["ADE_ApplyAnimateDiffModel"]().apply_motion_model(motion, 0.0, 1.0)
    (model,) = nodes["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, "sqrt_linear (AnimateDiff)", m_models=group)
    return model, _mib([motion.model])


def run_case(pack: str, case: str, size: int, frames: int, steps: int, folder: str) -> dict:
    setup_comfy_and_pack()
    import folder_paths
    import torch

    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_model_patcher

    folder_paths.add_model_folder_path("animatediff_models", folder)
    model, weights = (_ours if pack == "ours" else _ade_model)(make_sd15_model_patcher(0), case, frames)
    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}

    def sample(n_steps):
        return comfy_nodes.KSampler().sample(model, 0, n_steps, 7.5, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)

    sample(1)  # warm-up: loads and patches the model
    start = time.perf_counter()
    sample(steps)
    seconds = (time.perf_counter() - start) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return {"pack": pack, "case": case, "s_per_step": seconds, "peak_rss_gib": peak, "weights_mib": weights}


def main():
    args = ours_vs_ade_parser(__doc__).parse_args()
    if args.run:
        print(json.dumps(run_case(args.run[0], args.run[1], args.size, args.frames, args.steps, args.folder)))
        return
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    sys.path.insert(0, str(REPO / "tests"))
    import safetensors.torch
    import torch

    from support.cameractrl_files import write_random_cameractrl
    from support.motion_files import write_random_motion_module

    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-") as folder:
        write_random_motion_module(Path(folder) / MOTION, "v3", dtype=torch.float16)
        write_random_cameractrl(Path(folder) / ADAPTER, dtype=torch.float16)
        adapter = safetensors.torch.load_file(str(Path(folder) / ADAPTER))
        file_mib = sum(t.numel() * t.element_size() for t in adapter.values()) / 2 ** 20
        results = run_ours_vs_ade(__file__, CASES, args, folder)
    print(f"\nCameraCtrl, SD1.5 UNet random weights, v3 + CameraCtrl adapter (fp16 files, {file_mib:.0f} MiB adapter), "
          f"{args.frames} frames {args.size}x{args.size}, {args.steps} Euler steps, cfg 7.5, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, fastest of {args.repeats}")
    print(f"{'case':<12}{'ours s/step':>12}{'ADE s/step':>12}{'ratio':>8}{'ours RSS GiB':>14}{'ADE RSS GiB':>13}"
          f"{'ours weights MiB':>18}{'ADE weights MiB':>17}")
    for case in CASES:
        ours, ade = results[("ours", case)], results[("ade", case)]
        print(f"{case:<12}{ours['s_per_step']:>12.2f}{ade['s_per_step']:>12.2f}{ours['s_per_step'] / ade['s_per_step']:>8.2f}"
              f"{ours['peak_rss_gib']:>14.2f}{ade['peak_rss_gib']:>13.2f}{ours['weights_mib']:>18.1f}{ade['weights_mib']:>17.1f}")


if __name__ == "__main__":
    main()
