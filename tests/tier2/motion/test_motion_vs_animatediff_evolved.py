"""Side by side with AnimateDiff-Evolved (ADE) in the same ComfyUI process, when ADE is installed.

Issue item 3: with default settings, v2 and v3 sampling equals ADE's Gen1 loader with
``sqrt_linear (AnimateDiff)`` and no context options (same seed, sampler, frame count) to a relative
L2 below 1e-3. Also checks that the two packs coexist: no node id clash, one shared
``animatediff_models`` folder list that both see.

Heavy (a full SD1.5 UNet with random weights plus full-size motion modules, on CPU).
"""
import pytest
import torch

from support.motion_files import write_random_motion_module

pytestmark = pytest.mark.tier2

FRAMES = 8
STEPS = 2


@pytest.fixture(scope="module")
def motion_folder(ade, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    folder = tmp_path_factory.mktemp("ade_side_by_side")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    for version in ("v2", "v3"):
        write_random_motion_module(folder / f"cmp_{version}.safetensors", version=version, seed=11, dtype=torch.float16)
    return folder


def _sample(model, frames=FRAMES, steps=STEPS, seed=21):
    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(3)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, 8, 8)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, 4.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)
    return out["samples"]


def _relative_l2(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_latents_equal_animatediff_evolved_gen1_sqrt_linear(ade, motion_folder, base_model, version):
    import comfy.model_management

    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    name = f"cmp_{version}.safetensors"
    ours = _sample(SteadyFrameLoadMotionModule.execute(base_model, name).result[0])  # every setting at its default
    comfy.model_management.unload_all_models()
    gen1 = ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffLoaderGen1"]()
    (ade_model,) = gen1.load_mm_and_inject_params(base_model, name, "sqrt_linear (AnimateDiff)")
    theirs = _sample(ade_model)
    comfy.model_management.unload_all_models()
    assert _relative_l2(ours, theirs) < 1e-3
    # the comparison can fail: without a motion module the result is far from ADE's
    assert _relative_l2(_sample(base_model), theirs) > 1e-2


def test_both_packs_list_the_same_motion_files_and_ids_do_not_clash(ade, motion_folder):
    import folder_paths

    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule
    from support.node_info import before_v3_entries

    # node ids never change (saved workflows name them), so the pack's ids are those it always had
    assert not set(before_v3_entries()) & set(ade.NODE_CLASS_MAPPINGS)
    ours = set(SteadyFrameLoadMotionModule.GET_NODE_INFO_V1()["input"]["required"]["motion_module"][1]["options"])
    theirs = set(ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffLoaderGen1"].INPUT_TYPES()["required"]["model_name"][0])
    assert {"cmp_v2.safetensors", "cmp_v3.safetensors"} <= ours & theirs
    paths = folder_paths.get_folder_paths("animatediff_models")
    assert any("AnimateDiff-Evolved" in p for p in paths) and str(motion_folder) in paths
