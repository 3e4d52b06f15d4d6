"""Chunk inputs of the flow, timing and keyframe-latent nodes inside a real ComfyUI (in-process, real KSampler)."""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.chunking import ChunkPlan
from steadyframe.nodes.flow_nodes import SteadyFrameOpticalFlow
from steadyframe.nodes.timing_nodes import SteadyFrameInterpolate
from steadyframe.nodes.vid2vid_nodes import SteadyFrameChunkSeamAnchor, SteadyFrameKeyframeLatents
from support.moving_scene import MovingSquareScene

pytestmark = pytest.mark.tier2

SCENE = MovingSquareScene(height=24, width=24, square_size=8, square_origin=(4.0, 6.0),
                          square_velocity=(2.0, 0.0), background_velocity=(0.0, 0.0))


def test_interpolate_nodes_chunk_by_chunk_equal_the_unchunked_node(comfyui_root, tmp_path):
    clip = SCENE.frames([float(t) for t in range(6)])
    flow = SteadyFrameOpticalFlow.execute(clip, "fast", "full", 8).args[0]
    whole = SteadyFrameInterpolate.execute(clip, 2, True, False, 12.0, "fast", 8, flow).args
    plan = ChunkPlan(6, 3, 0)
    parts = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        frames = clip[chunk.first:chunk.end]
        chunk_flow = SteadyFrameOpticalFlow.execute(frames, "fast", "full", 8, None, chunk).args[0]
        parts.append(SteadyFrameInterpolate.execute(frames, 2, True, False, 12.0, "fast", 8, chunk_flow, None,
                                                    chunk).args)
    assert whole[3] is None and len(whole) == 4
    assert torch.equal(torch.cat([p[0] for p in parts]), whole[0])
    assert [p[1] for p in parts] == [5, 6] and parts[1][3].first_new == 5 and parts[1][3].end == 11
    assert parts[-1][3].total_frames == whole[1] == 11


def test_the_seam_anchor_holds_the_lead_through_a_real_ksampler(comfyui_root, tmp_path):
    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_clip, make_sd15_model_patcher

    model = make_sd15_model_patcher(0).clone()
    clip_model = make_sd15_clip(0)
    tokens = clip_model.tokenize("a test")
    cond = [[clip_model.encode_from_tokens(tokens), {}]]
    plan = ChunkPlan(total_frames=8, chunk_frames=5, overlap=2)
    finished = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        start = {"samples": torch.zeros(chunk.frames, 4, 8, 8)}
        latent = SteadyFrameKeyframeLatents.execute(start, 0.0, 0.0, 1.0, 32.0, None, None, chunk).args[0]
        if index:
            assert latent["noise_mask"][:, 0, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
        sampled = comfy_nodes.common_ksampler(model, index, 1, 1.0, "euler", "normal", cond, cond, latent)[0]
        if index:
            # The oldest lead frame is held on the previous chunk's finished latent; the new frames are sampled.
            assert torch.allclose(sampled["samples"][0], finished[-1]["samples"][3], atol=1e-4)
            assert not torch.allclose(sampled["samples"][2:], latent["samples"][2:], atol=1e-3)
        blended, write = SteadyFrameChunkSeamAnchor.execute(sampled, chunk, 0, 0.5).args
        finished.append(blended)
        assert write.lead == 0 and (write.first_new, write.end) == ((0, 3) if index == 0 else (3, 8))
