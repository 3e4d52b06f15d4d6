"""Every node on ComfyUI's V3 schema describes itself as its classic (V1) node did before V3, so
saved workflows keep loading: same id, display name, category, inputs (names, order, types,
defaults, limits, combo choices, optional or not) and outputs. The reference is the /object_info the
V1 nodes gave (tests/fixtures/saved_before_v3/object_info_v2.json)."""
import pytest

from support.node_info import FOLDER_COMBOS, before_v3_entries, node_info_differences

pytestmark = pytest.mark.tier2


@pytest.fixture(scope="module")
def pack_nodes(comfyui_root) -> dict:
    from steadyframe.nodes import node_classes

    return {cls.GET_SCHEMA().node_id: cls for cls in node_classes()}


def test_every_node_before_v3_is_still_declared(pack_nodes):
    assert set(before_v3_entries()) <= set(pack_nodes)


@pytest.mark.parametrize("node_id", sorted(before_v3_entries()))
def test_node_matches_its_entry_before_v3(pack_nodes, node_id):
    info = pack_nodes[node_id].GET_NODE_INFO_V1()
    assert node_info_differences(node_id, info, folder_combos=FOLDER_COMBOS.get(node_id, ())) == []


def test_a_changed_input_is_reported(pack_nodes):
    """The comparison can fail: a default moved by one step is a difference."""
    node_id = "SteadyFrameApplyMotionLoRA"
    info = pack_nodes[node_id].GET_NODE_INFO_V1()
    info["input"]["required"]["strength"][1]["default"] += 0.01
    differences = node_info_differences(node_id, info, folder_combos=FOLDER_COMBOS[node_id])
    assert len(differences) == 1 and "input required.strength" in differences[0]


def test_appended_optional_input_and_output_are_allowed_but_moved_ones_are_not(pack_nodes):
    """New optional inputs after the old ones and new trailing outputs keep old workflows loading."""
    node_id = "SteadyFrameVideoCombine"
    info = pack_nodes[node_id].GET_NODE_INFO_V1()
    info["input"].setdefault("optional", {})["extra_mask"] = ["MASK", {}]
    info["input_order"].setdefault("optional", []).append("extra_mask")
    info["output"] = list(info["output"]) + ["INT"]
    info["output_name"] = list(info["output_name"]) + ["extra_count"]
    info["output_is_list"] = list(info["output_is_list"]) + [False]
    assert node_info_differences(node_id, info) == []
    info["input_order"]["optional"].insert(0, info["input_order"]["optional"].pop())
    assert any("extra_mask" in d for d in node_info_differences(node_id, info))


def test_a_combo_that_gains_choices_is_allowed_but_one_that_loses_is_not(pack_nodes):
    node_id = "SteadyFrameVideoCombine"
    info = pack_nodes[node_id].GET_NODE_INFO_V1()
    spec = info["input"]["required"]["format"]
    choices = list(spec[1]["options"]) if spec[0] == "COMBO" else list(spec[0])
    gained = ["COMBO", {**spec[1], "options": choices + ["new-format"]}] if spec[0] == "COMBO" else [choices + ["new-format"], spec[1]]
    info["input"]["required"]["format"] = gained
    assert node_info_differences(node_id, info) == []
    lost = ["COMBO", {**spec[1], "options": choices[1:]}] if spec[0] == "COMBO" else [choices[1:], spec[1]]
    info["input"]["required"]["format"] = lost
    assert any("format" in d for d in node_info_differences(node_id, info))
