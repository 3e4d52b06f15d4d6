"""Retiming: on twos/threes, frame-rate resampling, and the Retime node's count and fps outputs."""
import pytest
import torch

from steadyframe.flow.provider import FlowOptions
from steadyframe.postprocess.retime import hold_plan, resample_plan, take_frames
from steadyframe.postprocess.timing import retime_clip
from support.moving_scene import MovingSquareScene


def numbered_frames(count, size=8):
    """Frames whose pixel values encode their index, so outputs can be traced back to sources."""
    return torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, size, size, 3) / 1000.0


def source_indices(images):
    return [round(v) for v in (images[:, 0, 0, 0] * 1000.0).tolist()]


def test_hold_on_twos_keeps_count_and_rate():
    plan = hold_plan(7, 24.0, 2, "hold")
    assert plan.positions == [0, 0, 2, 2, 4, 4, 6]
    assert plan.fps == 24.0


def test_hold_on_threes():
    assert hold_plan(8, 24.0, 3, "hold").positions == [0, 0, 0, 3, 3, 3, 6, 6]


def test_repeat_multiplies_count_and_rate():
    plan = hold_plan(3, 12.0, 2, "repeat")
    assert plan.positions == [0, 0, 1, 1, 2, 2]
    assert plan.fps == 24.0
    # Same duration: frames / fps is unchanged.
    assert plan.frame_count / plan.fps == pytest.approx(3 / 12.0)


def test_24_to_12_on_twos():
    plan = hold_plan(24, 24.0, 2, "decimate")
    assert plan.frame_count == 12
    assert plan.fps == 12.0
    assert plan.positions == [float(i) for i in range(0, 24, 2)]
    # Resampling 24 -> 12 fps picks the same frames.
    assert resample_plan(24, 24.0, 12.0).positions == plan.positions


def test_30_to_24_drops_one_frame_in_five():
    plan = resample_plan(30, 30.0, 24.0)
    assert plan.frame_count == 24
    assert plan.fps == 24.0
    indices = [int(p) for p in plan.positions]
    assert len(set(indices)) == 24  # drop only, never a duplicate
    dropped = sorted(set(range(30)) - set(indices))
    assert len(dropped) == 6
    # One frame of every five source frames is dropped, evenly.
    assert [d // 5 for d in dropped] == [0, 1, 2, 3, 4, 5]
    assert indices[0] == 0 and indices[-1] == 29


def test_24_to_30_duplicates_one_frame_in_four():
    plan = resample_plan(24, 24.0, 30.0)
    assert plan.frame_count == 30
    indices = [int(p) for p in plan.positions]
    assert sorted(set(indices)) == list(range(24))
    counts = torch.bincount(torch.tensor(indices))
    assert int((counts == 2).sum()) == 6 and int((counts == 1).sum()) == 18


def test_resample_keeps_duration_for_uneven_rates():
    # 29.97 fps NTSC to 24: the output covers the same time span (one output frame at most past it).
    plan = resample_plan(100, 29.97, 24.0)
    duration = 100 / 29.97
    assert plan.frame_count == pytest.approx(duration * 24.0, abs=1.0)
    assert plan.frame_count >= duration * 24.0
    assert all(0 <= p <= 99 for p in plan.positions)


def test_resample_interpolate_gives_fractional_positions():
    plan = resample_plan(5, 30.0, 24.0, method="interpolate")
    assert plan.positions == [0.0, 1.25, 2.5, 3.75]
    assert not plan.is_integral


@pytest.mark.parametrize("bad", [0.0, -24.0, float("nan"), float("inf")])
def test_bad_frame_rates_are_rejected(bad):
    with pytest.raises(ValueError, match="fps"):
        resample_plan(10, bad, 24.0)
    with pytest.raises(ValueError, match="target_fps"):
        resample_plan(10, 24.0, bad)


def test_bad_hold_mode_and_length():
    with pytest.raises(ValueError, match="hold mode"):
        hold_plan(4, 24.0, 2, "sideways")
    with pytest.raises(ValueError, match="at least 1"):
        hold_plan(4, 24.0, 0, "hold")


def test_take_frames_refuses_fractional_positions():
    with pytest.raises(ValueError, match="output frame 1"):
        take_frames(numbered_frames(3), [0.0, 0.5])


def test_retime_clip_on_twos_outputs_frames_count_and_fps():
    images = numbered_frames(24)
    out, count, fps = retime_clip(images, 24.0, "keep every Nth frame (fps / N)", 2, 24.0, "drop/duplicate",
                                  options=FlowOptions("fast", max_motion=48))
    assert count == 12 and out.shape[0] == 12 and fps == 12.0
    assert source_indices(out) == list(range(0, 24, 2))
    out, count, fps = retime_clip(images, 24.0, "hold on N (same fps)", 2, 24.0, "drop/duplicate",
                                  options=FlowOptions("fast", max_motion=48))
    assert count == 24 and fps == 24.0
    assert source_indices(out) == [2 * (i // 2) for i in range(24)]
    # Held frames are the source frames themselves, not approximations.
    assert torch.equal(out[1], images[0])


def test_retime_clip_resample_30_to_24():
    images = numbered_frames(30)
    out, count, fps = retime_clip(images, 30.0, "resample to target fps", 2, 24.0, "drop/duplicate",
                                  options=FlowOptions("fast", max_motion=48))
    assert (count, fps) == (24, 24.0)
    assert source_indices(out) == [int(p) for p in resample_plan(30, 30.0, 24.0).positions]


def test_retime_clip_resample_interpolates_in_between_instants():
    # A textured square moving 2 px per frame: 10 -> 20 fps puts new frames exactly halfway.
    scene = MovingSquareScene(height=48, width=48, square_size=16, square_origin=(10.0, 14.0),
                              square_velocity=(2.0, 2.0), background_velocity=(0.0, 0.0))
    images = scene.frames(range(3))
    out, count, fps = retime_clip(images, 10.0, "resample to target fps", 2, 20.0, "interpolate (optical flow)",
                                  options=FlowOptions("balanced", max_motion=16))
    assert (count, fps) == (6, 20.0)
    assert torch.equal(out[0], images[0]) and torch.equal(out[2], images[1]) and torch.equal(out[4], images[2])
    truth = scene.frame(0.5)
    mse_ours = float(((out[1] - truth) ** 2).mean())
    mse_blend = float(((0.5 * (images[0] + images[1]) - truth) ** 2).mean())
    assert mse_ours < 0.5 * mse_blend
    # The last instant lies past the last source frame's start: it holds the last frame.
    assert torch.equal(out[5], images[2])


def test_retime_clip_rejects_a_flow_of_other_frames():
    from steadyframe.flow.sequence import FlowSequence

    images = numbered_frames(4)
    wrong = FlowSequence(torch.zeros(4, 2, 8, 8), torch.zeros(4, 2, 8, 8), 8, 8)
    with pytest.raises(ValueError, match="5 frames"):
        retime_clip(images, 30.0, "resample to target fps", 2, 24.0, "interpolate (optical flow)", wrong,
                    FlowOptions("fast", max_motion=48))
