"""Keyframe selection on synthetic clips with known scene cuts."""
import pytest
import torch

from steadyframe.flow.keyframe_warp import parse_keyframe_indices
from steadyframe.flow.provider import FlowOptions
from steadyframe.flow.sequence import FlowSequence
from steadyframe.postprocess.keyframes import (
    KeyframeGaps,
    choose_keyframes,
    edge_change,
    edge_maps,
    keyframes_by_edges,
    keyframes_by_occlusion,
    occlusion_fractions,
    select_keyframes,
)
from support.moving_scene import scene_cut_clip

SHOTS = (10, 12, 9)  # cuts at frames 10 and 22


def gaps(keys):
    return [b - a for a, b in zip(keys, keys[1:])]


@pytest.fixture(scope="module")
def cut_clip():
    return scene_cut_clip(SHOTS, motion=0.5)


def test_edge_change_is_small_inside_a_shot_and_large_at_a_cut(cut_clip):
    edges = edge_maps(cut_clip)
    inside = [edge_change(edges, i - 1, i) for i in range(1, 31) if i not in (10, 22)]
    cuts = [edge_change(edges, 9, 10), edge_change(edges, 21, 22)]
    assert max(inside) < 20.0
    assert min(cuts) > 60.0
    assert edge_change(edges, 5, 5) == 0.0


def test_keyframes_land_on_the_cuts(cut_clip):
    keys = keyframes_by_edges(cut_clip, threshold=60.0, gaps=KeyframeGaps(min_gap=3, max_gap=40))
    assert keys == [0, 10, 22, 30]


def test_max_gap_forces_keyframes_in_a_static_shot():
    still = scene_cut_clip((25,), motion=0.0)
    keys = keyframes_by_edges(still, threshold=60.0, gaps=KeyframeGaps(min_gap=2, max_gap=8))
    assert keys == [0, 8, 16, 24]


def test_min_gap_suppresses_a_cut_too_close_to_the_last_keyframe():
    clip = scene_cut_clip((3, 12), motion=0.0)  # a cut 3 frames after the first keyframe
    keys = keyframes_by_edges(clip, threshold=60.0, gaps=KeyframeGaps(min_gap=5, max_gap=40))
    assert keys[:2] == [0, 5]  # the earliest frame allowed after the cut
    assert min(gaps(keys)) >= 5


def test_gap_limits_hold_for_any_change_pattern():
    generator = torch.Generator().manual_seed(3)
    change = torch.rand(60, generator=generator) * 100
    for min_gap, max_gap in ((1, 1), (2, 5), (4, 24), (7, 7)):
        keys = select_keyframes(60, lambda key, i: float(change[i]), 50.0, KeyframeGaps(min_gap, max_gap, include_last=True))
        assert keys[0] == 0
        assert all(min_gap <= g <= max_gap for g in gaps(keys)), (min_gap, max_gap, keys)
        assert 59 - keys[-1] < max_gap


def test_include_last_respects_min_gap():
    assert select_keyframes(10, lambda k, i: 0.0, 50.0, KeyframeGaps(2, 6, include_last=True)) == [0, 6, 9]
    assert select_keyframes(8, lambda k, i: 0.0, 50.0, KeyframeGaps(3, 6, include_last=True)) == [0, 6]
    assert select_keyframes(10, lambda k, i: 0.0, 50.0, KeyframeGaps(2, 6, include_last=False)) == [0, 6]


def test_bad_gaps_are_rejected():
    with pytest.raises(ValueError, match="max_gap"):
        KeyframeGaps(5, 3)
    with pytest.raises(ValueError, match="min_gap"):
        KeyframeGaps(0, 3)


def test_occlusion_method_accumulates_until_threshold():
    # Synthetic flows: in pair i a block of known size has inconsistent forward/backward vectors.
    frames, size = 12, 20
    forward = torch.zeros(frames - 1, 2, size, size)
    backward = torch.zeros(frames - 1, 2, size, size)
    forward[:, 0, :4, :10] = 3.0  # 40 of 400 pixels (10 %) fail the round trip in every pair
    fractions = occlusion_fractions(forward, backward)
    assert fractions == pytest.approx([10.0] * (frames - 1), abs=0.6)
    keys = keyframes_by_occlusion(fractions, threshold=25.0, gaps=KeyframeGaps(min_gap=1, max_gap=100))
    assert gaps(keys)[:3] == [3, 3, 3]


def test_occlusion_method_sees_flow_leaving_the_frame():
    forward = torch.zeros(2, 2, 10, 10)
    forward[0, 0] = 5.0  # everything moves 5 px right: the right half leaves the frame
    backward = -forward
    fractions = occlusion_fractions(forward, backward)
    assert fractions[0] == pytest.approx(50.0, abs=10.5)
    assert fractions[1] == 0.0


def test_choose_keyframes_outputs_indices_flowwarp_parses_and_keyframe_images(cut_clip):
    text, keyframes, count = choose_keyframes(cut_clip, "edge change", 60.0, 15.0, KeyframeGaps(3, 40, True))
    assert text == "0, 10, 22, 30"
    assert parse_keyframe_indices(text, 31) == [0, 10, 22, 30]
    assert count == 4
    assert torch.equal(keyframes, cut_clip[[0, 10, 22, 30]])


def test_choose_keyframes_occlusion_method_uses_a_given_flow():
    frames = scene_cut_clip((6,), motion=0.0)
    forward = torch.zeros(5, 2, 64, 64)
    forward[2, 0, :32] = 4.0  # half the picture fails the check in pair 2 only
    flow = FlowSequence(forward=forward, backward=torch.zeros_like(forward), height=64, width=64)
    def refuse(frame_a, frame_b):
        raise AssertionError("the given flow was not used")

    text, keyframes, count = choose_keyframes(frames, "occlusion", 60.0, 30.0, KeyframeGaps(1, 10, False), flow,
                                              FlowOptions(estimator=refuse))
    assert text == "0, 3"  # the change between frames 2 and 3 makes frame 3 a keyframe
    assert count == 2 and keyframes.shape[0] == 2


def test_choose_keyframes_estimates_flow_for_the_occlusion_method():
    clip = scene_cut_clip((6, 6), height=32, width=32, motion=0.0)
    text, keyframes, count = choose_keyframes(clip, "occlusion", 60.0, 30.0, KeyframeGaps(2, 20, False),
                                              options=FlowOptions("fast", max_motion=16))
    assert text == "0, 6" and count == 2 and torch.equal(keyframes[1], clip[6])
    with pytest.raises(ValueError, match="'motion' is not a valid KeyframeMethod"):
        choose_keyframes(clip, "motion")


def test_exposure_drift_is_not_a_change():
    clip = scene_cut_clip((12,), motion=0.0)
    gains = torch.linspace(1.0, 0.55, 12).view(12, 1, 1, 1)
    edges = edge_maps(clip * gains)
    assert max(edge_change(edges, 0, i) for i in range(12)) < 10.0
    assert keyframes_by_edges(clip * gains, threshold=60.0, gaps=KeyframeGaps(2, 40, include_last=False)) == [0]


def test_blank_frames_have_no_change_and_content_appearing_is_a_full_change():
    blank = torch.full((2, 64, 64, 3), 0.3)
    shot = scene_cut_clip((1,), motion=0.0)
    edges = edge_maps(torch.cat((blank, shot)))
    assert edge_change(edges, 0, 1) == 0.0
    assert edge_change(edges, 1, 2) == 100.0
