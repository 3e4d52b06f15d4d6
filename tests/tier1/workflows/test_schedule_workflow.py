"""The shipped prompt-travel workflow is wired correctly and its widgets match the node inputs."""
import json

import pytest

from steadyframe.schedule import parse_prompt_schedule
from support.ui_workflow import widget_layout
from support.workflow_check import pack_input_types, pack_object_info


@pytest.fixture(scope="module")
def workflow(repo_root):
    return json.loads((repo_root / "workflows" / "prompt_travel.json").read_text())


def widget_names(node_type: str) -> list[str]:
    """Input names that the frontend shows as widgets, in widgets_values order."""
    return widget_layout(pack_input_types(node_type))[0]


def test_links_are_consistent(workflow):
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for link_id, origin, origin_slot, target, _target_slot, kind in workflow["links"]:
        assert link_id in nodes[origin]["outputs"][origin_slot]["links"]
        target_inputs = [i for i in nodes[target]["inputs"] if i["link"] == link_id]
        assert len(target_inputs) == 1 and target_inputs[0]["type"] == kind
        assert nodes[origin]["outputs"][origin_slot]["type"] == kind
    assert workflow["last_link_id"] == max(link[0] for link in workflow["links"])
    assert workflow["last_node_id"] == max(nodes)


def test_chain_checkpoint_motion_schedule_sampler_decode_save(workflow):
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}

    def source_type(node, input_name):
        link = next(i["link"] for i in node["inputs"] if i["name"] == input_name)
        return nodes[links[link][1]]["type"]

    sampler = next(n for n in nodes.values() if n["type"] == "KSampler")
    assert source_type(sampler, "model") == "SteadyFrameLoadMotionModule"
    assert source_type(sampler, "positive") == source_type(sampler, "negative") == "SteadyFramePromptSchedule"
    motion = next(n for n in nodes.values() if n["type"] == "SteadyFrameLoadMotionModule")
    assert source_type(motion, "model") == "CheckpointLoaderSimple"
    decode = next(n for n in nodes.values() if n["type"] == "VAEDecode")
    assert source_type(decode, "samples") == "KSampler"
    save = next(n for n in nodes.values() if n["type"] == "SaveAnimatedWEBP")
    assert source_type(save, "images") == "VAEDecode"


@pytest.mark.parametrize("node_type", ["SteadyFramePromptSchedule", "SteadyFrameLoadMotionModule"])
def test_widget_values_match_the_node_inputs(workflow, node_type):
    node = next(n for n in workflow["nodes"] if n["type"] == node_type)
    assert node_type in pack_object_info()
    names = widget_names(node_type)
    assert len(node["widgets_values"]) == len(names), names
    values = dict(zip(names, node["widgets_values"]))
    input_types = pack_input_types(node_type)
    inputs = {**input_types["required"], **input_types.get("optional", {})}
    for name, value in values.items():
        kind = inputs[name][0]
        if isinstance(kind, (list, tuple)) and kind:
            assert value in kind, (name, value)
        elif kind == "BOOLEAN":
            assert isinstance(value, bool), name
        elif kind in ("INT", "FLOAT"):
            assert isinstance(value, (int, float)) and not isinstance(value, bool), name


def test_the_shipped_schedule_parses_and_travels(workflow):
    node = next(n for n in workflow["nodes"] if n["type"] == "SteadyFramePromptSchedule")
    values = dict(zip(widget_names("SteadyFramePromptSchedule"), node["widgets_values"]))
    latent = next(n for n in workflow["nodes"] if n["type"] == "EmptyLatentImage")
    frames = latent["widgets_values"][2]
    plan = parse_prompt_schedule(values["text"]).plan(
        frames, pre_text=values["pre_text"], app_text=values["app_text"], interpolation=values["interpolation"])
    assert plan.keyframes == [0, 10, 20, frames - 1] and not plan.warnings
    assert all(b.negative_from == "blurry, low quality, watermark, text" for b in plan.frames)
    assert plan.frames[5].weight == pytest.approx(0.5)
    assert plan.frames[25].weight == 0.0  # "20!" holds the night prompt until the last frame
    assert "(rain:1.2)" in plan.frames[-1].positive_from
