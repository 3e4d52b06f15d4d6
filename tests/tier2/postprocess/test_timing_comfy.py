"""Timing nodes inside a real ComfyUI (in-process): progress bar, Cancel, the Optical Flow node's output."""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.nodes.flow_nodes import SteadyFrameOpticalFlow
from steadyframe.nodes.timing_nodes import SteadyFrameInterpolate, SteadyFrameRetime, SteadyFrameSelectKeyframes
from support.moving_scene import MovingSquareScene, scene_cut_clip

pytestmark = pytest.mark.tier2

SCENE = MovingSquareScene(height=32, width=32, square_size=10, square_origin=(6.0, 8.0),
                          square_velocity=(2.0, 0.0), background_velocity=(0.0, 0.0))


def test_interpolate_reports_progress_to_comfyui(comfyui_root):
    import comfy.utils

    frames = SCENE.frames(range(3))
    updates = []
    previous_hook = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append((value, total)))
    try:
        images, count, fps, _ = SteadyFrameInterpolate.execute(frames, 2, True, False, 12.0, "fast", 16).args
    finally:
        comfy.utils.set_progress_bar_global_hook(previous_hook)
    assert count == 5 and fps == 24.0 and images.shape[0] == 5
    assert updates[-1] == (5, 5)
    assert [v for v, _ in updates] == sorted(v for v, _ in updates)


def test_cancel_stops_the_timing_nodes(comfyui_root):
    import comfy.model_management

    frames = SCENE.frames(range(3))
    try:
        # ComfyUI clears the flag when it raises, so each node gets its own Cancel.
        comfy.model_management.interrupt_current_processing(True)
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SteadyFrameInterpolate.execute(frames, 2, True, False, 12.0, "fast", 16)
        comfy.model_management.interrupt_current_processing(True)
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SteadyFrameSelectKeyframes.execute(frames, "edge change", 60.0, 15.0, 1, 10, True, "fast", 16)
        comfy.model_management.interrupt_current_processing(True)
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SteadyFrameRetime.execute(frames, 10.0, "resample to target fps", 2, 20.0, "interpolate (optical flow)",
                                      "fast", 16)
    finally:
        comfy.model_management.interrupt_current_processing(False)


def test_retime_node_outputs_frames_count_and_fps(comfyui_root):
    frames = SCENE.frames(range(6))
    images, count, fps, _ = SteadyFrameRetime.execute(frames, 24.0, "keep every Nth frame (fps / N)", 2, 24.0,
                                                      "drop/duplicate", "fast", 48).args
    assert (count, fps) == (3, 12.0) and torch.equal(images, frames[::2])
    with pytest.raises(ValueError, match="max_gap"):
        SteadyFrameSelectKeyframes.execute(frames, "edge change", 60.0, 15.0, 10, 5, True, "fast", 48)


def test_flow_from_the_optical_flow_node_feeds_the_timing_nodes(comfyui_root):
    frames = SCENE.frames(range(4))
    (flow,) = SteadyFrameOpticalFlow.execute(frames, "balanced", "full", 16).args
    with_flow, count, fps, _ = SteadyFrameInterpolate.execute(frames, 2, True, False, 12.0, "balanced", 16,
                                                                flow=flow).args
    assert (count, fps) == (7, 24.0)
    truth = SCENE.frame(1.5)
    blend = 0.5 * (frames[1] + frames[2])
    assert float(((with_flow[3] - truth) ** 2).mean()) < 0.5 * float(((blend - truth) ** 2).mean())

    clip = scene_cut_clip((6, 6), height=32, width=32, motion=0.0)
    (clip_flow,) = SteadyFrameOpticalFlow.execute(clip, "fast", "full", 16).args
    text, keyframes, keyframe_count = SteadyFrameSelectKeyframes.execute(
        clip, "occlusion", 60.0, 30.0, 2, 20, False, "fast", 16, flow=clip_flow).args
    assert text == "0, 6"
    assert keyframe_count == 2 and torch.equal(keyframes[1], clip[6])
