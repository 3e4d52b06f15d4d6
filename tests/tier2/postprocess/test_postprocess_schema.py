"""The timing, deflicker and metrics nodes on ComfyUI's V3 schema describe themselves exactly as before V3
(saved workflows keep loading)."""
import importlib

import pytest

from support.node_info import FOLDER_COMBOS, node_info_differences

pytestmark = pytest.mark.tier2

# V3 gives every output node the hidden inputs prompt and extra_pnginfo (comfy_api Schema.finalize);
# saved workflows hold no hidden inputs, so that is the one difference an output node may show.
OUTPUT_NODE_HIDDEN = "hidden: before [], now ['extra_pnginfo', 'prompt']"

NODES = {
    "SteadyFrameInterpolate": "timing_nodes",
    "SteadyFrameRetime": "timing_nodes",
    "SteadyFrameSelectKeyframes": "timing_nodes",
    "SteadyFrameDeflicker": "deflicker_nodes",
    "SteadyFrameTemporalConsistency": "deflicker_nodes",
}


@pytest.mark.parametrize("node_id", list(NODES))
def test_postprocess_node_matches_its_entry_before_v3(comfyui_root, node_id):
    module = importlib.import_module(f"steadyframe.nodes.{NODES[node_id]}")
    node = getattr(module, node_id)
    assert node in module.NODES
    info = node.GET_NODE_INFO_V1()
    differences = node_info_differences(node_id, info, folder_combos=FOLDER_COMBOS.get(node_id, ()))
    if info["output_node"]:
        differences.remove(f"{node_id} {OUTPUT_NODE_HIDDEN}")
    assert differences == []
