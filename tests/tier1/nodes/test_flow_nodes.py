"""nodes/flow_nodes.py: the Optical Flow and Flow Warp nodes, called as ComfyUI calls them."""
import pytest
import torch

from steadyframe.flow.sequence import FlowSequence
from steadyframe.nodes.flow_nodes import NODE_CLASS_MAPPINGS, SteadyFrameFlowWarp, SteadyFrameOpticalFlow
from support.flow_synthetic import translated_sequence


def _defaults(node_cls):
    """The default value of every required widget input, as the ComfyUI frontend would send it."""
    values = {}
    for name, spec in node_cls.INPUT_TYPES()["required"].items():
        kind, options = spec[0], spec[1] if len(spec) > 1 else {}
        if isinstance(kind, list):
            values[name] = options.get("default", kind[0])
        elif "default" in options:
            values[name] = options["default"]
    return values


@pytest.fixture(scope="module")
def clip():
    return translated_sequence(4, 32, 40, step=(1, 1), seed=5)


def test_registered_under_the_issue_ids():
    assert NODE_CLASS_MAPPINGS["SteadyFrameOpticalFlow"] is SteadyFrameOpticalFlow
    assert NODE_CLASS_MAPPINGS["SteadyFrameFlowWarp"] is SteadyFrameFlowWarp
    assert SteadyFrameOpticalFlow.RETURN_TYPES == ("SF_FLOW",)
    assert SteadyFrameFlowWarp.RETURN_TYPES == ("IMAGE", "MASK")
    assert SteadyFrameFlowWarp.INPUT_TYPES()["optional"]["flow"][0] == "SF_FLOW"


def test_optical_flow_node_outputs_a_flow_sequence(clip):
    (flow,) = SteadyFrameOpticalFlow().compute(clip, **{**_defaults(SteadyFrameOpticalFlow), "preset": "fast"})
    assert isinstance(flow, FlowSequence)
    assert flow.forward.shape == (3, 2, 32, 40)
    assert flow.forward[:, :, 6:-6, 6:-6].mean().item() == pytest.approx(1.0, abs=0.1)


def test_optical_flow_node_needs_two_frames(clip):
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        SteadyFrameOpticalFlow().compute(clip[:1], **_defaults(SteadyFrameOpticalFlow))


def test_flow_warp_node_with_and_without_precomputed_flow(clip):
    args = {**_defaults(SteadyFrameFlowWarp), "keyframe_indices": "0, 3"}
    keyframes = torch.stack((1 - clip[0], 1 - clip[3]))
    images, mask = SteadyFrameFlowWarp().warp(clip, keyframes, **args)
    assert images.shape == clip.shape and mask.shape == clip.shape[:3]
    assert torch.equal(images[0], keyframes[0]) and torch.equal(images[3], keyframes[1])
    assert ((images[1:3] - (1 - clip[1:3])).abs()[:, 4:-4, 4:-4]).mean().item() < 0.01
    (flow,) = SteadyFrameOpticalFlow().compute(clip, **_defaults(SteadyFrameOpticalFlow))
    images2, mask2 = SteadyFrameFlowWarp().warp(clip, keyframes, **args, flow=flow)
    assert torch.equal(images2[3], keyframes[1])
    assert ((images2[1:3] - (1 - clip[1:3])).abs()[:, 4:-4, 4:-4]).mean().item() < 0.01


def test_flow_warp_node_errors(clip):
    args = _defaults(SteadyFrameFlowWarp)
    with pytest.raises(ValueError, match=r"got 2 keyframe image\(s\) but 1 keyframe index\(es\)"):
        SteadyFrameFlowWarp().warp(clip, clip[:2], **args)
    with pytest.raises(ValueError, match="index 7 at column 4 is out of range; the source has 4 frames"):
        SteadyFrameFlowWarp().warp(clip, clip[:2], **{**args, "keyframe_indices": "0, 7"})
    with pytest.raises(ValueError, match="keyframes are 20x16 but the source frames are 40x32"):
        SteadyFrameFlowWarp().warp(clip, clip[:1, ::2, ::2], **args)
    images, _ = SteadyFrameFlowWarp().warp(clip, clip[:1, ::2, ::2], **{**args, "on_size_mismatch": "resize keyframes"})
    assert images.shape == clip.shape
    other = FlowSequence(torch.zeros(2, 2, 32, 40), torch.zeros(2, 2, 32, 40), 32, 40)
    with pytest.raises(ValueError, match="computed for 3 frames of 40x32 but frames has 4 frames of 40x32"):
        SteadyFrameFlowWarp().warp(clip, clip[:1], **args, flow=other)


def test_flow_preview_colours_direction_and_masks_the_entering_edge(clip):
    from steadyframe.nodes.flow_nodes import SteadyFrameFlowPreview

    (flow,) = SteadyFrameOpticalFlow().compute(clip, **_defaults(SteadyFrameOpticalFlow))
    images, unreliable = SteadyFrameFlowPreview().preview(flow, "forward", 1.5)
    assert images.shape == (3, 32, 40, 3) and unreliable.shape == (3, 32, 40)
    # Motion (+1, +1) per frame, |v| = 1.41 of 1.5: hue 45 degrees (orange, RGB ~ (1, 0.75, 0)), nearly saturated.
    centre = images[:, 8:-8, 8:-8].mean(dim=(0, 1, 2))
    assert torch.allclose(centre, torch.tensor([1.0, 0.76, 0.06]), atol=0.05), centre
    auto, _ = SteadyFrameFlowPreview().preview(flow, "forward", 0.0)  # scaled to the clip's fastest vector
    assert auto[:, 8:-8, 8:-8].mean(dim=(0, 1, 2))[2] > centre[2]
    # Frame t's last column/row leave the frame in t+1.
    assert unreliable[:, :, -1].mean() > 0.9 and unreliable[:, 8:-8, 8:-8].mean() < 0.05
    still = FlowSequence(torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8), 8, 8)
    white, _ = SteadyFrameFlowPreview().preview(still, "backward", 4.0)
    assert torch.allclose(white, torch.ones_like(white))
