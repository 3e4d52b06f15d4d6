"""The shipped vid2vid workflow is a consistent UI-format graph that matches the pack's node inputs."""
import json

import pytest

from support.ui_workflow import check_node
from support.workflow_check import pack_input_types, pack_object_info

WORKFLOW = "workflows/vid2vid_animatediff_controlnet.json"


@pytest.fixture(scope="module")
def workflow(repo_root):
    return json.loads((repo_root / WORKFLOW).read_text())


def nodes_by_id(workflow):
    return {n["id"]: n for n in workflow["nodes"]}


def source_of(workflow, node, input_name):
    nodes = nodes_by_id(workflow)
    link_id = next(i["link"] for i in node["inputs"] if i["name"] == input_name)
    link = next(l for l in workflow["links"] if l[0] == link_id)
    return nodes[link[1]], link[2]


def test_links_and_slots_agree(workflow):
    nodes = nodes_by_id(workflow)
    assert workflow["version"] == 0.4
    assert workflow["last_node_id"] == max(nodes) and workflow["last_link_id"] == max(l[0] for l in workflow["links"])
    for link_id, src, src_slot, dst, dst_slot, link_type in workflow["links"]:
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert link_id in out["links"] and inp["link"] == link_id, link_id
        assert out["type"] == inp["type"] == link_type, link_id


def pack_nodes(workflow):
    return [n for n in workflow["nodes"] if n["type"].startswith("SteadyFrame")]


def test_pack_nodes_match_their_input_types(workflow):
    assert len(pack_nodes(workflow)) == 7
    for node in pack_nodes(workflow):
        check_against_input_types(node)


def check_against_input_types(node):
    entry = pack_object_info().get(node["type"])
    assert entry is not None, f"{node['type']} is not a node of the pack"
    check_node(node, pack_input_types(node["type"]), entry["output"])


def test_vid2vid_wiring(workflow):
    nodes = nodes_by_id(workflow)
    sampler = next(n for n in workflow["nodes"] if n["type"] == "SamplerCustomAdvanced")
    noise, _ = source_of(workflow, sampler, "noise")
    assert noise["type"] == "SteadyFrameNoise" and noise["widgets_values"][2] == "flow-warped"
    flow, _ = source_of(workflow, noise, "flow")
    video, _ = source_of(workflow, flow, "frames")
    assert video["type"] == "SteadyFrameLoadVideo"
    # the hint comes from the video through the (replaceable) preprocessor
    apply = next(n for n in workflow["nodes"] if n["type"] == "ControlNetApplyAdvanced")
    preprocessor, _ = source_of(workflow, apply, "image")
    assert source_of(workflow, preprocessor, "image")[0] is video
    # the model goes motion module -> per-window control -> guider and scheduler
    guider, _ = source_of(workflow, sampler, "guider")
    model, _ = source_of(workflow, guider, "model")
    assert model["type"] == "SteadyFramePerWindowControl"
    assert source_of(workflow, model, "model")[0]["type"] == "SteadyFrameLoadMotionModule"
    assert source_of(workflow, guider, "positive")[0] is apply
    # decoded frames are deflickered, then written with the source's frame rate and audio
    combine = next(n for n in workflow["nodes"] if n["type"] == "SteadyFrameVideoCombine")
    assert source_of(workflow, combine, "images")[0]["type"] == "SteadyFrameDeflicker"
    assert source_of(workflow, combine, "frame_rate") == (video, 2)
    assert source_of(workflow, combine, "audio") == (video, 3)
    assert any(n["type"] == "Note" and "ONE HINT FRAME PER VIDEO FRAME" in n["widgets_values"][0] for n in nodes.values())
