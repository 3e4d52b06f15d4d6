"""flow/visualize.py: colour pictures of a clip's flow and its unreliable pixels (Preview Optical Flow)."""
import pytest
import torch

from steadyframe.flow.provider import flow_for
from steadyframe.flow.sequence import FlowSequence
from steadyframe.flow.visualize import preview_flow
from support.flow_synthetic import translated_sequence


def test_preview_colours_direction_and_masks_the_entering_edge():
    flow = flow_for(translated_sequence(4, 32, 40, step=(1, 1), seed=5))
    calls = []
    images, unreliable = preview_flow(flow, "forward", 1.5, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert images.shape == (3, 32, 40, 3) and unreliable.shape == (3, 32, 40)
    # Motion (+1, +1) per frame, |v| = 1.41 of 1.5: hue 45 degrees (orange, RGB ~ (1, 0.75, 0)), nearly saturated.
    centre = images[:, 8:-8, 8:-8].mean(dim=(0, 1, 2))
    assert torch.allclose(centre, torch.tensor([1.0, 0.76, 0.06]), atol=0.05), centre
    auto, _ = preview_flow(flow, "forward", 0.0)  # scaled to the clip's fastest vector
    assert auto[:, 8:-8, 8:-8].mean(dim=(0, 1, 2))[2] > centre[2]
    # Frame t's last column/row leave the frame in t+1.
    assert unreliable[:, :, -1].mean() > 0.9 and unreliable[:, 8:-8, 8:-8].mean() < 0.05
    still = FlowSequence(torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8), 8, 8)
    white, _ = preview_flow(still, "backward", 4.0)
    assert torch.allclose(white, torch.ones_like(white))


def test_preview_of_a_single_frame_flow_is_an_error():
    empty = FlowSequence(torch.zeros(0, 2, 8, 8), torch.zeros(0, 2, 8, 8), 8, 8)
    with pytest.raises(ValueError, match="holds no frame pairs"):
        preview_flow(empty)
