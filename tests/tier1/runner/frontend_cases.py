"""Small canvas workflows and the API prompt the ComfyUI frontend (1.35.9) queues for each.

Every case is ``(workflow, expected_prompt)``. The expected prompts follow the frontend's
``graphToPrompt`` and were checked by loading each workflow into the real frontend, in headless
Chromium, against a ComfyUI v0.8.0 server (``corpus/frontend_prompts.py`` beside this file), except VideoHelperSuite's Video Combine,
which that server lacks: its case follows the pack's frontend code (widgets saved by name, all sent
but its preview).
The node entries are those of ``tests/fixtures/runner/object_info.json``.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

OBJECT_INFO = Path(__file__).resolve().parents[2] / "fixtures" / "runner" / "object_info.json"


def object_info() -> dict:
    return json.loads(OBJECT_INFO.read_text(encoding="utf-8"))


def node(node_id, node_type, widgets=None, inputs=(), outputs=(), mode=0, title=None, **extra):
    entry = {"id": node_id, "type": node_type, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0, "mode": mode,
             "inputs": [dict(i) for i in inputs], "outputs": [dict(o) for o in outputs], "properties": {}}
    if widgets is not None:
        entry["widgets_values"] = widgets
    if title:
        entry["title"] = title
    entry.update(extra)
    return entry


def inp(name, kind, link=None, widget=None):
    entry = {"name": name, "type": kind, "link": link}
    if widget:
        entry["widget"] = {"name": widget}
    return entry


def out(name, kind, links):
    return {"name": name, "type": kind, "links": list(links)}


def workflow(nodes, links, **extra):
    data = {"last_node_id": 100, "last_link_id": 100, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}
    data.update(extra)
    return data


def api(class_type, inputs, title):
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}


def txt2img(sampler_values=(42, "randomize", 20, 7.5, "euler", "normal", 1)):
    """Checkpoint -> prompts -> KSampler -> VAEDecode -> SaveImage."""
    nodes = [
        node(4, "CheckpointLoaderSimple", ["sd15.safetensors"],
             outputs=[out("MODEL", "MODEL", [1]), out("CLIP", "CLIP", [3, 5]), out("VAE", "VAE", [8])]),
        node(6, "CLIPTextEncode", ["a red fox"], inputs=[inp("clip", "CLIP", 3)], outputs=[out("CONDITIONING", "CONDITIONING", [4])]),
        node(7, "CLIPTextEncode", ["blurry"], inputs=[inp("clip", "CLIP", 5)], outputs=[out("CONDITIONING", "CONDITIONING", [6])]),
        node(5, "EmptyLatentImage", [512, 512, 1], outputs=[out("LATENT", "LATENT", [2])]),
        node(3, "KSampler", list(sampler_values),
             inputs=[inp("model", "MODEL", 1), inp("positive", "CONDITIONING", 4), inp("negative", "CONDITIONING", 6),
                     inp("latent_image", "LATENT", 2)],
             outputs=[out("LATENT", "LATENT", [7])]),
        node(8, "VAEDecode", inputs=[inp("samples", "LATENT", 7), inp("vae", "VAE", 8)], outputs=[out("IMAGE", "IMAGE", [9])]),
        node(9, "SaveImage", ["fox"], inputs=[inp("images", "IMAGE", 9)]),
    ]
    links = [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
             [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
             [9, 8, 0, 9, 0, "IMAGE"]]
    return workflow(nodes, links)


def txt2img_prompt(seed=42, steps=20, cfg=7.5, sampler="euler", scheduler="normal", denoise=1):
    return {
        "4": api("CheckpointLoaderSimple", {"ckpt_name": "sd15.safetensors"}, "Load Checkpoint"),
        "6": api("CLIPTextEncode", {"text": "a red fox", "clip": ["4", 1]}, "CLIP Text Encode (Prompt)"),
        "7": api("CLIPTextEncode", {"text": "blurry", "clip": ["4", 1]}, "CLIP Text Encode (Prompt)"),
        "5": api("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, "Empty Latent Image"),
        "3": api("KSampler", {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler,
                              "denoise": denoise, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                              "latent_image": ["5", 0]}, "KSampler"),
        "8": api("VAEDecode", {"samples": ["3", 0], "vae": ["4", 2]}, "VAE Decode"),
        "9": api("SaveImage", {"filename_prefix": "fox", "images": ["8", 0]}, "Save Image"),
    }


def by_id(data, node_id):
    return next(n for n in data["nodes"] if n["id"] == node_id)


# Item 1: "control after generate" saved as true/false.
def case_control_saved_as_boolean():
    data = txt2img((42, True, 20, 7.5, "euler", "normal", 1))
    return data, txt2img_prompt()


def case_control_false_on_ksampler_advanced():
    data = txt2img()
    sampler = by_id(data, 3)
    sampler["type"] = "KSamplerAdvanced"
    sampler["widgets_values"] = ["enable", 7, False, 30, 6.5, "euler", "karras", 0, 10000, "disable"]
    prompt = txt2img_prompt()
    prompt["3"] = api("KSamplerAdvanced", {
        "add_noise": "enable", "noise_seed": 7, "steps": 30, "cfg": 6.5, "sampler_name": "euler", "scheduler": "karras",
        "start_at_step": 0, "end_at_step": 10000, "return_with_leftover_noise": "disable", "model": ["4", 0],
        "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}, "KSampler (Advanced)")
    return data, prompt


def case_primitive_with_boolean_control():
    data = txt2img()
    data["nodes"].append(node(30, "PrimitiveNode", [1234, True], title="Seed",
                              outputs=[{"name": "INT", "type": "INT", "links": [31], "widget": {"name": "seed"}}]))
    data["links"].append([31, 30, 0, 3, 4, "INT"])
    by_id(data, 3)["inputs"].append(inp("seed", "INT", 31, widget="seed"))
    return data, txt2img_prompt(seed=1234)


# Item 2: inputs added to a node after the file was saved keep their defaults.
def case_inputs_added_later():
    nodes = [
        node(1, "LoadImage", ["cat.png", "image"], outputs=[out("IMAGE", "IMAGE", [1]), out("MASK", "MASK", [3])]),
        node(2, "ImageScaleToTotalPixels", ["bilinear", 0.5], inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", "IMAGE", [2])]),
        node(3, "CheckpointLoaderSimple", ["sd15.safetensors"],
             outputs=[out("MODEL", "MODEL", []), out("CLIP", "CLIP", []), out("VAE", "VAE", [4, 5])]),
        node(4, "VAEEncodeForInpaint", [], inputs=[inp("pixels", "IMAGE", 2), inp("vae", "VAE", 4), inp("mask", "MASK", 3)],
             outputs=[out("LATENT", "LATENT", [6])]),
        node(5, "VAEDecodeTiled", [256], inputs=[inp("samples", "LATENT", 6), inp("vae", "VAE", 5)], outputs=[out("IMAGE", "IMAGE", [7])]),
        node(6, "PreviewImage", [], inputs=[inp("images", "IMAGE", 7)]),
    ]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 4, 0, "IMAGE"], [3, 1, 1, 4, 2, "MASK"], [4, 3, 2, 4, 1, "VAE"],
             [5, 3, 2, 5, 1, "VAE"], [6, 4, 0, 5, 0, "LATENT"], [7, 5, 0, 6, 0, "IMAGE"]]
    prompt = {
        "1": api("LoadImage", {"image": "cat.png"}, "Load Image"),
        "2": api("ImageScaleToTotalPixels", {"upscale_method": "bilinear", "megapixels": 0.5, "resolution_steps": 1,
                                             "image": ["1", 0]}, "ImageScaleToTotalPixels"),
        "3": api("CheckpointLoaderSimple", {"ckpt_name": "sd15.safetensors"}, "Load Checkpoint"),
        "4": api("VAEEncodeForInpaint", {"grow_mask_by": 6, "pixels": ["2", 0], "vae": ["3", 2], "mask": ["1", 1]},
                 "VAE Encode (for Inpainting)"),
        "5": api("VAEDecodeTiled", {"tile_size": 256, "overlap": 64, "temporal_size": 64, "temporal_overlap": 8,
                                    "samples": ["4", 0], "vae": ["3", 2]}, "VAE Decode (Tiled)"),
        "6": api("PreviewImage", {"images": ["5", 0]}, "Preview Image"),
    }
    return workflow(nodes, links), prompt


# Item 3: virtual nodes pass links through whatever their mode; muted real nodes cut them.
def case_muted_and_bypassed_reroutes():
    data = txt2img()
    data["nodes"].append(node(20, "Reroute", mode=2, inputs=[inp("", "*", 1)], outputs=[out("", "MODEL", [11])]))
    data["nodes"].append(node(21, "Reroute", mode=4, inputs=[inp("", "*", 11)], outputs=[out("", "MODEL", [12])]))
    data["links"][0] = [1, 4, 0, 20, 0, "MODEL"]
    data["links"] += [[11, 20, 0, 21, 0, "MODEL"], [12, 21, 0, 3, 0, "MODEL"]]
    by_id(data, 3)["inputs"][0]["link"] = 12
    return data, txt2img_prompt()


def case_muted_node_cuts_its_links():
    data = txt2img()
    by_id(data, 7)["mode"] = 2
    prompt = txt2img_prompt()
    del prompt["7"]
    del prompt["3"]["inputs"]["negative"]
    return data, prompt


def case_bypass_prefers_exact_type():
    """A bypassed LoraLoader: MODEL and CLIP each pass through the input of their own type."""
    data = txt2img()
    data["nodes"].append(node(50, "LoraLoader", ["style.safetensors", 0.8, 0.8], mode=4,
                              inputs=[inp("model", "MODEL", 51), inp("clip", "CLIP", 52)],
                              outputs=[out("MODEL", "MODEL", [53]), out("CLIP", "CLIP", [54, 55])]))
    data["links"] = [link for link in data["links"] if link[0] not in (1, 3, 5)]
    data["links"] += [[51, 4, 0, 50, 0, "MODEL"], [52, 4, 1, 50, 1, "CLIP"], [53, 50, 0, 3, 0, "MODEL"],
                      [54, 50, 1, 6, 0, "CLIP"], [55, 50, 1, 7, 0, "CLIP"]]
    by_id(data, 3)["inputs"][0]["link"] = 53
    by_id(data, 6)["inputs"][0]["link"] = 54
    by_id(data, 7)["inputs"][0]["link"] = 55
    return data, txt2img_prompt()


# Item 4: widgets saved by name (VideoHelperSuite's Video Combine).
def case_video_combine_dict_widgets():
    data = txt2img()
    data["nodes"].append(node(40, "VHS_VideoCombine", {
        "frame_rate": 12, "loop_count": 0, "filename_prefix": "fox", "format": "video/h264-mp4", "pix_fmt": "yuv420p",
        "crf": 19, "save_metadata": True, "trim_to_audio": False, "pingpong": False, "save_output": True,
        "videopreview": {"hidden": False, "paused": False, "params": {"filename": "fox_00001.mp4"}}},
        inputs=[inp("images", "IMAGE", 41)]))
    by_id(data, 8)["outputs"][0]["links"].append(41)
    data["links"].append([41, 8, 0, 40, 0, "IMAGE"])
    prompt = txt2img_prompt()
    prompt["40"] = api("VHS_VideoCombine", {
        "frame_rate": 12, "loop_count": 0, "filename_prefix": "fox", "format": "video/h264-mp4", "pingpong": False,
        "save_output": True, "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True, "trim_to_audio": False,
        "images": ["8", 0]}, "Video Combine 🎥🅥🅗🅢")
    return data, prompt


# Item 5: subgraphs, nested subgraphs, promoted widgets, group nodes, V3 dynamic inputs.
SAMPLER_SUBGRAPH = "5f0c7e0a-0000-4000-8000-000000000001"
DECODE_SUBGRAPH = "5f0c7e0a-0000-4000-8000-000000000002"


def _sampler_subgraph():
    """model, positive, negative, latent, seed in; LATENT out. Inside: KSampler 1 and, nested,
    a subgraph that decodes and previews the result."""
    inner_nodes = [
        node(1, "KSampler", [5, "fixed", 12, 6.0, "euler", "karras", 1],
             inputs=[inp("model", "MODEL", 101), inp("positive", "CONDITIONING", 102), inp("negative", "CONDITIONING", 103),
                     inp("latent_image", "LATENT", 104), inp("seed", "INT", 105, widget="seed")],
             outputs=[out("LATENT", "LATENT", [106, 107])]),
        node(2, DECODE_SUBGRAPH, [], inputs=[inp("samples", "LATENT", 107)], outputs=[]),
    ]
    links = [
        {"id": 101, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "MODEL"},
        {"id": 102, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1, "type": "CONDITIONING"},
        {"id": 103, "origin_id": -10, "origin_slot": 2, "target_id": 1, "target_slot": 2, "type": "CONDITIONING"},
        {"id": 104, "origin_id": -10, "origin_slot": 3, "target_id": 1, "target_slot": 3, "type": "LATENT"},
        {"id": 105, "origin_id": -10, "origin_slot": 4, "target_id": 1, "target_slot": 4, "type": "INT"},
        {"id": 106, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "LATENT"},
        {"id": 107, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "LATENT"},
    ]
    return {
        "id": SAMPLER_SUBGRAPH, "version": 1, "state": {"lastGroupId": 0, "lastNodeId": 2, "lastLinkId": 107, "lastRerouteId": 0},
        "revision": 0, "config": {}, "name": "Sample", "inputNode": {"id": -10, "bounding": [0, 0, 120, 160]},
        "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
        "inputs": [{"id": f"in-{i}", "name": name, "type": kind, "linkIds": [101 + i]}
                   for i, (name, kind) in enumerate([("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                                                     ("latent_image", "LATENT"), ("seed", "INT")])],
        "outputs": [{"id": "out-0", "name": "LATENT", "type": "LATENT", "linkIds": [106]}],
        "widgets": [], "nodes": inner_nodes, "groups": [], "links": links, "extra": {},
    }


def _decode_subgraph():
    inner_nodes = [
        node(7, "CheckpointLoaderSimple", ["vae_source.safetensors"],
             outputs=[out("MODEL", "MODEL", []), out("CLIP", "CLIP", []), out("VAE", "VAE", [202])]),
        node(8, "VAEDecode", inputs=[inp("samples", "LATENT", 201), inp("vae", "VAE", 202)], outputs=[out("IMAGE", "IMAGE", [203])]),
        node(9, "PreviewImage", [], inputs=[inp("images", "IMAGE", 203)]),
    ]
    links = [
        {"id": 201, "origin_id": -10, "origin_slot": 0, "target_id": 8, "target_slot": 0, "type": "LATENT"},
        {"id": 202, "origin_id": 7, "origin_slot": 2, "target_id": 8, "target_slot": 1, "type": "VAE"},
        {"id": 203, "origin_id": 8, "origin_slot": 0, "target_id": 9, "target_slot": 0, "type": "IMAGE"},
    ]
    return {
        "id": DECODE_SUBGRAPH, "version": 1, "state": {"lastGroupId": 0, "lastNodeId": 9, "lastLinkId": 203, "lastRerouteId": 0},
        "revision": 0, "config": {}, "name": "Decode and preview", "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
        "inputs": [{"id": "in-0", "name": "samples", "type": "LATENT", "linkIds": [201]}], "outputs": [],
        "widgets": [], "nodes": inner_nodes, "groups": [], "links": links, "extra": {},
    }


def case_nested_subgraphs():
    data = txt2img()
    data["nodes"] = [n for n in data["nodes"] if n["id"] != 3]
    data["nodes"].append(node(10, SAMPLER_SUBGRAPH, [777],
                              inputs=[inp("model", "MODEL", 1), inp("positive", "CONDITIONING", 4), inp("negative", "CONDITIONING", 6),
                                      inp("latent_image", "LATENT", 2)],
                              outputs=[out("LATENT", "LATENT", [7])], title="Sample"))
    data["links"] = [[1, 4, 0, 10, 0, "MODEL"], [2, 5, 0, 10, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 10, 1, "CONDITIONING"],
                     [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 10, 2, "CONDITIONING"], [7, 10, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
                     [9, 8, 0, 9, 0, "IMAGE"]]
    data["definitions"] = {"subgraphs": [_sampler_subgraph(), _decode_subgraph()]}
    prompt = txt2img_prompt()
    del prompt["3"]
    prompt["10:1"] = api("KSampler", {"seed": 777, "steps": 12, "cfg": 6.0, "sampler_name": "euler", "scheduler": "karras",
                                      "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                      "latent_image": ["5", 0]}, "KSampler")
    prompt["8"]["inputs"]["samples"] = ["10:1", 0]
    prompt["10:2:7"] = api("CheckpointLoaderSimple", {"ckpt_name": "vae_source.safetensors"}, "Load Checkpoint")
    prompt["10:2:8"] = api("VAEDecode", {"samples": ["10:1", 0], "vae": ["10:2:7", 2]}, "VAE Decode")
    prompt["10:2:9"] = api("PreviewImage", {"images": ["10:2:8", 0]}, "Preview Image")
    return data, prompt


def case_subgraph_widget_linked_from_outside():
    """The promoted seed is fed by a PrimitiveNode outside the subgraph."""
    data, prompt = case_nested_subgraphs()
    data["nodes"].append(node(30, "PrimitiveNode", [31337, "fixed"], title="Seed",
                              outputs=[{"name": "INT", "type": "INT", "links": [31], "widget": {"name": "seed"}}]))
    data["links"].append([31, 30, 0, 10, 4, "INT"])
    by_id(data, 10)["inputs"].append(inp("seed", "INT", 31, widget="seed"))
    prompt["10:1"]["inputs"]["seed"] = 31337
    return data, prompt


GROUP_TYPE = "workflow>Upscaled decode"


def case_group_node():
    data = txt2img()
    data["nodes"] = [n for n in data["nodes"] if n["id"] != 8]
    data["nodes"].append(node(60, GROUP_TYPE, ["nearest-exact", 0.25, 1],
                              inputs=[inp("samples", "LATENT", 7), inp("vae", "VAE", 8)], outputs=[out("IMAGE", "IMAGE", [9])]))
    data["links"] = [link for link in data["links"] if link[0] not in (7, 8, 9)]
    data["links"] += [[7, 3, 0, 60, 0, "LATENT"], [8, 4, 2, 60, 1, "VAE"], [9, 60, 0, 9, 0, "IMAGE"]]
    data["extra"]["groupNodes"] = {"Upscaled decode": {
        "nodes": [
            {"type": "VAEDecode", "pos": [0, 0], "size": [200, 50], "flags": {}, "order": 0, "mode": 0,
             "inputs": [{"name": "samples", "type": "LATENT", "link": None}, {"name": "vae", "type": "VAE", "link": None}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [], "slot_index": 0}], "properties": {}, "index": 0},
            {"type": "ImageScaleToTotalPixels", "pos": [250, 0], "size": [200, 80], "flags": {}, "order": 1, "mode": 0,
             "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [], "slot_index": 0}], "properties": {},
             "widgets_values": ["bilinear", 1.0, 1], "index": 1},
        ],
        "links": [[None, 0, 0, 0, 7, "LATENT"], [None, 2, 0, 1, 8, "VAE"], [0, 0, 1, 0, 10, "IMAGE"]],
        "external": [[1, 0, "IMAGE"]],
        "config": {},
    }}
    prompt = txt2img_prompt()
    del prompt["8"]
    prompt["60:0"] = api("VAEDecode", {"samples": ["3", 0], "vae": ["4", 2]}, "VAE Decode")
    prompt["60:1"] = api("ImageScaleToTotalPixels", {"upscale_method": "nearest-exact", "megapixels": 0.25, "resolution_steps": 1,
                                                     "image": ["60:0", 0]}, "ImageScaleToTotalPixels")
    prompt["9"]["inputs"]["images"] = ["60:1", 0]
    return data, prompt


def case_dynamic_combo_and_autogrow():
    nodes = [
        node(1, "LoadImage", ["cat.png", "image"], outputs=[out("IMAGE", "IMAGE", [1, 2]), out("MASK", "MASK", [])]),
        node(2, "ResizeImageMaskNode", ["scale dimensions", 640, 480, "center", "area"],
             inputs=[inp("input", "IMAGE,MASK", 1)], outputs=[out("resized", "IMAGE", [3])]),
        node(3, "ImageInvert", inputs=[inp("image", "IMAGE", 2)], outputs=[out("IMAGE", "IMAGE", [4])]),
        node(4, "BatchImagesNode", inputs=[inp("images.image0", "IMAGE", 3), inp("images.image1", "IMAGE", 4),
                                           inp("images.image2", "IMAGE", None)], outputs=[out("IMAGE", "IMAGE", [5])]),
        node(5, "PreviewImage", [], inputs=[inp("images", "IMAGE", 5)]),
    ]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 3, 0, "IMAGE"], [3, 2, 0, 4, 0, "IMAGE"], [4, 3, 0, 4, 1, "IMAGE"],
             [5, 4, 0, 5, 0, "IMAGE"]]
    prompt = {
        "1": api("LoadImage", {"image": "cat.png"}, "Load Image"),
        "2": api("ResizeImageMaskNode", {"resize_type": "scale dimensions", "resize_type.width": 640, "resize_type.height": 480,
                                         "resize_type.crop": "center", "scale_method": "area", "input": ["1", 0]},
                 "Resize Image/Mask"),
        "3": api("ImageInvert", {"image": ["1", 0]}, "Invert Image"),
        "4": api("BatchImagesNode", {"images.image0": ["2", 0], "images.image1": ["3", 0]}, "Batch Images"),
        "5": api("PreviewImage", {"images": ["4", 0]}, "Preview Image"),
    }
    return workflow(nodes, links), prompt


def case_dynamic_prompt_comments():
    data = txt2img()
    by_id(data, 6)["widgets_values"] = ["a red fox /* draft */, {running} // tweak later\nin snow"]
    prompt = txt2img_prompt()
    prompt["6"]["inputs"]["text"] = "a red fox , running \nin snow"
    return data, prompt


CASES = {name[len("case_"):]: func for name, func in sorted(globals().items()) if name.startswith("case_")}


def build(name):
    data, prompt = CASES[name]()
    return copy.deepcopy(data), copy.deepcopy(prompt)
