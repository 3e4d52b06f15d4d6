"""The V3 motion nodes describe themselves to the server exactly as the V1 nodes did (tier 2).

Saved workflows name node ids, input names and order, types, defaults, limits, combo choices and
outputs; ``object_info_v2.json`` holds what the server sent for each node before V3.
"""
import json

import pytest

from support.node_info import FOLDER_COMBOS, node_info_differences

pytestmark = pytest.mark.tier2


def _nodes():
    from steadyframe.nodes import motion_lora_nodes, motion_nodes

    return motion_nodes.NODES + motion_lora_nodes.NODES


@pytest.mark.parametrize("node_id", ["SteadyFrameLoadMotionModule", "SteadyFrameApplyMotionLoRA"])
def test_definition_equals_the_one_saved_before_v3(comfyui_root, node_id):
    node = next(n for n in _nodes() if n.GET_SCHEMA().node_id == node_id)
    info = json.loads(json.dumps(node.GET_NODE_INFO_V1()))  # as the server sends it
    assert node_info_differences(node_id, info, FOLDER_COMBOS.get(node_id, ())) == []


def test_every_motion_node_is_checked(comfyui_root):
    assert sorted(n.GET_SCHEMA().node_id for n in _nodes()) == ["SteadyFrameApplyMotionLoRA", "SteadyFrameLoadMotionModule"]
