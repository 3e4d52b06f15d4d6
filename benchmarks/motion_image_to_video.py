"""AnimateLCM-I2V and PIA: seconds per sampling step, peak RSS and added weights, ours vs ADE.

Needs a ComfyUI (``COMFYUI_PATH``) and, for the ADE columns, AnimateDiff-Evolved in its
``custom_nodes``. Full SD1.5 UNet and VAE with random weights, full-size random AnimateLCM-I2V
and PIA files in their published layouts, a small latent; every case runs in its own process so
peak RSS is its own. Cases (start image 8x the latent size, cfg 2, Euler):

- ``plain``:          Load Motion Module / ADE Gen1 on an AnimateLCM file of the same layout without
                      the encoder (ADE's Gen1 cannot take an I2V file without a ref latent): the
                      baseline without an image input
- ``animatelcm_i2v``: Load AnimateLCM-I2V / ADE Load + Scale Ref Image and VAE Encode + Apply
                      AnimateLCM-I2V Model + Use Evolved Sampling
- ``pia``:            Load PIA (Animation (Medium Motion)) / ADE Load AnimateDiff Model + PIA paper
                      preset + Apply AnimateDiff-PIA Model + Use Evolved Sampling

``added MiB``: the weights our MODEL clone holds beyond the UNet (motion modules, image
encoder, PIA's extra conv_in kernel), and whether any UNet weight was copied (it must not be).
s/step: the wall time of one sampling call (the start image's VAE encode included) / steps.

    COMFYUI_PATH=/path/to/ComfyUI flock /tmp/steadyframe-heavy.lock python benchmarks/motion_image_to_video.py
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

CASES = ("plain", "animatelcm_i2v", "pia")
FILES = {"plain": "bench_lcm.safetensors", "animatelcm_i2v": "bench_i2v.safetensors", "pia": "bench_pia.safetensors"}
PRESET = "Animation (Medium Motion)"


def _ours_model(model, case, image, vae):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadAnimateLCMI2V, SteadyFrameLoadPIA
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    if case == "plain":
        return SteadyFrameLoadMotionModule.execute(model, FILES[case], context_length=0).result[0]
    if case == "animatelcm_i2v":
        return SteadyFrameLoadAnimateLCMI2V.execute(model, FILES[case], image, vae, context_length=0).result[0]
    return SteadyFrameLoadPIA.execute(model, FILES[case], image, vae, affinity_preset=PRESET, context_length=0).result[0]


def _ade_model(model, case, image, vae, latent):
    nodes = import_ade().NODE_CLASS_MAPPINGS
    if case == "plain":
        return nodes["ADE_AnimateDiffLoaderGen1"]().load_mm_and_inject_params(model, FILES[case], "autoselect")[0]
    if case == "animatelcm_i2v":
        (motion, _) = nodes["ADE_LoadAnimateLCMI2VModel"]().load_motion_model(FILES[case])
        (ref,) = nodes["ADE_UpscaleAndVAEEncode"]().preprocess_images(image, vae, latent, "bilinear", "center")
        (group,) = nodes["ADE_ApplyAnimateLCMI2VModel"]().apply_motion_model(motion, ref)
    else:
        (motion,) = nodes["ADE_LoadAnimateDiffModel"]().load_motion_model(FILES[case])
        (pia_input,) = nodes["ADE_InputPIA_PaperPresets"]().create_pia_input(PRESET, 0)
        (group,) = nodes["ADE_ApplyAnimateDiffModelWithPIA"]().apply_motion_model(motion, image, vae, 0.0, 1.0, pia_input=pia_input)
    return nodes["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, "autoselect", m_models=group)[0]


def _added_weights(base, model) -> tuple:
    """(MiB of weights beyond the UNet's, True if a UNet weight was copied)."""
    unet = {p.data_ptr() for p in base.model.parameters()}
    total = 0
    for patcher in model.get_nested_additional_models():
        total += sum(p.numel() * p.element_size() for p in patcher.model.parameters())
    for patch in model.object_patches.values():
        extra = getattr(patch, "_steadyframe_extra_weight", None)
        if extra is not None:
            total += extra.numel() * extra.element_size()
        params = getattr(patch, "parameters", None)
        if params is not None and any(p.data_ptr() not in unet for p in patch.parameters()):
            return total / 2 ** 20, True
    return total / 2 ** 20, False


def run_case(pack: str, case: str, size: int, frames: int, steps: int, folder: str) -> dict:
    setup_comfy_and_pack()
    import folder_paths
    import torch

    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_model_patcher, make_sd15_vae

    folder_paths.add_model_folder_path("animatediff_models", folder)
    base = make_sd15_model_patcher(0)
    vae = make_sd15_vae(0)
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, size, size, 3, generator=gen)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}
    model = _ours_model(base, case, image, vae) if pack == "ours" else _ade_model(base, case, image, vae, latent)
    added, copied = _added_weights(base, model) if pack == "ours" else (float("nan"), False)

    def sample(n_steps):
        return comfy_nodes.KSampler().sample(model, 0, n_steps, 2.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)

    sample(1)  # warm-up: loads and patches the model
    start = time.perf_counter()
    sample(steps)
    seconds = (time.perf_counter() - start) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return {"pack": pack, "case": case, "s_per_step": seconds, "peak_rss_gib": peak, "added_mib": added, "unet_copy": copied}


def main():
    args = ours_vs_ade_parser(__doc__).parse_args()
    if args.run:
        print(json.dumps(run_case(args.run[0], args.run[1], args.size, args.frames, args.steps, args.folder)))
        return
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    sys.path.insert(0, str(REPO / "tests"))
    import torch

    from support.image_motion_files import write_image_motion_file
    from support.motion_files import write_random_motion_module

    with tempfile.TemporaryDirectory(prefix="steadyframe-bench-") as folder:
        write_image_motion_file(Path(folder) / FILES["animatelcm_i2v"], "animatelcm_i2v", dtype=torch.float16)
        write_image_motion_file(Path(folder) / FILES["pia"], "pia", dtype=torch.float16)
        write_random_motion_module(Path(folder) / FILES["plain"], "animatelcm", dtype=torch.float16)
        results = run_ours_vs_ade(__file__, CASES, args, folder)
    print(f"\nImage to video, SD1.5 UNet + VAE random weights, {args.frames} frames {args.size}x{args.size}, "
          f"{args.steps} Euler steps, cfg 2, torch {torch.__version__}, {os.cpu_count()} CPUs, fastest of {args.repeats}")
    print(f"{'case':<16}{'ours s/step':>12}{'ADE s/step':>12}{'ratio':>8}{'ours RSS GiB':>14}{'ADE RSS GiB':>13}"
          f"{'ours added MiB':>16}{'UNet copy':>11}")
    for case in CASES:
        ours, ade = results[("ours", case)], results[("ade", case)]
        print(f"{case:<16}{ours['s_per_step']:>12.2f}{ade['s_per_step']:>12.2f}{ours['s_per_step'] / ade['s_per_step']:>8.2f}"
              f"{ours['peak_rss_gib']:>14.2f}{ade['peak_rss_gib']:>13.2f}{ours['added_mib']:>16.1f}"
              f"{'yes' if ours['unet_copy'] else 'no':>11}")


if __name__ == "__main__":
    main()
