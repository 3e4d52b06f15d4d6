"""Consistent noise and the vid2vid workflow against real ComfyUI (tier 2, no UNet needed)."""
import json

import pytest
import torch

pytestmark = pytest.mark.tier2


@pytest.mark.parametrize("frames,length,overlap", [(24, 16, 4), (40, 16, 4), (33, 8, 3), (12, 16, 4), (17, 16, 0)])
def test_freenoise_equals_core_apply_freenoise(comfyui_root, frames, length, overlap):
    import comfy.context_windows
    import comfy.sample

    from steadyframe.nodes.vid2vid_nodes import SteadyFrameNoise

    seed = 123456789
    latent = {"samples": torch.zeros(frames, 4, 8, 8)}
    (ours,) = SteadyFrameNoise.execute(seed, "FreeNoise", 0.5, length, overlap, 8).result
    # what core does with freenoise=True: RandomNoise, then the sampler wrapper shuffles with the same seed
    core = comfy.context_windows.apply_freenoise(comfy.sample.prepare_noise(latent["samples"], seed), 0, length, overlap, seed)
    assert torch.equal(ours.generate_noise(latent), core)


@pytest.mark.parametrize("batch_index", [None, [2, 0, 5]])
def test_per_frame_equals_core_random_noise(comfyui_root, batch_index):
    from comfy_extras.nodes_custom_sampler import Noise_RandomNoise

    from steadyframe.nodes.vid2vid_nodes import SteadyFrameNoise

    latent = {"samples": torch.zeros(3, 4, 8, 8)}
    if batch_index is not None:
        latent["batch_index"] = batch_index
    (ours,) = SteadyFrameNoise.execute(2 ** 63 + 5, "per-frame", 0.5, 16, 4, 8).result
    assert torch.equal(ours.generate_noise(latent), Noise_RandomNoise(2 ** 63 + 5).generate_noise(latent))


def core_node_class(type_name):
    """The class of a core node id: nodes.py, or a V3 node of the comfy_extras modules the workflow uses."""
    import importlib

    import nodes as comfy_nodes

    if type_name in comfy_nodes.NODE_CLASS_MAPPINGS:
        return comfy_nodes.NODE_CLASS_MAPPINGS[type_name]
    for module_name in ("comfy_extras.nodes_custom_sampler", "comfy_extras.nodes_canny"):
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and hasattr(value, "define_schema") and value.__module__ == module_name:
                try:
                    if value.GET_SCHEMA().node_id == type_name:
                        return value
                except Exception:  # abstract bases have no schema
                    continue
    raise AssertionError(f"core node {type_name} not found in ComfyUI")


def test_workflow_core_nodes_match_comfyui(comfyui_root, repo_root):
    from support.ui_workflow import check_node

    workflow = json.loads((repo_root / "workflows/vid2vid_animatediff_controlnet.json").read_text())
    checked = []
    for node in workflow["nodes"]:
        if node["type"].startswith("SteadyFrame") or node["type"] == "Note":
            continue
        cls = core_node_class(node["type"])
        return_types = cls.RETURN_TYPES
        check_node(node, cls.INPUT_TYPES(), return_types() if callable(return_types) else return_types)
        checked.append(node["type"])
    assert {"SamplerCustomAdvanced", "ControlNetApplyAdvanced", "BasicScheduler", "CFGGuider", "Canny"} <= set(checked)
