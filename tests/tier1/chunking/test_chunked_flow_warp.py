"""Flow Warp Keyframes chunk by chunk: keyframes at absolute frames, the previous keyframe carried across chunks."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan
from steadyframe.flow.chunk_warp import flow_warp_chunk
from steadyframe.flow.chunked import chunk_flow
from steadyframe.flow.keyframe_warp import flow_warp
from steadyframe.flow.provider import FlowOptions, flow_for
from support.moving_scene import MovingSquareScene

FAST = FlowOptions(preset="fast", max_motion=8.0)
SCENE = MovingSquareScene(height=24, width=32, square_size=8, square_origin=(6.0, 4.0),
                          square_velocity=(2.0, 1.0), background_velocity=(-1.0, 0.0))
CLIP = SCENE.frames([float(t) for t in range(10)])
KEYS = "0, 9"
STYLED = torch.flip(CLIP[[0, 9]], dims=[3]) * 0.8  # stand-in stylised keyframes


@pytest.mark.parametrize("composed", [False, True])
def test_frames_with_both_keyframes_in_reach_equal_the_unchunked_warp(tmp_path, composed):
    whole_images, whole_masks = flow_warp(CLIP, STYLED, KEYS, flow=flow_for(CLIP, options=FAST) if composed else None,
                                          options=FAST)
    plan = ChunkPlan(10, 4, 1)  # chunks [0, 4), [3, 8), [7, 10)
    compared = 0
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        frames = CLIP[chunk.first:chunk.end]
        flow = chunk_flow(frames, chunk, "flow-1", FAST) if composed else None
        images, masks = flow_warp_chunk(frames, STYLED, KEYS, chunk, "flow-warp-2", flow=flow, options=FAST)
        assert images.shape == frames.shape and masks.shape == frames.shape[:3]
        for local in range(chunk.lead, chunk.frames):
            frame = chunk.first + local
            if frame in (0, 9) or chunk.is_last:  # keyframes, and frames whose next keyframe (9) is in reach
                assert torch.equal(images[local], whole_images[frame]), f"frame {frame}"
                assert torch.equal(masks[local], whole_masks[frame])
                compared += 1
            else:  # next keyframe in a later chunk: warped from keyframe 0 alone, still a full picture
                assert torch.isfinite(images[local]).all() and not torch.equal(images[local], whole_images[frame])
    assert compared == 3  # frames 0, 9 and 8, whose previous keyframe (0) was carried across two chunks


def test_a_chunk_without_any_keyframe_before_or_in_it_is_refused(tmp_path):
    chunk = ChunkPlan(10, 4, 0).chunk(0, "job", str(tmp_path))
    with pytest.raises(ValueError, match="has no keyframe in it or before it"):
        flow_warp_chunk(CLIP[0:4], STYLED[1:], "9", chunk, "flow-warp-2", options=FAST)
