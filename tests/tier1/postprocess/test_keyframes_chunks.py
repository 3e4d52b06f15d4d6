"""Select Keyframes over a chunked long video: the keyframes of the whole video, as absolute frame numbers."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan, load_state, save_state
from steadyframe.flow.sequence import FlowSequence
from steadyframe.postprocess.chunk_span import ChunkSpan
from steadyframe.postprocess.keyframes import KeyframeGaps, choose_keyframes
from steadyframe.postprocess.keyframes_chunks import KeyframeCarry, choose_keyframes_chunk
from support.moving_scene import scene_cut_clip

SHOTS = (10, 12, 14)  # cuts at frames 10 and 22
FRAMES, HEIGHT, WIDTH = sum(SHOTS), 64, 64


@pytest.fixture(scope="module")
def clip():
    return scene_cut_clip(SHOTS, motion=1.5)


def run_chunks(images, plan, state_dir, flow=None, **options):
    """Select Keyframes chunk by chunk (state through chunking.state); ``flow``: (F-1, 2, H, W) of the whole
    video, handed to each chunk for its own frames as a connected flow."""
    keys, per_chunk = set(), []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(state_dir))
        loaded = load_state(chunk, "keyframes.5")
        part = None
        if flow is not None:
            part = FlowSequence(forward=flow[chunk.first:chunk.end - 1], backward=flow[chunk.first:chunk.end - 1],
                                height=HEIGHT, width=WIDTH)
        choice, carry = choose_keyframes_chunk(images[chunk.first:chunk.end], ChunkSpan.of(chunk), chunk.first_new,
                                               flow=part, carried=None if loaded is None else KeyframeCarry(*loaded),
                                               **options)
        if carry is not None:
            save_state(chunk, "keyframes.5", carry.tensors, carry.meta)
        indices = [int(i) for i in choice.indices.split(", ")] if choice.indices else []
        assert all(chunk.first <= i < chunk.end for i in indices)
        for position, frame in enumerate(indices):
            assert torch.equal(choice.keyframes[position], images[frame])
        keys.update(indices)
        per_chunk.append(indices)
    return sorted(keys), per_chunk


@pytest.mark.parametrize("method,threshold", [("edge change", {"edge_threshold": 60.0}),
                                              ("occlusion", {"occlusion_threshold": 15.0})])
@pytest.mark.parametrize("chunk_frames,overlap", [(10, 3), (9, 0), (7, 6)])
def test_chunked_keyframes_are_the_whole_videos(tmp_path, clip, method, threshold, chunk_frames, overlap):
    gaps = KeyframeGaps(min_gap=2, max_gap=11, include_last=True)
    whole = choose_keyframes(clip, method, gaps=gaps, **threshold)
    expected = [int(i) for i in whole.indices.split(", ")]
    assert 10 in expected and expected[-1] == FRAMES - 1 and len(expected) > 3
    keys, _ = run_chunks(clip, ChunkPlan(FRAMES, chunk_frames, overlap), tmp_path, method=method, gaps=gaps, **threshold)
    assert keys == expected


def test_a_connected_flow_is_used_for_the_chunks_own_pairs(tmp_path, clip):
    gaps = KeyframeGaps(min_gap=2, max_gap=16)
    still = torch.zeros(FRAMES - 1, 2, HEIGHT, WIDTH)  # a "flow" with no motion: no occlusion anywhere
    whole = choose_keyframes(clip, "occlusion", occlusion_threshold=1.0, gaps=gaps,
                             flow=FlowSequence(forward=still, backward=still, height=HEIGHT, width=WIDTH))
    assert whole.indices == "0, 16, 32, 35"  # only max_gap and include_last place keyframes
    keys, per_chunk = run_chunks(clip, ChunkPlan(FRAMES, 12, 2), tmp_path, method="occlusion", occlusion_threshold=1.0,
                                 gaps=gaps, flow=still)
    assert keys == [0, 16, 32, 35] and per_chunk[1] == [16]
