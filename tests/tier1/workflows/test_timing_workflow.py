"""Shipped workflows give the timing nodes values they accept (choices and ranges), and the retime
workflow wires the frame rate through to the video writer."""
from pathlib import Path

import pytest

from steadyframe.nodes import timing_nodes
from steadyframe.runner.convert import ui_to_api
from steadyframe.runner.workflow_file import load_workflow
from support.workflow_check import combined_object_info

WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"
TIMING_NODES = timing_nodes.NODE_CLASS_MAPPINGS


def _uses_timing_nodes(path):
    return any(node["type"] in TIMING_NODES for node in load_workflow(path)["nodes"])


FILES = [p for p in sorted(WORKFLOWS.glob("*.json")) if _uses_timing_nodes(p)]


def test_retime_workflow_is_among_them():
    assert WORKFLOWS / "retime_interpolate.json" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_widget_values_are_accepted_by_the_timing_nodes(path):
    info, _ = combined_object_info()
    prompt = ui_to_api(load_workflow(path), info, source=path.name)
    for node_id, node in prompt.items():
        cls = TIMING_NODES.get(node["class_type"])
        if cls is None:
            continue
        spec = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES().get("optional", {})}
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
    info, _ = combined_object_info()
    prompt = ui_to_api(data, info, source="retime_interpolate.json")
    writers = [n for n in prompt.values() if n["class_type"] == "SteadyFrameVideoCombine"]
    assert len(writers) == 2
    for writer in writers:
        source = prompt[writer["inputs"]["frame_rate"][0]]
        assert source["class_type"] in ("SteadyFrameRetime", "SteadyFrameInterpolate")
        assert writer["inputs"]["frame_rate"][1] == 2  # the fps output
        assert writer["inputs"]["images"][0] == writer["inputs"]["frame_rate"][0]
