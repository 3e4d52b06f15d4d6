"""The flow nodes on ComfyUI's V3 schema describe themselves exactly as before V3 (saved workflows keep loading)."""
import pytest

from support.node_info import FOLDER_COMBOS, node_info_differences

pytestmark = pytest.mark.tier2


@pytest.mark.parametrize("node_id", ["SteadyFrameOpticalFlow", "SteadyFrameFlowWarp", "SteadyFrameLoadFlowModel",
                                     "SteadyFrameFlowPreview"])
def test_flow_node_matches_its_entry_before_v3(comfyui_root, node_id):
    from steadyframe.nodes import flow_nodes

    node = getattr(flow_nodes, node_id)
    assert node in flow_nodes.NODES
    assert node_info_differences(node_id, node.GET_NODE_INFO_V1(), folder_combos=FOLDER_COMBOS.get(node_id, ())) == []
