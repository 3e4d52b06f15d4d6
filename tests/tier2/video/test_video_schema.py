"""Load Video Frames and Video Combine on V3 describe themselves to the frontend as the V1 nodes did.

Saved workflows keep loading when the node ids, inputs (names, order, types, defaults, limits,
combo choices, optional or not), hidden inputs and outputs stay the same. The reference is the
/object_info entry the V1 nodes gave (tests/fixtures/saved_before_v3/object_info_v2.json). Only
the V3 spelling of the same facts is brought to the V1 one: a combo as ``["COMBO", {"options":
[...], "multiselect": false}]`` instead of ``[[...], {}]``, a hidden input as ``["PROMPT"]``.
"""
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier2

BEFORE_V3 = Path(__file__).resolve().parents[2] / "fixtures" / "saved_before_v3" / "object_info_v2.json"
COMPARED = ("name", "display_name", "description", "category", "output_node", "input", "input_order",
            "output", "output_name", "output_is_list", "output_tooltips")


def _v1_spelling(spec):
    """One input spec in the V1 entry's spelling."""
    if len(spec) == 1:  # a hidden input: ["PROMPT"]
        return spec[0]
    kind, options = spec
    if kind == "COMBO":
        options = dict(options)
        choices = options.pop("options")
        assert options.pop("multiselect") is False
        return [choices, options]
    return spec


def _entry(node) -> dict:
    info = json.loads(json.dumps(node.GET_NODE_INFO_V1()))  # as the server sends it (tuples become lists)
    info["input"] = {section: {name: _v1_spelling(spec) if section == "hidden" or spec[0] == "COMBO" else spec
                               for name, spec in specs.items()}
                     for section, specs in info["input"].items()}
    return {key: info[key] for key in COMPARED}


def _before(node_id) -> dict:
    entry = json.loads(BEFORE_V3.read_text())[node_id]
    return {key: entry[key] for key in COMPARED}


def test_load_video_entry_is_unchanged(comfyui_root):
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo

    now, before = _entry(SteadyFrameLoadVideo), _before("SteadyFrameLoadVideo")
    # The video choices are the files in this machine's input folder.
    now["input"]["required"]["video"][0] = before["input"]["required"]["video"][0] = "<input videos>"
    assert now == before


def test_video_combine_entry_is_unchanged(comfyui_root):
    from steadyframe.nodes.video_nodes import SteadyFrameVideoCombine
    from steadyframe.video import available_formats

    now, before = _entry(SteadyFrameVideoCombine), _before("SteadyFrameVideoCombine")
    # The format choices are the encoders of the installed PyAV; this one has them all.
    assert available_formats() == before["input"]["required"]["format"][0]
    assert now == before
