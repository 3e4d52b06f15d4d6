"""The V3 vid2vid nodes: the definitions saved workflows rely on, and the keyframe node end to end (tier 2)."""
import json

import pytest
import torch

from support.node_info import node_info_differences

pytestmark = pytest.mark.tier2

NODE_IDS = ["SteadyFramePerWindowControl", "SteadyFrameNoise", "SteadyFrameKeyframeLatents"]


def _nodes():
    from steadyframe.nodes import vid2vid_nodes

    return vid2vid_nodes.NODES


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_definition_equals_the_one_saved_before_v3(comfyui_root, node_id):
    node = next(n for n in _nodes() if n.GET_SCHEMA().node_id == node_id)
    info = json.loads(json.dumps(node.GET_NODE_INFO_V1()))  # as the server sends it
    assert node_info_differences(node_id, info) == []


def test_every_vid2vid_node_is_checked(comfyui_root):
    assert sorted(n.GET_SCHEMA().node_id for n in _nodes()) == sorted(NODE_IDS)


def test_keyframe_latents_node_blends_and_keeps_the_latent_keys(comfyui_root):
    from steadyframe.motion.keyframe_latents import blend_keyframe_latents
    from steadyframe.nodes.vid2vid_nodes import SteadyFrameKeyframeLatents

    samples = torch.randn(6, 4, 8, 8)
    mask = torch.ones(6, 1, 64, 64)
    start = {"samples": torch.randn(1, 4, 8, 8)}
    (out,) = SteadyFrameKeyframeLatents.execute({"samples": samples, "noise_mask": mask}, 0.8, 1.0, 1.0, 4.0,
                                                start_latent=start).result
    assert out["noise_mask"] is mask
    assert torch.equal(out["samples"], blend_keyframe_latents(samples, start["samples"], None, 0.8, 1.0, 1.0, 4.0))


def test_noise_node_gives_the_noise_object_sampler_custom_advanced_calls(comfyui_root):
    from steadyframe.nodes.vid2vid_nodes import SteadyFrameNoise

    (noise,) = SteadyFrameNoise.execute(5, "shared", 0.5, 16, 4, 8).result
    out = noise.generate_noise({"samples": torch.zeros(3, 4, 8, 8)})
    assert noise.seed == 5 and out.shape == (3, 4, 8, 8) and torch.equal(out[0], out[2])
