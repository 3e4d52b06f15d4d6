"""The Load Motion Module node class, without ComfyUI."""
import pytest

from steadyframe.nodes.motion_nodes import NODE_CLASS_MAPPINGS, SteadyFrameLoadMotionModule, _parse_frame_values


def test_node_inputs_and_defaults():
    inputs = SteadyFrameLoadMotionModule.INPUT_TYPES()["required"]
    assert inputs["model"][0] == "MODEL"
    assert inputs["beta_schedule"][1]["default"] == "auto"
    assert (inputs["context_length"][1]["default"], inputs["context_overlap"][1]["default"]) == (16, 4)
    assert inputs["motion_scale"][1]["default"] == 1.0 and inputs["effect"][1]["default"] == 1.0
    assert SteadyFrameLoadMotionModule.RETURN_TYPES == ("MODEL",)
    assert not any(node_id.startswith("ADE_") for node_id in NODE_CLASS_MAPPINGS)


def test_per_frame_values_are_parsed_with_positions_in_errors():
    assert _parse_frame_values("1.25", "x") == 1.25
    assert _parse_frame_values("0, 0.5; 1", "x") == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"effect_per_frame: item 2 \('abc'\) is not a number"):
        _parse_frame_values("1, abc", "effect_per_frame")
