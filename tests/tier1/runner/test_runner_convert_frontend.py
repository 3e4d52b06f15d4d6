"""The converter's API prompt equals the frontend's on each conversion case (issue 15, items 1-5)."""
import copy
import json
import random

import pytest

from steadyframe.runner.convert import ui_to_api, widget_inputs, widget_slots
from steadyframe.runner.dynamic_prompts import expand
from steadyframe.runner.errors import RunnerError

from . import frontend_cases as cases


@pytest.fixture(scope="module")
def info():
    return cases.object_info()


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_converter_matches_the_frontend(info, name):
    data, expected = cases.build(name)
    assert ui_to_api(data, info, source=f"{name}.json") == expected


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_the_file_survives_a_json_round_trip_and_is_left_unchanged(info, name):
    data, expected = cases.build(name)
    text = json.dumps(data)
    assert ui_to_api(json.loads(text), info) == expected
    before = copy.deepcopy(data)
    ui_to_api(data, info)
    assert data == before


# Item 1: values that would land on a widget of the wrong type.
def test_boolean_on_an_int_widget_is_refused_with_the_details(info):
    data = cases.txt2img((42, "randomize", True, 7.5, "euler", "normal", 1))
    with pytest.raises(RunnerError) as caught:
        ui_to_api(data, info, source="old.json")
    message = str(caught.value)
    assert message.startswith("old.json: node 3 (KSampler): input 'steps' would get true, expected an integer")


def test_number_on_a_combo_is_refused(info):
    data = cases.txt2img((42, "randomize", 20, 7.5, 8.5, "normal", 1))
    with pytest.raises(RunnerError, match=r"node 3 \(KSampler\): input 'sampler_name' would get 8\.5, expected one of \['euler'"):
        ui_to_api(data, info, source="old.json")


def test_the_shift_the_issue_reports_cannot_happen(info):
    """Old file, boolean control: the frontend's own rule maps it; nothing shifts."""
    data = cases.txt2img((156680208700286, True, 13, 8.5, "dpmpp_2m", "karras", 0.6))
    inputs = ui_to_api(data, info)["3"]["inputs"]
    assert (inputs["seed"], inputs["steps"], inputs["cfg"], inputs["sampler_name"], inputs["scheduler"], inputs["denoise"]) == \
        (156680208700286, 13, 8.5, "dpmpp_2m", "karras", 0.6)


def test_files_saved_without_the_control_widget_still_line_up(info):
    data = cases.txt2img((7, 25, 6.5, "dpmpp_2m", "karras", 0.8))
    assert ui_to_api(data, info)["3"]["inputs"]["steps"] == 25


def test_primitive_value_of_the_wrong_type_is_refused(info):
    data, _ = cases.build("primitive_with_boolean_control")
    next(n for n in data["nodes"] if n["id"] == 30)["widgets_values"] = ["not a seed", "fixed"]
    with pytest.raises(RunnerError, match=r"node 3 \(KSampler\): input 'seed' would get 'not a seed' from PrimitiveNode 30, expected an integer"):
        ui_to_api(data, info, source="p.json")


def test_promoted_subgraph_widget_of_the_wrong_type_is_refused(info):
    data, _ = cases.build("nested_subgraphs")
    next(n for n in data["nodes"] if n["id"] == 10)["widgets_values"] = ["seven"]
    with pytest.raises(RunnerError, match=r"node 10 \(subgraph 'Sample'\): input 'seed' would get 'seven', expected an integer"):
        ui_to_api(data, info)


def test_wrong_type_inside_a_subgraph_names_the_execution_id_and_subgraph(info):
    data, _ = cases.build("nested_subgraphs")
    decode = next(s for s in data["definitions"]["subgraphs"] if s["name"] == "Decode and preview")
    decode["nodes"][0]["widgets_values"] = [3]
    with pytest.raises(RunnerError, match=r"node 10:2:7 \(in subgraph 'Decode and preview'\) \(CheckpointLoaderSimple\): input 'ckpt_name' would get 3"):
        ui_to_api(data, info)


# Item 2: defaults.
def test_missing_widgets_values_send_every_default(info):
    data, expected = cases.build("inputs_added_later")
    for node in data["nodes"]:
        if node["type"] == "VAEDecodeTiled":
            del node["widgets_values"]
    expected["5"]["inputs"]["tile_size"] = 512
    assert ui_to_api(data, info) == expected


# Item 3: muted reroute, chains of virtual nodes.
def test_a_muted_reroute_no_longer_cuts_the_link(info):
    data, _ = cases.build("muted_and_bypassed_reroutes")
    assert ui_to_api(data, info)["3"]["inputs"]["model"] == ["4", 0]


# Item 4: dict widgets_values.
def test_dict_widgets_keep_undeclared_keys_and_check_declared_ones(info):
    data, _ = cases.build("video_combine_dict_widgets")
    combine = next(n for n in data["nodes"] if n["id"] == 40)
    inputs = ui_to_api(data, info)["40"]["inputs"]
    assert {"pix_fmt", "crf", "save_metadata", "trim_to_audio"} <= set(inputs) and "videopreview" not in inputs
    combine["widgets_values"]["frame_rate"] = "fast"
    with pytest.raises(RunnerError, match=r"node 40 \(VHS_VideoCombine\): input 'frame_rate' would get 'fast', expected a number"):
        ui_to_api(data, info)


def test_widgets_saved_by_name_on_a_core_node(info):
    node = cases.node(1, "EmptyLatentImage", {"width": 64, "height": 32, "batch_size": 2})
    assert widget_inputs(node, info["EmptyLatentImage"]) == {"width": 64, "height": 32, "batch_size": 2}


# Item 5: subgraphs and group nodes.
def test_bypassed_subgraph_instance_passes_its_input_through(info):
    data, _ = cases.build("nested_subgraphs")
    next(n for n in data["nodes"] if n["id"] == 10)["mode"] = 4
    prompt = ui_to_api(data, info)
    assert prompt["8"]["inputs"]["samples"] == ["5", 0]  # the LATENT input of the instance


def test_a_subgraph_that_contains_itself_is_refused(info):
    data, _ = cases.build("nested_subgraphs")
    decode = next(s for s in data["definitions"]["subgraphs"] if s["name"] == "Decode and preview")
    decode["nodes"].append(cases.node(11, decode["id"], []))
    with pytest.raises(RunnerError, match="subgraph 'Decode and preview' contains itself"):
        ui_to_api(data, info)


def test_unknown_node_inside_a_subgraph_names_its_execution_id(info):
    data, _ = cases.build("nested_subgraphs")
    decode = next(s for s in data["definitions"]["subgraphs"] if s["name"] == "Decode and preview")
    decode["nodes"].append(cases.node(12, "SomePackNode", [1]))
    with pytest.raises(RunnerError, match=r"node 10:2:12 \(in subgraph 'Decode and preview'\) has unknown type 'SomePackNode'"):
        ui_to_api(data, info, source="s.json")


def test_group_node_instances_keep_their_own_values(info):
    data, _ = cases.build("group_node")
    second = copy.deepcopy(next(n for n in data["nodes"] if n["id"] == 60))
    second.update(id=61, widgets_values=["area", 2.0, 8], outputs=[cases.out("IMAGE", "IMAGE", [])])
    data["nodes"].append(second)
    prompt = ui_to_api(data, info)
    assert prompt["60:1"]["inputs"]["megapixels"] == 0.25
    assert prompt["61:1"]["inputs"]["megapixels"] == 2.0 and prompt["61:1"]["inputs"]["resolution_steps"] == 8


def test_group_node_without_definition_is_refused(info):
    data, _ = cases.build("group_node")
    data["extra"]["groupNodes"] = {}
    with pytest.raises(RunnerError, match="node 60 is the group node 'Upscaled decode', but extra.groupNodes has no definition"):
        ui_to_api(data, info)


# Widget layouts and dynamic prompts.
def test_widget_slots_follow_the_frontend(info):
    assert [w.name for w in widget_slots(info["KSampler"], "KSampler")] == \
        ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert [w.name for w in widget_slots(info["LoadImageMask"], "LoadImageMask")] == ["image", "channel", "upload"]
    assert [w.name for w in widget_slots(info["ResizeImageMaskNode"], "ResizeImageMaskNode")] == \
        ["resize_type", "resize_type.multiplier", "scale_method"]


@pytest.mark.parametrize("values", [["mask.png", "red", "image"], ["mask.png", "image", "red"], ["mask.png", "red"]])
def test_upload_widget_in_any_place_older_canvases_put_it(info, values):
    node = cases.node(1, "LoadImageMask", values)
    assert widget_inputs(node, info["LoadImageMask"]) == {"image": "mask.png", "channel": "red"}


def test_dynamic_prompt_choices_are_drawn_from_the_given_generator():
    picks = {expand("a {red|green|blue} fox", random.Random(seed)) for seed in range(40)}
    assert picks == {"a red fox", "a green fox", "a blue fox"}
    assert expand("{x|{y|z}} \\{kept\\} // gone", random.Random(1)) in {"x {kept} ", "y {kept} ", "z {kept} "}
