"""The V3 schedule nodes describe themselves to the server exactly as the V1 nodes did (tier 2).

Saved workflows name node ids, input names and order, types, defaults, limits, combo choices and
outputs; ``object_info_v2.json`` holds what the server sent for each node before V3.
"""
import json

import pytest

from support.node_info import node_info_differences

pytestmark = pytest.mark.tier2

NODE_IDS = ["SteadyFramePromptSchedule", "SteadyFrameValueSchedule"]


def _nodes():
    from steadyframe.nodes import schedule_nodes

    return {node.GET_SCHEMA().node_id: node for node in schedule_nodes.NODES}


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_definition_equals_the_one_saved_before_v3(comfyui_root, node_id):
    info = json.loads(json.dumps(_nodes()[node_id].GET_NODE_INFO_V1()))  # as the server sends it
    assert node_info_differences(node_id, info) == []


def test_every_schedule_node_is_checked(comfyui_root):
    assert sorted(_nodes()) == NODE_IDS


def test_weight_inputs_take_a_float_or_a_value_schedule_as_a_socket(comfyui_root):
    optional = _nodes()["SteadyFramePromptSchedule"].GET_NODE_INFO_V1()["input"]["optional"]
    for name in ("pw_a", "pw_b", "pw_c", "pw_d"):
        kind, options = optional[name]
        assert kind == "FLOAT,FLOATS"
        assert options["forceInput"] is True and "default" not in options and "widgetType" not in options
