"""Frame interpolation against exact in-between frames of a synthetic moving scene."""
import dataclasses

import pytest
import torch
from kornia.color import rgb_to_grayscale

from steadyframe.flow.estimate import estimate_flow, preset_settings
from steadyframe.flow.provider import ClipFlow, FlowOptions
from steadyframe.flow.sequence import FlowSequence
from steadyframe.flow.tvl1 import tvl1_flow
from steadyframe.postprocess.interpolate import (
    PairInterpolator,
    cross_fade,
    fill_holes,
    forward_splat,
    inbetween_positions,
    refine_unreliable_flow,
    render_positions,
)
from steadyframe.postprocess.timing import interpolate_clip
from support.moving_scene import MovingSquareScene

# Velocities divisible by 4 keep every quarter-time position on whole pixels, so the rendered
# ground truth and the warps are directly comparable.
SCENE = MovingSquareScene(height=64, width=64, square_size=20, square_origin=(12.0, 18.0),
                          square_velocity=(8.0, 4.0), background_velocity=(-4.0, 0.0))


def chw(frame):
    return frame.permute(2, 0, 1)[None]


def psnr(a, b):
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def exact_flows(scene, t_a=0.0, t_b=1.0):
    return scene.flow(t_a, t_b), scene.flow(t_b, t_a)


def zero_flows(i, j, size=16):
    return torch.zeros(1, 2, size, size), torch.zeros(1, 2, size, size)


def interpolate_frames(frames, multiplier, pair_flows, loop=False, keep_source_frames=True):
    positions = inbetween_positions(frames.shape[0], multiplier, loop, keep_source_frames)
    return render_positions(frames, positions, pair_flows, loop=loop)


def test_forward_splat_spreads_bilinearly():
    values = torch.zeros(1, 1, 5, 5)
    values[0, 0, 2, 1] = 3.0
    displacement = torch.zeros(1, 2, 5, 5)
    displacement[0, 0, 2, 1] = 1.5  # lands halfway between columns 2 and 3
    weight = torch.zeros(1, 1, 5, 5)
    weight[0, 0, 2, 1] = 1.0
    total, weights = forward_splat(values, displacement, weight)
    assert weights[0, 0, 2, 2] == pytest.approx(0.5) and weights[0, 0, 2, 3] == pytest.approx(0.5)
    assert total[0, 0, 2, 2] == pytest.approx(1.5) and total[0, 0, 2, 3] == pytest.approx(1.5)
    assert float(weights.sum()) == pytest.approx(1.0)


def test_forward_splat_drops_what_leaves_the_image():
    values = torch.ones(1, 1, 4, 4)
    displacement = torch.zeros(1, 2, 4, 4)
    displacement[:, 0] = 10.0
    _, weights = forward_splat(values, displacement, torch.ones(1, 1, 4, 4))
    assert float(weights.sum()) == 0.0


def test_fill_holes_uses_the_surroundings():
    values = torch.zeros(1, 2, 16, 16)
    values[:, 0] = 3.0
    values[:, 1] = -1.0
    known = torch.ones(1, 1, 16, 16)
    known[..., 4:9, 5:12] = 0.0
    values[..., 4:9, 5:12] = 100.0  # garbage under the hole must not leak out
    filled = fill_holes(values, known)
    assert torch.allclose(filled[:, 0], torch.full((1, 16, 16), 3.0))
    assert torch.allclose(filled[:, 1], torch.full((1, 16, 16), -1.0))


def test_motion_at_time_t_sits_where_the_object_is_then():
    # Known limit: background visible in both frames but crossed by the square in between (the
    # corners of a diagonal move) has no depth order to lose against and is averaged in, so this
    # checks a horizontal move, where every crossed background pixel is hidden in one frame.
    scene = MovingSquareScene(height=64, width=64, square_size=20, square_origin=(12.0, 18.0),
                              square_velocity=(8.0, 0.0), background_velocity=(-4.0, 0.0))
    flow_ab, flow_ba = exact_flows(scene)
    interpolator = PairInterpolator(chw(scene.frame(0)), chw(scene.frame(1)), flow_ab, flow_ba, refine_passes=0)
    motion = interpolator.motion_at(0.5)
    square_then = scene.square_mask(0.5)
    # Hidden background splats with a weight of ~5e-5 of the visible square's, hence the tolerance.
    assert torch.allclose(motion[0, 0][square_then], torch.tensor(8.0), atol=2e-3)
    assert torch.allclose(motion[0, 1][square_then], torch.tensor(0.0), atol=2e-3)
    # The linear-motion approximation (the flow at the same pixel of frame a) would put background
    # motion on the part of the square that was background at t = 0.
    assert int((square_then & ~scene.square_mask(0)).sum()) >= 80
    far = ~(scene.square_mask(0) | scene.square_mask(1) | square_then)
    assert torch.allclose(motion[0, 0][far], torch.tensor(-4.0), atol=2e-3)


@pytest.mark.parametrize("t", [0.25, 0.5, 0.75])
def test_inbetween_with_exact_flow_is_far_better_than_cross_fade(t):
    frame_a, frame_b = chw(SCENE.frame(0)), chw(SCENE.frame(1))
    interpolator = PairInterpolator(frame_a, frame_b, *exact_flows(SCENE), refine_passes=0)
    truth = chw(SCENE.frame(t))
    ours = psnr(interpolator.at(t), truth)
    blend = psnr(cross_fade(frame_a, frame_b, t), truth)
    nearest = psnr(frame_a if t < 0.5 else frame_b, truth)
    assert ours > blend + 10.0, (ours, blend)
    assert ours > nearest + 10.0, (ours, nearest)


def test_disoccluded_background_comes_from_the_frame_that_shows_it():
    frame_a, frame_b = chw(SCENE.frame(0)), chw(SCENE.frame(1))
    interpolator = PairInterpolator(frame_a, frame_b, *exact_flows(SCENE), refine_passes=0)
    out = interpolator.at(0.5)
    truth = chw(SCENE.frame(0.5))
    # Background behind the square's start position, uncovered by t = 0.5: only frame b shows it.
    uncovered = SCENE.square_mask(0) & ~SCENE.square_mask(0.5) & ~SCENE.square_mask(1)
    # Background the square is about to cover after t = 0.5: only frame a shows it.
    covered_later = SCENE.square_mask(1) & ~SCENE.square_mask(0.5) & ~SCENE.square_mask(0)
    assert int(uncovered.sum()) > 40 and int(covered_later.sum()) > 40
    for region in (uncovered, covered_later):
        error = (out - truth).abs().mean(1)[0][region]
        assert float(error.mean()) < 0.02
    # A plain two-sided blend along the same motion gets these regions wrong.
    motion = interpolator.motion_at(0.5)
    from steadyframe.flow.warp import warp_backward

    naive = 0.5 * warp_backward(frame_a, -0.5 * motion) + 0.5 * warp_backward(frame_b, 0.5 * motion)
    assert float((naive - truth).abs().mean(1)[0][uncovered].mean()) > 0.05


def test_inbetween_with_estimated_flow_beats_cross_fade_and_the_repair_helps():
    scene = MovingSquareScene(height=64, width=64, square_size=24, square_origin=(16.0, 16.0),
                              square_velocity=(4.0, 2.0), background_velocity=(-2.0, 0.0))
    frames = torch.cat((chw(scene.frame(0)), chw(scene.frame(1))))
    flows = estimate_flow(frames, frames.flip(0), preset="balanced", max_motion=16)
    truth = chw(scene.frame(0.5))
    ours = psnr(PairInterpolator(frames[:1], frames[1:], flows[:1], flows[1:]).at(0.5), truth)
    blend = psnr(cross_fade(frames[:1], frames[1:], 0.5), truth)
    assert ours > blend + 6.0, (ours, blend)
    # The estimator's own neighbour propagation already repairs most motion edges, so the repair
    # is measured on plain coarse-to-fine TV-L1 flow (propagation off), the smeared edges it is for.
    plain = dataclasses.replace(preset_settings("balanced", 16), propagation=(), fine_propagation=())
    gray = rgb_to_grayscale(frames)
    smeared = tvl1_flow(gray, gray.flip(0), plain)
    repaired = psnr(PairInterpolator(frames[:1], frames[1:], smeared[:1], smeared[1:]).at(0.5), truth)
    unrepaired = psnr(PairInterpolator(frames[:1], frames[1:], smeared[:1], smeared[1:], refine_passes=0).at(0.5), truth)
    assert repaired > unrepaired + 1.0, (repaired, unrepaired)


def test_repair_adopts_nearby_flow_that_explains_the_pixel():
    scene = MovingSquareScene(height=64, width=64, square_size=24, square_origin=(16.0, 16.0),
                              square_velocity=(4.0, 2.0), background_velocity=(0.0, 0.0))
    frame_a, frame_b = chw(scene.frame(0)), chw(scene.frame(1))
    flow_ab, flow_ba = exact_flows(scene)
    damaged = flow_ab.clone()
    damaged[..., 20:24, 20:36] = 0.5 * damaged[..., 20:24, 20:36]  # a smeared band inside the square
    repaired = refine_unreliable_flow(frame_a, frame_b, damaged, flow_ba)
    assert torch.allclose(repaired[..., 20:24, 20:36], flow_ab[..., 20:24, 20:36])
    # Reliable flow is left alone.
    assert torch.equal(repaired[..., :16, :], damaged[..., :16, :])


def test_a_cut_repeats_the_nearer_frame():
    from support.moving_scene import scene_cut_clip

    clip = scene_cut_clip((1, 1))  # two unrelated shots
    frames = clip.permute(0, 3, 1, 2)
    flows = estimate_flow(frames, frames.flip(0), preset="fast", max_motion=16)
    interpolator = PairInterpolator(frames[:1], frames[1:], flows[:1], flows[1:])
    assert bool(interpolator.is_cut.all())
    assert torch.equal(interpolator.at(0.25), frames[:1])
    assert torch.equal(interpolator.at(0.75), frames[1:])
    # A moving scene is not a cut.
    moving = PairInterpolator(chw(SCENE.frame(0)), chw(SCENE.frame(1)), *exact_flows(SCENE))
    assert not bool(moving.is_cut.any())


@pytest.mark.parametrize(
    "frames, multiplier, loop, keep, expected",
    [(4, 2, False, True, 7), (4, 3, False, True, 10), (4, 4, True, True, 16), (4, 3, False, False, 6),
     (4, 3, True, False, 8), (2, 5, False, True, 6), (1, 4, False, True, 1)],
)
def test_output_frame_counts(frames, multiplier, loop, keep, expected):
    assert len(inbetween_positions(frames, multiplier, loop, keep)) == expected


def test_source_frames_are_kept_bit_exactly():
    frames = SCENE.frames(range(4))
    pair_flows = lambda i, j: exact_flows(SCENE, i, j)  # noqa: E731
    out = interpolate_frames(frames, 3, pair_flows)
    assert out.shape == (10, 64, 64, 3)
    for i in range(4):
        assert torch.equal(out[3 * i], frames[i])
    # The in-betweens are new frames close to the truth (here at sub-pixel positions), not copies.
    truth = SCENE.frame(1 + 1 / 3)
    assert psnr(out[4], truth) > psnr(cross_fade(frames[1], frames[2], 1 / 3), truth) + 6.0
    only_new = interpolate_frames(frames, 3, pair_flows, keep_source_frames=False)
    assert only_new.shape[0] == 6
    assert torch.equal(only_new[2], out[4])


def test_loop_mode_interpolates_from_the_last_frame_to_the_first():
    frames = torch.stack([torch.full((16, 16, 3), v) for v in (0.0, 0.2, 0.4, 0.8)])
    asked = []

    def flows(i, j):
        asked.append((i, j))
        return zero_flows(i, j)

    out = interpolate_frames(frames, 2, flows, loop=True)
    assert out.shape[0] == 8
    assert (3, 0) in asked
    # With no motion an in-between is the blend; the last one blends frame 3 back into frame 0.
    assert torch.allclose(out[7], torch.full((16, 16, 3), 0.4), atol=1e-6)
    assert torch.allclose(out[1], torch.full((16, 16, 3), 0.1), atol=1e-6)


def test_pair_flows_come_from_the_flow_sequence_when_given():
    frames = SCENE.frames(range(3))
    forward = torch.cat([SCENE.flow(i, i + 1) for i in range(2)])
    backward = torch.cat([SCENE.flow(i + 1, i) for i in range(2)])
    source = ClipFlow(frames, FlowSequence(forward, backward, 64, 64)).pair
    flow_ab, flow_ba = source(1, 2)
    assert torch.equal(flow_ab[0], forward[1]) and torch.equal(flow_ba[0], backward[1])
    loop_ab, loop_ba = source(2, 0)  # not in the sequence: estimated
    assert loop_ab.shape == (1, 2, 64, 64) and loop_ba.shape == (1, 2, 64, 64)


def test_interpolate_clip_uses_given_flow_and_reports_the_count():
    frames = SCENE.frames(range(3))
    forward = torch.cat([SCENE.flow(i, i + 1) for i in range(2)])
    backward = torch.cat([SCENE.flow(i + 1, i) for i in range(2)])
    flow = FlowSequence(forward, backward, 64, 64)
    images, count, fps = interpolate_clip(frames, 4, True, False, 6.0, flow, FlowOptions("fast", max_motion=48))
    assert count == 9 and images.shape == (9, 64, 64, 3)
    assert fps == 24.0
    assert torch.equal(images[4], frames[1])
    assert psnr(images[2], SCENE.frame(0.5)) > psnr(0.5 * (frames[0] + frames[1]), SCENE.frame(0.5)) + 10.0


def test_interpolate_clip_rejects_a_flow_of_other_frames_and_single_frames():
    frames = SCENE.frames(range(3))
    wrong = FlowSequence(torch.zeros(1, 2, 64, 64), torch.zeros(1, 2, 64, 64), 64, 64)
    with pytest.raises(ValueError, match="2 frames"):
        interpolate_clip(frames, 2, True, False, 12.0, wrong, FlowOptions("fast", max_motion=48))
    with pytest.raises(ValueError, match="at least 2"):
        interpolate_clip(frames[:1], 2, True, False, 12.0, None, FlowOptions("fast", max_motion=48))


def test_interpolate_clip_loop_mode_estimates_the_closing_pair():
    scene = MovingSquareScene(height=32, width=32, square_size=10, square_origin=(6.0, 8.0),
                              square_velocity=(2.0, 0.0), background_velocity=(0.0, 0.0))
    frames = scene.frames(range(3))
    images, count, fps = interpolate_clip(frames, 3, True, True, 8.0, None, FlowOptions("fast", max_motion=16))
    assert count == 9 and fps == 24.0
    assert torch.equal(images[6], frames[2])
    # The closing in-betweens move from frame 2 back towards frame 0: the last one is closer to frame 0.
    assert float((images[8] - frames[0]).abs().mean()) < float((images[8] - frames[2]).abs().mean())
