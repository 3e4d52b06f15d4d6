"""UI-format workflows (as the canvas saves them) convert to the API format /prompt takes."""
import copy

import pytest

from steadyframe.runner.convert import to_api, ui_to_api, widget_inputs, widget_slots
from steadyframe.runner.errors import RunnerError
from support.workflow_check import sample_object_info


@pytest.fixture(scope="module")
def info():
    return sample_object_info()


def _node(node_id, node_type, widgets=None, inputs=(), outputs=(), mode=0, title=None):
    node = {"id": node_id, "type": node_type, "mode": mode, "pos": [0, 0], "size": [100, 50], "flags": {}, "order": 0,
            "inputs": [dict(i) for i in inputs], "outputs": [dict(o) for o in outputs], "properties": {}}
    if widgets is not None:
        node["widgets_values"] = widgets
    if title:
        node["title"] = title
    return node


def _in(name, kind, link, widget=None):
    entry = {"name": name, "type": kind, "link": link}
    if widget:
        entry["widget"] = {"name": widget}
    return entry


def _out(name, kind, links):
    return {"name": name, "type": kind, "links": links}


def txt2img_graph():
    """Checkpoint -> two prompts -> KSampler -> VAEDecode -> SaveImage, as the canvas stores it."""
    nodes = [
        _node(4, "CheckpointLoaderSimple", ["sd15.safetensors"],
              outputs=[_out("MODEL", "MODEL", [1]), _out("CLIP", "CLIP", [3, 5]), _out("VAE", "VAE", [8])]),
        _node(6, "CLIPTextEncode", ["a red fox"], inputs=[_in("clip", "CLIP", 3)], outputs=[_out("CONDITIONING", "CONDITIONING", [4])], title="Positive"),
        _node(7, "CLIPTextEncode", ["blurry"], inputs=[_in("clip", "CLIP", 5)], outputs=[_out("CONDITIONING", "CONDITIONING", [6])]),
        _node(5, "EmptyLatentImage", [512, 768, 4], outputs=[_out("LATENT", "LATENT", [2])]),
        _node(3, "KSampler", [156680208700286, "randomize", 20, 8, "euler", "normal", 1],
              inputs=[_in("model", "MODEL", 1), _in("positive", "CONDITIONING", 4), _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 2)],
              outputs=[_out("LATENT", "LATENT", [7])]),
        _node(8, "VAEDecode", [], inputs=[_in("samples", "LATENT", 7), _in("vae", "VAE", 8)], outputs=[_out("IMAGE", "IMAGE", [9])]),
        _node(9, "SaveImage", ["ComfyUI"], inputs=[_in("images", "IMAGE", 9)]),
    ]
    links = [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
             [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
             [9, 8, 0, 9, 0, "IMAGE"]]
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


def test_widgets_follow_the_input_order_and_skip_control_after_generate(info):
    prompt = ui_to_api(txt2img_graph(), info)
    assert prompt["3"]["class_type"] == "KSampler"
    assert prompt["3"]["inputs"] == {
        "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
    }
    assert prompt["5"]["inputs"] == {"width": 512, "height": 768, "batch_size": 4}
    assert prompt["8"]["inputs"] == {"samples": ["3", 0], "vae": ["4", 2]}
    assert prompt["6"]["_meta"]["title"] == "Positive"
    assert prompt["7"]["_meta"]["title"] == "CLIP Text Encode (Prompt)"  # display name from object_info
    assert set(prompt) == {"3", "4", "5", "6", "7", "8", "9"}


def test_files_saved_without_the_control_widget_still_line_up(info):
    graph = txt2img_graph()
    sampler = next(n for n in graph["nodes"] if n["id"] == 3)
    sampler["widgets_values"] = [7, 25, 6.5, "dpmpp_2m", "karras", 0.8]
    inputs = ui_to_api(graph, info)["3"]["inputs"]
    assert (inputs["seed"], inputs["steps"], inputs["cfg"], inputs["sampler_name"], inputs["scheduler"], inputs["denoise"]) == (7, 25, 6.5, "dpmpp_2m", "karras", 0.8)


def test_widget_slots_come_from_object_info(info):
    names = [slot.name for slot in widget_slots(info["KSampler"], "KSampler")]
    assert names == ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert [slot.name for slot in widget_slots(info["RandomNoise"], "RandomNoise")] == ["noise_seed", "control_after_generate"]
    assert [slot.name for slot in widget_slots(info["SaveAnimatedWEBP"])] == ["filename_prefix", "fps", "lossless", "quality", "method"]


def test_link_objects_are_accepted(info):
    graph = txt2img_graph()
    graph["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link)) for link in graph["links"]]
    assert ui_to_api(graph, info) == ui_to_api(txt2img_graph(), info)


def test_reroutes_are_followed_to_their_source(info):
    graph = txt2img_graph()
    # MODEL goes 4 -> Reroute 20 -> Reroute 21 -> KSampler 3.
    graph["nodes"].append(_node(20, "Reroute", inputs=[_in("", "*", 1)], outputs=[_out("", "MODEL", [11])]))
    graph["nodes"].append(_node(21, "Reroute", inputs=[_in("", "*", 11)], outputs=[_out("", "MODEL", [12])]))
    graph["links"][0] = [1, 4, 0, 20, 0, "MODEL"]
    graph["links"] += [[11, 20, 0, 21, 0, "MODEL"], [12, 21, 0, 3, 0, "MODEL"]]
    sampler = next(n for n in graph["nodes"] if n["id"] == 3)
    sampler["inputs"][0]["link"] = 12
    prompt = ui_to_api(graph, info)
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert "20" not in prompt and "21" not in prompt


def test_primitive_node_values_reach_every_input_they_feed(info):
    graph = txt2img_graph()
    graph["nodes"].append(_node(30, "PrimitiveNode", [1234, "fixed"], outputs=[{"name": "INT", "type": "INT", "links": [31], "widget": {"name": "seed"}}], title="Seed"))
    graph["links"].append([31, 30, 0, 3, 4, "INT"])
    sampler = next(n for n in graph["nodes"] if n["id"] == 3)
    sampler["inputs"].append(_in("seed", "INT", 31, widget="seed"))
    prompt = ui_to_api(graph, info)
    assert prompt["3"]["inputs"]["seed"] == 1234
    assert "30" not in prompt


def test_widget_inputs_listed_as_sockets_without_links_keep_their_widget_value(info):
    graph = txt2img_graph()
    latent = next(n for n in graph["nodes"] if n["id"] == 5)
    latent["inputs"] = [_in("width", "INT", None, widget="width"), _in("height", "INT", None, widget="height")]
    assert ui_to_api(graph, info)["5"]["inputs"] == {"width": 512, "height": 768, "batch_size": 4}


def test_input_converted_to_socket_takes_the_linked_output(info):
    graph = txt2img_graph()
    # The converter wires whatever the link points at (type checks are the server's job).
    graph["nodes"].append(_node(40, "RandomNoise", [99, "fixed"], outputs=[_out("NOISE", "NOISE", [41])]))
    latent = next(n for n in graph["nodes"] if n["id"] == 5)
    latent["inputs"] = [_in("width", "INT", 41, widget="width")]
    graph["links"].append([41, 40, 0, 5, 0, "INT"])
    inputs = ui_to_api(graph, info)["5"]["inputs"]
    assert inputs["width"] == ["40", 0]
    assert inputs["height"] == 768 and inputs["batch_size"] == 4


def test_muted_nodes_are_dropped_with_their_links(info):
    graph = txt2img_graph()
    next(n for n in graph["nodes"] if n["id"] == 7)["mode"] = 2
    prompt = ui_to_api(graph, info)
    assert "7" not in prompt
    assert "negative" not in prompt["3"]["inputs"]  # the server reports the missing input by node id


def test_bypassed_nodes_pass_the_matching_input_through(info):
    graph = txt2img_graph()
    # Checkpoint -> LoraLoader (bypassed) -> KSampler.model and both prompts' clip.
    lora = _node(50, "LoraLoader", ["style.safetensors", 0.8, 0.8], mode=4,
                 inputs=[_in("model", "MODEL", 51), _in("clip", "CLIP", 52)],
                 outputs=[_out("MODEL", "MODEL", [53]), _out("CLIP", "CLIP", [54, 55])])
    graph["nodes"].append(lora)
    graph["links"] = [link for link in graph["links"] if link[0] not in (1, 3, 5)]
    graph["links"] += [[51, 4, 0, 50, 0, "MODEL"], [52, 4, 1, 50, 1, "CLIP"], [53, 50, 0, 3, 0, "MODEL"],
                       [54, 50, 1, 6, 0, "CLIP"], [55, 50, 1, 7, 0, "CLIP"]]
    by_id = {n["id"]: n for n in graph["nodes"]}
    by_id[3]["inputs"][0]["link"] = 53
    by_id[6]["inputs"][0]["link"] = 54
    by_id[7]["inputs"][0]["link"] = 55
    prompt = ui_to_api(graph, info)
    assert "50" not in prompt
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert prompt["6"]["inputs"]["clip"] == ["4", 1]
    assert prompt["7"]["inputs"]["clip"] == ["4", 1]

    # Active again, the LoRA sits in between.
    by_id[50]["mode"] = 0
    prompt = ui_to_api(graph, info)
    assert prompt["3"]["inputs"]["model"] == ["50", 0]
    assert prompt["50"]["inputs"] == {"lora_name": "style.safetensors", "strength_model": 0.8, "strength_clip": 0.8,
                                      "model": ["4", 0], "clip": ["4", 1]}


def test_notes_are_ignored(info):
    graph = txt2img_graph()
    graph["nodes"].append(_node(60, "Note", ["remember to set the seed"]))
    graph["nodes"].append(_node(61, "MarkdownNote", ["# hi"]))
    assert set(ui_to_api(graph, info)) == {"3", "4", "5", "6", "7", "8", "9"}


@pytest.mark.parametrize("values", [["cat.png", "image"], ["cat.png"]])
def test_upload_widget_is_skipped(info, values):
    node = _node(1, "LoadImage", values)
    assert widget_inputs(node, info["LoadImage"]) == {"image": "cat.png"}


@pytest.mark.parametrize("values", [["mask.png", "image", "red"], ["mask.png", "red", "image"]])
def test_upload_widget_on_either_side_of_later_widgets(info, values):
    node = _node(1, "LoadImageMask", values)
    assert widget_inputs(node, info["LoadImageMask"]) == {"image": "mask.png", "channel": "red"}


def test_widgets_saved_by_name(info):
    # Saved by name (as VideoHelperSuite saves its nodes): undeclared names are sent as they are,
    # as the frontend sends every widget the pack's code added.
    node = _node(1, "EmptyLatentImage", {"width": 64, "height": 32, "batch_size": 2, "not_an_input": 1})
    assert widget_inputs(node, info["EmptyLatentImage"]) == {"width": 64, "height": 32, "batch_size": 2, "not_an_input": 1}


def test_unknown_node_type_names_node_and_type(info):
    graph = txt2img_graph()
    graph["nodes"].append(_node(70, "SteadyFrameNoSuchNode", [1]))
    with pytest.raises(RunnerError, match=r"node 70 has unknown type 'SteadyFrameNoSuchNode'"):
        ui_to_api(graph, info, source="my.json")


def test_muted_or_bypassed_unknown_nodes_do_not_stop_the_run(info):
    graph = txt2img_graph()
    graph["nodes"].append(_node(70, "SomeMissingPackNode", [1], mode=2))
    graph["nodes"].append(_node(71, "SomeMissingPackNode", [1], mode=4))
    assert "70" not in ui_to_api(graph, info) and "71" not in ui_to_api(graph, info)


def test_an_empty_subgraph_instance_contributes_nothing(info):
    graph = txt2img_graph()
    graph["definitions"] = {"subgraphs": [{"id": "0b5c3e1a-1111-2222-3333-444455556666", "name": "Empty", "nodes": [], "links": [],
                                           "inputs": [], "outputs": []}]}
    graph["nodes"].append(_node(80, "0b5c3e1a-1111-2222-3333-444455556666", []))
    assert set(ui_to_api(graph, info)) == {"3", "4", "5", "6", "7", "8", "9"}


def test_api_format_passes_through_and_is_checked(info):
    api = ui_to_api(txt2img_graph(), info)
    assert to_api(copy.deepcopy(api), info) == api
    assert to_api({"prompt": copy.deepcopy(api), "client_id": "x"}, info) == api
    api["12"] = {"class_type": "NotAComfyNode", "inputs": {}}
    with pytest.raises(RunnerError, match=r"node 12 has unknown type 'NotAComfyNode'"):
        to_api(api, info)


def test_not_a_workflow_is_refused(info):
    with pytest.raises(RunnerError, match="not a ComfyUI workflow"):
        to_api({"hello": "world"}, info)
