"""Shipped workflows give the timing nodes values they accept (choices and ranges), and the retime
workflow wires the frame rate through to the video writer."""
from pathlib import Path

import pytest

from steadyframe.runner.convert import ui_to_api
from steadyframe.runner.workflow_file import load_workflow
from support.node_info import before_v3_entries
from support.workflow_check import core_object_info

WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"
# The timing nodes' /object_info entries (tier 1 cannot import the V3 nodes; the tier-2 schema test
# tests/tier2/postprocess/test_postprocess_schema.py holds the nodes to exactly these entries).
TIMING_NODES = {node_id: before_v3_entries()[node_id]
                for node_id in ("SteadyFrameInterpolate", "SteadyFrameRetime", "SteadyFrameSelectKeyframes")}


def combined_object_info():
    """ComfyUI's core nodes and the pack's nodes, as the server lists them."""
    return {**core_object_info(), **before_v3_entries()}


def _uses_timing_nodes(path):
    return any(node["type"] in TIMING_NODES for node in load_workflow(path)["nodes"])


FILES = [p for p in sorted(WORKFLOWS.glob("*.json")) if _uses_timing_nodes(p)]


def test_retime_workflow_is_among_them():
    assert WORKFLOWS / "retime_interpolate.json" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_widget_values_are_accepted_by_the_timing_nodes(path):
    prompt = ui_to_api(load_workflow(path), combined_object_info(), source=path.name)
    for node_id, node in prompt.items():
        entry = TIMING_NODES.get(node["class_type"])
        if entry is None:
            continue
        spec = {**entry["input"]["required"], **entry["input"].get("optional", {})}
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                continue  # a link
            kind, options = spec[name][0], (spec[name][1] if len(spec[name]) > 1 else {})
            where = f"{path.name} node {node_id} ({node['class_type']}) input {name!r}"
            if isinstance(kind, list):
                assert value in kind, f"{where}: {value!r} is not one of {kind}"
            elif kind in ("INT", "FLOAT"):
                assert options.get("min", value) <= value <= options.get("max", value), f"{where}: {value} out of range"
            elif kind == "BOOLEAN":
                assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"


def test_retime_workflow_passes_fps_to_the_video_writers():
    data = load_workflow(WORKFLOWS / "retime_interpolate.json")
    prompt = ui_to_api(data, combined_object_info(), source="retime_interpolate.json")
    writers = [n for n in prompt.values() if n["class_type"] == "SteadyFrameVideoCombine"]
    assert len(writers) == 2
    for writer in writers:
        source = prompt[writer["inputs"]["frame_rate"][0]]
        assert source["class_type"] in ("SteadyFrameRetime", "SteadyFrameInterpolate")
        assert writer["inputs"]["frame_rate"][1] == 2  # the fps output
        assert writer["inputs"]["images"][0] == writer["inputs"]["frame_rate"][0]
